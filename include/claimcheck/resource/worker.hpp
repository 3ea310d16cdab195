#pragma once

/// The resource server's consuming loop: takes requests from `<requests>.<group>`, hands each to
/// a RequestHandler, publishes the reply to the `replies` exchange with the resource server's
/// own token, and acknowledges the request only once the broker confirmed the reply.
///
/// Delivery: at-least-once. A request whose reply could not be confirmed is rejected with
/// requeue and processed again; a reply to a client whose queue is gone is logged and the
/// request acknowledged (nobody is left to answer). A lost connection is reopened with
/// exponential backoff; the loop only ends when should_stop() says so. Single-threaded.

#include <chrono>
#include <functional>
#include <string>

#include "claimcheck/broker/connection.hpp"
#include "claimcheck/broker/topology.hpp"
#include "claimcheck/common/config.hpp"
#include "claimcheck/common/metrics.hpp"
#include "claimcheck/resource/request_handler.hpp"
#include "claimcheck/token/token_client.hpp"

namespace claimcheck::resource {

struct WorkerSettings {
  broker::FlowDestinations destinations;
  std::string queue_type = "classic";
  std::uint16_t prefetch = 4;
  std::chrono::milliseconds confirm_timeout{10'000};

  /// Reads messaging.requests, messaging.group, messaging.replies, messaging.queue-type,
  /// messaging.prefetch and messaging.confirm-timeout. Throws ConfigError.
  static WorkerSettings from_config(const Config& config);
};

class Worker {
 public:
  Worker(WorkerSettings settings, broker::BrokerSettings broker, RequestHandler& handler,
         token::TokenClient& tokens, MetricsRegistry& metrics);

  /// Consumes until should_stop() returns true (checked at least twice a second).
  void run(const std::function<bool()>& should_stop);

  /// True while connected and consuming; for /health.
  [[nodiscard]] bool consuming() const { return consuming_.load(); }

 private:
  void consume(broker::Connection& connection, const std::function<bool()>& should_stop);
  void answer(broker::Connection& connection, const broker::Delivery& delivery);

  WorkerSettings settings_;
  broker::BrokerSettings broker_;
  RequestHandler& handler_;
  token::TokenClient& tokens_;
  std::atomic<bool> consuming_{false};
  Counter& replies_sent_;
  Counter& replies_unroutable_;
  Counter& reply_failures_;
  Counter& reconnects_;
};

}  // namespace claimcheck::resource
