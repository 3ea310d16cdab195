#include "peer_replicator.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "claimcheck/common/http_error.hpp"

namespace claimcheck::registry {
namespace {

using nlohmann::json;

// A peer that cannot keep up loses its oldest tasks rather than the registry its memory; the
// heartbeats that follow repair what was lost.
constexpr std::size_t kMaxQueuedTasks = 20'000;

std::int64_t now_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* describe(ReplicationTask::Action action) {
  switch (action) {
    case ReplicationTask::Action::kRegister:
      return "register";
    case ReplicationTask::Action::kHeartbeat:
      return "heartbeat";
    case ReplicationTask::Action::kCancel:
      return "cancel";
    case ReplicationTask::Action::kStatusUpdate:
      return "status update";
    case ReplicationTask::Action::kDeleteStatusOverride:
      return "status override removal";
    case ReplicationTask::Action::kMetadataUpdate:
      return "metadata update";
  }
  return "change";
}

}  // namespace

struct PeerReplicator::Peer {
  std::string url;
  std::string origin;  // scheme://host:port
  std::string path;    // e.g. /eureka

  mutable std::mutex mutex;
  std::condition_variable wakeup;
  std::deque<ReplicationTask> queue;
  bool stopping = false;
  PeerStatus status;
  std::thread thread;

  explicit Peer(std::string text) : url(std::move(text)) {
    const auto scheme_end = url.find("://");
    const std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
    const auto path_start =
        scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
    if ((scheme != "http" && scheme != "https") || url.size() <= scheme_end + 3 ||
        path_start == scheme_end + 3) {
      throw std::invalid_argument("peer URL '" + url +
                                  "' must be http(s)://host[:port]/eureka (e.g. "
                                  "http://10.0.0.2:8761/eureka)");
    }
    origin = url.substr(0, path_start);
    path = path_start == std::string::npos ? "" : url.substr(path_start);
    while (!path.empty() && path.back() == '/') {
      path.pop_back();
    }
    status.url = url;
  }

  [[nodiscard]] httplib::Client client(std::chrono::milliseconds timeout) const {
    httplib::Client http(origin);
    http.set_connection_timeout(timeout);
    http.set_read_timeout(timeout);
    http.set_write_timeout(timeout);
    http.set_keep_alive(true);
    // httplib writes a POST's headers and body separately; with Nagle's algorithm the body
    // waits for the peer's delayed ACK, some 40 ms per replicated registration.
    http.set_tcp_nodelay(true);
    return http;
  }
};

PeerReplicator::PeerReplicator(const std::vector<std::string>& peer_urls,
                               std::chrono::milliseconds timeout, InstanceLookup lookup,
                               MetricsRegistry& metrics)
    : timeout_(timeout),
      lookup_(std::move(lookup)),
      replicated_(metrics.counter("claimcheck_registry_replications_total",
                                  "Changes replicated to a peer")),
      failed_(metrics.counter("claimcheck_registry_replication_failures_total",
                              "Replications a peer refused or did not answer (dropped)")),
      dropped_(metrics.counter("claimcheck_registry_replication_dropped_total",
                               "Replications dropped because a peer's queue was full")) {
  for (const auto& url : peer_urls) {
    peers_.push_back(std::make_unique<Peer>(url));
  }
}

PeerReplicator::~PeerReplicator() { stop(); }

void PeerReplicator::start() {
  for (auto& peer : peers_) {
    if (peer->thread.joinable()) {
      continue;
    }
    peer->stopping = false;
    peer->thread = std::thread([this, raw = peer.get()] { run(*raw); });
  }
}

void PeerReplicator::run(Peer& peer) {
  httplib::Client http = peer.client(timeout_);
  std::unique_lock lock(peer.mutex);
  while (true) {
    peer.wakeup.wait(lock, [&] { return peer.stopping || !peer.queue.empty(); });
    if (peer.stopping) {
      return;
    }
    ReplicationTask task = std::move(peer.queue.front());
    peer.queue.pop_front();
    lock.unlock();
    const std::string error = send(peer, http, task);
    if (error.empty()) {
      replicated_.increment();
    } else {
      failed_.increment();
      spdlog::debug(
          "replicating {} of {}/{} to {} failed ({}); dropped, the next heartbeat "
          "repairs it",
          describe(task.action), task.app, task.id, peer.url, error);
    }
    lock.lock();
    record_outcome(peer, error);
  }
}

std::string PeerReplicator::send(const Peer& peer, httplib::Client& http,
                                 const ReplicationTask& task) const {
  const httplib::Headers headers = {{"Accept", "application/json"}, {kReplicationHeader, "true"}};
  const std::string app_path = peer.path + "/apps/" + task.app;
  const std::string target = app_path + "/" + task.id;
  httplib::Result result = exchange(http, task, headers, app_path, target);
  // The peer does not know the instance (it started after it registered, or lost it): it gets
  // the whole registration instead.
  if (task.action == ReplicationTask::Action::kHeartbeat && result && result->status == 404) {
    if (auto current = lookup_(task.app, task.id)) {
      result = http.Post(app_path, headers, current->dump(), "application/json");
    }
  }
  if (!result) {
    return describe_http_error(result.error());
  }
  // A 404 for a cancel or an override is the peer already agreeing: it holds no such instance.
  const bool must_exist = task.action == ReplicationTask::Action::kHeartbeat ||
                          task.action == ReplicationTask::Action::kRegister;
  if (result->status / 100 == 2 || (result->status == 404 && !must_exist)) {
    return {};
  }
  return "HTTP " + std::to_string(result->status);
}

httplib::Result PeerReplicator::exchange(httplib::Client& http, const ReplicationTask& task,
                                         const httplib::Headers& headers,
                                         const std::string& app_path, const std::string& target) {
  const std::string& query = task.query;
  switch (task.action) {
    case ReplicationTask::Action::kRegister:
      return http.Post(app_path, headers, task.body, "application/json");
    case ReplicationTask::Action::kHeartbeat:
      return http.Put(target + query, headers, "", "");
    case ReplicationTask::Action::kCancel:
      return http.Delete(target, headers);
    case ReplicationTask::Action::kStatusUpdate:
      return http.Put(target + "/status" + query, headers, "", "");
    case ReplicationTask::Action::kMetadataUpdate:
      return http.Put(target + "/metadata" + query, headers, "", "");
    case ReplicationTask::Action::kDeleteStatusOverride:
      return http.Delete(target + "/status" + query, headers);
  }
  return {nullptr, httplib::Error::Unknown};  // not reached: every action is handled above
}

// Callers hold peer.mutex.
void PeerReplicator::record_outcome(Peer& peer, const std::string& error) {
  if (error.empty()) {
    if (!peer.status.reachable) {
      spdlog::info("peer {} reachable; replicating to it", peer.url);
    }
    peer.status.reachable = true;
    peer.status.last_error.clear();
    peer.status.last_success_ms = now_millis();
    ++peer.status.replicated;
    return;
  }
  if (peer.status.reachable || peer.status.last_error.empty()) {
    spdlog::warn(
        "peer {} failed a replication ({}); changes for it are dropped until it answers "
        "again",
        peer.url, error);
  }
  peer.status.reachable = false;
  peer.status.last_error = error;
  ++peer.status.failed;
}

void PeerReplicator::stop() {
  for (auto& peer : peers_) {
    {
      const std::scoped_lock lock(peer->mutex);
      peer->stopping = true;
    }
    peer->wakeup.notify_all();
    if (peer->thread.joinable()) {
      peer->thread.join();
    }
  }
}

void PeerReplicator::replicate(const ReplicationTask& task) {
  for (auto& peer : peers_) {
    {
      const std::scoped_lock lock(peer->mutex);
      if (peer->queue.size() >= kMaxQueuedTasks) {
        peer->queue.pop_front();
        dropped_.increment();
      }
      peer->queue.push_back(task);
    }
    peer->wakeup.notify_one();
  }
}

std::optional<json> PeerReplicator::fetch_registry() {
  for (auto& peer : peers_) {
    httplib::Client http = peer->client(timeout_);
    const auto result = http.Get(peer->path + "/apps", {{"Accept", "application/json"}});
    if (!result || result->status != 200) {
      spdlog::warn(
          "cannot sync from peer {}: {}", peer->url,
          result ? "HTTP " + std::to_string(result->status) : describe_http_error(result.error()));
      continue;
    }
    json document = json::parse(result->body, nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded() || !document.contains("applications")) {
      spdlog::warn("cannot sync from peer {}: its /apps is not an applications document",
                   peer->url);
      continue;
    }
    spdlog::info("syncing the registry from peer {}", peer->url);
    return document;
  }
  return std::nullopt;
}

std::vector<PeerStatus> PeerReplicator::status() const {
  std::vector<PeerStatus> result;
  for (const auto& peer : peers_) {
    const std::scoped_lock lock(peer->mutex);
    PeerStatus status = peer->status;
    status.queued = peer->queue.size();
    result.push_back(std::move(status));
  }
  return result;
}

bool PeerReplicator::empty() const { return peers_.empty(); }

}  // namespace claimcheck::registry
