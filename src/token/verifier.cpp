#include "claimcheck/token/verifier.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <variant>

#include "claimcheck/common/encoding.hpp"
#include "openssl_keys.hpp"

namespace claimcheck::token {
namespace {

using std::chrono::system_clock;

// NumericDate values outside [0, year 9999] are not dates a token server issues; refusing them
// also keeps the conversion to time_point free of overflow.
constexpr double kLatestNumericDate = 253402300799.0;
// Claim values echoed in reasons are cut short: they come from outside.
constexpr std::size_t kMaxEchoedChars = 64;

struct VerificationKey {
  std::string algorithm;
  openssl::PkeyPtr key;
};
using KeySet = std::map<std::string, std::shared_ptr<const VerificationKey>, std::less<>>;

VerifyResult reject(TokenStatus status, std::string reason) {
  return VerifyResult{status, std::move(reason), std::nullopt, /*key_set_stale=*/false};
}

std::string echo(const nlohmann::json& value) {
  std::string text = value.is_string() ? value.get<std::string>() : value.dump();
  if (text.size() > kMaxEchoedChars) {
    text.resize(kMaxEchoedChars);
    text += "...";
  }
  return "'" + text + "'";
}

std::optional<std::string> string_member(const nlohmann::json& object, const char* name) {
  const auto found = object.find(name);
  if (found == object.end() || !found->is_string()) {
    return std::nullopt;
  }
  return found->get<std::string>();
}

std::optional<std::pair<std::string, VerificationKey>> parse_ec_jwk(const nlohmann::json& jwk,
                                                                    const std::string& kid,
                                                                    std::string& problem) {
  const auto alg = string_member(jwk, "alg").value_or("ES256");
  if (string_member(jwk, "crv").value_or("") != "P-256" || alg != "ES256") {
    problem = "EC key " + echo(kid) + " is not a P-256 key for ES256";
    return std::nullopt;
  }
  const auto x = base64url_decode(string_member(jwk, "x").value_or(""));
  const auto y = base64url_decode(string_member(jwk, "y").value_or(""));
  openssl::PkeyPtr key = x && y ? openssl::ec_p256_public_key(*x, *y) : nullptr;
  if (!key) {
    problem = "EC key " + echo(kid) + " has no valid P-256 point in x and y";
    return std::nullopt;
  }
  return std::pair{kid, VerificationKey{alg, std::move(key)}};
}

// One JWKS member turned into a verification key, or nullopt (with the reason) when it is not a
// signing key we can use.
std::optional<std::pair<std::string, VerificationKey>> parse_jwk(const nlohmann::json& jwk,
                                                                 std::string& problem) {
  if (!jwk.is_object()) {
    problem = "a key is not a JSON object";
    return std::nullopt;
  }
  const auto kid = string_member(jwk, "kid");
  const auto kty = string_member(jwk, "kty");
  if (!kid || kid->empty() || !kty) {
    problem = "a key has no kid or kty";
    return std::nullopt;
  }
  if (const auto use = string_member(jwk, "use"); use && *use != "sig") {
    problem = "key " + echo(*kid) + " is not for signatures";
    return std::nullopt;
  }
  if (*kty == "EC") {
    return parse_ec_jwk(jwk, *kid, problem);
  }
  if (*kty != "RSA") {
    problem = "key " + echo(*kid) + " has unsupported kty " + echo(*kty);
    return std::nullopt;
  }
  const auto alg = string_member(jwk, "alg").value_or("RS256");
  if (alg != "RS256") {
    problem = "RSA key " + echo(*kid) + " is for unsupported alg " + echo(alg);
    return std::nullopt;
  }
  const auto n = base64url_decode(string_member(jwk, "n").value_or(""));
  const auto e = base64url_decode(string_member(jwk, "e").value_or(""));
  if (!n || !e || n->empty() || e->empty()) {
    problem = "RSA key " + echo(*kid) + " has no valid base64url n and e";
    return std::nullopt;
  }
  openssl::PkeyPtr key = openssl::rsa_public_key(*n, *e);
  if (!key || openssl::key_bits(*key) < openssl::kMinRsaBits) {
    problem = "RSA key " + echo(*kid) + " is invalid or shorter than 2048 bits";
    return std::nullopt;
  }
  return std::pair{*kid, VerificationKey{alg, std::move(key)}};
}

std::optional<KeySet> parse_jwks(const std::string& text, std::string& problem) {
  const auto document = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object() || !document.contains("keys") ||
      !document["keys"].is_array()) {
    problem = "the document is not a JSON object with a \"keys\" array";
    return std::nullopt;
  }
  KeySet keys;
  for (const auto& member : document["keys"]) {
    std::string skipped;
    if (auto parsed = parse_jwk(member, skipped)) {
      keys.emplace(parsed->first,
                   std::make_shared<const VerificationKey>(std::move(parsed->second)));
    } else {
      spdlog::debug("JWKS: skipping a key: {}", skipped);
    }
  }
  if (keys.empty()) {
    problem = "the document holds no usable RS256 or ES256 signing key";
    return std::nullopt;
  }
  return keys;
}

struct DecodedToken {
  std::string header;
  std::string payload;
  std::string signature;
  std::string_view signing_input;
};

std::variant<DecodedToken, VerifyResult> decode_segments(std::string_view token) {
  const auto first_dot = token.find('.');
  const auto second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != token.npos) {
    return reject(TokenStatus::kMalformed,
                  "token must have exactly three dot-separated segments, it has " +
                      std::to_string(std::count(token.begin(), token.end(), '.') + 1));
  }
  auto header = base64url_decode(token.substr(0, first_dot));
  auto payload = base64url_decode(token.substr(first_dot + 1, second_dot - first_dot - 1));
  auto signature = base64url_decode(token.substr(second_dot + 1));
  const char* bad_segment = !header      ? "header"
                            : !payload   ? "payload"
                            : !signature ? "signature"
                                         : nullptr;
  if (bad_segment) {
    return reject(TokenStatus::kMalformed,
                  std::string("token ") + bad_segment + " is not strict unpadded base64url");
  }
  return DecodedToken{std::move(*header), std::move(*payload), std::move(*signature),
                      token.substr(0, second_dot)};
}

// A NumericDate claim: nullopt when absent; throws std::invalid_argument when present but not a
// sensible number.
std::optional<system_clock::time_point> numeric_date(const nlohmann::json& claims,
                                                     const char* name) {
  const auto found = claims.find(name);
  if (found == claims.end()) {
    return std::nullopt;
  }
  const double value = found->is_number() ? found->get<double>() : -1;
  if (!std::isfinite(value) || value < 0 || value > kLatestNumericDate) {
    throw std::invalid_argument(std::string("claim '") + name + "' is not a valid NumericDate");
  }
  return system_clock::time_point(
      std::chrono::seconds(static_cast<std::int64_t>(std::floor(value))));
}

bool audience_matches(const nlohmann::json& claims, const VerifierSettings& settings) {
  const auto aud = claims.find("aud");
  if (aud == claims.end()) {
    return false;
  }
  const auto accepted = [&](const nlohmann::json& entry) {
    return entry.is_string() &&
           (entry == settings.audience ||
            std::find(settings.other_audiences.begin(), settings.other_audiences.end(),
                      entry.get<std::string>()) != settings.other_audiences.end());
  };
  if (aud->is_string()) {
    return accepted(*aud);
  }
  return aud->is_array() && std::any_of(aud->begin(), aud->end(), accepted);
}

// nullopt when the binding holds (or none is asked for), otherwise why it does not.
std::optional<std::string> file_binding_problem(const nlohmann::json& claims,
                                                const std::optional<FileBinding>& file,
                                                bool required) {
  const auto file_id = claims.find(kFileIdClaim);
  const auto sha256 = claims.find(kFileSha256Claim);
  const bool bound = file_id != claims.end() || sha256 != claims.end();
  if (!file || (!bound && !required)) {
    return std::nullopt;
  }
  if (!bound) {
    return "token is not bound to a file, and file binding is required";
  }
  // A token bound to one file authorizes exactly that file: both claims must match.
  if (file_id == claims.end() || sha256 == claims.end() || *file_id != file->file_id ||
      *sha256 != file->sha256) {
    return "token is bound to another file than " + echo(file->file_id);
  }
  return std::nullopt;
}

// Scope values and authorities, or nullopt when either claim has the wrong shape.
std::optional<std::vector<std::string>> collect_authorities(const nlohmann::json& claims) {
  std::vector<std::string> authorities;
  const auto append_strings = [&](const nlohmann::json& array) {
    for (const auto& entry : array) {
      if (!entry.is_string()) {
        return false;
      }
      authorities.push_back(entry.get<std::string>());
    }
    return true;
  };
  if (const auto scope = claims.find("scope"); scope != claims.end()) {
    if (scope->is_string()) {
      std::istringstream words(scope->get<std::string>());
      for (std::string word; words >> word;) {
        authorities.push_back(word);
      }
    } else if (!scope->is_array() || !append_strings(*scope)) {
      return std::nullopt;
    }
  }
  if (const auto listed = claims.find("authorities"); listed != claims.end()) {
    if (!listed->is_array() || !append_strings(*listed)) {
      return std::nullopt;
    }
  }
  return authorities;
}

}  // namespace

std::string_view error_category(TokenStatus status) {
  switch (status) {
    case TokenStatus::kValid:
      return "ok";
    case TokenStatus::kExpired:
      return "token-expired";
    case TokenStatus::kMissingAuthority:
    case TokenStatus::kWrongFile:
      return "forbidden";
    default:
      return "unauthorized";
  }
}

std::string_view status_name(TokenStatus status) {
  switch (status) {
    case TokenStatus::kValid:
      return "valid";
    case TokenStatus::kMalformed:
      return "malformed";
    case TokenStatus::kTooLarge:
      return "too-large";
    case TokenStatus::kBadAlgorithm:
      return "bad-algorithm";
    case TokenStatus::kUnknownKey:
      return "unknown-key";
    case TokenStatus::kBadSignature:
      return "bad-signature";
    case TokenStatus::kWrongIssuer:
      return "wrong-issuer";
    case TokenStatus::kWrongAudience:
      return "wrong-audience";
    case TokenStatus::kExpired:
      return "expired";
    case TokenStatus::kNotYetValid:
      return "not-yet-valid";
    case TokenStatus::kMissingAuthority:
      return "missing-authority";
    case TokenStatus::kWrongFile:
      return "wrong-file";
    case TokenStatus::kRevoked:
      return "revoked";
    case TokenStatus::kRevocationUnknown:
      return "revocation-unknown";
  }
  return "unknown";
}

struct TokenVerifier::Impl {
  Impl(VerifierSettings verifier_settings, JwksFetcher jwks_fetcher, Clock wall_clock)
      : settings(std::move(verifier_settings)),
        fetcher(std::move(jwks_fetcher)),
        clock(std::move(wall_clock)) {}

  std::shared_ptr<const VerificationKey> cached_key(std::string_view kid) {
    const std::lock_guard lock(keys_mutex);
    const auto found = keys->find(kid);
    return found == keys->end() ? nullptr : found->second;
  }

  /// The key for `kid`, fetching the key set once (rate-limited) when it is not cached.
  /// `stale` tells, when no key is found, that the key set could not be brought up to date.
  std::shared_ptr<const VerificationKey> find_key(std::string_view kid, bool& stale) {
    stale = false;
    if (auto key = cached_key(kid)) {
      return key;
    }
    // One fetch at a time; a thread that waited here may find the key another one just loaded.
    const std::lock_guard fetch_lock(fetch_mutex);
    if (auto key = cached_key(kid)) {
      return key;
    }
    const auto now = std::chrono::steady_clock::now();
    if (last_fetch && now - *last_fetch < settings.jwks_min_refresh_interval) {
      stale = true;
      return nullptr;
    }
    last_fetch = now;
    stale = !refresh();
    return cached_key(kid);
  }

  std::chrono::milliseconds refresh_possible_in() {
    const std::lock_guard fetch_lock(fetch_mutex);
    if (!last_fetch) {
      return std::chrono::milliseconds::zero();
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        *last_fetch + settings.jwks_min_refresh_interval - std::chrono::steady_clock::now());
    return std::max(wait, std::chrono::milliseconds::zero());
  }

  // Called with fetch_mutex held. Replaces the cache only with a usable key set; false when
  // there was none to be had.
  bool refresh() {
    std::optional<std::string> text;
    try {
      text = fetcher();
    } catch (const std::exception& error) {
      spdlog::warn("JWKS fetch threw ({}); keeping the {} cached keys", error.what(),
                   cached_count());
      return false;
    }
    if (!text) {
      spdlog::warn("JWKS fetch failed; keeping the {} cached keys", cached_count());
      return false;
    }
    std::string problem;
    auto parsed = parse_jwks(*text, problem);
    if (!parsed) {
      spdlog::warn("JWKS rejected: {}; keeping the {} cached keys", problem, cached_count());
      return false;
    }
    spdlog::info("JWKS loaded: {} signing keys", parsed->size());
    const std::lock_guard lock(keys_mutex);
    keys = std::make_shared<const KeySet>(std::move(*parsed));
    return true;
  }

  std::size_t cached_count() {
    const std::lock_guard lock(keys_mutex);
    return keys->size();
  }

  VerifyResult check_claims(nlohmann::json claims, std::string_view required_authority,
                            const std::optional<FileBinding>& file,
                            std::chrono::system_clock::time_point now) const;
  VerifyResult check_revocation(std::string_view token, VerifyResult verified) const;

  const VerifierSettings settings;
  const JwksFetcher fetcher;
  const Clock clock;

  std::mutex keys_mutex;
  std::shared_ptr<const KeySet> keys = std::make_shared<const KeySet>();  // guarded by keys_mutex

  std::mutex fetch_mutex;
  std::optional<std::chrono::steady_clock::time_point> last_fetch;  // guarded by fetch_mutex
};

VerifyResult TokenVerifier::Impl::check_claims(nlohmann::json claims,
                                               std::string_view required_authority,
                                               const std::optional<FileBinding>& file,
                                               std::chrono::system_clock::time_point now) const {
  const auto issuer = claims.find("iss");
  if (issuer == claims.end() || *issuer != settings.issuer) {
    return reject(TokenStatus::kWrongIssuer, issuer == claims.end() ? "token has no issuer"
                                                                    : "issuer " + echo(*issuer) +
                                                                          " is not the expected '" +
                                                                          settings.issuer + "'");
  }
  if (!audience_matches(claims, settings)) {
    return reject(TokenStatus::kWrongAudience,
                  "audience " + (claims.contains("aud") ? echo(claims["aud"]) : "(none)") +
                      " does not include '" + settings.audience + "'");
  }

  std::optional<system_clock::time_point> expires_at;
  std::optional<system_clock::time_point> not_before;
  std::optional<system_clock::time_point> issued_at;
  try {
    expires_at = numeric_date(claims, "exp");
    not_before = numeric_date(claims, "nbf");
    issued_at = numeric_date(claims, "iat");
  } catch (const std::invalid_argument& error) {
    return reject(TokenStatus::kMalformed, error.what());
  }
  if (!expires_at) {
    return reject(TokenStatus::kMalformed, "token has no exp claim");
  }
  const auto seconds_between = [](auto from, auto to) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(to - from).count());
  };
  if (now >= *expires_at + settings.leeway) {
    return reject(TokenStatus::kExpired, "token expired " + seconds_between(*expires_at, now) +
                                             " s ago (leeway " +
                                             std::to_string(settings.leeway.count()) + " s)");
  }
  if (not_before && now + settings.leeway < *not_before) {
    return reject(TokenStatus::kNotYetValid,
                  "token is not valid for another " + seconds_between(now, *not_before) + " s");
  }
  if (issued_at && now + settings.leeway < *issued_at) {
    return reject(TokenStatus::kNotYetValid,
                  "token was issued " + seconds_between(now, *issued_at) + " s in the future");
  }

  const auto subject = claims.find("sub");
  const auto jti = claims.find("jti");
  if ((subject != claims.end() && !subject->is_string()) ||
      (jti != claims.end() && !jti->is_string())) {
    return reject(TokenStatus::kMalformed, "claims 'sub' and 'jti' must be strings");
  }
  auto authorities = collect_authorities(claims);
  if (!authorities) {
    return reject(TokenStatus::kMalformed,
                  "claim 'scope' must be a string or an array of strings and 'authorities' an "
                  "array of strings");
  }
  if (!required_authority.empty() && std::find(authorities->begin(), authorities->end(),
                                               required_authority) == authorities->end()) {
    return reject(TokenStatus::kMissingAuthority,
                  "token lacks the authority '" + std::string(required_authority) + "'");
  }
  if (auto problem = file_binding_problem(claims, file, settings.require_file_binding)) {
    return reject(TokenStatus::kWrongFile, std::move(*problem));
  }

  VerifiedToken verified{
      .subject = subject == claims.end() ? std::string() : subject->get<std::string>(),
      .authorities = std::move(*authorities),
      .jti = jti == claims.end() ? std::string() : jti->get<std::string>(),
      .expires_at = *expires_at,
      .claims = std::move(claims),
  };
  return VerifyResult{TokenStatus::kValid, "valid", std::move(verified), /*key_set_stale=*/false};
}

VerifyResult TokenVerifier::Impl::check_revocation(std::string_view token,
                                                   VerifyResult verified) const {
  if (!verified.ok() || !settings.revocation_check) {
    return verified;
  }
  RevocationState state = RevocationState::kUnknown;
  try {
    state = settings.revocation_check(token, *verified.token);
  } catch (const std::exception& error) {
    spdlog::warn("revocation check threw ({}); refusing token {}", error.what(),
                 echo(verified.token->jti));
  }
  switch (state) {
    case RevocationState::kActive:
      return verified;
    case RevocationState::kRevoked:
      return reject(TokenStatus::kRevoked,
                    "token " + echo(verified.token->jti) + " was revoked or is not active");
    case RevocationState::kUnknown:
      break;
  }
  return reject(TokenStatus::kRevocationUnknown,
                "cannot ask the authorization server whether token " + echo(verified.token->jti) +
                    " was revoked");
}

TokenVerifier::TokenVerifier(VerifierSettings settings, JwksFetcher fetcher, Clock clock) {
  if (settings.issuer.empty() || settings.audience.empty()) {
    throw std::invalid_argument("token verifier needs a non-empty issuer and audience");
  }
  if (!fetcher || !clock) {
    throw std::invalid_argument("token verifier needs a JWKS fetcher and a clock");
  }
  impl_ = std::make_unique<Impl>(std::move(settings), std::move(fetcher), std::move(clock));
}

TokenVerifier::~TokenVerifier() = default;

std::chrono::milliseconds TokenVerifier::refresh_possible_in() const {
  return impl_->refresh_possible_in();
}

VerifyResult TokenVerifier::verify(std::string_view token, std::string_view required_authority,
                                   const std::optional<FileBinding>& file,
                                   std::optional<std::chrono::system_clock::time_point> at) {
  if (token.size() > impl_->settings.max_token_bytes) {
    return reject(TokenStatus::kTooLarge, "token is " + std::to_string(token.size()) +
                                              " bytes; the limit is " +
                                              std::to_string(impl_->settings.max_token_bytes));
  }
  auto decoded_or_error = decode_segments(token);
  if (auto* error = std::get_if<VerifyResult>(&decoded_or_error)) {
    return std::move(*error);
  }
  const auto& decoded = std::get<DecodedToken>(decoded_or_error);

  const auto header = nlohmann::json::parse(decoded.header, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return reject(TokenStatus::kMalformed, "token header is not a JSON object");
  }
  const auto alg = string_member(header, "alg");
  if (!alg) {
    return reject(TokenStatus::kMalformed, "token header has no alg");
  }
  if (*alg == "none" || alg->starts_with("HS")) {
    return reject(TokenStatus::kBadAlgorithm, "algorithm " + echo(*alg) + " is never accepted");
  }
  if (header.contains("crit")) {
    return reject(TokenStatus::kMalformed, "token header has critical extensions (crit)");
  }
  const auto kid = string_member(header, "kid");
  if (!kid || kid->empty()) {
    return reject(TokenStatus::kUnknownKey, "token header names no kid");
  }
  bool stale = false;
  const auto key = impl_->find_key(*kid, stale);
  if (!key) {
    VerifyResult result =
        reject(TokenStatus::kUnknownKey,
               "no key with kid " + echo(*kid) + " in the JWKS" +
                   (stale ? " (the key set could not be refreshed just now)" : ""));
    result.key_set_stale = stale;
    return result;
  }
  if (*alg != key->algorithm) {
    return reject(TokenStatus::kBadAlgorithm, "algorithm " + echo(*alg) + " does not match key " +
                                                  echo(*kid) + " (" + key->algorithm + ")");
  }
  const bool signature_valid =
      key->algorithm == "ES256"
          ? openssl::verify_es256(*key->key, decoded.signing_input, decoded.signature)
          : openssl::verify_rs256(*key->key, decoded.signing_input, decoded.signature);
  if (!signature_valid) {
    return reject(TokenStatus::kBadSignature, "signature does not verify with key " + echo(*kid));
  }

  auto claims = nlohmann::json::parse(decoded.payload, nullptr, /*allow_exceptions=*/false);
  if (claims.is_discarded() || !claims.is_object()) {
    return reject(TokenStatus::kMalformed, "token payload is not a JSON object");
  }
  return impl_->check_revocation(token, impl_->check_claims(std::move(claims), required_authority,
                                                            file, at.value_or(impl_->clock())));
}

}  // namespace claimcheck::token
