#pragma once

/// The broker topology claimcheck declares, compatible with the defaults of Spring Cloud
/// Stream's RabbitMQ binder so that a Spring service can take either side of a destination:
/// a durable topic exchange named after the destination and a durable consumer queue
/// `<destination>.<group>` bound with "#".
///
/// Replies go to the client instance that asked: each client binds its own queue
/// `<destination>.<client_id>` with its id as the routing key, and the queue expires when its
/// owner stays away longer than `expires`.
///
/// All functions are idempotent and throw BrokerError (naming the broker and the exchange or
/// queue) when the broker refuses, for example when the queue exists with other arguments.

#include <chrono>
#include <string>

#include "claimcheck/broker/connection.hpp"

namespace claimcheck::broker {

/// The destinations of the claim-check flow, the same for every sender and consumer.
struct FlowDestinations {
  std::string requests = "files-out";  ///< topic exchange the requests are published to
  std::string group = "resource";      ///< the resource servers' consumer group
  std::string replies = "files-in";    ///< topic exchange the replies are published to

  /// Reads messaging.requests, messaging.group and messaging.replies.
  static FlowDestinations from_config(const Config& config);
};

/// How the request queue `<requests>.<group>` is declared. Clients and resource servers both
/// declare it (a request sent before any consumer started must wait, not vanish), so both read
/// the same keys; a queue that already exists with other arguments is refused by the broker
/// with BrokerError 406 naming the queue, never silently used.
struct RequestQueueSettings {
  /// messaging.queue-type: "classic" or "quorum" (replicated over a cluster's nodes).
  std::string queue_type = "classic";
  /// messaging.dead-letter: requests that finally fail are kept in `<queue>.dlq`, routed through
  /// a direct exchange with the queue's name as key, as Spring Cloud Stream's autoBindDlq does.
  bool dead_letter = true;
  /// messaging.dead-letter-exchange.
  std::string dead_letter_exchange = "DLX";
  /// messaging.delivery-limit, quorum queues only (from_config() defaults it to 10 for them; 0
  /// for none): a request delivered more often, for instance because it crashes its consumer
  /// each time, is dead-lettered by the broker itself.
  std::int64_t delivery_limit = 0;

  /// Reads the keys above; throws ConfigError for an unknown queue type or a delivery limit on
  /// a classic queue or out of 0..1000.
  static RequestQueueSettings from_config(const Config& config);
};

/// The queue names of a request destination.
struct RequestQueues {
  std::string queue;        ///< `<requests>.<group>`, what resource servers consume
  std::string retry;        ///< `<queue>.retry`: a message put here returns to the queue when its
                            ///< expiration runs out, which is how retries wait without a timer
  std::string dead_letter;  ///< `<queue>.dlq`; empty when dead-lettering is off
};

/// Declares the request exchange, its queue bound with "#", the retry queue and, when enabled,
/// the dead-letter exchange and queue. Idempotent; BrokerError as for declare_queue().
RequestQueues declare_request_topology(Connection& connection, const FlowDestinations& destinations,
                                       const RequestQueueSettings& settings);

/// The queue name Spring Cloud Stream uses for a consumer group: `<destination>.<group>`.
std::string group_queue_name(const std::string& destination, const std::string& group);

/// Declares the exchange `destination` and the queue `<destination>.<group>` (taking durable,
/// queue type, expiry and dead-lettering from `base`; its name is ignored) bound with "#".
void declare_destination_queue(Connection& connection, const std::string& destination,
                               const std::string& group, const QueueSpec& base);

/// Declares the exchange `destination` and the durable reply queue `<destination>.<client_id>`
/// with x-expires `expires`, bound with routing key `client_id`. Returns the queue name.
std::string declare_reply_queue(Connection& connection, const std::string& destination,
                                const std::string& client_id, std::chrono::milliseconds expires);

}  // namespace claimcheck::broker
