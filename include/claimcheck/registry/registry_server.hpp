#pragma once

/// A Eureka-compatible service registry, served under /eureka on a ServiceHttp.
///
/// Speaks the Eureka REST protocol in JSON, so Spring Cloud Netflix clients can register and
/// discover alongside claimcheck's own RegistryClient:
///   POST   /eureka/apps/{APP}        register ({"instance": {...}}); 204, or 400 naming the field
///   PUT    /eureka/apps/{APP}/{id}   heartbeat; 200, or 404 so the client registers again
///   DELETE /eureka/apps/{APP}/{id}   cancel; 200, or 404
///   GET    /eureka/apps              all applications
///   GET    /eureka/apps/delta        changes within the delta retention window
///   GET    /eureka/apps/{APP}        one application; 404 when unknown
///   GET    /eureka/apps/{APP}/{id}   one instance; 404 when unknown
/// Application names are case-insensitive (stored upper-case, as Eureka does). Each instance
/// holds a lease of its own leaseInfo.durationInSecs; an eviction task removes instances whose
/// lease expired. The registry lives in memory only; clients re-register after a restart because
/// their heartbeats get 404.
///
/// Threading: requests are served concurrently on the ServiceHttp pool; the registry state sits
/// behind a shared mutex. The RegistryServer must outlive the ServiceHttp's serving (stop the
/// ServiceHttp first, or destroy the RegistryServer after it).

#include <chrono>
#include <cstddef>
#include <memory>

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
};

class RegistryServer {
 public:
  /// Adds the /eureka routes to `http` (call before http.start()) and the registry's metrics to
  /// `metrics`. Both must outlive this object.
  RegistryServer(ServiceHttp& http, MetricsRegistry& metrics, RegistryServerOptions options = {});
  ~RegistryServer();
  RegistryServer(const RegistryServer&) = delete;
  RegistryServer& operator=(const RegistryServer&) = delete;

  /// Starts the eviction task on its own thread.
  void start();
  /// Stops the eviction task; safe to call twice.
  void stop();

  /// Removes every instance whose lease has expired now; returns how many were removed.
  std::size_t evict_expired();

  [[nodiscard]] std::size_t instance_count() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace claimcheck::registry
