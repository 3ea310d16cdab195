#include "claimcheck/resource/request_handler.hpp"

#include <gtest/gtest.h>

#include "claimcheck/common/encoding.hpp"
#include "claimcheck/common/sha256.hpp"
#include "claimcheck/token/signing_key.hpp"
#include "request_handler_test.hpp"
#include "store_test_support.hpp"

namespace claimcheck::resource {

using nlohmann::json;
using std::chrono::seconds;
using std::chrono::system_clock;

void RequestHandlerTest::SetUp() {
  store_ = backend_->open(64);
  const json jwks = {{"keys", json::array({key_.public_jwk()})}};
  verifier_ = std::make_unique<token::TokenVerifier>(
      token::VerifierSettings{.issuer = "test-issuer", .audience = "claimcheck"},
      [jwks] { return std::optional<std::string>(jwks.dump()); });
  register_builtin_operations(operations_);
  handler_ = std::make_unique<RequestHandler>(*store_, *verifier_, operations_, metrics_);
}

std::string RequestHandlerTest::token(const std::string& scope, seconds lifetime,
                                      system_clock::time_point issued) const {
  const auto at = [](system_clock::time_point time) {
    return std::chrono::duration_cast<seconds>(time.time_since_epoch()).count();
  };
  return token::sign_jwt({{"iss", "test-issuer"},
                          {"sub", "test-client"},
                          {"aud", "claimcheck"},
                          {"iat", at(issued)},
                          {"nbf", at(issued)},
                          {"exp", at(issued + lifetime)},
                          {"jti", random_hex(8)},
                          {"scope", scope}},
                         key_);
}

message::FileRequest RequestHandlerTest::request_for(const std::string& content) {
  store::testing::StringSource source(content);
  const store::FileInfo stored = store_->put("sample.txt", source, {});
  message::FileRequest request;
  request.message_id = random_hex(8);
  request.file_id = stored.id;
  request.file_name = stored.filename;
  request.length = stored.length;
  request.sha256 = stored.sha256;
  request.operation = "inspect";
  request.store = std::string(store_->kind());
  request.token = token("files.send");
  return request;
}

message::FileReply RequestHandlerTest::handle(const message::FileRequest& request) {
  return handler_->handle(message::encode(request), "amqp-correlation").reply;
}

namespace {

TEST_P(RequestHandlerTest, InspectsAVerifiedFile) {
  const std::string content = std::string(1000, 'x') + "\n";
  const auto request = request_for(content);
  const auto reply = handle(request);
  ASSERT_TRUE(reply.ok()) << reply.error;
  EXPECT_EQ(reply.correlation_id, request.message_id);
  EXPECT_EQ(reply.file_id, request.file_id);
  EXPECT_EQ(reply.result["length"], content.size());
  EXPECT_EQ(reply.result["sha256"], sha256_hex(content));
  EXPECT_EQ(reply.result["contentType"], "text/plain; charset=us-ascii");
}

TEST_P(RequestHandlerTest, EmptyFileIsInspectedAtOnce) {
  const auto reply = handle(request_for(""));
  ASSERT_TRUE(reply.ok()) << reply.error;
  EXPECT_EQ(reply.result["length"], 0);
}

TEST_P(RequestHandlerTest, MalformedMessageIsABadRequestReply) {
  const auto reply = handler_->handle("{\"messageId\": 7}", "amqp-correlation").reply;
  EXPECT_EQ(reply.error_code, "bad-request");
  EXPECT_EQ(reply.correlation_id, "amqp-correlation");
  EXPECT_NE(reply.error.find("messageId"), std::string::npos);
}

// Case T1: alg "none" with an empty signature never gets a file processed.
TEST_P(RequestHandlerTest, UnsignedTokenIsUnauthorized) {
  auto request = request_for("secret data");
  const std::string header = base64url_encode(R"({"alg":"none","typ":"JWT"})");
  const std::string payload = request.token.substr(
      request.token.find('.') + 1, request.token.rfind('.') - request.token.find('.') - 1);
  request.token = header + "." + payload + ".";
  const auto reply = handle(request);
  EXPECT_EQ(reply.error_code, "unauthorized");
  EXPECT_TRUE(reply.result.empty());
  // Found by the bad-input review: echoing the file id let an unauthenticated sender steer a
  // listening client into deleting that file.
  EXPECT_TRUE(reply.file_id.empty());
}

// Case T5: a 300-second token on a message that waited 10 minutes in the queue.
TEST_P(RequestHandlerTest, TokenThatExpiredInTheQueueGetsTokenExpired) {
  auto request = request_for("waited too long");
  request.token = token("files.send", seconds(300), system_clock::now() - std::chrono::minutes(10));
  const auto reply = handle(request);
  EXPECT_EQ(reply.error_code, "token-expired");
  EXPECT_TRUE(reply.result.empty());
}

// A token minted for one file (file_id and file_sha256 claims) authorizes only that file.
TEST_P(RequestHandlerTest, TokenBoundToAnotherFileIsForbidden) {
  const auto first = request_for("first file");
  auto second = request_for("second file");
  const auto bound_to = [&](const message::FileRequest& target) {
    const auto now = std::chrono::duration_cast<seconds>(system_clock::now().time_since_epoch());
    return token::sign_jwt({{"iss", "test-issuer"},
                            {"aud", "claimcheck"},
                            {"exp", (now + seconds(300)).count()},
                            {"scope", "files.send"},
                            {token::kFileIdClaim, target.file_id},
                            {token::kFileSha256Claim, target.sha256}},
                           key_);
  };

  second.token = bound_to(first);
  const auto refused = handle(second);
  second.token = bound_to(second);
  const auto accepted = handle(second);

  EXPECT_EQ(refused.error_code, "forbidden");
  EXPECT_TRUE(refused.result.empty());
  EXPECT_TRUE(accepted.ok()) << accepted.error;
}

TEST_P(RequestHandlerTest, TokenWithoutSendAuthorityIsForbidden) {
  auto request = request_for("data");
  request.token = token("files.reply");
  EXPECT_EQ(handle(request).error_code, "forbidden");
}

TEST_P(RequestHandlerTest, UnknownOperationIsNamed) {
  auto request = request_for("data");
  request.operation = "teleport";
  const auto reply = handle(request);
  EXPECT_EQ(reply.error_code, "unknown-operation");
  EXPECT_NE(reply.error.find("teleport"), std::string::npos);
}

TEST_P(RequestHandlerTest, MissingFileIsFileNotFound) {
  auto request = request_for("data");
  request.file_id = store::new_file_id();
  const auto reply = handle(request);
  EXPECT_EQ(reply.error_code, "file-not-found");
  EXPECT_NE(reply.error.find(request.file_id), std::string::npos);
}

// Case S2: the files record exists but every chunk was deleted.
TEST_P(RequestHandlerTest, FileWhoseChunksVanishedIsCorruptAndServiceGoesOn) {
  const auto damaged = request_for(std::string(500, 'd'));
  backend_->delete_chunks(damaged.file_id);
  const auto reply = handle(damaged);
  EXPECT_EQ(reply.error_code, "corrupt-file");
  EXPECT_NE(reply.error.find(damaged.file_id), std::string::npos);
  EXPECT_TRUE(handle(request_for("next one is fine")).ok());
}

// Case S1: a short middle chunk is reported, never handed on as a partial file.
TEST_P(RequestHandlerTest, ShortChunkIsCorrupt) {
  const auto damaged = request_for(std::string(200, 's'));
  backend_->replace_chunk(damaged.file_id, 0, std::string(63, 's'));
  const auto reply = handle(damaged);
  EXPECT_EQ(reply.error_code, "corrupt-file");
  EXPECT_TRUE(reply.result.empty());
}

TEST_P(RequestHandlerTest, ClaimThatDisagreesWithTheStoreIsCorrupt) {
  auto request = request_for("the real content");
  request.sha256 = sha256_hex("some other content");
  EXPECT_EQ(handle(request).error_code, "corrupt-file");
}

TEST_P(RequestHandlerTest, FileInAnotherKindOfStoreIsABadRequest) {
  auto request = request_for("data");
  request.store = store_->kind() == "sqlite" ? "gridfs" : "sqlite";
  EXPECT_EQ(handle(request).error_code, "bad-request");
}

}  // namespace
}  // namespace claimcheck::resource
