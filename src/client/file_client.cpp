#include "claimcheck/client/file_client.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>

#include "claimcheck/broker/topology.hpp"
#include "claimcheck/common/bytes.hpp"
#include "claimcheck/common/encoding.hpp"
#include "file_reaper.hpp"

namespace claimcheck::client {
namespace {

constexpr std::chrono::milliseconds kPollInterval{500};

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
  settings.client_id = config.get_string("client.id", default_client_id());
  if (settings.client_id.empty() || settings.client_id.find_first_of("#*.") != std::string::npos) {
    throw ConfigError("client.id '" + settings.client_id +
                      "' must be non-empty and free of '#', '*' and '.' (it is a routing key)");
  }
  settings.reply_queue_expires =
      config.get_duration("messaging.reply-queue-expires", settings.reply_queue_expires);
  settings.confirm_timeout =
      config.get_duration("messaging.confirm-timeout", settings.confirm_timeout);
  settings.delete_after_reply = config.get_bool("lifecycle.delete-after-reply", true);
  return settings;
}

FileClient::FileClient(ClientSettings settings, broker::Connection& connection, store::Store& store,
                       token::TokenClient& tokens, token::TokenVerifier& verifier)
    : settings_(std::move(settings)),
      connection_(connection),
      store_(store),
      tokens_(tokens),
      verifier_(verifier),
      reaper_(
          std::make_unique<FileReaper>([this](const std::string& id) { remove_own_file(id); })) {}

FileClient::~FileClient() = default;

void FileClient::open() {
  // Declaring the consumers' queue too means a request sent before any resource server ever
  // started waits in the queue instead of being dropped as unroutable.
  broker::declare_destination_queue(connection_, settings_.destinations.requests,
                                    settings_.destinations.group, broker::QueueSpec{});
  reply_queue_ = broker::declare_reply_queue(connection_, settings_.destinations.replies,
                                             settings_.client_id, settings_.reply_queue_expires);
  connection_.start_consuming(reply_queue_, /*prefetch=*/32);
}

std::string FileClient::send(const std::filesystem::path& path, const std::string& operation) {
  const auto started = std::chrono::steady_clock::now();
  FileSource file(path);
  // Storing a large file takes longer than the broker's heartbeat interval; without heartbeats
  // the broker would drop the connection the claim is then published on.
  KeepAliveTicker ticker([this] { connection_.keep_alive(); });
  KeepAliveSource source(file, ticker);
  store::PutOptions options;
  options.metadata = {{"sender", settings_.client_id}};
  const store::FileInfo stored = store_.put(path.filename().string(), source, options);

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

  broker::OutgoingMessage outgoing;
  outgoing.properties.message_id = request.message_id;
  outgoing.properties.correlation_id = request.correlation_id;
  outgoing.properties.type = std::string(message::kRequestType);
  outgoing.properties.reply_to = settings_.client_id;
  outgoing.properties.timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
  try {
    request.token = tokens_.access_token();
    outgoing.body = message::encode(request);
    const auto outcome = connection_.publish(settings_.destinations.requests, request.operation,
                                             outgoing, settings_.confirm_timeout);
    if (outcome != broker::PublishOutcome::kConfirmed) {
      throw std::runtime_error(outcome == broker::PublishOutcome::kReturned
                                   ? "no queue is bound to receive requests"
                                   : "the broker did not confirm the request");
    }
  } catch (const std::exception& error) {
    store_.remove(stored.id);
    throw std::runtime_error(fmt::format("'{}' was not sent ({}); its stored copy was removed",
                                         path.string(), error.what()));
  }
  pending_[request.correlation_id] =
      Pending{stored.filename, stored.id, stored.length, stored.sha256, started};
  return request.message_id;
}

void FileClient::await_replies(std::chrono::milliseconds timeout,
                               const std::function<void(const Outcome&)>& on_outcome) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pending_.empty() && std::chrono::steady_clock::now() < deadline) {
    const auto delivery = connection_.next_delivery(kPollInterval);
    if (!delivery) {
      continue;
    }
    if (auto outcome = handle(*delivery, /*accept_unknown=*/false)) {
      on_outcome(*outcome);
    }
  }
  for (const auto& [correlation_id, request] : pending_) {
    Outcome outcome;
    outcome.file_name = request.file_name;
    outcome.message_id = correlation_id;
    outcome.file_id = request.file_id;
    outcome.detail = fmt::format(
        "no reply within {} s; the request stays queued and its reply "
        "will reach `claimcheck-client listen`",
        std::chrono::duration_cast<std::chrono::seconds>(timeout).count());
    outcome.elapsed = since(request.sent_at);
    on_outcome(outcome);
  }
  pending_.clear();
}

void FileClient::listen(const std::function<bool()>& should_stop,
                        const std::function<void(const Outcome&)>& on_outcome) {
  while (!should_stop()) {
    if (const auto delivery = connection_.next_delivery(kPollInterval)) {
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
    connection_.ack(delivery.delivery_tag);
    return std::nullopt;
  }
  auto& reply = std::get<message::FileReply>(decoded);
  const auto found = pending_.find(reply.correlation_id);
  const token::VerifyResult verified = verifier_.verify(reply.token, message::kReplyAuthority);
  if (!verified.ok()) {
    // Nothing in an untrusted reply is believed. The request it names still fails at once,
    // so the user sees why instead of waiting for a reply that will not come.
    spdlog::warn("discarding reply {} with a rejected token: {}", reply.message_id,
                 verified.reason);
    connection_.ack(delivery.delivery_tag);
    if (found == pending_.end()) {
      return std::nullopt;
    }
    Outcome outcome;
    outcome.message_id = found->first;
    outcome.file_name = found->second.file_name;
    outcome.file_id = found->second.file_id;
    outcome.detail =
        "the reply was rejected: its token failed verification (" + verified.reason + ")";
    outcome.elapsed = since(found->second.sent_at);
    forget_files({found->second.file_id});
    pending_.erase(found);
    return outcome;
  }

  if (found == pending_.end() && !accept_unknown) {
    spdlog::info("reply {} answers request {} from an earlier run; `listen` shows those",
                 reply.message_id, reply.correlation_id);
    connection_.ack(delivery.delivery_tag);
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
    const Pending& request = found->second;
    outcome.elapsed = since(request.sent_at);
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
  outcome.reply = std::move(reply);
  forget_files({outcome.reply.file_id, outcome.reply.result_file_id});
  connection_.ack(delivery.delivery_tag);
  return outcome;
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
  try {
    // A reply only names files; whoever made the request chose them. Deleting just the files
    // this client stored keeps a crafted request from making a listener delete others' files.
    if (store_.stat(id).metadata.value("sender", std::string()) != settings_.client_id) {
      spdlog::warn("a reply names file {}, which this client did not store; leaving it", id);
      return;
    }
    store_.remove(id);
  } catch (const std::exception& error) {
    const auto* store_error = dynamic_cast<const store::StoreError*>(&error);
    if (store_error == nullptr || store_error->code() != store::StoreErrc::kNotFound) {
      spdlog::warn("could not delete file {} after its reply: {}; the sweeper will remove it", id,
                   error.what());
    }
  }
}

}  // namespace claimcheck::client
