#include "claimcheck/message/envelope.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>

#include "claimcheck/common/sha256.hpp"

namespace claimcheck::message {
namespace {

using Json = nlohmann::json;

/// Reads typed fields out of a JSON object, remembering the first problem it meets so that a
/// decoder can read every field and report once.
class FieldReader {
 public:
  explicit FieldReader(const Json& object) : object_(object) {}

  std::string string(const char* name, bool required) {
    const Json* value = find(name, required);
    if (value == nullptr) {
      return {};
    }
    if (!value->is_string()) {
      fail(fmt::format("field '{}' must be a string", name));
      return {};
    }
    return value->get<std::string>();
  }

  std::uint64_t unsigned_number(const char* name, bool required) {
    const Json* value = find(name, required);
    if (value == nullptr) {
      return 0;
    }
    if (!value->is_number_unsigned()) {
      fail(fmt::format("field '{}' must be a non-negative integer", name));
      return 0;
    }
    return value->get<std::uint64_t>();
  }

  Json object(const char* name) {
    const Json* value = find(name, false);
    if (value == nullptr) {
      return Json::object();
    }
    if (!value->is_object()) {
      fail(fmt::format("field '{}' must be an object", name));
      return Json::object();
    }
    return *value;
  }

  void fail(std::string message) {
    if (!error_) {
      error_ = DecodeError{std::move(message)};
    }
  }

  [[nodiscard]] const std::optional<DecodeError>& error() const { return error_; }

 private:
  const Json* find(const char* name, bool required) {
    const auto found = object_.find(name);
    if (found == object_.end() || found->is_null()) {
      if (required) {
        fail(fmt::format("required field '{}' is missing", name));
      }
      return nullptr;
    }
    return &*found;
  }

  const Json& object_;
  std::optional<DecodeError> error_;
};

std::variant<Json, DecodeError> parse_object(std::string_view body) {
  if (body.size() > kMaxMessageBytes) {
    return DecodeError{fmt::format("message of {} bytes exceeds the limit of {} bytes", body.size(),
                                   kMaxMessageBytes)};
  }
  Json parsed = Json::parse(body, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return DecodeError{"message body is not valid JSON"};
  }
  if (!parsed.is_object()) {
    return DecodeError{"message body must be a JSON object"};
  }
  return parsed;
}

// Error texts quote what a sender wrote, cut to a bounded length, and a cut can split a UTF-8
// sequence. Encoding must never fail on that: an exception here would leave a request
// unanswered and redelivered forever, so invalid bytes become U+FFFD instead.
std::string to_text(const Json& object) {
  return object.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void put_if_set(Json& object, const char* name, const std::string& value) {
  if (!value.empty()) {
    object[name] = value;
  }
}

}  // namespace

std::string encode(const FileRequest& request) {
  Json object = {{"messageId", request.message_id},
                 {"correlationId",
                  request.correlation_id.empty() ? request.message_id : request.correlation_id},
                 {"fileId", request.file_id},
                 {"fileName", request.file_name},
                 {"length", request.length},
                 {"sha256", request.sha256},
                 {"contentType", request.content_type},
                 {"operation", request.operation},
                 {"store", request.store},
                 {"token", request.token},
                 {"createdAt", request.created_at},
                 {"metadata", request.metadata}};
  return to_text(object);
}

std::string encode(const FileReply& reply) {
  Json object = {{"messageId", reply.message_id},
                 {"correlationId", reply.correlation_id},
                 {"requestMessageId", reply.request_message_id},
                 {"fileId", reply.file_id},
                 {"fileName", reply.file_name},
                 {"operation", reply.operation},
                 {"token", reply.token},
                 {"createdAt", reply.created_at},
                 {"result", reply.result}};
  // The seed system's readers treat a present `error` as failure and `response` as success, so
  // exactly one of them is written.
  if (reply.ok()) {
    object["response"] = reply.response;
  } else {
    object["error"] = reply.error;
    object["errorCode"] = reply.error_code;
  }
  put_if_set(object, "resultFileId", reply.result_file_id);
  return to_text(object);
}

Decoded<FileRequest> decode_request(std::string_view body) {
  auto parsed = parse_object(body);
  if (auto* error = std::get_if<DecodeError>(&parsed)) {
    return *error;
  }
  const Json& object = std::get<Json>(parsed);
  FieldReader read(object);
  FileRequest request;
  request.message_id = read.string("messageId", true);
  request.correlation_id = read.string("correlationId", false);
  request.file_id = read.string("fileId", true);
  request.file_name = read.string("fileName", false);
  request.length = read.unsigned_number("length", true);
  request.sha256 = read.string("sha256", true);
  request.content_type = read.string("contentType", false);
  request.operation = read.string("operation", true);
  request.store = read.string("store", false);
  request.token = read.string("token", true);
  request.created_at = read.string("createdAt", false);
  request.metadata = read.object("metadata");
  if (!read.error() && !is_sha256_hex(request.sha256)) {
    read.fail("field 'sha256' must be 64 lower-case hex digits");
  }
  if (!read.error() && request.message_id.empty()) {
    read.fail("field 'messageId' must not be empty");
  }
  if (read.error()) {
    return *read.error();
  }
  if (request.correlation_id.empty()) {
    request.correlation_id = request.message_id;
  }
  return request;
}

Decoded<FileReply> decode_reply(std::string_view body) {
  auto parsed = parse_object(body);
  if (auto* error = std::get_if<DecodeError>(&parsed)) {
    return *error;
  }
  const Json& object = std::get<Json>(parsed);
  FieldReader read(object);
  FileReply reply;
  reply.message_id = read.string("messageId", true);
  reply.correlation_id = read.string("correlationId", true);
  reply.request_message_id = read.string("requestMessageId", false);
  reply.file_id = read.string("fileId", false);
  reply.file_name = read.string("fileName", false);
  reply.operation = read.string("operation", false);
  reply.token = read.string("token", true);
  reply.response = read.string("response", false);
  reply.result = read.object("result");
  reply.result_file_id = read.string("resultFileId", false);
  reply.error = read.string("error", false);
  reply.error_code = read.string("errorCode", false);
  reply.created_at = read.string("createdAt", false);
  if (read.error()) {
    return *read.error();
  }
  return reply;
}

std::string now_rfc3339() {
  const auto now = std::chrono::system_clock::now();
  const auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now - seconds).count();
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(seconds)), millis);
}

}  // namespace claimcheck::message
