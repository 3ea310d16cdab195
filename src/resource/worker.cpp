#include "claimcheck/resource/worker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "claimcheck/broker/topology.hpp"
#include "claimcheck/message/envelope.hpp"

namespace claimcheck::resource {
namespace {

constexpr std::chrono::milliseconds kPollInterval{500};
constexpr std::chrono::milliseconds kFirstBackoff{500};
constexpr std::chrono::milliseconds kMaxBackoff{15'000};

/// Sleeps for `duration` in short steps so a shutdown request is noticed quickly.
void sleep_unless_stopped(std::chrono::milliseconds duration,
                          const std::function<bool()>& should_stop) {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until && !should_stop()) {
    std::this_thread::sleep_for(std::min(kPollInterval, duration));
  }
}

}  // namespace

WorkerSettings WorkerSettings::from_config(const Config& config) {
  WorkerSettings settings;
  settings.destinations = broker::FlowDestinations::from_config(config);
  settings.queue_type = config.get_string("messaging.queue-type", "classic");
  const auto prefetch = config.get_int("messaging.prefetch", 4);
  if (prefetch < 1 || prefetch > 1000) {
    throw ConfigError("messaging.prefetch must be between 1 and 1000");
  }
  settings.prefetch = static_cast<std::uint16_t>(prefetch);
  settings.confirm_timeout =
      config.get_duration("messaging.confirm-timeout", settings.confirm_timeout);
  return settings;
}

Worker::Worker(WorkerSettings settings, broker::BrokerSettings broker, RequestHandler& handler,
               token::TokenClient& tokens, MetricsRegistry& metrics)
    : settings_(std::move(settings)),
      broker_(std::move(broker)),
      handler_(handler),
      tokens_(tokens),
      replies_sent_(metrics.counter("claimcheck_replies_sent_total", "Replies confirmed")),
      replies_unroutable_(metrics.counter("claimcheck_replies_unroutable_total",
                                          "Replies no queue was bound to receive")),
      reply_failures_(metrics.counter("claimcheck_reply_failures_total",
                                      "Replies not confirmed; their requests were requeued")),
      reconnects_(metrics.counter("claimcheck_broker_reconnects_total",
                                  "Broker connections reopened after a failure")) {}

void Worker::run(const std::function<bool()>& should_stop) {
  std::chrono::milliseconds backoff = kFirstBackoff;
  while (!should_stop()) {
    try {
      auto connection = broker::Connection::open(broker_);
      const std::string queue =
          broker::group_queue_name(settings_.destinations.requests, settings_.destinations.group);
      broker::QueueSpec spec;
      spec.queue_type = settings_.queue_type;
      broker::declare_destination_queue(*connection, settings_.destinations.requests,
                                        settings_.destinations.group, spec);
      connection->declare_topic_exchange(settings_.destinations.replies);
      connection->start_consuming(queue, settings_.prefetch);
      spdlog::info("consuming {} on RabbitMQ at {} (prefetch {})", queue, connection->address(),
                   settings_.prefetch);
      backoff = kFirstBackoff;
      consume(*connection, should_stop);
      connection->close();
    } catch (const broker::BrokerError& error) {
      consuming_ = false;
      if (error.reply_code() == 406) {
        // The queue exists with other arguments: retrying cannot fix a configuration clash.
        throw;
      }
      reconnects_.increment();
      spdlog::warn("{}; reconnecting in {} ms", error.what(), backoff.count());
      sleep_unless_stopped(backoff, should_stop);
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
  }
  consuming_ = false;
}

void Worker::consume(broker::Connection& connection, const std::function<bool()>& should_stop) {
  consuming_ = true;
  while (!should_stop()) {
    const auto delivery = connection.next_delivery(kPollInterval);
    if (delivery) {
      answer(connection, *delivery);
    }
  }
  consuming_ = false;
}

void Worker::answer(broker::Connection& connection, const broker::Delivery& delivery) {
  message::FileReply reply;
  try {
    // A large file can take longer to stream than the heartbeat interval; without this the
    // broker would drop the connection and redeliver the request mid-work.
    reply = handler_.handle(delivery.body, delivery.properties.correlation_id,
                            [&connection] { connection.keep_alive(); });
    reply.token = tokens_.access_token();
  } catch (const std::exception& error) {
    // The store or the auth server is down: nothing is wrong with the request itself, so it
    // goes back to the queue for a later attempt.
    reply_failures_.increment();
    spdlog::error("cannot answer request {}: {}; requeueing it", delivery.properties.message_id,
                  error.what());
    connection.reject(delivery.delivery_tag, /*requeue=*/true);
    std::this_thread::sleep_for(kFirstBackoff);
    return;
  }

  broker::OutgoingMessage outgoing;
  outgoing.body = message::encode(reply);
  outgoing.properties.message_id = reply.message_id;
  outgoing.properties.correlation_id = reply.correlation_id;
  outgoing.properties.type = std::string(message::kReplyType);
  outgoing.properties.timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
  // reply_to holds the asking client's id, which is the routing key its reply queue is bound
  // with; without one the reply goes to whatever group queue listens on the reply exchange.
  const std::string& routing_key = delivery.properties.reply_to;
  const auto outcome = connection.publish(settings_.destinations.replies, routing_key, outgoing,
                                          settings_.confirm_timeout);
  switch (outcome) {
    case broker::PublishOutcome::kConfirmed:
      replies_sent_.increment();
      connection.ack(delivery.delivery_tag);
      break;
    case broker::PublishOutcome::kReturned:
      replies_unroutable_.increment();
      spdlog::warn("no queue takes replies for client '{}' (request {}); dropping the reply",
                   routing_key, reply.request_message_id);
      connection.ack(delivery.delivery_tag);
      break;
    case broker::PublishOutcome::kNacked:
    case broker::PublishOutcome::kTimedOut:
      reply_failures_.increment();
      spdlog::warn("reply to request {} was not confirmed; requeueing the request",
                   reply.request_message_id);
      connection.reject(delivery.delivery_tag, /*requeue=*/true);
      break;
  }
}

}  // namespace claimcheck::resource
