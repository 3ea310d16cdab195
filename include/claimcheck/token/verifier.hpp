#pragma once

/// Verification of JWT access tokens against the authorization server's JWKS.
///
/// A token is accepted only when every check passes, in this order: size (before any decoding),
/// three strict base64url segments, a JSON header, the algorithm pinned to the key named by
/// `kid` (`none`, HMAC and any algorithm other than the key's are refused), the signature, then
/// `iss`, `aud` (a string or an array containing the audience), `exp`, `nbf` and `iat` within
/// the leeway, the required authority, the file binding when one is asked for, and finally, when
/// a revocation check is configured, whether the authorization server still considers the token
/// active. The claims are parsed only after the signature has been checked.
///
/// Keys are cached. A token naming an unknown `kid` triggers at most one JWKS fetch per
/// jwks_min_refresh_interval (across all threads); a failed or empty fetch keeps the keys
/// already cached. TokenVerifier is thread-safe; verify() waits at most for one fetch (bounded
/// by the fetcher's timeouts), and only when the token names a key not in the cache.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace claimcheck::token {

struct VerifiedToken;

/// What the authorization server says about a token that verified locally.
enum class RevocationState {
  kActive,
  kRevoked,
  /// The server could not be asked (unreachable, error answer); the token is refused, since a
  /// verifier configured to ask must not accept what it could not check.
  kUnknown,
};

/// Asks whether `token` (already verified, its claims in `verified`) was revoked.
using RevocationCheck =
    std::function<RevocationState(std::string_view token, const VerifiedToken& verified)>;

/// The file a token must authorize when tokens are bound to one message's file.
struct FileBinding {
  std::string file_id;
  /// Lower-case hex SHA-256 of the file's content.
  std::string sha256;
};

/// Claim names of a file binding.
inline constexpr std::string_view kFileIdClaim = "file_id";
inline constexpr std::string_view kFileSha256Claim = "file_sha256";

struct VerifierSettings {
  std::string issuer;
  std::string audience;
  /// Further audiences that satisfy `aud` as well as `audience` does (an authorization server
  /// introspecting tokens it issued for several audiences).
  std::vector<std::string> other_audiences{};
  std::chrono::seconds leeway{30};
  std::size_t max_token_bytes = 8192;
  std::chrono::seconds jwks_min_refresh_interval{30};
  /// When true, verify() refuses a token that carries no file binding, or one for another file,
  /// whenever the caller names the file. Off by default: tokens are then reusable per client.
  bool require_file_binding = false;
  /// Empty: no revocation check (tokens are trusted until they expire).
  RevocationCheck revocation_check{};
};

enum class TokenStatus {
  kValid,
  kMalformed,
  kTooLarge,
  kBadAlgorithm,
  kUnknownKey,
  kBadSignature,
  kWrongIssuer,
  kWrongAudience,
  kExpired,
  kNotYetValid,
  kMissingAuthority,
  /// The token names another file than the one it arrived with, or none when one is required.
  kWrongFile,
  kRevoked,
  /// A revocation check was configured and could not be made.
  kRevocationUnknown,
};

/// The error category an error reply carries: kExpired -> "token-expired", kMissingAuthority
/// and kWrongFile -> "forbidden", kValid -> "ok", every other status -> "unauthorized".
std::string_view error_category(TokenStatus status);

/// A stable name for logs and metrics ("expired", "bad-signature", ...).
std::string_view status_name(TokenStatus status);

struct VerifiedToken {
  std::string subject;
  /// Scope values (from `scope`, a space-separated string or an array) followed by the
  /// entries of an `authorities` array.
  std::vector<std::string> authorities;
  std::string jti;
  std::chrono::system_clock::time_point expires_at;
  nlohmann::json claims;
};

struct VerifyResult {
  TokenStatus status = TokenStatus::kMalformed;
  /// Human-readable; never contains the token or its signature.
  std::string reason;
  std::optional<VerifiedToken> token;
  /// With kUnknownKey: the key set could not be brought up to date (the refresh was held back
  /// by the rate limit, or the fetch failed), so the same token may verify later, once
  /// refresh_possible_in() has passed. False when a fresh key set lacks the key.
  bool key_set_stale = false;
  [[nodiscard]] bool ok() const { return status == TokenStatus::kValid; }
};

/// Fetches a JWKS document (JSON text) or returns nullopt on failure; used by the verifier to
/// (re)load keys.
using JwksFetcher = std::function<std::optional<std::string>()>;

/// GETs `jwks_url` (http or https) with `timeout` bounding the connect and each read and write; a
/// non-200 answer, a body over 1 MiB or a network error gives nullopt and a warning naming the
/// URL. Throws std::invalid_argument at once when `jwks_url` is not an http(s) URL.
JwksFetcher http_jwks_fetcher(std::string jwks_url, std::chrono::milliseconds timeout);

/// The issuer named by the RFC 8414 metadata (/.well-known/oauth-authorization-server) of the
/// authorization server at `base_url`, or nullopt with a warning when it cannot be read.
std::optional<std::string> advertised_issuer(const std::string& base_url,
                                             std::chrono::milliseconds timeout);

/// Loads the JWKS of an authorization server found at run time (through service discovery), but
/// only from one that claims the expected issuer: GETs `<base>/.well-known/oauth-authorization-
/// server`, requires its "issuer" to equal `issuer`, then GETs `<base>/oauth2/jwks`. The base URL
/// is asked of `base_url` on every fetch; nullopt from it, a different issuer, or any network or
/// format failure gives nullopt with a warning (so the verifier keeps its cached keys). This stops
/// a misregistered or stale server from replacing the keys; it cannot stop a deliberate impostor
/// that copies the metadata, which only a pinned URL or TLS can.
JwksFetcher issuer_checked_jwks_fetcher(std::function<std::optional<std::string>()> base_url,
                                        std::string issuer, std::chrono::milliseconds timeout);

/// A RevocationCheck that asks the RFC 7662 introspection endpoint `introspection_url`,
/// authenticating with client_secret_basic as `client_id`; `timeout` bounds every network wait.
/// A 200 answer with "active": true is kActive, "active": false kRevoked, anything else kUnknown
/// (with a warning naming the URL, never the token). Throws std::invalid_argument when the URL
/// is not http(s).
RevocationCheck http_introspection_check(std::string introspection_url,
                                         const std::string& client_id,
                                         const std::string& client_secret,
                                         std::chrono::milliseconds timeout);

/// The wall clock the verifier compares exp/nbf/iat with; injectable for tests.
using Clock = std::function<std::chrono::system_clock::time_point()>;

class TokenVerifier {
 public:
  /// Throws std::invalid_argument when the issuer or the audience is empty or the fetcher is
  /// missing: a verifier that checks nothing must not be constructible by accident.
  TokenVerifier(VerifierSettings settings, JwksFetcher fetcher,
                Clock clock = std::chrono::system_clock::now);
  ~TokenVerifier();
  TokenVerifier(const TokenVerifier&) = delete;
  TokenVerifier& operator=(const TokenVerifier&) = delete;

  /// Checks `token`; an empty `required_authority` requires none. When `file` is given and the
  /// token carries a file binding, the binding must name that file; with require_file_binding
  /// the token must carry one. exp, nbf and iat are checked against `at` when given (a time this
  /// process observed itself, such as when a message arrived; never one taken from a message),
  /// else against the clock.
  VerifyResult verify(std::string_view token, std::string_view required_authority,
                      const std::optional<FileBinding>& file = std::nullopt,
                      std::optional<std::chrono::system_clock::time_point> at = std::nullopt);

  /// How long until an unknown kid may trigger the next key set fetch (zero: now).
  [[nodiscard]] std::chrono::milliseconds refresh_possible_in() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace claimcheck::token
