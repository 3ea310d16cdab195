#pragma once

/// Byte streams used wherever a file passes through claimcheck.
///
/// Files are never held whole in memory: producers hand bytes to a ByteSink piece by piece and
/// consumers pull them from a ByteSource into a caller-owned buffer. Neither interface is
/// thread-safe; one thread drives a stream at a time.

#include <cstddef>
#include <filesystem>
#include <fstream>
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

}  // namespace claimcheck
