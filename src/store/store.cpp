#include "claimcheck/store/store.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <system_error>

#include "claimcheck/common/encoding.hpp"
#include "gridfs_store.hpp"
#include "sqlite_store.hpp"

namespace claimcheck::store {
namespace {

constexpr std::string_view kSqlitePrefix = "sqlite:";

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

std::string sqlite_path_of(const std::string& location) {
  if (location.starts_with(kSqlitePrefix)) {
    return location.substr(kSqlitePrefix.size());
  }
  if (const auto scheme_end = location.find("://"); scheme_end != std::string::npos) {
    throw StoreError(StoreErrc::kInvalidArgument,
                     "store location has unknown scheme '" + location.substr(0, scheme_end) +
                         "'; expected 'sqlite:PATH', a file path or 'mongodb://...'");
  }
  return location;
}

void create_parent_directory(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) {
    return;
  }
  std::error_code error;
  std::filesystem::create_directories(parent, error);
  if (error) {
    throw StoreError(StoreErrc::kBackend, "cannot create directory '" + parent.string() +
                                              "' for sqlite store '" + path +
                                              "': " + error.message());
  }
}

}  // namespace

std::string_view to_string(StoreErrc code) {
  switch (code) {
    case StoreErrc::kNotFound:
      return "not-found";
    case StoreErrc::kMissingChunk:
      return "corrupt-missing-chunk";
    case StoreErrc::kBadChunkSize:
      return "corrupt-bad-chunk-size";
    case StoreErrc::kExtraChunk:
      return "corrupt-extra-chunk";
    case StoreErrc::kBadChunkNumber:
      return "corrupt-bad-chunk-number";
    case StoreErrc::kLengthMismatch:
      return "corrupt-length-mismatch";
    case StoreErrc::kDigestMismatch:
      return "corrupt-digest-mismatch";
    case StoreErrc::kBadRecord:
      return "corrupt-record";
    case StoreErrc::kInvalidArgument:
      return "invalid-argument";
    case StoreErrc::kBackend:
      return "backend";
  }
  return "unknown";
}

StoreError::StoreError(StoreErrc code, std::string message)
    : std::runtime_error(std::move(message)), code_(code) {}

bool StoreError::is_corruption() const {
  switch (code_) {
    case StoreErrc::kMissingChunk:
    case StoreErrc::kBadChunkSize:
    case StoreErrc::kExtraChunk:
    case StoreErrc::kBadChunkNumber:
    case StoreErrc::kLengthMismatch:
    case StoreErrc::kDigestMismatch:
    case StoreErrc::kBadRecord:
      return true;
    case StoreErrc::kNotFound:
    case StoreErrc::kInvalidArgument:
    case StoreErrc::kBackend:
      return false;
  }
  return false;
}

std::unique_ptr<Store> open_store(const std::string& location, const StoreOptions& options) {
  if (options.chunk_size == 0 || options.chunk_size > kMaxChunkSize) {
    throw StoreError(
        StoreErrc::kInvalidArgument,
        fmt::format("store chunk size {} is outside 1..{}", options.chunk_size, kMaxChunkSize));
  }
  if (location.starts_with("mongodb://") || location.starts_with("mongodb+srv://")) {
    return open_gridfs_store(location, options.bucket, options.chunk_size);
  }
  const std::string path = sqlite_path_of(location);
  if (path.empty()) {
    throw StoreError(StoreErrc::kInvalidArgument,
                     "store location '" + location + "' names no database file");
  }
  if (!options.create_if_missing) {
    std::error_code error;
    if (!std::filesystem::exists(path, error)) {
      throw StoreError(StoreErrc::kInvalidArgument,
                       "there is no sqlite store at '" + path + "' (check store.location)");
    }
  }
  create_parent_directory(path);
  return open_sqlite_store(path, options.chunk_size);
}

std::unique_ptr<Store> open_store(const Config& config, bool create_if_missing) {
  const std::int64_t chunk_size = config.get_int("store.chunk-size", kDefaultChunkSize);
  if (chunk_size < 1 || chunk_size > kMaxChunkSize) {
    throw ConfigError(
        fmt::format("store.chunk-size {} is outside 1..{} bytes", chunk_size, kMaxChunkSize));
  }
  return open_store(config.get_string("store.location", "sqlite:var/store.db"),
                    {.chunk_size = static_cast<std::uint32_t>(chunk_size),
                     .bucket = config.get_string("store.bucket", "fs"),
                     .create_if_missing = create_if_missing});
}

std::string new_file_id(std::chrono::system_clock::time_point now) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  // Four bytes of seconds, as an ObjectId has; the clamp only matters for clocks before 1970
  // or after 2106.
  const auto timestamp = static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(seconds, 0, std::numeric_limits<std::uint32_t>::max()));
  return fmt::format("{:08x}", timestamp) + random_hex(8);
}

bool is_file_id(std::string_view text) {
  return text.size() == 24 && std::all_of(text.begin(), text.end(), is_lower_hex);
}

}  // namespace claimcheck::store
