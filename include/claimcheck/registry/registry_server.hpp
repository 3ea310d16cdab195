#pragma once

/// A Eureka-compatible service registry, served under /eureka on a ServiceHttp, with a
/// dashboard at /.
///
/// Speaks the Eureka REST protocol in JSON and XML (chosen by Content-Type for request bodies
/// and by Accept for replies; JSON when Accept names neither), so Spring Cloud Netflix clients
/// can register and discover alongside claimcheck's own RegistryClient:
///   POST   /eureka/apps/{APP}                 register; 204, or 400 naming every missing field
///   PUT    /eureka/apps/{APP}/{id}            heartbeat; 200, or 404 so the client registers
///   DELETE /eureka/apps/{APP}/{id}            cancel; 200, or 404
///   PUT    /eureka/apps/{APP}/{id}/status?value=S      status override; 200, or 404
///   DELETE /eureka/apps/{APP}/{id}/status[?value=S]    remove the override (status S, default
///                                                      UNKNOWN, which makes the next heartbeat
///                                                      404 so the client re-registers)
///   PUT    /eureka/apps/{APP}/{id}/metadata?k=v...     merge metadata; 200, or 404
///   GET    /eureka/apps, /eureka/apps/delta   all applications; changes within the retention
///   GET    /eureka/apps/{APP}, /eureka/apps/{APP}/{id}, /eureka/instances/{id}   404 if unknown
///   GET    /eureka/vips/{vip}, /eureka/svips/{vip}       instances by (secure) VIP address
///   GET    /dashboard/status                  the registry's health as JSON (for the page)
/// Application names are case-insensitive (stored upper-case, as Eureka does). Each instance
/// holds a lease of its own leaseInfo.durationInSecs; an eviction task removes instances whose
/// lease expired, unless self-preservation holds them (Eureka's rule: while the renewals of the
/// last measurement window are at or below renewal_percent_threshold of those expected, nothing
/// is evicted, because a network split looks exactly like many dead clients).
///
/// Peers: every change a client makes (register, heartbeat, cancel, status override and its
/// removal, metadata) is replicated to each peer URL with the header
/// x-netflix-discovery-replication: true, and changes that arrive with that header are not
/// replicated again. A node that starts syncs its registry from the first peer that answers.
/// The registry lives in memory only; besides the sync, clients re-register after a restart
/// because their heartbeats get 404.
///
/// Threading: requests are served concurrently on the ServiceHttp pool; the registry state sits
/// behind a shared mutex; each peer has a replication thread. The RegistryServer must outlive
/// the ServiceHttp's serving (stop the ServiceHttp first, or destroy the RegistryServer after).

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "claimcheck/common/metrics.hpp"
#include "claimcheck/common/service_http.hpp"

namespace claimcheck::registry {

struct RegistryServerOptions {
  /// How often expired leases are looked for.
  std::chrono::milliseconds eviction_interval{std::chrono::seconds(60)};
  /// Lease of a registration that names no leaseInfo.durationInSecs.
  std::chrono::seconds default_lease_duration{90};
  /// How long a change stays visible in /eureka/apps/delta.
  std::chrono::milliseconds delta_retention{std::chrono::minutes(3)};
  /// Registrations beyond these limits are refused with 429, so that a runaway client cannot
  /// exhaust the registry's memory.
  std::size_t max_instances_per_app = 1000;
  std::size_t max_apps = 1000;

  /// Self-preservation, with Eureka's defaults: the threshold is expected clients x (window /
  /// expected renewal interval) x renewal_percent_threshold renewals per window; the expected
  /// client count follows registrations and cancels and is re-based every
  /// renewal_threshold_update_interval.
  bool self_preservation = true;
  double renewal_percent_threshold = 0.85;
  std::chrono::seconds expected_client_renewal_interval{30};
  std::chrono::milliseconds renewal_threshold_update_interval{std::chrono::minutes(15)};
  /// Eureka measures renewals per minute; shorter windows are for tests.
  std::chrono::milliseconds renewal_measurement_window{std::chrono::minutes(1)};

  /// Other registry nodes' Eureka URLs (e.g. http://10.0.0.2:8761/eureka), not this node's own.
  std::vector<std::string> peer_urls;
  /// Bound on each request to a peer.
  std::chrono::milliseconds peer_timeout{std::chrono::seconds(5)};
};

class RegistryServer {
 public:
  /// Adds the /eureka and dashboard routes to `http` (call before http.start()) and the
  /// registry's metrics to `metrics`. Both must outlive this object. Throws std::invalid_argument
  /// when a peer URL is malformed.
  RegistryServer(ServiceHttp& http, MetricsRegistry& metrics, RegistryServerOptions options = {});
  ~RegistryServer();
  RegistryServer(const RegistryServer&) = delete;
  RegistryServer& operator=(const RegistryServer&) = delete;

  /// Syncs from the first peer that answers (each bounded by peer_timeout), then starts the
  /// eviction task and the replication threads.
  void start();
  /// Stops the eviction task and replication; safe to call twice.
  void stop();

  /// Removes every instance whose lease has expired now (as the eviction task does, so
  /// self-preservation applies); returns how many were removed.
  std::size_t evict_expired();

  [[nodiscard]] std::size_t instance_count() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace claimcheck::registry
