#pragma once

/// What the claimcheck services do the same way at start: register in the registry with
/// heartbeats, and find the auth server through the registry.
///
/// Configuration keys shared by the services (each under the service's own env prefix):
///   registry.urls        Eureka service URLs (list; default http://127.0.0.1:8761/eureka)
///   registry.timeout     per-request timeout (default 5s)
///   registry.renewal-interval, registry.lease-duration  heartbeat period and lease (30s, 90s)
///   advertise.host       the host other services reach this one at (default 127.0.0.1)
///   auth.url             fixed auth server base URL; when empty it is resolved by the registry
///   auth.issuer, auth.audience, auth.leeway               what tokens must carry
///   auth.check-revocation  ask the auth server's introspection endpoint about every token that
///                          verifies (default false; refuses tokens when auth is unreachable)
///   auth.require-file-binding  refuse tokens not bound to the file they arrive with (false)
///   auth.client-id, auth.client-secret, auth.scope        this service's own credentials

#include <memory>
#include <string>
#include <string_view>

#include "claimcheck/common/config.hpp"
#include "claimcheck/registry/registry_client.hpp"
#include "claimcheck/token/token_client.hpp"
#include "claimcheck/token/verifier.hpp"

namespace claimcheck::runtime {

/// Application names in the registry.
inline constexpr std::string_view kAuthApp = "CLAIMCHECK-AUTH";
inline constexpr std::string_view kResourceApp = "CLAIMCHECK-RESOURCE";
inline constexpr std::string_view kClientApp = "CLAIMCHECK-CLIENT";

/// A registry client for the configured registry URLs.
std::unique_ptr<registry::RegistryClient> make_registry_client(const Config& config);

/// Registers `app` at the advertised host and `port` with heartbeats (until the client stops).
/// Throws registry::RegistryError when no registry accepts it.
void register_service(registry::RegistryClient& registry, const Config& config,
                      std::string_view app, int port);

/// The auth server's base URL: auth.url when configured, otherwise an UP instance of
/// CLAIMCHECK-AUTH from the registry (throws registry::RegistryError naming it when none).
std::string auth_base_url(const Config& config, registry::RegistryClient& registry);

/// A verifier for tokens from the configured issuer and audience, loading the JWKS from the
/// auth server found through the registry, and only when that server's metadata names the
/// configured issuer. `registry` and `config` must outlive the verifier.
std::unique_ptr<token::TokenVerifier> make_token_verifier(const Config& config,
                                                          registry::RegistryClient& registry);

/// A client_credentials token source for this service's own credentials; it sends them only to
/// an auth server whose metadata names the configured auth.issuer (else TokenClientError
/// "no_endpoint" naming both issuers). `registry` and `config` must outlive it. Throws ConfigError
/// when auth.client-id or auth.client-secret is missing.
std::unique_ptr<token::TokenClient> make_token_client(const Config& config,
                                                      registry::RegistryClient& registry);

}  // namespace claimcheck::runtime
