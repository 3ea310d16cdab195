// claimcheck-auth: the OAuth2 authorization server that issues the services' access tokens.
//
//   claimcheck-auth [--config FILE] [--set key=value]... [--host HOST] [--port PORT]
//   claimcheck-auth hash-secret        reads a client secret on stdin, prints its Argon2id hash
//   claimcheck-auth rotate-key [--algorithm RS256|ES256]
//                                      makes a new signing key, retires the current one
//   claimcheck-auth add-client --id ID [--scope S]... [--audience A] [--token-lifetime 5m]
//                              [--generate-secret]
//                                      adds a client to the client file (secret on stdin, or a
//                                      generated one printed on stdout)
//
// Serves the OAuth2 endpoints (see auth_server.hpp), /health and /metrics until SIGINT or SIGTERM.
// Exit codes: 0 after a shutdown signal (or a printed hash), 2 when it could not start.

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "claimcheck/auth/auth_server.hpp"
#include "claimcheck/auth/client_file.hpp"
#include "claimcheck/auth/key_ring.hpp"
#include "claimcheck/auth/secret_hash.hpp"
#include "claimcheck/common/config.hpp"
#include "claimcheck/common/encoding.hpp"
#include "claimcheck/common/metrics.hpp"
#include "claimcheck/common/service_http.hpp"
#include "claimcheck/common/service_options.hpp"
#include "claimcheck/common/shutdown.hpp"
#include "claimcheck/runtime/service.hpp"

namespace {

using namespace claimcheck;

constexpr int kStopped = 0;
constexpr int kCouldNotStart = 2;
// A generated client secret: 32 random bytes, as hex.
constexpr std::size_t kGeneratedSecretBytes = 32;

std::string read_secret_line() {
  std::string secret;
  std::getline(std::cin, secret);
  if (!secret.empty() && secret.back() == '\r') {
    secret.pop_back();
  }
  return secret;
}

int print_secret_hash() {
  const std::string secret = read_secret_line();
  if (secret.empty()) {
    std::cerr << "claimcheck-auth hash-secret: no secret on stdin (expected one line)\n";
    return kCouldNotStart;
  }
  std::cout << auth::hash_secret(secret) << '\n';
  return kStopped;
}

int rotate_key(const Config& config, std::string algorithm) {
  const auto settings = auth::AuthSettings::from_config(config);
  if (algorithm.empty()) {
    algorithm = settings.key_algorithm;
  }
  const auto key = auth::rotate_key(settings.keys_dir, algorithm);
  std::cout << key.kid() << '\n';
  return kStopped;
}

struct NewClient {
  std::string id;
  std::vector<std::string> scopes;
  std::string audience = "claimcheck";
  std::string token_lifetime;
  bool generate_secret = false;
};

int add_client(const Config& config, const NewClient& request) {
  const auto settings = auth::AuthSettings::from_config(config);
  std::string secret =
      request.generate_secret ? random_hex(kGeneratedSecretBytes) : read_secret_line();
  if (secret.empty()) {
    std::cerr << "claimcheck-auth add-client: no secret on stdin (expected one line, or use "
                 "--generate-secret)\n";
    return kCouldNotStart;
  }
  // The entry goes through the same reader as the configuration's clients, so that the command
  // refuses exactly what the server would.
  YAML::Node entry;
  entry["id"] = request.id;
  entry["secret-hash"] = auth::hash_secret(secret);
  entry["audience"] = request.audience;
  entry["scopes"] = YAML::Node(YAML::NodeType::Sequence);
  for (const auto& scope : request.scopes) {
    entry["scopes"].push_back(scope);
  }
  if (!request.token_lifetime.empty()) {
    entry["token-lifetime"] = request.token_lifetime;
  }
  YAML::Node list(YAML::NodeType::Sequence);
  list.push_back(entry);
  const auto clients = auth::read_clients(list, "the command line");
  auth::add_client_to_file(settings.clients_file, clients.front(), settings.clients);
  spdlog::info("added client '{}' to '{}'", request.id, settings.clients_file.string());
  if (request.generate_secret) {
    std::cout << secret << '\n';
  }
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
  const int bound = http.bind(host, static_cast<int>(port));
  if (settings.public_url.empty() && !settings.issuer.starts_with("http://") &&
      !settings.issuer.starts_with("https://")) {
    // The metadata document needs absolute endpoint URLs; without a configured one, the address
    // this server listens on is the best known.
    settings.public_url = "http://" + host + ":" + std::to_string(bound);
  }
  const auth::AuthServer server(http, metrics, std::move(settings));
  http.start();
  const auto registry = runtime::make_registry_client(config);
  runtime::register_service(*registry, config, runtime::kAuthApp, bound);
  spdlog::info(
      "serving /oauth2/token, /oauth2/introspect, /oauth2/revoke, /oauth2/jwks, /health and "
      "/metrics on http://{}:{}",
      host, bound);

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
  auto* rotate_command = app.add_subcommand(
      "rotate-key", "Make a new signing key active and retire the current one (print the new kid)");
  std::string rotate_algorithm;
  rotate_command
      ->add_option("--algorithm", rotate_algorithm, "RS256 or ES256 (default: keys.algorithm)")
      ->check(CLI::IsMember({"RS256", "ES256"}));
  auto* add_client_command = app.add_subcommand(
      "add-client", "Add a client to the client file; its secret is read on stdin");
  NewClient new_client;
  add_client_command->add_option("--id", new_client.id, "client id")->required();
  add_client_command->add_option("--scope", new_client.scopes, "an authority it may get");
  add_client_command->add_option("--audience", new_client.audience, "aud of its tokens");
  add_client_command->add_option("--token-lifetime", new_client.token_lifetime,
                                 "lifetime of its tokens (e.g. 5m; default token.lifetime)");
  add_client_command->add_flag("--generate-secret", new_client.generate_secret,
                               "generate a secret and print it instead of reading one");
  CLI11_PARSE(app, argc, argv);

  try {
    if (*hash_command) {
      return print_secret_hash();
    }
    if (*rotate_command) {
      return rotate_key(load_service_config(options, "auth", "CLAIMCHECK_AUTH_"), rotate_algorithm);
    }
    if (*add_client_command) {
      return add_client(load_service_config(options, "auth", "CLAIMCHECK_AUTH_"), new_client);
    }
    return serve(load_service_config(options, "auth", "CLAIMCHECK_AUTH_"), shutdown);
  } catch (const std::exception& error) {
    std::cerr << "claimcheck-auth: cannot start: " << error.what() << '\n';
    return kCouldNotStart;
  }
}
