#pragma once

/// The auth server's signing keys in one directory, with rotation by overlap.
///
/// Layout of the directory (mode 0700, every key file 0600):
///   signing-key.pem                 the active key: every new token is signed with it
///   retired-<unix seconds>-<kid>.pem  a previous key, retired at that time: still published in
///                                   the JWKS so the tokens it signed keep verifying, until
///                                   retirement + longest token lifetime + kRetirementMargin;
///                                   then dropped from the JWKS and deleted
///   any other *.pem                 a key retired by hand: published until removed by hand
///
/// rotate_key() (the `claimcheck-auth rotate-key` command) makes a new active key and retires the
/// old one; running servers sharing the directory notice within a second (refresh()) and sign
/// with the new key from then on, while verifiers that cached the old key set pick the new key
/// up on its first unknown kid. Thread-safe.

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "claimcheck/token/signing_key.hpp"

namespace claimcheck::auth {

/// Covers a verifier's leeway and the moment a server takes to notice a rotation.
inline constexpr std::chrono::seconds kRetirementMargin{120};

class KeyRing {
 public:
  /// Loads `dir` (creating it and an `algorithm` key on first start). `max_token_lifetime` is the
  /// longest lifetime of any token signed with these keys. Throws token::KeyError naming the path.
  KeyRing(std::filesystem::path dir, std::string algorithm,
          std::chrono::seconds max_token_lifetime);
  ~KeyRing();
  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;

  /// The key new tokens are signed with.
  [[nodiscard]] token::SigningKey active();

  /// The JWKS document: the active key first, then the published retired keys.
  [[nodiscard]] std::string jwks();

  /// Re-reads the directory when it changed or a retired key is due to be dropped, at most once
  /// a second; active() and jwks() call it. A directory that cannot be read keeps the keys
  /// already loaded (with a warning).
  void refresh();

 private:
  struct Snapshot;
  std::shared_ptr<const Snapshot> load() const;

  const std::filesystem::path dir_;
  const std::string algorithm_;
  const std::chrono::seconds max_token_lifetime_;
  std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_;          // guarded by mutex_
  std::chrono::steady_clock::time_point next_check_;  // guarded by mutex_
};

/// Makes a new `algorithm` key the active key of `dir` and retires the current one now; returns
/// the new key. Safe against concurrent rotations (they take turns on a lock file) and against
/// servers reading the directory (every step leaves a complete set of keys). Throws
/// token::KeyError naming the path.
token::SigningKey rotate_key(const std::filesystem::path& dir, std::string_view algorithm);

}  // namespace claimcheck::auth
