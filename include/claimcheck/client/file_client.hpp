#pragma once

/// The sending side of the claim check: park a file in the store, publish its claim, and match
/// the replies that come back.
///
/// send() counts a request as sent only when the broker confirmed it. A publish that is nacked,
/// times out or loses its connection is published again (same message id, so the resource
/// server drops a copy that did arrive), after reconnecting with jittered backoff when the
/// connection is gone; if it finally fails the stored file is removed again, so nothing is left
/// behind, unless an attempt may have reached the broker (a confirm that never came): the file
/// then stays until it expires, so that a request that did arrive finds it. A store that fails
/// while a file goes in is tried again for the same bounded time.
///
/// Replies are accepted only with a valid token carrying the reply authority, matched to
/// requests by correlation id, and checked against the length and SHA-256 the client computed
/// while storing; a second reply to the same request (a redelivery) is dropped, so the
/// application sees each request answered once. Once a reply is handled the request file is
/// deleted from the store (unless configured otherwise, or the request was dead-lettered: its
/// file then stays until it expires, so the dead-letter queue never names a missing file).
/// A lost connection while waiting is reopened and consuming resumed; replies wait in the
/// client's durable reply queue meanwhile.
///
/// Not thread-safe: one thread drives a FileClient and its connection.

#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "claimcheck/broker/connection.hpp"
#include "claimcheck/broker/topology.hpp"
#include "claimcheck/common/config.hpp"
#include "claimcheck/message/envelope.hpp"
#include "claimcheck/store/store.hpp"
#include "claimcheck/token/token_client.hpp"
#include "claimcheck/token/verifier.hpp"

namespace claimcheck::client {

struct ClientSettings {
  broker::FlowDestinations destinations;
  broker::RequestQueueSettings queue;
  std::string client_id;  ///< stable across restarts so replies find their way back
  std::chrono::milliseconds reply_queue_expires{std::chrono::hours(24)};
  std::chrono::milliseconds confirm_timeout{10'000};
  /// Publishes of one request (the first included) before it counts as not sent.
  int publish_attempts = 5;
  /// How long a lost broker connection or a failing store is retried before giving up.
  std::chrono::milliseconds recover_for{std::chrono::minutes(2)};
  bool delete_after_reply = true;
  /// Every stored file expires after this; the resource server's sweeper removes it.
  std::chrono::milliseconds file_ttl{std::chrono::hours(24 * 7)};
  /// Resend, once and with a fresh token, a request whose token expired while it was queued.
  bool resend_expired = false;

  /// Reads messaging.requests, .group, .replies, the request queue keys
  /// (broker::RequestQueueSettings), client.id (default "<hostname>-client"),
  /// messaging.reply-queue-expires, .confirm-timeout, .publish-attempts, .recover-for,
  /// lifecycle.delete-after-reply, .file-ttl and .resend-expired. Throws ConfigError.
  static ClientSettings from_config(const Config& config);
};

/// Counts of what one FileClient did, for the summary a run ends with.
struct ClientStats {
  std::uint64_t requests_confirmed = 0;
  std::uint64_t publish_retries = 0;    ///< publishes repeated after a nack, timeout or loss
  std::uint64_t reconnects = 0;         ///< broker connections reopened
  std::uint64_t store_retries = 0;      ///< uploads repeated after a store failure
  std::uint64_t replies = 0;            ///< replies handed to the application
  std::uint64_t duplicate_replies = 0;  ///< second replies to a request, dropped
  std::uint64_t resent = 0;             ///< requests resent after their token expired queued
};

/// Opens a new broker connection; the client calls it at open() and after losing one.
using ConnectionFactory = std::function<std::unique_ptr<broker::Connection>()>;

/// What became of one file.
struct Outcome {
  std::string file_name;
  std::string message_id;
  std::string file_id;
  bool ok = false;
  std::string detail;  ///< the reply's response, or why it failed
  /// What the resource server reported about the file; empty or 0 when it did not say.
  std::uint64_t length = 0;
  std::string sha256;
  std::string content_type;
  message::FileReply reply;
  std::chrono::milliseconds elapsed{0};  ///< from send() to the reply
};

class FileReaper;

class FileClient {
 public:
  FileClient(ClientSettings settings, ConnectionFactory connect, store::Store& store,
             token::TokenClient& tokens, token::TokenVerifier& verifier);
  /// Waits for the deletes of files whose replies came in.
  ~FileClient();
  FileClient(const FileClient&) = delete;
  FileClient& operator=(const FileClient&) = delete;

  /// Connects, declares the request and reply topology and starts consuming this client's reply
  /// queue. Throws broker::BrokerError.
  void open();

  /// Stores `path`, then publishes its claim and waits for the broker's confirm. Returns the
  /// request's message id. Throws std::runtime_error naming the file when it cannot be read,
  /// stored or published (a stored file is removed again); broker::BrokerError when the broker
  /// stays unreachable for `recover_for` or refuses the topology.
  std::string send(const std::filesystem::path& path, const std::string& operation);

  /// Number of sent requests still waiting for a reply.
  [[nodiscard]] std::size_t pending() const { return pending_.size(); }

  [[nodiscard]] const ClientStats& stats() const { return stats_; }

  /// Waits until every sent request has its reply or `timeout` passes; `on_outcome` is called
  /// for each reply as it arrives and then once for each request that timed out (or was left
  /// without an answer because the broker stayed unreachable).
  void await_replies(std::chrono::milliseconds timeout,
                     const std::function<void(const Outcome&)>& on_outcome);

  /// Handles replies, including those to requests sent by earlier runs, until should_stop().
  /// Throws broker::BrokerError when the broker stays unreachable for `recover_for`.
  void listen(const std::function<bool()>& should_stop,
              const std::function<void(const Outcome&)>& on_outcome);

 private:
  struct Pending {
    message::FileRequest request;
    std::chrono::steady_clock::time_point sent_at;
    int resends = 0;
  };

  void declare_topology();
  /// Reopens the connection and the topology, with backoff, for up to `recover_for`.
  void recover(const std::string& reason);
  /// Publishes `request` (with a fresh token) until the broker confirms it. Throws
  /// std::runtime_error when it does not within `publish_attempts`.
  void publish(message::FileRequest& request);
  /// Stores the file, trying again while the store fails for less than `recover_for`.
  store::FileInfo store_file(const std::filesystem::path& path);
  /// The next delivery on the reply queue, reconnecting when the connection is lost.
  std::optional<broker::Delivery> next_reply(std::chrono::milliseconds timeout);
  /// Acknowledges a reply; a lost connection only means the broker delivers it again.
  void ack(const broker::Delivery& delivery);
  /// Gives a reply back to the queue, to be handled again.
  void requeue(const broker::Delivery& delivery);
  /// Notes a request as answered, so that a second reply to it is dropped.
  void remember_answered(const std::string& correlation_id);
  /// Waits, keeping the connection alive, until the verifier may fetch its key set again.
  void wait_for_key_refresh();
  /// Resends a request whose token expired while queued, if so configured; true if it did.
  bool resend_if_expired(const message::FileReply& reply, Pending& pending);

  /// Verifies and matches one delivery; std::nullopt when it answers nothing this client knows
  /// and the caller did not ask for strangers.
  std::optional<Outcome> handle(const broker::Delivery& delivery, bool accept_unknown);
  /// Queues the deletion of `ids` (empty ones skipped); see remove_own_file().
  void forget_files(std::initializer_list<std::string> ids);
  /// Deletes the file if this client stored it; runs on the reaper's thread, never throws.
  void remove_own_file(const std::string& id) noexcept;

  ClientSettings settings_;
  ConnectionFactory connect_;
  std::unique_ptr<broker::Connection> connection_;
  store::Store& store_;
  token::TokenClient& tokens_;
  token::TokenVerifier& verifier_;
  std::string reply_queue_;
  std::map<std::string, Pending> pending_;  ///< by correlation id
  std::set<std::string> answered_;          ///< correlation ids answered lately
  std::deque<std::string> answered_order_;  ///< the same, oldest first, to forget the oldest
  ClientStats stats_;
  std::optional<std::string> gave_up_;  ///< why recover() gave up, once it has
  /// Counts the connections opened; a delivery's tag is only valid on the one it came from.
  std::uint64_t connection_generation_ = 0;
  std::uint64_t delivered_generation_ = 0;
  /// Since when deletes fail for the store's sake; touched on the reaper's thread only.
  std::optional<std::chrono::steady_clock::time_point> delete_outage_since_;
  std::unique_ptr<FileReaper> reaper_;
};

}  // namespace claimcheck::client
