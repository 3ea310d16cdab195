#pragma once

/// Turns one request message into its reply: decode, verify the token, redeem the claim,
/// run the operation. Knows nothing of the broker, so it is exercised without one.
///
/// Contract: handle() never throws for anything a message can contain. Bad JSON, a missing
/// field, a bad or expired token, an unknown operation, a missing or corrupt file: each becomes
/// an error reply with a distinct errorCode, and no operation ever finishes on a file that
/// failed verification. Only a failure of this process's own dependencies reaches the caller:
/// the store's database failing, as store::StoreError of kind kBackend, and whatever the
/// caller's keep-alive callback throws, unchanged. Not thread-safe: one handler per consuming
/// thread.

#include <functional>
#include <string_view>

#include "claimcheck/common/metrics.hpp"
#include "claimcheck/message/envelope.hpp"
#include "claimcheck/resource/operation.hpp"
#include "claimcheck/store/store.hpp"
#include "claimcheck/token/verifier.hpp"

namespace claimcheck::resource {

/// What handle() made of one request.
struct HandledRequest {
  message::FileReply reply;
  /// The error may go away by itself, so the request deserves another attempt before its error
  /// reply is sent: the file is not in the store (yet), or the token's signing key is not in
  /// a key set that could not be refreshed (during a key rotation, or while auth is away).
  bool worth_retrying = false;
  /// The earliest a new attempt can do better (the key set's next possible refresh).
  std::chrono::milliseconds retry_not_before{0};
};

class RequestHandler {
 public:
  RequestHandler(store::Store& store, token::TokenVerifier& verifier,
                 const OperationCatalog& operations, MetricsRegistry& metrics);

  /// Called now and then while a file streams, so the caller can keep its broker connection
  /// alive through a long read.
  using KeepAlive = std::function<void()>;

  /// The reply for `body`; its token is left empty for the caller to fill with its own.
  /// `fallback_correlation_id` (the AMQP property) is used when the body has none to offer.
  HandledRequest handle(std::string_view body, std::string_view fallback_correlation_id,
                        const KeepAlive& keep_alive = {});

  /// An error reply to `body` with `error_code` and `text`, naming what the body lets it name
  /// (correlation id, request id, file, operation); for failures handle() could not answer.
  [[nodiscard]] static message::FileReply error_reply_to(std::string_view body,
                                                         std::string_view fallback_correlation_id,
                                                         std::string_view error_code,
                                                         std::string text);

 private:
  HandledRequest redeem(const message::FileRequest& request, message::FileReply reply,
                        const KeepAlive& keep_alive);

  store::Store& store_;
  token::TokenVerifier& verifier_;
  const OperationCatalog& operations_;
  Counter& processed_;
  Counter& rejected_;
};

}  // namespace claimcheck::resource
