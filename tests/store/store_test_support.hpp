#pragma once

// Test sources, sinks and a tamperer that damages a store's database through SQLite's C API,
// the way a faulty disk, a bad migration or another program would.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "claimcheck/common/bytes.hpp"
#include "claimcheck/common/sha256.hpp"

struct sqlite3;

namespace claimcheck::store::testing {

/// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// Serves a string, at most `max_read` bytes per read() call.
class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string data, std::size_t max_read = SIZE_MAX);
  std::size_t read(std::span<std::byte> buffer) override;

 private:
  std::string data_;
  std::size_t offset_ = 0;
  std::size_t max_read_;
};

/// Generates `length` pseudo-random bytes from `seed` without holding them; the same seed and
/// length always give the same stream. Throws std::runtime_error once `fail_at` bytes are served.
class GeneratedSource final : public ByteSource {
 public:
  GeneratedSource(std::uint64_t length, std::uint64_t seed, std::uint64_t fail_at = UINT64_MAX);
  std::size_t read(std::span<std::byte> buffer) override;

  /// SHA-256 of the whole stream (generated again, piece by piece).
  static std::string sha256_of(std::uint64_t length, std::uint64_t seed);

 private:
  std::uint64_t remaining_;
  std::uint64_t served_ = 0;
  std::uint64_t fail_at_;
  std::uint64_t state_;
  std::uint64_t word_ = 0;
  int word_bytes_left_ = 0;
};

/// Collects everything in a string.
class StringSink final : public ByteSink {
 public:
  void write(std::span<const std::byte> bytes) override;
  [[nodiscard]] const std::string& data() const { return data_; }

 private:
  std::string data_;
};

/// Hashes and counts what it receives.
class HashingSink final : public ByteSink {
 public:
  void write(std::span<const std::byte> bytes) override;
  [[nodiscard]] std::uint64_t bytes() const { return bytes_; }
  std::string hex_digest() { return hash_.hex_digest(); }

 private:
  Sha256 hash_;
  std::uint64_t bytes_ = 0;
};

/// One chunk row as stored.
struct ChunkRow {
  std::int64_t n;
  std::int64_t size;
};

/// Direct access to a store's database file, bypassing the store.
class SqliteTamper {
 public:
  explicit SqliteTamper(const std::string& path);

  void exec(const std::string& sql);
  void set_length(const std::string& id, std::int64_t length);
  void replace_chunk(const std::string& id, std::int64_t n, std::string_view data);
  void insert_chunk(const std::string& id, std::int64_t n, std::string_view data);
  void delete_chunk(const std::string& id, std::int64_t n);
  void delete_chunks(const std::string& id);
  [[nodiscard]] std::vector<ChunkRow> chunks(const std::string& id);
  [[nodiscard]] std::int64_t count(const std::string& sql);

 private:
  struct Closer {
    void operator()(sqlite3* db) const noexcept;
  };
  void run(const std::string& sql, const std::string& id, std::int64_t n,
           const std::string_view* blob);

  std::unique_ptr<sqlite3, Closer> db_;
};

}  // namespace claimcheck::store::testing
