#pragma once

/// The resource server's consuming loop: takes requests from `<requests>.<group>`, hands each to
/// a RequestHandler, publishes the reply to the `replies` exchange with the resource server's
/// own token, and acknowledges the request only once the broker confirmed the reply.
///
/// Delivery: at-least-once, with duplicates dropped by message id before any side effect. Just
/// before a reply goes out the request's message id and the reply are recorded in the store for
/// `dedupe_window`, so a redelivery (after a lost ack or confirm, a restart, or to a competing
/// server) is never processed again: it is acknowledged, and answered again with the recorded
/// reply when the first one may not have got out.
///
/// Failures: a request whose processing failed for a reason that may pass (the store is down,
/// the file or the token's key is not there yet) waits in the retry queue for a growing,
/// jittered delay and is tried again, up to `max_attempts` in all; after the last attempt the
/// client gets an error reply and the request goes to the dead-letter queue. Nothing loops: a
/// request is never requeued at once. A reply to a client whose queue is gone is logged and the
/// request acknowledged (nobody is left to answer).
///
/// Connections: a lost connection is reopened with jittered exponential backoff, the topology
/// declared again and consuming resumed; a request queue that exists with other arguments stops
/// the worker with that configuration error. Single-threaded; run() ends only when
/// should_stop() says so.

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "claimcheck/broker/connection.hpp"
#include "claimcheck/broker/topology.hpp"
#include "claimcheck/common/backoff.hpp"
#include "claimcheck/common/config.hpp"
#include "claimcheck/common/metrics.hpp"
#include "claimcheck/resource/request_handler.hpp"
#include "claimcheck/store/store.hpp"
#include "claimcheck/token/token_client.hpp"

namespace claimcheck::resource {

struct WorkerSettings {
  broker::FlowDestinations destinations;
  broker::RequestQueueSettings queue;
  std::uint16_t prefetch = 4;
  std::chrono::milliseconds confirm_timeout{10'000};
  /// Attempts at a request whose failure may pass, the first included.
  int max_attempts = 5;
  std::chrono::milliseconds retry_backoff{1000};
  std::chrono::milliseconds retry_backoff_max{30'000};
  /// How long answered message ids are remembered; longer than a request can wait in a queue.
  std::chrono::milliseconds dedupe_window{std::chrono::hours(24)};

  /// Reads messaging.requests, .group, .replies, the request queue keys
  /// (broker::RequestQueueSettings), messaging.prefetch, .confirm-timeout, .max-attempts,
  /// .retry-backoff, .retry-backoff-max and .dedupe-window. Throws ConfigError.
  static WorkerSettings from_config(const Config& config);
};

/// The AMQP header that counts a request's attempts (1 on the first delivery).
inline constexpr const char* kAttemptHeader = "x-claimcheck-attempt";

class Worker {
 public:
  Worker(WorkerSettings settings, broker::BrokerSettings broker, RequestHandler& handler,
         store::Store& store, token::TokenClient& tokens, MetricsRegistry& metrics);

  /// Consumes until should_stop() returns true (checked at least twice a second). Throws
  /// broker::BrokerError only for a configuration clash (reply code 406).
  void run(const std::function<bool()>& should_stop);

  /// True while connected and consuming; for /health.
  [[nodiscard]] bool consuming() const { return consuming_.load(); }

 private:
  void consume(broker::Connection& connection, const std::function<bool()>& should_stop);
  void answer(broker::Connection& connection, const broker::Delivery& delivery);
  /// The reply recorded when the request was answered before; std::nullopt when it was not (a
  /// store failure counts as "not known").
  std::optional<std::string> recorded_reply(const std::string& message_id);
  /// Publishes a recorded reply again (with a fresh token) and acknowledges the redelivery.
  void answer_again(broker::Connection& connection, const broker::Delivery& delivery,
                    const std::string& recorded);
  /// Puts the request into the retry queue for its next attempt, no sooner than `not_before`;
  /// requeues it after a pause when even that fails.
  void retry_later(broker::Connection& connection, const broker::Delivery& delivery, int attempt,
                   const std::string& reason,
                   std::chrono::milliseconds not_before = std::chrono::milliseconds(0));
  /// Publishes `reply`; returns false (the request requeued after a pause) when the broker did
  /// not confirm it.
  bool publish_reply(broker::Connection& connection, const broker::Delivery& delivery,
                     message::FileReply& reply);
  void remember(const std::string& message_id, const message::FileReply& reply);

  WorkerSettings settings_;
  broker::BrokerSettings broker_;
  RequestHandler& handler_;
  store::Store& store_;
  token::TokenClient& tokens_;
  broker::RequestQueues queues_;
  Backoff retry_backoff_;
  std::atomic<bool> consuming_{false};
  Counter& replies_sent_;
  Counter& replies_unroutable_;
  Counter& reply_failures_;
  Counter& duplicates_dropped_;
  Counter& retries_;
  Counter& dead_lettered_;
  Counter& reconnects_;
};

}  // namespace claimcheck::resource
