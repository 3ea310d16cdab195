// claimcheck-registry: the Eureka-compatible service registry every claimcheck service (and any
// Spring Cloud service) registers in.
//
//   claimcheck-registry [--config FILE] [--set key=value]... [--host HOST] [--port PORT]
//
// Serves the dashboard at /, /eureka, /health and /metrics until SIGINT or SIGTERM. Exit codes: 0
// after a shutdown signal, 2 when it could not start.

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <iostream>
#include <string>

#include "claimcheck/common/config.hpp"
#include "claimcheck/common/metrics.hpp"
#include "claimcheck/common/service_http.hpp"
#include "claimcheck/common/service_options.hpp"
#include "claimcheck/common/shutdown.hpp"
#include "claimcheck/registry/registry_server.hpp"

namespace {

using namespace claimcheck;

constexpr int kStopped = 0;
constexpr int kCouldNotStart = 2;

std::chrono::milliseconds positive_duration(const Config& config, std::string_view key,
                                            std::chrono::milliseconds fallback) {
  const auto value = config.get_duration(key, fallback);
  if (value <= std::chrono::milliseconds::zero()) {
    throw ConfigError("configuration key '" + std::string(key) + "' must be longer than 0");
  }
  return value;
}

std::size_t positive_count(const Config& config, std::string_view key, std::int64_t fallback) {
  const auto value = config.get_int(key, fallback);
  if (value <= 0) {
    throw ConfigError("configuration key '" + std::string(key) + "' must be at least 1");
  }
  return static_cast<std::size_t>(value);
}

double renewal_percent_threshold(const Config& config);

registry::RegistryServerOptions server_options(const Config& config) {
  registry::RegistryServerOptions options;
  options.eviction_interval =
      positive_duration(config, "registry.eviction-interval", options.eviction_interval);
  options.default_lease_duration = std::chrono::duration_cast<std::chrono::seconds>(
      positive_duration(config, "registry.default-lease-duration", options.default_lease_duration));
  options.delta_retention =
      positive_duration(config, "registry.delta-retention", options.delta_retention);
  options.max_instances_per_app =
      positive_count(config, "registry.max-instances-per-app",
                     static_cast<std::int64_t>(options.max_instances_per_app));
  options.max_apps =
      positive_count(config, "registry.max-apps", static_cast<std::int64_t>(options.max_apps));

  options.self_preservation =
      config.get_bool("registry.self-preservation.enabled", options.self_preservation);
  options.renewal_percent_threshold = renewal_percent_threshold(config);
  options.expected_client_renewal_interval = std::chrono::duration_cast<std::chrono::seconds>(
      positive_duration(config, "registry.self-preservation.expected-renewal-interval",
                        options.expected_client_renewal_interval));
  if (options.expected_client_renewal_interval.count() == 0) {
    throw ConfigError(
        "configuration key 'registry.self-preservation.expected-renewal-interval' must be at "
        "least 1s");
  }
  options.renewal_threshold_update_interval =
      positive_duration(config, "registry.self-preservation.threshold-update-interval",
                        options.renewal_threshold_update_interval);
  options.renewal_measurement_window = positive_duration(
      config, "registry.self-preservation.measurement-window", options.renewal_measurement_window);

  options.peer_timeout = positive_duration(config, "registry.peer-timeout", options.peer_timeout);
  return options;
}

double renewal_percent_threshold(const Config& config) {
  const std::string key = "registry.self-preservation.renewal-percent-threshold";
  const std::string text = config.get_string(key, "0.85");
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !(value > 0 && value <= 1)) {
    throw ConfigError("configuration key '" + key + "' must be a fraction above 0 and at most 1 " +
                      "(e.g. 0.85), not '" + text + "'");
  }
  return value;
}

// Every node of a cluster may share one peer list; a node leaves itself out, as Eureka does.
std::vector<std::string> other_peers(const Config& config, const std::string& host, int port) {
  std::vector<std::string> peers;
  for (const auto& url : config.get_list("registry.peers", {})) {
    const auto authority_start = url.find("://");
    const std::string rest =
        authority_start == std::string::npos ? url : url.substr(authority_start + 3);
    const std::string authority = rest.substr(0, rest.find('/'));
    const std::string suffix = ":" + std::to_string(port);
    const bool local = authority == host + suffix || authority == "127.0.0.1" + suffix ||
                       authority == "localhost" + suffix;
    if (!local) {
      peers.push_back(url);
    }
  }
  return peers;
}

int serve(const Config& config, ShutdownSignal& shutdown) {
  const std::string host = config.get_string("server.host", "127.0.0.1");
  const auto port = config.get_int("server.port", 8761);
  if (port < 0 || port > 65535) {
    throw ConfigError("configuration key 'server.port' must be 0-65535, not " +
                      std::to_string(port));
  }
  auto options = server_options(config);

  MetricsRegistry metrics;
  ServiceHttp http(metrics);
  const int bound = http.bind(host, static_cast<int>(port));
  options.peer_urls = other_peers(config, host, bound);
  registry::RegistryServer server(http, metrics, options);
  server.start();
  http.start();
  spdlog::info(
      "serving the dashboard, /eureka, /health and /metrics on http://{}:{} (eviction "
      "every {} ms, self-preservation {}, {} peers)",
      host, bound, options.eviction_interval.count(), options.self_preservation ? "on" : "off",
      options.peer_urls.size());

  shutdown.wait();
  spdlog::info("shutdown signal received; stopping");
  http.stop();
  server.stop();
  return kStopped;
}

}  // namespace

int main(int argc, char** argv) {
  // First, so that every thread started later inherits the blocked signals.
  ShutdownSignal shutdown;

  CLI::App app{"claimcheck registry: Eureka-compatible service discovery"};
  ServiceOptions options;
  add_service_options(app, options);
  CLI11_PARSE(app, argc, argv);

  try {
    return serve(load_service_config(options, "registry", "CLAIMCHECK_REGISTRY_"), shutdown);
  } catch (const std::exception& error) {
    std::cerr << "claimcheck-registry: cannot start: " << error.what() << '\n';
    return kCouldNotStart;
  }
}
