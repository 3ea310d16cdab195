#pragma once

/// The sending side of the claim check: park a file in the store, publish its claim, and match
/// the replies that come back.
///
/// send() counts a request as sent only when the broker confirmed it; if the publish fails the
/// stored file is removed again, so nothing is left behind. Replies are accepted only with a
/// valid token carrying the reply authority, matched to requests by correlation id, and checked
/// against the length and SHA-256 the client computed while storing. Once a reply is handled the
/// request file is deleted from the store (unless configured otherwise).
/// Not thread-safe: one thread drives a FileClient and its Connection.

#include <chrono>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
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
  std::string client_id;  ///< stable across restarts so replies find their way back
  std::chrono::milliseconds reply_queue_expires{std::chrono::hours(24)};
  std::chrono::milliseconds confirm_timeout{10'000};
  bool delete_after_reply = true;

  /// Reads messaging.requests, messaging.group, messaging.replies, client.id (default
  /// "<hostname>-client"), messaging.reply-queue-expires, messaging.confirm-timeout and
  /// lifecycle.delete-after-reply. Throws ConfigError.
  static ClientSettings from_config(const Config& config);
};

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
  FileClient(ClientSettings settings, broker::Connection& connection, store::Store& store,
             token::TokenClient& tokens, token::TokenVerifier& verifier);
  /// Waits for the deletes of files whose replies came in.
  ~FileClient();
  FileClient(const FileClient&) = delete;
  FileClient& operator=(const FileClient&) = delete;

  /// Declares the request and reply topology and starts consuming this client's reply queue.
  /// Throws broker::BrokerError.
  void open();

  /// Stores `path`, then publishes its claim and waits for the broker's confirm. Returns the
  /// request's message id. Throws std::runtime_error naming the file when it cannot be read,
  /// stored or published (a stored file is removed again).
  std::string send(const std::filesystem::path& path, const std::string& operation);

  /// Number of sent requests still waiting for a reply.
  [[nodiscard]] std::size_t pending() const { return pending_.size(); }

  /// Waits until every sent request has its reply or `timeout` passes; `on_outcome` is called
  /// for each reply as it arrives and then once for each request that timed out.
  void await_replies(std::chrono::milliseconds timeout,
                     const std::function<void(const Outcome&)>& on_outcome);

  /// Handles replies, including those to requests sent by earlier runs, until should_stop().
  void listen(const std::function<bool()>& should_stop,
              const std::function<void(const Outcome&)>& on_outcome);

 private:
  struct Pending {
    std::string file_name;
    std::string file_id;
    std::uint64_t length = 0;
    std::string sha256;
    std::chrono::steady_clock::time_point sent_at;
  };

  /// Verifies and matches one delivery; std::nullopt when it answers nothing this client knows
  /// and the caller did not ask for strangers.
  std::optional<Outcome> handle(const broker::Delivery& delivery, bool accept_unknown);
  /// Queues the deletion of `ids` (empty ones skipped); see remove_own_file().
  void forget_files(std::initializer_list<std::string> ids);
  /// Deletes the file if this client stored it; runs on the reaper's thread, never throws.
  void remove_own_file(const std::string& id) noexcept;

  ClientSettings settings_;
  broker::Connection& connection_;
  store::Store& store_;
  token::TokenClient& tokens_;
  token::TokenVerifier& verifier_;
  std::string reply_queue_;
  std::map<std::string, Pending> pending_;  ///< by correlation id
  std::unique_ptr<FileReaper> reaper_;
};

}  // namespace claimcheck::client
