#pragma once

// A real AuthServer on 127.0.0.1 and a free port, with two clients, for the auth tests.

#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "claimcheck/auth/auth_server.hpp"
#include "claimcheck/auth/secret_hash.hpp"
#include "claimcheck/common/encoding.hpp"

namespace claimcheck::auth::testing {

inline constexpr const char* kIssuer = "http://auth.test";
inline constexpr const char* kSenderSecret = "sender-secret";
inline constexpr const char* kWorkerSecret = "worker secret with spaces:and=colon";

// Argon2id is deliberately slow; hash each test secret once per process.
inline const std::string& sender_hash() {
  static const std::string hash = hash_secret(kSenderSecret);
  return hash;
}
inline const std::string& worker_hash() {
  static const std::string hash = hash_secret(kWorkerSecret);
  return hash;
}

inline AuthSettings test_settings(const std::filesystem::path& keys_dir) {
  AuthSettings settings;
  settings.issuer = kIssuer;
  settings.keys_dir = keys_dir;
  settings.revocation_file = keys_dir / "revoked-tokens";
  settings.clients_file = keys_dir / "clients.yaml";
  settings.clients = {
      {.id = "sender", .secret_hash = sender_hash(), .scopes = {"files.send", "files.read"}},
      {.id = "worker",
       .secret_hash = worker_hash(),
       .scopes = {"files.reply"},
       .audience = "claimcheck"},
  };
  return settings;
}

class RunningAuthServer {
 public:
  explicit RunningAuthServer(AuthSettings settings)
      : server_(http_, metrics_, std::move(settings)), port_(http_.bind("127.0.0.1", 0)) {
    http_.start();
    // httplib's stop() does nothing before the server runs; wait so a short test cannot hang.
    while (!http_.routes().is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  ~RunningAuthServer() { http_.stop(); }
  RunningAuthServer(const RunningAuthServer&) = delete;
  RunningAuthServer& operator=(const RunningAuthServer&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  [[nodiscard]] httplib::Client client() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(std::chrono::seconds(5));
    client.set_read_timeout(std::chrono::seconds(5));
    return client;
  }
  [[nodiscard]] std::uint64_t tokens_issued() {
    return metrics_.counter("claimcheck_auth_tokens_issued_total", "").value();
  }
  [[nodiscard]] std::uint64_t authentication_failures() {
    return metrics_.counter("claimcheck_auth_client_authentication_failures_total", "").value();
  }
  [[nodiscard]] std::uint64_t counter(const std::string& name) {
    return metrics_.counter(name, "").value();
  }
  [[nodiscard]] std::string metrics_text() const { return metrics_.render(); }
  [[nodiscard]] const AuthServer& server() const { return server_; }

 private:
  MetricsRegistry metrics_;
  ServiceHttp http_{metrics_};
  AuthServer server_;
  int port_;
};

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() / ("claimcheck-auth-" + random_hex(8))) {}
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace claimcheck::auth::testing
