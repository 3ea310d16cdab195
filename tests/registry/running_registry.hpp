#pragma once

// An in-process registry on a free loopback port, for the registry tests.

#include <httplib.h>

#include <chrono>
#include <string>
#include <thread>

#include "claimcheck/common/metrics.hpp"
#include "claimcheck/common/service_http.hpp"
#include "claimcheck/registry/registry_server.hpp"

namespace claimcheck::registry::testing {

class RunningRegistry {
 public:
  explicit RunningRegistry(RegistryServerOptions options = {})
      : server_(http_, metrics_, options), port_(http_.bind("127.0.0.1", 0)) {
    server_.start();
    http_.start();
  }

  // The HTTP server stops first: its handlers use the registry server.
  ~RunningRegistry() { stop(); }

  RunningRegistry(const RunningRegistry&) = delete;
  RunningRegistry& operator=(const RunningRegistry&) = delete;

  void stop() {
    http_.stop();
    server_.stop();
  }

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::string eureka_url() const { return origin() + "/eureka"; }
  RegistryServer& server() { return server_; }
  MetricsRegistry& metrics() { return metrics_; }

  [[nodiscard]] httplib::Client client() const {
    httplib::Client client(origin());
    client.set_connection_timeout(std::chrono::seconds(2));
    client.set_read_timeout(std::chrono::seconds(5));
    return client;
  }

 private:
  MetricsRegistry metrics_;
  ServiceHttp http_{metrics_};
  RegistryServer server_;
  int port_;
};

/// Polls `condition` every 50 ms until it holds or `limit` passes; returns whether it held.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return condition();
}

}  // namespace claimcheck::registry::testing
