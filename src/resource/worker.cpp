#include "claimcheck/resource/worker.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <thread>

#include "claimcheck/broker/topology.hpp"
#include "claimcheck/message/envelope.hpp"

namespace claimcheck::resource {
namespace {

constexpr std::chrono::milliseconds kPollInterval{500};
constexpr std::chrono::milliseconds kFirstReconnectDelay{500};
constexpr std::chrono::milliseconds kMaxReconnectDelay{15'000};

/// Sleeps for `duration` in short steps so a shutdown request is noticed quickly.
void sleep_unless_stopped(std::chrono::milliseconds duration,
                          const std::function<bool()>& should_stop) {
  const auto until = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < until && !should_stop()) {
    std::this_thread::sleep_for(std::min(kPollInterval, duration));
  }
}

/// The attempt a delivery is: its attempt header, 1 when it has none (or a garbled one).
int attempt_of(const broker::Delivery& delivery) {
  const auto found = delivery.properties.headers.find(kAttemptHeader);
  if (found == delivery.properties.headers.end()) {
    return 1;
  }
  int attempt = 1;
  const std::string& text = found->second;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), attempt);
  return error == std::errc() && end == text.data() + text.size() && attempt >= 1 ? attempt : 1;
}

/// The request's message id: the AMQP property, or the body's `messageId` for producers that
/// set no property (Spring's, by default); empty when neither says.
std::string request_id_of(const broker::Delivery& delivery) {
  if (!delivery.properties.message_id.empty()) {
    return delivery.properties.message_id;
  }
  const auto decoded = message::decode_request(delivery.body);
  const auto* request = std::get_if<message::FileRequest>(&decoded);
  return request != nullptr ? request->message_id : std::string();
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

WorkerSettings WorkerSettings::from_config(const Config& config) {
  WorkerSettings settings;
  settings.destinations = broker::FlowDestinations::from_config(config);
  settings.queue = broker::RequestQueueSettings::from_config(config);
  const auto prefetch = config.get_int("messaging.prefetch", 4);
  if (prefetch < 1 || prefetch > 1000) {
    throw ConfigError("messaging.prefetch must be between 1 and 1000");
  }
  settings.prefetch = static_cast<std::uint16_t>(prefetch);
  settings.confirm_timeout =
      config.get_duration("messaging.confirm-timeout", settings.confirm_timeout);
  if (settings.confirm_timeout <= std::chrono::milliseconds::zero()) {
    // Zero would count every reply as unconfirmed, however fast the broker answers.
    throw ConfigError("messaging.confirm-timeout must be positive");
  }
  const auto max_attempts = config.get_int("messaging.max-attempts", settings.max_attempts);
  if (max_attempts < 1 || max_attempts > 100) {
    throw ConfigError("messaging.max-attempts must be between 1 and 100");
  }
  settings.max_attempts = static_cast<int>(max_attempts);
  settings.retry_backoff = config.get_duration("messaging.retry-backoff", settings.retry_backoff);
  settings.retry_backoff_max =
      config.get_duration("messaging.retry-backoff-max", settings.retry_backoff_max);
  if (settings.retry_backoff_max < settings.retry_backoff) {
    throw ConfigError(
        "messaging.retry-backoff-max must not be shorter than messaging.retry-backoff");
  }
  settings.dedupe_window = config.get_duration("messaging.dedupe-window", settings.dedupe_window);
  if (settings.dedupe_window <= std::chrono::milliseconds::zero()) {
    throw ConfigError(
        "messaging.dedupe-window must be positive (it is how long redeliveries are "
        "recognised)");
  }
  return settings;
}

Worker::Worker(WorkerSettings settings, broker::BrokerSettings broker, RequestHandler& handler,
               store::Store& store, token::TokenClient& tokens, MetricsRegistry& metrics)
    : settings_(std::move(settings)),
      broker_(std::move(broker)),
      handler_(handler),
      store_(store),
      tokens_(tokens),
      retry_backoff_(settings_.retry_backoff, settings_.retry_backoff_max),
      replies_sent_(metrics.counter("claimcheck_replies_sent_total", "Replies confirmed")),
      replies_unroutable_(metrics.counter("claimcheck_replies_unroutable_total",
                                          "Replies no queue was bound to receive")),
      reply_failures_(metrics.counter("claimcheck_reply_failures_total",
                                      "Replies not confirmed; their requests were tried again")),
      duplicates_dropped_(metrics.counter("claimcheck_duplicate_requests_total",
                                          "Redelivered requests dropped as already answered")),
      retries_(metrics.counter("claimcheck_request_retries_total",
                               "Requests put into the retry queue for another attempt")),
      dead_lettered_(metrics.counter("claimcheck_requests_dead_lettered_total",
                                     "Requests that failed their last attempt")),
      reconnects_(metrics.counter("claimcheck_broker_reconnects_total",
                                  "Broker connections reopened after a failure")) {}

void Worker::run(const std::function<bool()>& should_stop) {
  Backoff reconnect_backoff(kFirstReconnectDelay, kMaxReconnectDelay);
  while (!should_stop()) {
    bool declaring = false;
    try {
      auto connection = broker::Connection::open(broker_);
      declaring = true;
      queues_ =
          broker::declare_request_topology(*connection, settings_.destinations, settings_.queue);
      connection->declare_topic_exchange(settings_.destinations.replies);
      declaring = false;
      connection->start_consuming(queues_.queue, settings_.prefetch);
      spdlog::info("consuming {} on RabbitMQ at {} (prefetch {})", queues_.queue,
                   connection->address(), settings_.prefetch);
      reconnect_backoff.reset();
      consume(*connection, should_stop);
      connection->close();
    } catch (const broker::BrokerError& error) {
      consuming_ = false;
      if (declaring && error.reply_code() == 406) {
        // The queue exists with other arguments: retrying cannot fix a configuration clash.
        // (A 406 later, such as a consumer timeout closing the channel, is recovered from.)
        throw;
      }
      reconnects_.increment();
      const auto delay = reconnect_backoff.next();
      spdlog::warn("{}; reconnecting in {} ms", error.what(), delay.count());
      sleep_unless_stopped(delay, should_stop);
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
  const std::string message_id = request_id_of(delivery);
  if (const auto recorded = message_id.empty() ? std::nullopt : recorded_reply(message_id)) {
    duplicates_dropped_.increment();
    // A redelivery, or a retry of a reply that was not confirmed, may mean the reply never got
    // out (its confirm was lost with the connection): the recorded reply goes out again, the
    // request is not processed again. A fresh copy of an answered request (a publish repeated
    // by its client) was answered with the first one.
    if (!recorded->empty() && (delivery.redelivered || attempt_of(delivery) > 1)) {
      spdlog::info(
          "request {} was answered before; dropping this redelivery and sending the "
          "recorded reply again",
          message_id);
      answer_again(connection, delivery, *recorded);
      return;
    }
    spdlog::info("request {} was answered before; dropping this redelivery", message_id);
    connection.ack(delivery.delivery_tag);
    return;
  }

  const int attempt = attempt_of(delivery);
  HandledRequest handled;
  try {
    // A large file can take longer to stream than the heartbeat interval; without this the
    // broker would drop the connection and redeliver the request mid-work.
    handled = handler_.handle(delivery.body, delivery.properties.correlation_id,
                              [&connection] { connection.keep_alive(); });
  } catch (const broker::BrokerError&) {
    throw;  // the connection failed while the file streamed: reconnect, the request comes again
  } catch (const std::exception& error) {
    // The store is failing: nothing is wrong with the request itself.
    handled.reply =
        RequestHandler::error_reply_to(delivery.body, delivery.properties.correlation_id,
                                       message::error_code::kStoreUnavailable, error.what());
    handled.worth_retrying = true;
  }
  if (handled.worth_retrying && attempt < settings_.max_attempts) {
    retry_later(connection, delivery, attempt, handled.reply.error, handled.retry_not_before);
    return;
  }

  const bool gave_up = handled.worth_retrying;
  if (gave_up) {
    handled.reply.error += fmt::format(
        " (gave up after {} attempts{})", attempt,
        queues_.dead_letter.empty() ? "" : "; the request is kept in " + queues_.dead_letter);
    handled.reply.result["attempts"] = attempt;
    handled.reply.result["deadLettered"] = !queues_.dead_letter.empty();
  }
  if (!gave_up && !message_id.empty()) {
    // Before the reply goes out: were its confirm lost with the connection, the redelivery
    // finds the record and sends the same reply again instead of processing the request anew
    // (by then its client may have deleted the file).
    remember(message_id, handled.reply);
  }
  if (!publish_reply(connection, delivery, handled.reply)) {
    return;
  }
  if (gave_up) {
    // Not remembered as answered: an operator who moves it back from the dead-letter queue
    // once the cause is fixed wants it processed.
    dead_lettered_.increment();
    spdlog::error("request {} failed its last attempt ({}); dead-lettering it", message_id,
                  handled.reply.error);
    connection.reject(delivery.delivery_tag, /*requeue=*/false);
    return;
  }
  spdlog::info("answered request {} for client '{}': {}", message_id, delivery.properties.reply_to,
               handled.reply.ok() ? "ok" : handled.reply.error_code);
  connection.ack(delivery.delivery_tag);
}

std::optional<std::string> Worker::recorded_reply(const std::string& message_id) {
  try {
    return store_.seen_message(message_id, std::chrono::system_clock::now());
  } catch (const store::StoreError& error) {
    // Processing again is the safe side of at-least-once; the handler meets the same store and
    // turns a lasting outage into a retry.
    spdlog::warn("cannot look up whether request {} was answered: {}; processing it", message_id,
                 error.what());
    return std::nullopt;
  }
}

void Worker::remember(const std::string& message_id, const message::FileReply& reply) {
  try {
    store_.remember_message(message_id, std::chrono::system_clock::now() + settings_.dedupe_window,
                            message::encode(reply));
  } catch (const store::StoreError& error) {
    spdlog::warn("cannot record request {} as answered: {}; a redelivery would be answered again",
                 message_id, error.what());
  }
}

void Worker::answer_again(broker::Connection& connection, const broker::Delivery& delivery,
                          const std::string& recorded) {
  auto decoded = message::decode_reply(recorded);
  if (auto* reply = std::get_if<message::FileReply>(&decoded)) {
    if (!publish_reply(connection, delivery, *reply)) {
      return;
    }
  }
  connection.ack(delivery.delivery_tag);
}

void Worker::retry_later(broker::Connection& connection, const broker::Delivery& delivery,
                         int attempt, const std::string& reason,
                         std::chrono::milliseconds not_before) {
  // A little past `not_before`, so that the attempt finds what it waited for.
  constexpr std::chrono::milliseconds kMargin{200};
  const auto delay =
      std::max(retry_backoff_.after_attempt(attempt), not_before > std::chrono::milliseconds::zero()
                                                          ? not_before + kMargin
                                                          : std::chrono::milliseconds::zero());
  broker::OutgoingMessage retry{delivery.body, delivery.properties};
  retry.properties.headers[kAttemptHeader] = std::to_string(attempt + 1);
  retry.properties.expiration = std::to_string(delay.count());
  retry.properties.persistent = true;

  auto outcome = connection.publish("", queues_.retry, retry, settings_.confirm_timeout);
  if (outcome == broker::PublishOutcome::kReturned) {
    // Someone deleted the retry queue: declaring the topology again brings it back.
    queues_ = broker::declare_request_topology(connection, settings_.destinations, settings_.queue);
    outcome = connection.publish("", queues_.retry, retry, settings_.confirm_timeout);
  }
  if (outcome != broker::PublishOutcome::kConfirmed) {
    // Not even the retry queue takes it: to the dead-letter queue rather than back to the head
    // of its own queue, from where it would come straight back.
    dead_lettered_.increment();
    spdlog::error(
        "request {} failed ({}) and the retry queue {} did not take it; "
        "dead-lettering it",
        delivery.properties.message_id, reason, queues_.retry);
    connection.reject(delivery.delivery_tag, /*requeue=*/false);
    return;
  }
  retries_.increment();
  spdlog::warn("request {} failed on attempt {} of {} ({}); trying again in {} ms",
               delivery.properties.message_id, attempt, settings_.max_attempts, reason,
               delay.count());
  connection.ack(delivery.delivery_tag);
}

bool Worker::publish_reply(broker::Connection& connection, const broker::Delivery& delivery,
                           message::FileReply& reply) {
  try {
    reply.token = tokens_.access_token();
  } catch (const std::exception& error) {
    // Without a token no client would believe the reply. The request is fine, so it waits for
    // the auth server without using up its attempts.
    reply_failures_.increment();
    retry_later(connection, delivery, std::min(attempt_of(delivery), settings_.max_attempts - 1),
                fmt::format("no token for the reply: {}", error.what()));
    return false;
  }

  broker::OutgoingMessage outgoing;
  outgoing.body = message::encode(reply);
  outgoing.properties.message_id = reply.message_id;
  outgoing.properties.correlation_id = reply.correlation_id;
  outgoing.properties.type = std::string(message::kReplyType);
  outgoing.properties.timestamp = now_seconds();
  // reply_to holds the asking client's id, which is the routing key its reply queue is bound
  // with; without one the reply goes to whatever group queue listens on the reply exchange.
  const std::string& routing_key = delivery.properties.reply_to;
  const auto outcome = connection.publish(settings_.destinations.replies, routing_key, outgoing,
                                          settings_.confirm_timeout);
  switch (outcome) {
    case broker::PublishOutcome::kConfirmed:
      replies_sent_.increment();
      return true;
    case broker::PublishOutcome::kReturned:
      replies_unroutable_.increment();
      spdlog::warn("no queue takes replies for client '{}' (request {}); dropping the reply",
                   routing_key, reply.request_message_id);
      return true;
    case broker::PublishOutcome::kNacked:
    case broker::PublishOutcome::kTimedOut:
      break;
  }
  reply_failures_.increment();
  const int attempt = attempt_of(delivery);
  if (attempt >= settings_.max_attempts) {
    // The reply queue keeps refusing (full, or a broker alarm): nothing is left to try.
    dead_lettered_.increment();
    spdlog::error(
        "reply to request {} was not confirmed on attempt {} of {}; dead-lettering "
        "the request",
        reply.request_message_id, attempt, settings_.max_attempts);
    connection.reject(delivery.delivery_tag, /*requeue=*/false);
    return false;
  }
  retry_later(connection, delivery, attempt, "its reply was not confirmed");
  return false;
}

}  // namespace claimcheck::resource
