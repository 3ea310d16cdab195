#pragma once

/// The ids (jti) of revoked access tokens, kept in a file so that a revocation survives restarts
/// and reaches every auth server sharing the file.
///
/// The file holds one line per revocation, "<jti> <expiry as Unix seconds>", appended under an
/// exclusive flock on "<file>.lock" and synced before revoke() returns. is_revoked() reads what
/// other processes appended since the last look (one stat per call when nothing changed). An
/// entry is kept only until its token has expired: on construction, entries past their expiry
/// are dropped by rewriting the file under the same lock. Thread-safe.

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

namespace claimcheck::auth {

/// The revocation file cannot be read or written; the message names the path.
class RevocationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RevocationList {
 public:
  /// Opens `file` (creating it and its directory when missing) and loads it. Throws
  /// RevocationError naming the path.
  explicit RevocationList(std::filesystem::path file);

  /// Records `jti` as revoked until `expires_at`. Throws RevocationError when it cannot be made
  /// durable, and std::invalid_argument when `jti` is empty, longer than 256 characters or holds
  /// a space or control character.
  void revoke(std::string_view jti, std::chrono::system_clock::time_point expires_at);

  [[nodiscard]] bool is_revoked(std::string_view jti);

  /// How many revocations are held (expired ones included until the next compaction).
  [[nodiscard]] std::size_t size();

 private:
  void read_new_lines();  // mutex_ held

  const std::filesystem::path file_;
  const std::filesystem::path lock_file_;
  std::mutex mutex_;
  std::map<std::string, std::chrono::system_clock::time_point, std::less<>> revoked_;
  std::uintmax_t read_offset_ = 0;
  std::uintmax_t file_id_ = 0;  // inode: a compaction elsewhere replaces the file
};

}  // namespace claimcheck::auth
