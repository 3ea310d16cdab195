#include "claimcheck/common/service_http.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace claimcheck {
namespace {

// Large enough for any JSON the services exchange, small enough that a flood of bytes cannot
// exhaust memory. Files never travel over these HTTP endpoints.
constexpr std::size_t kMaxRequestBodyBytes = 1 << 20;
constexpr time_t kIoTimeoutSeconds = 10;

}  // namespace

ServiceHttp::ServiceHttp(MetricsRegistry& metrics) : metrics_(metrics) {
  // httplib's default also sets SO_REUSEPORT, which lets a second service bind a port that is
  // already taken and silently share its connections. Only SO_REUSEADDR is wanted (quick
  // restarts); a taken port must be an error.
  server_.set_socket_options([](socket_t socket) {
    const int yes = 1;
    ::setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // httplib writes a reply's headers and body separately; with Nagle's algorithm the body waits
  // for the client's delayed ACK, some 40 ms per request on a keep-alive connection.
  server_.set_tcp_nodelay(true);
  server_.set_payload_max_length(kMaxRequestBodyBytes);
  server_.set_read_timeout(kIoTimeoutSeconds, 0);
  server_.set_write_timeout(kIoTimeoutSeconds, 0);

  server_.Get("/health", [this](const httplib::Request&, httplib::Response& response) {
    nlohmann::json body = {{"status", "UP"}};
    for (const auto& check : checks_) {
      std::string detail;
      const bool healthy = check.check(detail);
      body["components"][check.name] = {{"status", healthy ? "UP" : "DOWN"}};
      if (!detail.empty()) {
        body["components"][check.name]["detail"] = detail;
      }
      if (!healthy) {
        body["status"] = "DOWN";
      }
    }
    response.status = body["status"] == "UP" ? 200 : 503;
    response.set_content(body.dump(), "application/json");
  });

  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics_.render(), "text/plain; version=0.0.4");
  });
}

ServiceHttp::~ServiceHttp() { stop(); }

void ServiceHttp::add_health_check(HealthCheck check) { checks_.push_back(std::move(check)); }

int ServiceHttp::bind(const std::string& host, int port) {
  const int bound = port == 0                          ? server_.bind_to_any_port(host)
                    : server_.bind_to_port(host, port) ? port
                                                       : -1;
  if (bound <= 0) {
    throw std::runtime_error("cannot listen for HTTP on " + host + ":" + std::to_string(port));
  }
  return bound;
}

void ServiceHttp::start() {
  thread_ = std::thread([this] {
    if (!server_.listen_after_bind()) {
      spdlog::error("HTTP server stopped unexpectedly; /health and the API are unreachable");
    }
  });
  // httplib's stop() only takes effect once the server runs, so returning earlier would let a
  // quick stop() be lost and its join() hang.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server_.is_running()) {
    throw std::runtime_error("HTTP server did not start listening within 5 s");
  }
}

void ServiceHttp::stop() {
  server_.stop();
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace claimcheck
