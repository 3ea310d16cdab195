#include "claimcheck/runtime/service.hpp"

#include <spdlog/spdlog.h>

namespace claimcheck::runtime {
namespace {

constexpr std::chrono::milliseconds kDefaultTimeout{5000};

std::chrono::milliseconds network_timeout(const Config& config) {
  const auto timeout = config.get_duration("registry.timeout", kDefaultTimeout);
  if (timeout <= std::chrono::milliseconds::zero()) {
    throw ConfigError("registry.timeout must be longer than 0");
  }
  return timeout;
}

}  // namespace

std::unique_ptr<registry::RegistryClient> make_registry_client(const Config& config) {
  return std::make_unique<registry::RegistryClient>(
      config.get_list("registry.urls", {"http://127.0.0.1:8761/eureka"}), network_timeout(config));
}

void register_service(registry::RegistryClient& registry, const Config& config,
                      std::string_view app, int port) {
  registry::InstanceRegistration registration;
  registration.app = std::string(app);
  registration.host = config.get_string("advertise.host", "127.0.0.1");
  registration.port = port;
  registration.renewal_interval = std::chrono::duration_cast<std::chrono::seconds>(
      config.get_duration("registry.renewal-interval", std::chrono::seconds(30)));
  registration.lease_duration = std::chrono::duration_cast<std::chrono::seconds>(
      config.get_duration("registry.lease-duration", std::chrono::seconds(90)));
  registry.start(registration);
  spdlog::info("registered as {} at {}:{}", app, registration.host, port);
}

std::string auth_base_url(const Config& config, registry::RegistryClient& registry) {
  std::string url = config.get_string("auth.url", "");
  if (url.empty()) {
    url = registry.resolve(std::string(kAuthApp));
  }
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  return url;
}

std::unique_ptr<token::TokenVerifier> make_token_verifier(const Config& config,
                                                          registry::RegistryClient& registry) {
  token::VerifierSettings settings;
  settings.issuer = config.get_string("auth.issuer", "claimcheck-auth");
  settings.audience = config.get_string("auth.audience", "claimcheck");
  settings.leeway = std::chrono::duration_cast<std::chrono::seconds>(
      config.get_duration("auth.leeway", std::chrono::seconds(30)));
  settings.require_file_binding = config.get_bool("auth.require-file-binding", false);
  const auto timeout = network_timeout(config);
  // The auth server is looked up on every fetch, so a verifier keeps working when auth moves;
  // the fetcher loads keys only from a server that claims the configured issuer.
  auto base_url = [&config, &registry]() -> std::optional<std::string> {
    try {
      return auth_base_url(config, registry);
    } catch (const registry::RegistryError& error) {
      spdlog::warn("cannot load signing keys, auth server not found: {}; keeping cached keys",
                   error.what());
      return std::nullopt;
    }
  };
  if (config.get_bool("auth.check-revocation", false)) {
    settings.revocation_check = [&config, &registry, timeout](
                                    std::string_view token, const token::VerifiedToken& verified) {
      try {
        return token::http_introspection_check(
            auth_base_url(config, registry) + "/oauth2/introspect",
            config.get_string("auth.client-id", ""), config.get_string("auth.client-secret", ""),
            timeout)(token, verified);
      } catch (const registry::RegistryError& error) {
        spdlog::warn("cannot check token {} for revocation, auth server not found: {}",
                     verified.jti, error.what());
        return token::RevocationState::kUnknown;
      }
    };
  }
  return std::make_unique<token::TokenVerifier>(
      settings, token::issuer_checked_jwks_fetcher(std::move(base_url), settings.issuer, timeout));
}

std::unique_ptr<token::TokenClient> make_token_client(const Config& config,
                                                      registry::RegistryClient& registry) {
  std::string client_id = config.get_string("auth.client-id", "");
  std::string secret = config.get_string("auth.client-secret", "");
  if (client_id.empty() || secret.empty()) {
    throw ConfigError("auth.client-id and auth.client-secret must be set (config file " +
                      config.source_name() + " or " + config.env_name("auth.client-secret") + ")");
  }
  const auto timeout = network_timeout(config);
  // Credentials go only to a server that claims the configured issuer: a stale or mistaken
  // registration must not receive the secret.
  auto endpoint = [&config, &registry, timeout] {
    const std::string base = auth_base_url(config, registry);
    const std::string issuer = config.get_string("auth.issuer", "claimcheck-auth");
    const auto advertised = token::advertised_issuer(base, timeout);
    if (!advertised) {
      throw std::runtime_error("auth server at " + base + " serves no readable metadata");
    }
    if (*advertised != issuer) {
      throw std::runtime_error("auth server at " + base + " claims issuer '" +
                               advertised->substr(0, 128) + "', not the configured '" + issuer +
                               "'; not sending credentials to it");
    }
    return base + "/oauth2/token";
  };
  return std::make_unique<token::TokenClient>(std::move(endpoint), std::move(client_id),
                                              std::move(secret),
                                              config.get_string("auth.scope", ""), timeout);
}

}  // namespace claimcheck::runtime
