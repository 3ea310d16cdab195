#pragma once

/// The HTTP face every claimcheck service has: /health and /metrics, plus its own routes.
///
/// /health answers 200 {"status":"UP"} when every registered check passes and 503 with the
/// failing checks named otherwise (the shape Spring Boot Actuator uses, so the same probes work
/// for both). /metrics serves the MetricsRegistry in Prometheus text format. The server runs on
/// its own thread pool after start(); routes must be added before start().

#include <httplib.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "claimcheck/common/metrics.hpp"

namespace claimcheck {

/// A named liveness check: returns true when healthy, or false with a reason in `detail`.
struct HealthCheck {
  std::string name;
  std::function<bool(std::string& detail)> check;
};

class ServiceHttp {
 public:
  explicit ServiceHttp(MetricsRegistry& metrics);
  ~ServiceHttp();
  ServiceHttp(const ServiceHttp&) = delete;
  ServiceHttp& operator=(const ServiceHttp&) = delete;

  /// The underlying cpp-httplib server, for adding routes before start().
  httplib::Server& routes() { return server_; }

  void add_health_check(HealthCheck check);

  /// Binds `host`:`port` (port 0 picks a free one) and returns the bound port. Throws
  /// std::runtime_error naming the address when it cannot bind.
  int bind(const std::string& host, int port);

  /// Serves requests on a background thread until stop() or destruction; returns once the
  /// server accepts connections.
  void start();
  void stop();

 private:
  httplib::Server server_;
  MetricsRegistry& metrics_;
  std::vector<HealthCheck> checks_;
  std::thread thread_;
};

}  // namespace claimcheck
