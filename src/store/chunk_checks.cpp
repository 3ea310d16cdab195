#include "chunk_checks.hpp"

#include <fmt/format.h>

namespace claimcheck::store {

std::uint64_t chunk_count(const FileInfo& info) {
  return info.length / info.chunk_size + (info.length % info.chunk_size == 0 ? 0 : 1);
}

void corrupt(StoreErrc code, std::string_view id, std::string_view what) {
  throw StoreError(code, fmt::format("file {} is corrupt: {}", id, what));
}

void check_chunk_numbers(const FileInfo& info, std::int64_t count, std::int64_t first,
                         std::int64_t last, const std::function<std::int64_t()>& first_gap) {
  const auto expected = static_cast<std::int64_t>(chunk_count(info));
  if (count == 0) {
    if (expected > 0) {
      corrupt(StoreErrc::kMissingChunk, info.id,
              fmt::format("no chunks stored, length {} needs {}", info.length, expected));
    }
    return;
  }
  if (first < 0) {
    corrupt(StoreErrc::kBadChunkNumber, info.id, fmt::format("negative chunk number {}", first));
  }
  if (last >= expected) {
    corrupt(StoreErrc::kExtraChunk, info.id,
            fmt::format("chunk {} stored, but length {} with chunk size {} needs only 0..{}", last,
                        info.length, info.chunk_size, expected - 1));
  }
  if (count != last + 1) {
    corrupt(StoreErrc::kBadChunkNumber, info.id,
            fmt::format("chunk {} is missing while chunk {} exists", first_gap(), last));
  }
  if (last + 1 < expected) {
    corrupt(
        StoreErrc::kMissingChunk, info.id,
        fmt::format("chunks end at {}, length {} needs 0..{}", last, info.length, expected - 1));
  }
}

void check_chunk_size(const FileInfo& info, std::uint64_t n, std::size_t size,
                      std::uint64_t remaining) {
  if (size == 0) {
    corrupt(StoreErrc::kBadChunkSize, info.id, fmt::format("chunk {} is empty", n));
  }
  const bool is_last = remaining <= info.chunk_size;
  if (size > info.chunk_size || (!is_last && size != info.chunk_size)) {
    corrupt(StoreErrc::kBadChunkSize, info.id,
            fmt::format("chunk {} holds {} bytes, chunk size is {}", n, size, info.chunk_size));
  }
  if (is_last && size != remaining) {
    corrupt(StoreErrc::kLengthMismatch, info.id,
            fmt::format("last chunk {} holds {} bytes, but length {} leaves {} for it", n, size,
                        info.length, remaining));
  }
}

void check_recorded_sizes(std::string_view id, std::int64_t length, std::int64_t chunk_size) {
  if (length < 0) {
    corrupt(StoreErrc::kLengthMismatch, id, fmt::format("recorded length {}", length));
  }
  if (chunk_size <= 0 || chunk_size > kMaxChunkSize) {
    corrupt(StoreErrc::kBadChunkSize, id, fmt::format("recorded chunk size {}", chunk_size));
  }
}

}  // namespace claimcheck::store
