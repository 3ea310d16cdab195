#pragma once

/// The OAuth2 authorization server: client_credentials tokens signed with RS256, and the JWKS
/// that verifies them, served on a ServiceHttp.
///
///   POST /oauth2/token                        client_credentials grant (RFC 6749 section 4.4)
///   POST /oauth2/introspect                   token introspection (RFC 7662)
///   POST /oauth2/revoke                       token revocation (RFC 7009)
///   GET  /oauth2/jwks                         {"keys": [...]}: the active and any retired keys
///   GET  /.well-known/oauth-authorization-server   RFC 8414 metadata
///   GET  /.well-known/openid-configuration    the same document, for OpenID-style discovery
///
/// Clients authenticate with HTTP Basic (client_secret_basic) or with client_id/client_secret
/// form fields (client_secret_post), never both, on every POST endpoint. Secrets are checked
/// against Argon2id hashes (a secret that matched is remembered as a keyed MAC for 5 minutes,
/// see VerifiedSecretCache, so a client asking again is fast); failures answer 401 invalid_client
/// (with WWW-Authenticate when Basic was used). Other errors follow RFC 6749 section 5.2 with
/// status 400 (503 when the server is overloaded or cannot record a revocation). Tokens carry iss,
/// sub (client id), aud (the client's audience), iat, nbf, exp, jti, client_id and scope
/// (space-separated); a requested scope is narrowed to the client's, a scope beyond them is
/// invalid_scope.
///
/// Introspection answers {"active": false} for any token that is not a valid, unexpired,
/// unrevoked token of this issuer, and the token's claims otherwise; any authenticated client may
/// ask. Revocation records the token's jti in the RevocationList (a file, so it survives
/// restarts); only the client the token was issued to may revoke it, and an invalid token is
/// answered 200 as RFC 7009 asks.
///
/// Audit: every issued, refused and revoked token is logged at info (refusals at warning) as an
/// "audit:" line with the client id and the jti, never the token or a secret; counters for each
/// are on /metrics.
///
/// The metadata's endpoint URLs are built from AuthSettings::public_url (or the issuer when it is
/// an http(s) URL), never from the request's Host header.
///
/// Keys: a KeyRing over keys_dir (see key_ring.hpp): the active key signs, retired keys stay in
/// the JWKS until the tokens they signed have expired. `claimcheck-auth rotate-key` rotates while
/// the server runs; the server picks the new key up within a second.
///
/// Threading: requests are served concurrently on the ServiceHttp pool; the server's state is
/// immutable after construction. The AuthServer must outlive the ServiceHttp's serving.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "claimcheck/common/config.hpp"
#include "claimcheck/common/metrics.hpp"
#include "claimcheck/common/service_http.hpp"
#include "claimcheck/token/signing_key.hpp"

namespace claimcheck::auth {

/// A client allowed to ask for tokens.
struct RegisteredClient {
  std::string id;
  /// Argon2id hash of the secret (claimcheck-auth hash-secret makes one).
  std::string secret_hash;
  /// The scopes it may be granted; a request without `scope` gets all of them.
  std::vector<std::string> scopes{};
  /// The `aud` claim of its tokens.
  std::string audience = "claimcheck";
  /// How long its tokens live; zero means AuthSettings::token_lifetime.
  std::chrono::seconds token_lifetime{0};
};

struct AuthSettings {
  std::string issuer = "claimcheck-auth";
  std::filesystem::path keys_dir = "var/auth-keys";
  /// The algorithm of keys created from now on ("RS256" or "ES256"); an existing key is kept.
  std::string key_algorithm = "RS256";
  std::chrono::seconds token_lifetime{300};
  std::vector<RegisteredClient> clients;
  /// Base URL the metadata document advertises endpoints under (scheme://host:port). Empty: the
  /// issuer, which must then be an http(s) URL.
  std::string public_url;
  /// Clients added by `claimcheck-auth add-client` (client_file.hpp), re-read when it changes.
  std::filesystem::path clients_file = "var/auth-clients.yaml";
  /// Where revoked tokens' ids are kept (RevocationList).
  std::filesystem::path revocation_file = "var/auth-revoked-tokens";

  /// Reads `issuer`, `public-url`, `keys.dir`, `keys.algorithm`, `token.lifetime`,
  /// `revocation.file`, `clients-file` and the `clients` list. Throws ConfigError naming the key
  /// (for clients: the list index and field) when a value is missing or invalid.
  static AuthSettings from_config(const Config& config);
};

/// Reads a YAML list of clients ({id, secret-hash, scopes, audience, token-lifetime}); `source`
/// names the file in errors. Throws ConfigError naming the list index and field.
std::vector<RegisteredClient> read_clients(const YAML::Node& list, const std::string& source);

class AuthServer {
 public:
  /// Loads or creates the signing key, loads retired keys and the revocation list, and adds the
  /// routes to `http` (call before http.start()) and the counters to `metrics`; both must outlive
  /// this object. Throws token::KeyError when the key directory or a key file is unusable,
  /// RevocationError when the revocation file is, and ConfigError when there is no public URL.
  AuthServer(ServiceHttp& http, MetricsRegistry& metrics, AuthSettings settings);
  ~AuthServer();
  AuthServer(const AuthServer&) = delete;
  AuthServer& operator=(const AuthServer&) = delete;

  /// The key new tokens are signed with now.
  [[nodiscard]] token::SigningKey signing_key() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace claimcheck::auth
