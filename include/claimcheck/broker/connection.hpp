#pragma once

/// A connection to RabbitMQ (AMQP 0-9-1) over rabbitmq-c.
///
/// Guarantees:
/// - Every call that waits on the network is bounded: open() by connect_timeout, broker
///   round-trips (declare, bind, qos, consume, close) by rpc_timeout, publish() by its
///   confirm_timeout and next_delivery() by its timeout. None of them hangs.
/// - publish() puts the channel in confirm mode and returns only once the broker has answered
///   for this message (or the timeout passed): only kConfirmed means the broker took it.
/// - Deliveries, confirms and returns share the socket; whatever arrives while another call
///   waits is buffered, never dropped, and handed out by next_delivery() in arrival order.
/// - Heartbeats are answered whenever the connection is inside one of its calls. A caller that
///   is busy for longer than the heartbeat interval calls keep_alive() now and then.
/// - Every failure is a BrokerError whose message names the broker's host:port and, for a
///   refusal by the broker, its reply code and text. A failed declaration or a publish to a
///   missing exchange leaves the connection usable; a lost connection makes every later call
///   throw, and the owner reconnects by opening a new Connection.
///
/// Threading: one thread at a time; not thread-safe. Ownership: the Connection owns its socket
/// and closes it in the destructor. Unacknowledged deliveries go back to their queue when the
/// connection closes.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "claimcheck/common/config.hpp"

namespace claimcheck::broker {

/// Where and how to reach the broker.
struct BrokerSettings {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string vhost = "/";
  std::string user = "guest";
  std::string password = "guest";
  std::chrono::seconds heartbeat{30};
  /// Bounds TCP connect plus the AMQP handshake and login.
  std::chrono::milliseconds connect_timeout{5000};
  /// Bounds each broker round-trip (declare, bind, qos, consume, close).
  std::chrono::milliseconds rpc_timeout{10000};

  /// Reads `<prefix>.host`, `.port`, `.vhost`, `.user`, `.password`, `.heartbeat`,
  /// `.connect-timeout` and `.rpc-timeout`; unset keys keep the defaults above. Throws
  /// ConfigError for a value of the wrong type or out of range.
  static BrokerSettings from_config(const Config& config, std::string_view prefix = "broker");

  /// "host:port", for messages.
  [[nodiscard]] std::string address() const;
};

/// Any failure talking to the broker. The message names host:port.
class BrokerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;

  BrokerError(const std::string& message, int reply_code)
      : std::runtime_error(message), reply_code_(reply_code) {}

  /// The AMQP reply code when the broker refused something (404 NOT_FOUND, 406
  /// PRECONDITION_FAILED, 403 ACCESS_REFUSED, ...); 0 for network and library failures.
  [[nodiscard]] int reply_code() const noexcept { return reply_code_; }

 private:
  int reply_code_ = 0;
};

/// The AMQP basic properties claimcheck uses. `timestamp` is in seconds since the epoch, as
/// AMQP defines it; 0 means unset. Empty strings are not sent. Header values are strings;
/// numeric and boolean headers from other producers arrive as their decimal text.
struct MessageProperties {
  std::string content_type = "application/json";
  std::string message_id;
  std::string correlation_id;
  std::string type;
  std::string reply_to;
  /// Per-message TTL in milliseconds as decimal text (AMQP's `expiration`); empty: none.
  std::string expiration;
  std::int64_t timestamp = 0;
  /// delivery_mode 2 (survives a broker restart in a durable queue) when true, 1 otherwise.
  bool persistent = true;
  std::map<std::string, std::string> headers;
};

struct OutgoingMessage {
  std::string body;
  MessageProperties properties;
};

struct Delivery {
  std::uint64_t delivery_tag = 0;
  std::string body;
  MessageProperties properties;
  bool redelivered = false;
  std::string exchange;
  std::string routing_key;
  /// When this connection read the message off the socket (it may be handed out later).
  std::chrono::system_clock::time_point received_at{};
};

enum class PublishOutcome {
  kConfirmed,  ///< the broker took responsibility for the message
  kNacked,     ///< the broker refused it (internal error, queue limit with reject-publish)
  kReturned,   ///< mandatory and no queue was bound to receive it
  kTimedOut,   ///< no answer within the confirm timeout: treat as not sent
};

/// A durable, non-exclusive, non-auto-delete queue. `queue_type` and the optional fields map
/// to x-queue-type, x-expires, x-dead-letter-exchange, x-dead-letter-routing-key and
/// x-delivery-limit.
struct QueueSpec {
  std::string name;
  bool durable = true;
  /// "classic" (sent as no x-queue-type argument, as Spring Cloud Stream does), "quorum" or
  /// "stream".
  std::string queue_type = "classic";
  std::optional<std::chrono::milliseconds> expires;
  /// Where the broker sends messages rejected without requeue, expired, or (quorum queues)
  /// delivered more than `delivery_limit` times. Unset (std::nullopt): no dead-lettering; ""
  /// is the default exchange.
  std::optional<std::string> dead_letter_exchange;
  std::string dead_letter_routing_key;
  std::optional<std::int64_t> delivery_limit;
};

class Connection {
 public:
  /// Connects, logs in and opens the channels lazily used later. Throws BrokerError, e.g.
  /// "cannot connect to RabbitMQ at 127.0.0.1:5999: connection refused", within
  /// settings.connect_timeout.
  static std::unique_ptr<Connection> open(const BrokerSettings& settings);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&&) = delete;
  Connection& operator=(Connection&&) = delete;

  /// The broker this connection talks to, "host:port".
  [[nodiscard]] const std::string& address() const noexcept;

  /// A durable topic exchange; succeeds if it already exists with the same type.
  void declare_topic_exchange(const std::string& name);

  /// A durable exchange of `type` ("direct", "topic", "fanout"); as declare_topic_exchange().
  void declare_exchange(const std::string& name, const std::string& type);

  /// Declares the queue. A queue that already exists with other arguments raises BrokerError
  /// (reply_code 406) naming the queue and the argument that differs.
  void declare_queue(const QueueSpec& spec);

  void bind_queue(const std::string& queue, const std::string& exchange,
                  const std::string& routing_key);

  /// Publishes one message and waits for the broker's confirm. A missing exchange raises
  /// BrokerError (reply_code 404) and leaves the connection usable.
  PublishOutcome publish(const std::string& exchange, const std::string& routing_key,
                         const OutgoingMessage& message, std::chrono::milliseconds confirm_timeout,
                         bool mandatory = true);

  /// Starts a consumer with manual acks; at most `prefetch` deliveries are unacknowledged at
  /// once. May be called for several queues; their deliveries share next_delivery().
  void start_consuming(const std::string& queue, std::uint16_t prefetch);

  /// The next delivery, or std::nullopt when none arrived within `timeout`. BrokerError when
  /// the connection or the consumer is lost (including a consumer cancelled by the broker).
  std::optional<Delivery> next_delivery(std::chrono::milliseconds timeout);

  void ack(std::uint64_t delivery_tag);
  void reject(std::uint64_t delivery_tag, bool requeue);

  /// Reads what the broker sent so far without waiting (buffering deliveries) and sends a
  /// heartbeat if one is due. For callers busy longer than the heartbeat interval.
  void keep_alive();

  /// Graceful close; idempotent. The destructor closes too, logging instead of throwing.
  void close();

 private:
  class Impl;
  explicit Connection(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace claimcheck::broker
