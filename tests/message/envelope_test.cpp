#include "claimcheck/message/envelope.hpp"

#include <gtest/gtest.h>

#include <regex>

#include "claimcheck/common/sha256.hpp"

namespace claimcheck::message {
namespace {

FileRequest sample_request() {
  FileRequest request;
  request.message_id = "m-1";
  request.file_id = "0123456789abcdef01234567";
  request.file_name = "report.pdf";
  request.length = 5'000'000'000ULL;  // 64-bit lengths survive the trip (case S4)
  request.sha256 = sha256_hex("x");
  request.content_type = "application/pdf";
  request.operation = "inspect";
  request.store = "sqlite";
  request.token = "a.b.c";
  request.created_at = now_rfc3339();
  request.metadata = {{"team", "billing"}};
  return request;
}

TEST(Envelope, RequestRoundTripsWithContractFieldNames) {
  const std::string body = encode(sample_request());
  const auto json = nlohmann::json::parse(body);
  for (const char* field :
       {"messageId", "correlationId", "fileId", "fileName", "length", "sha256", "contentType",
        "operation", "store", "token", "createdAt", "metadata"}) {
    EXPECT_TRUE(json.contains(field)) << field;
  }
  const auto decoded = decode_request(body);
  ASSERT_TRUE(std::holds_alternative<FileRequest>(decoded));
  const auto& request = std::get<FileRequest>(decoded);
  EXPECT_EQ(request.length, 5'000'000'000ULL);
  EXPECT_EQ(request.correlation_id, "m-1");
  EXPECT_EQ(request.metadata["team"], "billing");
}

TEST(Envelope, UnknownFieldsAreIgnored) {
  auto json = nlohmann::json::parse(encode(sample_request()));
  json["addedByANewerSender"] = {1, 2, 3};
  EXPECT_TRUE(std::holds_alternative<FileRequest>(decode_request(json.dump())));
}

std::string decode_error(const std::string& body) {
  const auto decoded = decode_request(body);
  if (const auto* error = std::get_if<DecodeError>(&decoded)) {
    return error->message;
  }
  return "";
}

TEST(Envelope, MissingOrMistypedFieldsNameTheField) {
  auto json = nlohmann::json::parse(encode(sample_request()));
  json.erase("fileId");
  EXPECT_EQ(decode_error(json.dump()), "required field 'fileId' is missing");

  json = nlohmann::json::parse(encode(sample_request()));
  json["length"] = "12";
  EXPECT_EQ(decode_error(json.dump()), "field 'length' must be a non-negative integer");

  json["length"] = -1;
  EXPECT_EQ(decode_error(json.dump()), "field 'length' must be a non-negative integer");

  json = nlohmann::json::parse(encode(sample_request()));
  json["sha256"] = "ABC";
  EXPECT_EQ(decode_error(json.dump()), "field 'sha256' must be 64 lower-case hex digits");

  json["sha256"] = "";
  EXPECT_EQ(decode_error(json.dump()), "field 'sha256' must be 64 lower-case hex digits");

  json = nlohmann::json::parse(encode(sample_request()));
  json["metadata"] = "text";
  EXPECT_EQ(decode_error(json.dump()), "field 'metadata' must be an object");
}

TEST(Envelope, GarbageIsADecodeErrorNotACrash) {
  EXPECT_EQ(decode_error("{not json"), "message body is not valid JSON");
  EXPECT_EQ(decode_error("[1,2]"), "message body must be a JSON object");
  EXPECT_EQ(decode_error(""), "message body is not valid JSON");
  EXPECT_NE(decode_error(std::string(kMaxMessageBytes + 1, ' ')).find("exceeds the limit"),
            std::string::npos);
}

TEST(Envelope, ReplyCarriesEitherResponseOrError) {
  FileReply reply;
  reply.message_id = "r-1";
  reply.correlation_id = "m-1";
  reply.token = "x.y.z";
  reply.response = "inspected";
  auto json = nlohmann::json::parse(encode(reply));
  EXPECT_TRUE(json.contains("response"));
  EXPECT_FALSE(json.contains("error"));

  reply.error = "file 0123 is corrupt";
  reply.error_code = std::string(error_code::kCorruptFile);
  json = nlohmann::json::parse(encode(reply));
  EXPECT_FALSE(json.contains("response"));
  EXPECT_EQ(json["errorCode"], "corrupt-file");

  const auto decoded = decode_reply(json.dump());
  ASSERT_TRUE(std::holds_alternative<FileReply>(decoded));
  EXPECT_FALSE(std::get<FileReply>(decoded).ok());
}

// Found by the bad-input review: an error text that quoted a sender's kid, cut in the middle of
// a UTF-8 sequence, made encoding throw and the resource server exit on every redelivery.
TEST(Envelope, InvalidUtf8InAReplyIsReplacedNotThrown) {
  FileReply reply;
  reply.message_id = "r-1";
  reply.correlation_id = "m-1";
  reply.token = "x.y.z";
  reply.error = "no key with kid '\xe2\x82'";
  reply.error_code = std::string(error_code::kUnauthorized);
  std::string body;
  ASSERT_NO_THROW(body = encode(reply));
  const auto decoded = decode_reply(body);
  ASSERT_TRUE(std::holds_alternative<FileReply>(decoded));
  EXPECT_EQ(std::get<FileReply>(decoded).error, "no key with kid '\xef\xbf\xbd'");
}

TEST(Envelope, TimestampsAreRfc3339Utc) {
  EXPECT_TRUE(
      std::regex_match(now_rfc3339(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
}

}  // namespace
}  // namespace claimcheck::message
