#pragma once

// Replication to the other registry nodes, the way Eureka peers do it: every change a client
// made here is sent to each peer on the same endpoint with the header
// x-netflix-discovery-replication: true, so that the peer applies it without replicating it
// again. One thread and one queue per peer keep a slow or dead peer from holding up requests or
// the other peers.
//
// Delivery is best effort, as in Eureka: a task that fails is counted and dropped, and the
// registries converge through the next heartbeat (a peer that does not know an instance answers
// the replicated heartbeat with 404, and the full registration is sent instead) and through the
// sync a restarted node does from its peers.

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "claimcheck/common/metrics.hpp"

namespace claimcheck::registry {

inline constexpr const char* kReplicationHeader = "x-netflix-discovery-replication";

struct ReplicationTask {
  enum class Action {
    kRegister,
    kHeartbeat,
    kCancel,
    kStatusUpdate,
    kDeleteStatusOverride,
    kMetadataUpdate
  };
  Action action = Action::kHeartbeat;
  std::string app;
  std::string id;
  /// Query string with its leading '?' (status, lastDirtyTimestamp, value, metadata entries), or
  /// empty.
  std::string query;
  /// The registration document, for kRegister.
  std::string body;
};

/// What the dashboard shows about one peer.
struct PeerStatus {
  std::string url;
  bool reachable = false;
  std::string last_error;  ///< empty after a success
  std::int64_t last_success_ms = 0;
  std::size_t queued = 0;
  std::uint64_t replicated = 0;
  std::uint64_t failed = 0;
};

class PeerReplicator {
 public:
  /// The current registration of an instance ({"instance": {...}}), used when a peer answers a
  /// replicated heartbeat with 404.
  using InstanceLookup =
      std::function<std::optional<nlohmann::json>(const std::string& app, const std::string& id)>;

  /// Throws std::invalid_argument for a peer URL that is not http(s)://host[:port][/path].
  PeerReplicator(const std::vector<std::string>& peer_urls, std::chrono::milliseconds timeout,
                 InstanceLookup lookup, MetricsRegistry& metrics);
  ~PeerReplicator();
  PeerReplicator(const PeerReplicator&) = delete;
  PeerReplicator& operator=(const PeerReplicator&) = delete;

  void start();
  void stop();

  /// Queues `task` for every peer; never waits for the network.
  void replicate(const ReplicationTask& task);

  /// The full registry ({"applications": {...}}) of the first peer that answers, each asked
  /// once within the timeout; nothing when none does (or there are no peers).
  std::optional<nlohmann::json> fetch_registry();

  [[nodiscard]] std::vector<PeerStatus> status() const;
  [[nodiscard]] bool empty() const;

 private:
  struct Peer;
  void run(Peer& peer);
  /// Sends one task; the reason it failed, empty when the peer took it.
  std::string send(const Peer& peer, httplib::Client& http, const ReplicationTask& task) const;
  /// The one request that carries `task` to a peer.
  static httplib::Result exchange(httplib::Client& http, const ReplicationTask& task,
                                  const httplib::Headers& headers, const std::string& app_path,
                                  const std::string& target);
  static void record_outcome(Peer& peer, const std::string& error);

  std::vector<std::unique_ptr<Peer>> peers_;
  std::chrono::milliseconds timeout_;
  InstanceLookup lookup_;
  Counter& replicated_;
  Counter& failed_;
  Counter& dropped_;
};

}  // namespace claimcheck::registry
