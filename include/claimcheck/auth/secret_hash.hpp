#pragma once

/// Client secrets at rest: Argon2id hashes in libsodium's self-describing string format
/// ("$argon2id$v=19$m=65536,t=2,p=1$...").
///
/// New hashes use libsodium's INTERACTIVE limits (64 MiB, 2 passes): the token endpoint checks a
/// secret on every token request, and clients cache their tokens, so a check must stay well
/// under a second on a small machine. verify_secret reads the limits from the hash itself, so
/// stronger hashes made elsewhere verify too. Both functions are thread-safe.

#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

namespace claimcheck::auth {

/// The Argon2id hash of `secret`, salted at random. Throws std::runtime_error when libsodium
/// cannot initialise or runs out of memory.
std::string hash_secret(std::string_view secret);

/// True when `secret` matches `hash`; false for a wrong secret or a malformed hash.
bool verify_secret(std::string_view secret, const std::string& hash);

/// True when `hash` looks like an Argon2id hash string (checked when configuration loads).
bool is_argon2id_hash(std::string_view hash);

/// Remembers, for `ttl`, that a client's secret passed verify_secret, so a client asking again
/// costs a keyed MAC instead of an Argon2id check. It holds HMAC-SHA-512/256 values under a key
/// drawn at random per process, never a secret. Only a secret that matched is remembered: a
/// wrong secret never matches and always takes the full Argon2id check. An entry also binds the
/// stored hash, so a client whose secret hash changes is checked afresh. Thread-safe.
class VerifiedSecretCache {
 public:
  explicit VerifiedSecretCache(std::chrono::seconds ttl);

  /// True when (client_id, secret, hash) matched within the last ttl.
  [[nodiscard]] bool contains(std::string_view client_id, std::string_view secret,
                              std::string_view hash);
  void remember(std::string_view client_id, std::string_view secret, std::string_view hash);

 private:
  using Mac = std::array<unsigned char, 32>;
  struct Entry {
    Mac mac;
    std::chrono::steady_clock::time_point expires_at;
  };
  [[nodiscard]] Mac mac_of(std::string_view client_id, std::string_view secret,
                           std::string_view hash) const;

  const std::chrono::seconds ttl_;
  std::array<unsigned char, 32> key_{};
  std::mutex mutex_;
  std::map<std::string, Entry, std::less<>> entries_;  // guarded by mutex_
};

}  // namespace claimcheck::auth
