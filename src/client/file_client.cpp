#include "claimcheck/client/file_client.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <thread>

#include "claimcheck/broker/topology.hpp"
#include "claimcheck/common/backoff.hpp"
#include "claimcheck/common/bytes.hpp"
#include "claimcheck/common/encoding.hpp"
#include "file_reaper.hpp"

namespace claimcheck::client {
namespace {

constexpr std::chrono::milliseconds kPollInterval{500};
constexpr std::chrono::milliseconds kFirstReconnectDelay{500};
constexpr std::chrono::milliseconds kMaxReconnectDelay{10'000};

/// A publish that was never confirmed, where at least one attempt may have reached the broker.
class UnconfirmedPublish : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string default_client_id() {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) {
    return "claimcheck-client";
  }
  return std::string(host.data()) + "-client";
}

// A reply's `result` is free-form JSON from another service: read it without trusting types.
std::string result_text(const nlohmann::json& result, const char* key) {
  const auto found = result.find(key);
  return found != result.end() && found->is_string() ? found->get<std::string>() : std::string();
}

bool result_flag(const nlohmann::json& result, const char* key) {
  const auto found = result.find(key);
  return found != result.end() && found->is_boolean() && found->get<bool>();
}

std::uint64_t result_length(const nlohmann::json& result) {
  const auto found = result.find("length");
  return found != result.end() && found->is_number_unsigned() ? found->get<std::uint64_t>() : 0;
}

std::chrono::milliseconds since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

}  // namespace

ClientSettings ClientSettings::from_config(const Config& config) {
  ClientSettings settings;
  settings.destinations = broker::FlowDestinations::from_config(config);
  settings.queue = broker::RequestQueueSettings::from_config(config);
  settings.client_id = config.get_string("client.id", default_client_id());
  if (settings.client_id.empty() || settings.client_id.find_first_of("#*.") != std::string::npos) {
    throw ConfigError("client.id '" + settings.client_id +
                      "' must be non-empty and free of '#', '*' and '.' (it is a routing key)");
  }
  settings.reply_queue_expires =
      config.get_duration("messaging.reply-queue-expires", settings.reply_queue_expires);
  if (settings.reply_queue_expires <= std::chrono::milliseconds::zero()) {
    throw ConfigError("messaging.reply-queue-expires must be positive");
  }
  settings.confirm_timeout =
      config.get_duration("messaging.confirm-timeout", settings.confirm_timeout);
  if (settings.confirm_timeout <= std::chrono::milliseconds::zero()) {
    throw ConfigError("messaging.confirm-timeout must be positive");
  }
  const auto attempts = config.get_int("messaging.publish-attempts", settings.publish_attempts);
  if (attempts < 1 || attempts > 100) {
    throw ConfigError("messaging.publish-attempts must be between 1 and 100");
  }
  settings.publish_attempts = static_cast<int>(attempts);
  settings.recover_for = config.get_duration("messaging.recover-for", settings.recover_for);
  settings.delete_after_reply = config.get_bool("lifecycle.delete-after-reply", true);
  settings.file_ttl = config.get_duration("lifecycle.file-ttl", settings.file_ttl);
  if (settings.file_ttl <= std::chrono::milliseconds::zero()) {
    throw ConfigError("lifecycle.file-ttl must be positive");
  }
  settings.resend_expired = config.get_bool("lifecycle.resend-expired", false);
  return settings;
}

FileClient::FileClient(ClientSettings settings, ConnectionFactory connect, store::Store& store,
                       token::TokenClient& tokens, token::TokenVerifier& verifier)
    : settings_(std::move(settings)),
      connect_(std::move(connect)),
      store_(store),
      tokens_(tokens),
      verifier_(verifier),
      reaper_(
          std::make_unique<FileReaper>([this](const std::string& id) { remove_own_file(id); })) {}

FileClient::~FileClient() = default;

void FileClient::open() {
  connection_ = connect_();
  ++connection_generation_;
  declare_topology();
}

void FileClient::declare_topology() {
  // Declaring the consumers' queue too means a request sent before any resource server ever
  // started waits in the queue instead of being dropped as unroutable.
  broker::declare_request_topology(*connection_, settings_.destinations, settings_.queue);
  reply_queue_ = broker::declare_reply_queue(*connection_, settings_.destinations.replies,
                                             settings_.client_id, settings_.reply_queue_expires);
  connection_->start_consuming(reply_queue_, /*prefetch=*/32);
}

void FileClient::recover(const std::string& reason) {
  connection_.reset();
  if (gave_up_) {
    // Once the broker stayed away for recover_for, every later wait would be as long and as
    // futile: the rest of the run fails at once with the same reason.
    throw broker::BrokerError(*gave_up_);
  }
  Backoff backoff(kFirstReconnectDelay, kMaxReconnectDelay);
  const auto deadline = std::chrono::steady_clock::now() + settings_.recover_for;
  std::string last_error = reason;
  for (;;) {
    const auto delay = backoff.next();
    if (std::chrono::steady_clock::now() + delay > deadline) {
      gave_up_ = fmt::format(
          "gave up reconnecting after {} s: {}",
          std::chrono::duration_cast<std::chrono::seconds>(settings_.recover_for).count(),
          last_error);
      throw broker::BrokerError(*gave_up_);
    }
    spdlog::warn("{}; reconnecting in {} ms", last_error, delay.count());
    std::this_thread::sleep_for(delay);
    try {
      connection_ = connect_();
      ++connection_generation_;
      declare_topology();
      ++stats_.reconnects;
      spdlog::info("reconnected to RabbitMQ at {}", connection_->address());
      return;
    } catch (const broker::BrokerError& error) {
      connection_.reset();
      if (error.reply_code() == 406) {
        throw;  // a configuration clash does not heal by waiting
      }
      last_error = error.what();
    }
  }
}

std::string FileClient::send(const std::filesystem::path& path, const std::string& operation) {
  const auto started = std::chrono::steady_clock::now();
  const store::FileInfo stored = store_file(path);

  message::FileRequest request;
  request.message_id = random_hex(16);
  request.correlation_id = request.message_id;
  request.file_id = stored.id;
  request.file_name = stored.filename;
  request.length = stored.length;
  request.sha256 = stored.sha256;
  request.content_type = stored.content_type;
  request.operation = operation;
  request.store = std::string(store_.kind());
  request.created_at = message::now_rfc3339();
  try {
    publish(request);
  } catch (const UnconfirmedPublish& error) {
    // Removing the file could leave a request that did arrive pointing at nothing.
    throw std::runtime_error(fmt::format(
        "'{}' was not confirmed ({}); it may still arrive, so its stored copy stays until it "
        "expires",
        path.string(), error.what()));
  } catch (const std::exception& error) {
    try {
      store_.remove(stored.id);
    } catch (const store::StoreError& remove_error) {
      spdlog::warn("could not remove file {} of an unsent request: {}; it expires by itself",
                   stored.id, remove_error.what());
    }
    throw std::runtime_error(fmt::format("'{}' was not sent ({}); its stored copy was removed",
                                         path.string(), error.what()));
  }
  std::string message_id = request.message_id;
  const std::string correlation_id = request.correlation_id;
  pending_[correlation_id] = Pending{std::move(request), started};
  return message_id;
}

store::FileInfo FileClient::store_file(const std::filesystem::path& path) {
  Backoff backoff(kFirstReconnectDelay, kMaxReconnectDelay);
  const auto deadline = std::chrono::steady_clock::now() + settings_.recover_for;
  for (;;) {
    FileSource file(path);
    // Storing a large file takes longer than the broker's heartbeat interval; without heartbeats
    // the broker would drop the connection the claim is then published on. A connection that
    // breaks meanwhile is noticed, and reopened, by the publish that follows.
    KeepAliveTicker ticker([this] {
      try {
        if (connection_) {
          connection_->keep_alive();
        }
      } catch (const broker::BrokerError&) {
        connection_.reset();
      }
    });
    KeepAliveSource source(file, ticker);
    store::PutOptions options;
    options.metadata = {{"sender", settings_.client_id}};
    options.expires_at = std::chrono::system_clock::now() + settings_.file_ttl;
    try {
      return store_.put(path.filename().string(), source, options);
    } catch (const store::StoreError& error) {
      const auto delay = backoff.next();
      if (error.code() != store::StoreErrc::kBackend ||
          std::chrono::steady_clock::now() + delay > deadline) {
        throw;
      }
      ++stats_.store_retries;
      spdlog::warn("could not store '{}': {}; trying again in {} ms", path.string(), error.what(),
                   delay.count());
      std::this_thread::sleep_for(delay);
    }
  }
}

void FileClient::publish(message::FileRequest& request) {
  broker::OutgoingMessage outgoing;
  outgoing.properties.message_id = request.message_id;
  outgoing.properties.correlation_id = request.correlation_id;
  outgoing.properties.type = std::string(message::kRequestType);
  outgoing.properties.reply_to = settings_.client_id;
  outgoing.properties.timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
  Backoff backoff(kFirstReconnectDelay, kMaxReconnectDelay);
  std::string failure;
  bool maybe_arrived = false;
  for (int attempt = 1; attempt <= settings_.publish_attempts; ++attempt) {
    if (attempt > 1) {
      ++stats_.publish_retries;
    }
    bool publishing = false;
    try {
      if (!connection_) {
        recover(failure.empty() ? "the broker connection was lost" : failure);
      }
      request.token = tokens_.access_token();
      outgoing.body = message::encode(request);
      publishing = true;
      const auto outcome = connection_->publish(settings_.destinations.requests, request.operation,
                                                outgoing, settings_.confirm_timeout);
      publishing = false;
      // No answer is not a no: the broker may have taken the message and lost only the confirm.
      maybe_arrived = maybe_arrived || outcome == broker::PublishOutcome::kTimedOut;
      if (outcome == broker::PublishOutcome::kConfirmed) {
        ++stats_.requests_confirmed;
        return;
      }
      if (outcome == broker::PublishOutcome::kReturned) {
        throw std::runtime_error("no queue is bound to receive requests");
      }
      failure = outcome == broker::PublishOutcome::kNacked
                    ? "the broker refused the request (nack)"
                    : "the broker did not confirm the request in time";
      if (outcome == broker::PublishOutcome::kTimedOut) {
        // A broker that stays silent that long is likely gone; a new connection tells, within
        // its connect timeout, instead of a second publish into a socket nobody reads.
        connection_.reset();
      }
      const auto delay = backoff.next();
      spdlog::warn("request {}: {}; publishing it again in {} ms", request.message_id, failure,
                   delay.count());
      std::this_thread::sleep_for(delay);
    } catch (const broker::BrokerError& error) {
      maybe_arrived = maybe_arrived || publishing;
      if (error.reply_code() == 406 || error.reply_code() == 404) {
        throw;  // a refused topology or a missing exchange: publishing again cannot help
      }
      failure = error.what();
      connection_.reset();
    } catch (const token::TokenClientError& error) {
      // An auth server that is restarting, or not (yet) in the registry, comes back; one that
      // refuses the secret does not.
      if (error.error_code() != "unreachable" && error.error_code() != "no_endpoint") {
        throw;
      }
      failure = error.what();
      const auto delay = backoff.next();
      spdlog::warn("request {}: {}; trying again in {} ms", request.message_id, failure,
                   delay.count());
      std::this_thread::sleep_for(delay);
    }
  }
  const std::string what =
      fmt::format("{} attempts failed; the last: {}", settings_.publish_attempts, failure);
  if (maybe_arrived) {
    throw UnconfirmedPublish(what);
  }
  throw std::runtime_error(what);
}

std::optional<broker::Delivery> FileClient::next_reply(std::chrono::milliseconds timeout) {
  try {
    if (!connection_) {
      recover("the broker connection was lost");
    }
    delivered_generation_ = connection_generation_;
    return connection_->next_delivery(timeout);
  } catch (const broker::BrokerError& error) {
    // Unacknowledged replies go back to the durable reply queue and come again on the new
    // connection; those already handled are then dropped as duplicates.
    recover(error.what());
    return std::nullopt;
  }
}

void FileClient::ack(const broker::Delivery& delivery) {
  if (!connection_ || connection_generation_ != delivered_generation_) {
    // The delivery came on a connection that is gone (a resend reconnected meanwhile): its tag
    // means nothing on the new one, and the broker delivers the reply again anyway.
    return;
  }
  try {
    connection_->ack(delivery.delivery_tag);
  } catch (const broker::BrokerError& error) {
    spdlog::warn("could not acknowledge reply {}: {}; it will come again and be dropped",
                 delivery.properties.message_id, error.what());
    connection_.reset();
  }
}

void FileClient::await_replies(std::chrono::milliseconds timeout,
                               const std::function<void(const Outcome&)>& on_outcome) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string detail = fmt::format(
      "no reply within {} s; the request stays queued and its reply "
      "will reach `claimcheck-client listen`",
      std::chrono::duration_cast<std::chrono::seconds>(timeout).count());
  try {
    while (!pending_.empty() && std::chrono::steady_clock::now() < deadline) {
      const auto delivery = next_reply(kPollInterval);
      if (!delivery) {
        continue;
      }
      if (auto outcome = handle(*delivery, /*accept_unknown=*/false)) {
        on_outcome(*outcome);
      }
    }
  } catch (const broker::BrokerError& error) {
    detail = fmt::format(
        "no reply: {}; the request stays queued and its reply will reach "
        "`claimcheck-client listen`",
        error.what());
  }
  for (const auto& [correlation_id, pending] : pending_) {
    Outcome outcome;
    outcome.file_name = pending.request.file_name;
    outcome.message_id = correlation_id;
    outcome.file_id = pending.request.file_id;
    outcome.detail = detail;
    outcome.elapsed = since(pending.sent_at);
    on_outcome(outcome);
  }
  pending_.clear();
}

void FileClient::listen(const std::function<bool()>& should_stop,
                        const std::function<void(const Outcome&)>& on_outcome) {
  while (!should_stop()) {
    if (const auto delivery = next_reply(kPollInterval)) {
      if (auto outcome = handle(*delivery, /*accept_unknown=*/true)) {
        on_outcome(*outcome);
      }
    }
  }
}

std::optional<Outcome> FileClient::handle(const broker::Delivery& delivery, bool accept_unknown) {
  auto decoded = message::decode_reply(delivery.body);
  if (auto* error = std::get_if<message::DecodeError>(&decoded)) {
    spdlog::warn("discarding malformed reply {}: {}", delivery.properties.message_id,
                 error->message);
    ack(delivery);
    return std::nullopt;
  }
  auto& reply = std::get<message::FileReply>(decoded);
  const auto found = pending_.find(reply.correlation_id);
  // The token must have been valid when the reply reached this client: replies read off the
  // socket during a long upload wait in memory until the upload is done.
  const auto received_at = delivery.received_at == std::chrono::system_clock::time_point{}
                               ? std::nullopt
                               : std::optional(delivery.received_at);
  const token::VerifyResult verified =
      verifier_.verify(reply.token, message::kReplyAuthority, std::nullopt, received_at);
  if (!verified.ok() && verified.key_set_stale) {
    // Signed with a key this client could not load yet (auth away, or a rotation newer than
    // the last fetch): the reply waits in the queue until the key set can be fetched again.
    spdlog::warn("reply {}: {}; trying again once the signing keys can be fetched",
                 reply.message_id, verified.reason);
    wait_for_key_refresh();
    requeue(delivery);
    return std::nullopt;
  }
  if (!verified.ok()) {
    // Nothing in an untrusted reply is believed. The request it names still fails at once,
    // so the user sees why instead of waiting for a reply that will not come.
    spdlog::warn("discarding reply {} with a rejected token: {}", reply.message_id,
                 verified.reason);
    ack(delivery);
    if (found == pending_.end()) {
      return std::nullopt;
    }
    Outcome outcome;
    outcome.message_id = found->first;
    outcome.file_name = found->second.request.file_name;
    outcome.file_id = found->second.request.file_id;
    outcome.detail =
        "the reply was rejected: its token failed verification (" + verified.reason + ")";
    outcome.elapsed = since(found->second.sent_at);
    forget_files({found->second.request.file_id});
    remember_answered(found->first);
    pending_.erase(found);
    return outcome;
  }

  if (found == pending_.end() && answered_.contains(reply.correlation_id)) {
    ++stats_.duplicate_replies;
    spdlog::info("dropping a second reply ({}) to request {}", reply.message_id,
                 reply.correlation_id);
    ack(delivery);
    return std::nullopt;
  }
  if (found == pending_.end() && !accept_unknown) {
    // A reply to a run that gave up waiting. It is this run's to clean up after, or its file
    // would stay until it expires; `listen` is the way to see such replies.
    spdlog::info("reply {} answers request {} ('{}') of an earlier run: {}; `listen` prints those",
                 reply.message_id, reply.correlation_id, reply.file_name,
                 reply.ok() ? "ok" : reply.error_code);
    remember_answered(reply.correlation_id);
    if (!result_flag(reply.result, "deadLettered")) {
      forget_files({reply.file_id, reply.result_file_id});
    }
    ack(delivery);
    return std::nullopt;
  }
  if (found != pending_.end() && resend_if_expired(reply, found->second)) {
    ack(delivery);
    return std::nullopt;
  }

  Outcome outcome;
  outcome.message_id = reply.correlation_id;
  outcome.file_name = reply.file_name;
  outcome.file_id = reply.file_id;
  outcome.ok = reply.ok();
  outcome.detail = reply.ok() ? reply.response : reply.error_code + ": " + reply.error;
  outcome.length = result_length(reply.result);
  outcome.sha256 = result_text(reply.result, "sha256");
  outcome.content_type = result_text(reply.result, "contentType");
  if (found != pending_.end()) {
    const message::FileRequest& request = found->second.request;
    outcome.elapsed = since(found->second.sent_at);
    // The client's own record names the file: a reply refusing the token names none.
    outcome.file_name = request.file_name;
    outcome.file_id = request.file_id;
    if (reply.ok() && (outcome.length != request.length || outcome.sha256 != request.sha256)) {
      outcome.ok = false;
      outcome.detail = fmt::format(
          "the resource server saw {} bytes with sha256 '{}', but {} bytes with sha256 {} were "
          "sent",
          outcome.length, outcome.sha256, request.length, request.sha256);
    }
    pending_.erase(found);
  }
  remember_answered(reply.correlation_id);
  ++stats_.replies;
  outcome.reply = std::move(reply);
  if (result_flag(outcome.reply.result, "deadLettered")) {
    // The dead-letter queue still names the request file; it stays until it expires.
    forget_files({outcome.reply.result_file_id});
  } else {
    forget_files({outcome.file_id, outcome.reply.result_file_id});
  }
  ack(delivery);
  return outcome;
}

void FileClient::remember_answered(const std::string& correlation_id) {
  // Duplicates come from redeliveries soon after the first copy; a `listen` that runs for weeks
  // must not keep every id it ever saw.
  constexpr std::size_t kMaxRemembered = 100'000;
  if (answered_.insert(correlation_id).second) {
    answered_order_.push_back(correlation_id);
  }
  if (answered_order_.size() > kMaxRemembered) {
    answered_.erase(answered_order_.front());
    answered_order_.pop_front();
  }
}

void FileClient::wait_for_key_refresh() {
  const auto until = std::chrono::steady_clock::now() + verifier_.refresh_possible_in() +
                     std::chrono::milliseconds(100);
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        kPollInterval, until - std::chrono::steady_clock::now()));
    try {
      if (connection_) {
        connection_->keep_alive();
      }
    } catch (const broker::BrokerError&) {
      connection_.reset();  // the next read reconnects
    }
  }
}

void FileClient::requeue(const broker::Delivery& delivery) {
  if (!connection_ || connection_generation_ != delivered_generation_) {
    return;  // unacknowledged on a lost connection: it comes again by itself
  }
  try {
    connection_->reject(delivery.delivery_tag, /*requeue=*/true);
  } catch (const broker::BrokerError& error) {
    spdlog::warn("could not return reply {} to the queue: {}; it will come again",
                 delivery.properties.message_id, error.what());
    connection_.reset();
  }
}

bool FileClient::resend_if_expired(const message::FileReply& reply, Pending& pending) {
  if (!settings_.resend_expired || reply.error_code != message::error_code::kTokenExpired ||
      pending.resends > 0) {
    return false;
  }
  // A new message id: the old one has been answered, and a server that remembers it would
  // drop the resent request as a duplicate.
  message::FileRequest resent = pending.request;
  resent.message_id = random_hex(16);
  try {
    publish(resent);
  } catch (const std::exception& error) {
    spdlog::warn("could not resend request {} with a fresh token: {}", reply.correlation_id,
                 error.what());
    return false;
  }
  spdlog::info("request {} waited until its token expired; resent as {} with a fresh token",
               reply.correlation_id, resent.message_id);
  pending.request = std::move(resent);
  ++pending.resends;
  ++stats_.resent;
  return true;
}

void FileClient::forget_files(std::initializer_list<std::string> ids) {
  if (!settings_.delete_after_reply) {
    return;
  }
  for (const std::string& id : ids) {
    if (store::is_file_id(id)) {
      reaper_->enqueue(id);
    }
  }
}

void FileClient::remove_own_file(const std::string& id) noexcept {
  // A store that is briefly away should not leave the file to the sweeper, days later; one
  // that stays away must not keep the client from exiting, so retries stop once it has failed
  // for kMaxDeleteOutage without a success in between.
  constexpr std::chrono::seconds kMaxDeleteOutage{30};
  Backoff backoff(std::chrono::seconds(1), std::chrono::seconds(8));
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    const bool outage_too_long =
        delete_outage_since_ && now - *delete_outage_since_ > kMaxDeleteOutage;
    try {
      // A reply only names files; whoever made the request chose them. Deleting just the files
      // this client stored keeps a crafted request from making a listener delete others' files.
      if (store_.stat(id).metadata.value("sender", std::string()) != settings_.client_id) {
        spdlog::warn("a reply names file {}, which this client did not store; leaving it", id);
        return;
      }
      store_.remove(id);
      delete_outage_since_.reset();
      return;
    } catch (const store::StoreError& error) {
      if (error.code() == store::StoreErrc::kNotFound) {
        return;
      }
      if (error.code() == store::StoreErrc::kBackend && !delete_outage_since_) {
        delete_outage_since_ = now;
      }
      if (error.code() != store::StoreErrc::kBackend || outage_too_long) {
        spdlog::warn(
            "could not delete file {} after its reply: {}; the sweeper removes it when "
            "it expires",
            id, error.what());
        return;
      }
      const auto delay = backoff.next();
      spdlog::warn("could not delete file {} after its reply: {}; trying again in {} ms", id,
                   error.what(), delay.count());
      std::this_thread::sleep_for(delay);
    } catch (const std::exception& error) {
      spdlog::warn(
          "could not delete file {} after its reply: {}; the sweeper removes it when it "
          "expires",
          id, error.what());
      return;
    }
  }
}

}  // namespace claimcheck::client
