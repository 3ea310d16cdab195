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
