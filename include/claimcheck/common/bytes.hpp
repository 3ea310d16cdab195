#pragma once

/// Byte streams used wherever a file passes through claimcheck.
///
/// Files are never held whole in memory: producers hand bytes to a ByteSink piece by piece and
/// consumers pull them from a ByteSource into a caller-owned buffer. Neither interface is
/// thread-safe; one thread drives a stream at a time.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>

namespace claimcheck {

/// A readable stream of bytes.
class ByteSource {
 public:
  virtual ~ByteSource() = default;

  /// Fills up to buffer.size() bytes and returns how many were written; 0 means end of stream.
  /// Throws std::runtime_error (or a subclass) when the underlying read fails.
  virtual std::size_t read(std::span<std::byte> buffer) = 0;
};

/// A writable stream of bytes.
class ByteSink {
 public:
  virtual ~ByteSink() = default;

  /// Consumes all of `bytes`; throws when they cannot be written.
  virtual void write(std::span<const std::byte> bytes) = 0;
};

/// Reads a regular file from disk. Throws std::runtime_error naming the path if it cannot be
/// opened.
class FileSource final : public ByteSource {
 public:
  explicit FileSource(const std::filesystem::path& path);
  std::size_t read(std::span<std::byte> buffer) override;

 private:
  std::filesystem::path path_;
  std::ifstream in_;
};

/// Calls `keep_alive` at most once per `interval` while bytes pass through: for transfers that
/// take longer than a connection's heartbeat interval (the broker drops a connection that stays
/// silent for two of them). The callback runs on the transferring thread; what it throws
/// propagates.
class KeepAliveTicker {
 public:
  explicit KeepAliveTicker(std::function<void()> keep_alive,
                           std::chrono::milliseconds interval = std::chrono::seconds(1));
  void tick();

 private:
  std::function<void()> keep_alive_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_call_;
};

/// A source that ticks a KeepAliveTicker after every read.
class KeepAliveSource final : public ByteSource {
 public:
  KeepAliveSource(ByteSource& next, KeepAliveTicker& keep_alive)
      : next_(next), keep_alive_(keep_alive) {}
  std::size_t read(std::span<std::byte> buffer) override;

 private:
  ByteSource& next_;
  KeepAliveTicker& keep_alive_;
};

/// A sink that ticks a KeepAliveTicker after every write.
class KeepAliveSink final : public ByteSink {
 public:
  KeepAliveSink(ByteSink& next, KeepAliveTicker& keep_alive)
      : next_(next), keep_alive_(keep_alive) {}
  void write(std::span<const std::byte> bytes) override;

 private:
  ByteSink& next_;
  KeepAliveTicker& keep_alive_;
};

}  // namespace claimcheck
