// claimcheck-auth: the OAuth2 authorization server that issues the services' access tokens.
//
//   claimcheck-auth [--config FILE] [--set key=value]... [--host HOST] [--port PORT]
//   claimcheck-auth hash-secret        reads a client secret on stdin, prints its Argon2id hash
//
// Serves /oauth2/token, /oauth2/jwks, /health and /metrics until SIGINT or SIGTERM. Exit codes:
// 0 after a shutdown signal (or a printed hash), 2 when it could not start.

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "claimcheck/auth/auth_server.hpp"
#include "claimcheck/auth/secret_hash.hpp"
#include "claimcheck/common/config.hpp"
#include "claimcheck/common/metrics.hpp"
#include "claimcheck/common/service_http.hpp"
#include "claimcheck/common/service_options.hpp"
#include "claimcheck/common/shutdown.hpp"
#include "claimcheck/runtime/service.hpp"

namespace {

using namespace claimcheck;

constexpr int kStopped = 0;
constexpr int kCouldNotStart = 2;

int print_secret_hash() {
  std::string secret;
  std::getline(std::cin, secret);
  if (!secret.empty() && secret.back() == '\r') {
    secret.pop_back();
  }
  if (secret.empty()) {
    std::cerr << "claimcheck-auth hash-secret: no secret on stdin (expected one line)\n";
    return kCouldNotStart;
  }
  std::cout << auth::hash_secret(secret) << '\n';
  return kStopped;
}

int serve(const Config& config, ShutdownSignal& shutdown) {
  const std::string host = config.get_string("server.host", "127.0.0.1");
  const auto port = config.get_int("server.port", 9000);
  if (port < 0 || port > 65535) {
    throw ConfigError("configuration key 'server.port' must be 0-65535, not " +
                      std::to_string(port));
  }
  auto settings = auth::AuthSettings::from_config(config);
  if (settings.clients.empty()) {
    spdlog::warn("no clients configured under 'clients' in {}; every token request will fail",
                 config.source_name());
  }

  MetricsRegistry metrics;
  ServiceHttp http(metrics);
  const auth::AuthServer server(http, metrics, std::move(settings));
  const int bound = http.bind(host, static_cast<int>(port));
  http.start();
  const auto registry = runtime::make_registry_client(config);
  runtime::register_service(*registry, config, runtime::kAuthApp, bound);
  spdlog::info("serving /oauth2/token, /oauth2/jwks, /health and /metrics on http://{}:{}", host,
               bound);

  shutdown.wait();
  spdlog::info("shutdown signal received; stopping");
  registry->stop();
  http.stop();
  return kStopped;
}

}  // namespace

int main(int argc, char** argv) {
  // First, so that every thread started later inherits the blocked signals.
  ShutdownSignal shutdown;

  CLI::App app{"claimcheck auth: OAuth2 client_credentials tokens and their JWKS"};
  ServiceOptions options;
  add_service_options(app, options);
  auto* hash_command = app.add_subcommand(
      "hash-secret", "Read a client secret (one line) on stdin and print its Argon2id hash");
  CLI11_PARSE(app, argc, argv);

  try {
    if (*hash_command) {
      return print_secret_hash();
    }
    return serve(load_service_config(options, "auth", "CLAIMCHECK_AUTH_"), shutdown);
  } catch (const std::exception& error) {
    std::cerr << "claimcheck-auth: cannot start: " << error.what() << '\n';
    return kCouldNotStart;
  }
}
