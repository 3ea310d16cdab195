#pragma once

/// Where files wait between the services: GridFS, or an embedded store with GridFS semantics.
///
/// A file is a files record (id, name, length, chunk size, SHA-256, ...) plus its bytes cut into
/// chunks numbered 0..k-1, k = ceil(length / chunk_size); an empty file has no chunks. Chunks are
/// written before the files record and removed after it, so a crash never leaves a file whose
/// bytes are missing, only orphaned chunks that sweep() removes once they are old enough.
///
/// Neither put() nor read() ever holds a whole file in memory; at most a few MiB of chunks.
/// Exceptions thrown by a ByteSource or ByteSink propagate unchanged; every failure of the store
/// itself is a StoreError whose message names the file id.
///
/// Threading: a Store object may be shared between threads (it serialises its own use of the
/// database), but its calls then take turns; for parallel transfers open one Store per thread.
/// Several Store objects and several processes may use the same location at once. A source or
/// sink must not call back into the Store that is driving it.

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "claimcheck/common/bytes.hpp"
#include "claimcheck/common/config.hpp"

namespace claimcheck::store {

enum class StoreErrc {
  kNotFound,         ///< no files record with this id
  kMissingChunk,     ///< fewer chunks than the length needs (all of them may be gone)
  kBadChunkSize,     ///< a chunk other than the last is not chunk_size long, or one is empty
  kExtraChunk,       ///< chunks numbered beyond what the length needs
  kBadChunkNumber,   ///< a gap in the numbering, or a negative chunk number
  kLengthMismatch,   ///< the chunks do not add up to the recorded length
  kDigestMismatch,   ///< the bytes do not hash to the recorded SHA-256
  kBadRecord,        ///< the files record itself is damaged (unreadable metadata, ...)
  kInvalidArgument,  ///< a malformed id, location, chunk size or metadata
  kBackend,          ///< the database failed (locked beyond the timeout, I/O error, ...)
};

/// Stable kebab-case name of a code, e.g. "not-found", "corrupt-missing-chunk"; usable in error
/// replies.
std::string_view to_string(StoreErrc code);

/// The typed failure of every Store operation. The message names the file id (and, for backend
/// errors, the store location and the database's own message).
class StoreError : public std::runtime_error {
 public:
  StoreError(StoreErrc code, std::string message);

  [[nodiscard]] StoreErrc code() const { return code_; }
  /// True for the codes that mean the stored file is damaged (kMissingChunk .. kBadRecord).
  [[nodiscard]] bool is_corruption() const;

 private:
  StoreErrc code_;
};

// Every member has a default so designated initializers may name only some of them.
struct PutOptions {
  std::string content_type{};
  /// Must be a JSON object; stored and returned as given.
  nlohmann::json metadata = nlohmann::json::object();
  /// After this instant sweep() removes the file; std::nullopt keeps it until remove().
  std::optional<std::chrono::system_clock::time_point> expires_at{};
};

struct FileInfo {
  std::string id{};
  std::string filename{};
  std::uint64_t length = 0;
  std::uint32_t chunk_size = 0;
  /// 64 lower-case hex digits.
  std::string sha256{};
  std::string content_type{};
  /// Millisecond precision, as GridFS keeps it.
  std::chrono::system_clock::time_point upload_date{};
  nlohmann::json metadata = nlohmann::json::object();
  std::optional<std::chrono::system_clock::time_point> expires_at{};
};

/// What one sweep() removed.
struct SweepResult {
  std::uint64_t expired_files = 0;
  std::uint64_t orphaned_chunks = 0;
  std::uint64_t expired_messages = 0;  ///< answered-message records past their expiry
};

class Store {
 public:
  virtual ~Store() = default;

  /// Streams `source` to a new file in chunks (never whole in memory); computes length and
  /// SHA-256 while streaming; chunks are written before the files record, so an interrupted
  /// upload leaves no file (only chunks a sweeper may remove later). Returns the new file's info.
  /// Throws StoreError(kInvalidArgument) if the metadata is not a JSON object.
  virtual FileInfo put(std::string_view filename, ByteSource& source,
                       const PutOptions& options) = 0;

  /// Metadata only; throws StoreError(kNotFound).
  virtual FileInfo stat(std::string_view id) = 0;

  /// Streams the bytes in order into `sink`, checking chunk numbering (0..k-1, no gaps, no
  /// extras), every chunk's size (chunk_size except a shorter last one, no empty trailing
  /// chunk), total length and SHA-256 against the stored digest. Throws StoreError with the
  /// matching code naming the file id; the sink may then have received a prefix and callers
  /// must discard it. A chunk that fails a check never reaches the sink. A file removed while
  /// it is being read gives kNotFound.
  virtual FileInfo read(std::string_view id, ByteSink& sink) = 0;

  /// Removes the files record first, then its chunks. Returns false if there was no such file.
  virtual bool remove(std::string_view id) = 0;

  /// Removes files whose expires_at is at or before `now`, and chunks without a files record
  /// whose id (which starts with its upload's start time) is older than `now - safety_window`.
  /// The window must be longer than the slowest upload, whose chunks would otherwise be taken.
  /// Also drops the answered-message records that expired at or before `now`.
  virtual SweepResult sweep(std::chrono::system_clock::time_point now,
                            std::chrono::seconds safety_window) = 0;

  /// Records that the request `message_id` has been answered with `reply` (the reply's body, so
  /// that a redelivery can be answered again without processing the request twice), until
  /// `expires_at`; recording an id again replaces its record. Consumers keep these records
  /// beside the files so that a restarted or competing consumer still recognises a redelivered
  /// request. Throws StoreError(kInvalidArgument) for an empty id or one longer than
  /// kMaxMessageIdBytes.
  virtual void remember_message(std::string_view message_id,
                                std::chrono::system_clock::time_point expires_at,
                                std::string_view reply = {}) = 0;

  /// The reply recorded for `message_id` when it was recorded and its record expires after
  /// `now`; std::nullopt otherwise.
  virtual std::optional<std::string> seen_message(std::string_view message_id,
                                                  std::chrono::system_clock::time_point now) = 0;

  /// "sqlite" or "gridfs": the value of a message's `store` field.
  [[nodiscard]] virtual std::string_view kind() const = 0;

  /// Where the store is, safe to log (no credentials).
  [[nodiscard]] virtual std::string describe() const = 0;
};

/// Longest message id remember_message() takes; AMQP's short strings hold 255 bytes.
inline constexpr std::size_t kMaxMessageIdBytes = 255;

/// GridFS's default chunk size.
inline constexpr std::uint32_t kDefaultChunkSize = 255 * 1024;
/// Largest chunk size accepted: a chunk must fit in one 16 MiB BSON document once GridFS is used.
inline constexpr std::uint32_t kMaxChunkSize = 15 * 1024 * 1024;

/// How open_store() sets up a store; every member has a default.
struct StoreOptions {
  /// Chunk size (1..kMaxChunkSize) of the files this store writes; reads use each file's own.
  std::uint32_t chunk_size = kDefaultChunkSize;
  /// GridFS bucket: collections `<bucket>.files` and `<bucket>.chunks`. Ignored by SQLite.
  std::string bucket = "fs";
  /// False: an embedded store that does not exist yet is an error instead of a new, empty
  /// database (for tools that only read, where a mistyped path must not look like an empty
  /// store). GridFS creates its collections on first write either way.
  bool create_if_missing = true;
};

/// Opens a store from a location string:
/// - "sqlite:PATH" or a bare filesystem path: the embedded store, created if absent (with its
///   parent directory);
/// - "mongodb://..." or "mongodb+srv://...": GridFS in the URI's database ("claimcheck" if it
///   names none). The connection is made on first use; the URI's options apply, and where it
///   sets none the store uses write concern majority and bounded timeouts (10 s to select a
///   server or connect, 60 s per socket operation).
/// Throws StoreError(kInvalidArgument) for an unusable location or option; the message never
/// repeats a MongoDB URI, which may carry a password.
std::unique_ptr<Store> open_store(const std::string& location, const StoreOptions& options = {});

/// The store the configuration names:
///   store.location    as for open_store() (default "sqlite:var/store.db")
///   store.bucket      GridFS bucket (default "fs")
///   store.chunk-size  bytes per chunk of the files written (default 261120, GridFS's 255 KiB)
/// Throws ConfigError for a chunk size out of range, StoreError as open_store() does.
std::unique_ptr<Store> open_store(const Config& config, bool create_if_missing = true);

/// A fresh file id: 24 lower-case hex digits like a MongoDB ObjectId, a 4-byte big-endian
/// seconds timestamp followed by 8 random bytes.
std::string new_file_id(
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// True when `text` has the shape of a file id (24 lower-case hex digits).
bool is_file_id(std::string_view text);

}  // namespace claimcheck::store
