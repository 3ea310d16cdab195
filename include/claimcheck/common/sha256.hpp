#pragma once

/// Streaming SHA-256 over OpenSSL's EVP interface.

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace claimcheck {

/// Incremental SHA-256. Feed bytes with update(), then call hex_digest() once.
/// Not thread-safe; movable, not copyable.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::span<const std::byte> bytes);
  void update(std::string_view text);

  /// Finishes the hash and returns 64 lower-case hex digits. The object is spent afterwards.
  std::string hex_digest();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

/// SHA-256 of a whole in-memory buffer, as lower-case hex.
std::string sha256_hex(std::string_view bytes);

/// True when `text` is exactly 64 lower-case hex digits.
bool is_sha256_hex(std::string_view text);

}  // namespace claimcheck
