#pragma once

/// The JSON messages that travel through the broker (design.md, "The message").
///
/// A request carries the claim (file id, digest, length, store, access token); a reply carries
/// the outcome and the resource server's own token. Field names are fixed by contract: the seed
/// system's Java services read `fileId`, `fileName`, `token`, `response` and `error`. Unknown
/// fields are ignored; a missing required field or a wrong type is a DecodeError naming the
/// field, never an exception escaping to the caller. All functions are pure and thread-safe.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace claimcheck::message {

/// Messages larger than this are refused before parsing. Files travel through the store, so a
/// claim is small; the limit leaves generous room for metadata.
inline constexpr std::size_t kMaxMessageBytes = std::size_t{256} * 1024;

/// AMQP `type` property values.
inline constexpr std::string_view kRequestType = "claimcheck.request";
inline constexpr std::string_view kReplyType = "claimcheck.reply";

/// Authorities (token scopes) of the flow: a request's token must carry the send authority, a
/// reply's token the reply authority.
inline constexpr std::string_view kSendAuthority = "files.send";
inline constexpr std::string_view kReplyAuthority = "files.reply";

/// Machine-readable error codes carried in a reply's `errorCode`.
namespace error_code {
inline constexpr std::string_view kBadRequest = "bad-request";
inline constexpr std::string_view kUnauthorized = "unauthorized";
inline constexpr std::string_view kForbidden = "forbidden";
inline constexpr std::string_view kTokenExpired = "token-expired";
inline constexpr std::string_view kFileNotFound = "file-not-found";
inline constexpr std::string_view kCorruptFile = "corrupt-file";
inline constexpr std::string_view kUnknownOperation = "unknown-operation";
inline constexpr std::string_view kStoreUnavailable = "store-unavailable";
inline constexpr std::string_view kProcessingFailed = "processing-failed";
}  // namespace error_code

struct FileRequest {
  std::string message_id;      ///< unique per request; duplicates are dropped by it
  std::string correlation_id;  ///< chosen by the sender; defaults to message_id
  std::string file_id;         ///< id in the store; messages carry ids, never names (case S6)
  std::string file_name;       ///< original name, for people and result naming only
  std::uint64_t length = 0;
  std::string sha256;  ///< lower-case hex of the whole file
  std::string content_type;
  std::string operation;   ///< what to do with the file, e.g. "inspect"
  std::string store;       ///< which store holds the file ("sqlite", "gridfs")
  std::string token;       ///< the sender's access token (JWT)
  std::string created_at;  ///< RFC 3339 UTC time the request was made
  nlohmann::json metadata = nlohmann::json::object();
};

struct FileReply {
  std::string message_id;
  std::string correlation_id;      ///< the request's correlation id
  std::string request_message_id;  ///< the request's message id
  std::string file_id;
  std::string file_name;
  std::string operation;
  std::string token;     ///< the resource server's access token
  std::string response;  ///< one-line human-readable outcome (empty on error)
  nlohmann::json result = nlohmann::json::object();  ///< structured outcome of the operation
  std::string result_file_id;  ///< a result file in the store, if the operation made one
  std::string error;           ///< human-readable error (empty on success)
  std::string error_code;      ///< one of error_code::*, empty on success
  std::string created_at;

  [[nodiscard]] bool ok() const { return error.empty(); }
};

/// Why a message could not be decoded; names the offending field where there is one.
struct DecodeError {
  std::string message;
};

template <class T>
using Decoded = std::variant<T, DecodeError>;

[[nodiscard]] std::string encode(const FileRequest& request);
[[nodiscard]] std::string encode(const FileReply& reply);

[[nodiscard]] Decoded<FileRequest> decode_request(std::string_view body);
[[nodiscard]] Decoded<FileReply> decode_reply(std::string_view body);

/// The current time as RFC 3339 UTC with milliseconds, e.g. 2026-12-03T15:32:54.123Z.
[[nodiscard]] std::string now_rfc3339();

}  // namespace claimcheck::message
