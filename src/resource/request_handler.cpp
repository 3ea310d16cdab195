#include "claimcheck/resource/request_handler.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "claimcheck/common/encoding.hpp"

namespace claimcheck::resource {
namespace {

message::FileReply error_reply(message::FileReply reply, std::string_view code, std::string text) {
  reply.error_code = std::string(code);
  reply.error = std::move(text);
  reply.response.clear();
  return reply;
}

std::string_view error_code_for(token::TokenStatus status) {
  const std::string_view category = token::error_category(status);
  if (category == "token-expired") {
    return message::error_code::kTokenExpired;
  }
  if (category == "forbidden") {
    return message::error_code::kForbidden;
  }
  return message::error_code::kUnauthorized;
}

std::string_view error_code_for(const store::StoreError& error) {
  if (error.code() == store::StoreErrc::kNotFound) {
    return message::error_code::kFileNotFound;
  }
  return error.is_corruption() ? message::error_code::kCorruptFile
                               : message::error_code::kBadRequest;
}

/// A reply naming the request it answers; its outcome is left for the caller to fill in.
message::FileReply reply_naming(const message::FileRequest* request,
                                std::string_view fallback_correlation_id) {
  message::FileReply reply;
  reply.message_id = random_hex(16);
  reply.correlation_id = std::string(fallback_correlation_id);
  reply.created_at = message::now_rfc3339();
  if (request != nullptr) {
    reply.correlation_id = request->correlation_id;
    reply.request_message_id = request->message_id;
    reply.file_id = request->file_id;
    reply.file_name = request->file_name;
    reply.operation = request->operation;
  }
  return reply;
}

}  // namespace

RequestHandler::RequestHandler(store::Store& store, token::TokenVerifier& verifier,
                               const OperationCatalog& operations, MetricsRegistry& metrics)
    : store_(store),
      verifier_(verifier),
      operations_(operations),
      processed_(metrics.counter("claimcheck_requests_processed_total",
                                 "Requests whose operation finished")),
      rejected_(metrics.counter("claimcheck_requests_rejected_total",
                                "Requests answered with an error reply")) {}

HandledRequest RequestHandler::handle(std::string_view body,
                                      std::string_view fallback_correlation_id,
                                      const KeepAlive& keep_alive) {
  auto decoded = message::decode_request(body);
  if (auto* error = std::get_if<message::DecodeError>(&decoded)) {
    rejected_.increment();
    spdlog::warn("rejecting malformed request {}: {}; replying with an error",
                 fallback_correlation_id, error->message);
    return {error_reply(reply_naming(nullptr, fallback_correlation_id),
                        message::error_code::kBadRequest, error->message)};
  }
  const auto& request = std::get<message::FileRequest>(decoded);

  HandledRequest result =
      redeem(request, reply_naming(&request, fallback_correlation_id), keep_alive);
  if (result.reply.ok()) {
    processed_.increment();
  } else {
    rejected_.increment();
    spdlog::warn("request {} for file {} failed ({}): {}{}", request.message_id, request.file_id,
                 result.reply.error_code, result.reply.error,
                 result.worth_retrying ? "; it will be tried again" : "; replying with an error");
  }
  return result;
}

message::FileReply RequestHandler::error_reply_to(std::string_view body,
                                                  std::string_view fallback_correlation_id,
                                                  std::string_view error_code, std::string text) {
  const auto decoded = message::decode_request(body);
  const auto* request = std::get_if<message::FileRequest>(&decoded);
  return error_reply(reply_naming(request, fallback_correlation_id), error_code, std::move(text));
}

HandledRequest RequestHandler::redeem(const message::FileRequest& request, message::FileReply reply,
                                      const KeepAlive& keep_alive) {
  // Authentication comes before anything else: an unauthorized caller learns nothing about
  // which files or operations exist.
  // The claimed file is named so that a token bound to one file (file_id and file_sha256
  // claims) authorizes exactly that file.
  const token::VerifyResult verified =
      verifier_.verify(request.token, "", token::FileBinding{request.file_id, request.sha256});
  if (!verified.ok()) {
    reply.file_id.clear();
    reply.file_name.clear();
    // An unknown key may be one the auth server has just rotated in while the key set could not
    // be refreshed; the verifier fetches it again once its rate limit allows.
    const bool may_verify_later =
        verified.status == token::TokenStatus::kUnknownKey && verified.key_set_stale;
    return {error_reply(std::move(reply), error_code_for(verified.status),
                        "access token rejected: " + verified.reason),
            may_verify_later,
            may_verify_later ? verifier_.refresh_possible_in() : std::chrono::milliseconds(0)};
  }
  Operation* operation = operations_.find(request.operation);
  if (operation == nullptr) {
    return {error_reply(std::move(reply), message::error_code::kUnknownOperation,
                        fmt::format("unknown operation '{}'", request.operation))};
  }
  const std::vector<std::string>& authorities = verified.token->authorities;
  if (std::find(authorities.begin(), authorities.end(), operation->required_authority()) ==
      authorities.end()) {
    return {error_reply(std::move(reply), message::error_code::kForbidden,
                        fmt::format("operation '{}' needs authority '{}'", request.operation,
                                    operation->required_authority()))};
  }
  if (!request.store.empty() && request.store != store_.kind()) {
    return {error_reply(std::move(reply), message::error_code::kBadRequest,
                        fmt::format("file {} is in a '{}' store; this server reads '{}'",
                                    request.file_id, request.store, store_.kind()))};
  }

  // What the keep-alive throws (the broker connection is gone) is the caller's to handle, not a
  // failure of the operation.
  std::exception_ptr keep_alive_failure;
  try {
    const store::FileInfo stored = store_.stat(request.file_id);
    if (stored.length != request.length || stored.sha256 != request.sha256) {
      return {error_reply(
          std::move(reply), message::error_code::kCorruptFile,
          fmt::format("file {} does not match its claim: stored {} bytes sha256 {}, claimed {} "
                      "bytes sha256 {}",
                      request.file_id, stored.length, stored.sha256, request.length,
                      request.sha256))};
    }
    auto run = operation->start(request);
    KeepAliveTicker ticker([&keep_alive, &keep_alive_failure] {
      try {
        if (keep_alive) {
          keep_alive();
        }
      } catch (...) {
        keep_alive_failure = std::current_exception();
        throw;
      }
    });
    KeepAliveSink sink(*run, ticker);
    const store::FileInfo verified_file = store_.read(request.file_id, sink);
    OperationResult outcome = run->finish(verified_file);
    // Every reply states which bytes it was made from, so the sender can check them.
    outcome.result.emplace("length", verified_file.length);
    outcome.result.emplace("sha256", verified_file.sha256);
    reply.response = std::move(outcome.response);
    reply.result = std::move(outcome.result);
    reply.result_file_id = std::move(outcome.result_file_id);
    return {std::move(reply)};
  } catch (const store::StoreError& error) {
    if (error.code() == store::StoreErrc::kBackend) {
      throw;
    }
    return {error_reply(std::move(reply), error_code_for(error), error.what()),
            error.code() == store::StoreErrc::kNotFound};
  } catch (const std::exception& error) {
    if (keep_alive_failure) {
      std::rethrow_exception(keep_alive_failure);
    }
    return {error_reply(std::move(reply), message::error_code::kProcessingFailed,
                        fmt::format("operation '{}' failed on file {}: {}", request.operation,
                                    request.file_id, error.what()))};
  }
}

}  // namespace claimcheck::resource
