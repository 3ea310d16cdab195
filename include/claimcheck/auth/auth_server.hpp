#pragma once

/// The OAuth2 authorization server: client_credentials tokens signed with RS256, and the JWKS
/// that verifies them, served on a ServiceHttp.
///
///   POST /oauth2/token                        client_credentials grant (RFC 6749 section 4.4)
///   GET  /oauth2/jwks                         {"keys": [...]}: the active and any retired keys
///   GET  /.well-known/oauth-authorization-server   RFC 8414 metadata
///
/// Clients authenticate with HTTP Basic (client_secret_basic) or with client_id/client_secret
/// form fields (client_secret_post), never both. Secrets are checked against Argon2id hashes;
/// failures answer 401 invalid_client (with WWW-Authenticate when Basic was used) and are logged
/// with the client id, never the secret. Other errors follow RFC 6749 section 5.2 with status
/// 400. Tokens carry iss, sub (client id), aud (the client's audience), iat, nbf, exp, jti,
/// client_id and scope (space-separated).
///
/// Keys: the active key is keys_dir/signing-key.pem (created on first start). Other *.pem files
/// in keys_dir are retired keys: published in the JWKS so tokens they signed keep verifying,
/// never used to sign. To rotate, rename signing-key.pem to e.g. retired-2024-05.pem and
/// restart; delete the retired file once the longest token lifetime has passed.
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
  std::vector<std::string> scopes;
  /// The `aud` claim of its tokens.
  std::string audience = "claimcheck";
};

struct AuthSettings {
  std::string issuer = "claimcheck-auth";
  std::filesystem::path keys_dir = "var/auth-keys";
  std::chrono::seconds token_lifetime{300};
  std::vector<RegisteredClient> clients;

  /// Reads `issuer`, `keys.dir`, `token.lifetime` and the `clients` list. Throws ConfigError
  /// naming the key (for clients: the list index and field) when a value is missing or invalid.
  static AuthSettings from_config(const Config& config);
};

class AuthServer {
 public:
  /// Loads or creates the signing key, loads retired keys, and adds the routes to `http` (call
  /// before http.start()) and the counters to `metrics`; both must outlive this object. Throws
  /// token::KeyError when the key directory or a key file is unusable.
  AuthServer(ServiceHttp& http, MetricsRegistry& metrics, AuthSettings settings);
  ~AuthServer();
  AuthServer(const AuthServer&) = delete;
  AuthServer& operator=(const AuthServer&) = delete;

  [[nodiscard]] const token::SigningKey& signing_key() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace claimcheck::auth
