#pragma once

/// Verification of JWT access tokens against the authorization server's JWKS.
///
/// A token is accepted only when every check passes, in this order: size (before any decoding),
/// three strict base64url segments, a JSON header, the algorithm pinned to the key named by
/// `kid` (`none`, HMAC and any algorithm other than the key's are refused), the signature, then
/// `iss`, `aud` (a string or an array containing the audience), `exp`, `nbf` and `iat` within
/// the leeway, and finally the required authority. The claims are parsed only after the
/// signature has been checked.
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

struct VerifierSettings {
  std::string issuer;
  std::string audience;
  std::chrono::seconds leeway{30};
  std::size_t max_token_bytes = 8192;
  std::chrono::seconds jwks_min_refresh_interval{30};
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
};

/// The error category an error reply carries: kExpired -> "token-expired",
/// kMissingAuthority -> "forbidden", kValid -> "ok", every other status -> "unauthorized".
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
  [[nodiscard]] bool ok() const { return status == TokenStatus::kValid; }
};

/// Fetches a JWKS document (JSON text) or returns nullopt on failure; used by the verifier to
/// (re)load keys.
using JwksFetcher = std::function<std::optional<std::string>()>;

/// GETs `jwks_url` (http or https) with `timeout` bounding the connect and each read and write; a
/// non-200 answer, a body over 1 MiB or a network error gives nullopt and a warning naming the
/// URL. Throws std::invalid_argument at once when `jwks_url` is not an http(s) URL.
JwksFetcher http_jwks_fetcher(std::string jwks_url, std::chrono::milliseconds timeout);

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

  /// Checks `token`; an empty `required_authority` requires none.
  VerifyResult verify(std::string_view token, std::string_view required_authority);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace claimcheck::token
