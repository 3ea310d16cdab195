#include "sqlite_store.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <span>
#include <vector>

#include "chunk_checks.hpp"
#include "claimcheck/common/sha256.hpp"
#include "discard_backlog.hpp"
#include "message_id.hpp"
#include "sqlite.hpp"

namespace claimcheck::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// Lock waits are bounded: a writer that holds the database longer than this makes the other
// side fail with a backend error instead of hanging.
constexpr milliseconds kBusyTimeout{10'000};

// Chunks are collected in memory up to this size and then written in one short transaction,
// so a slow source never keeps the write lock while it is being read.
constexpr std::size_t kBatchBytes = 4 * 1024 * 1024;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS files (
  id TEXT PRIMARY KEY NOT NULL,
  filename TEXT NOT NULL,
  length INTEGER NOT NULL,
  chunk_size INTEGER NOT NULL,
  upload_date INTEGER NOT NULL,
  content_type TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  metadata TEXT NOT NULL,
  expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS files_filename_upload_date ON files(filename, upload_date);
CREATE INDEX IF NOT EXISTS files_expires_at ON files(expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS chunks (
  files_id TEXT NOT NULL,
  n INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (files_id, n)
);
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY NOT NULL,
  expires_at INTEGER NOT NULL,
  reply TEXT NOT NULL
);
)sql";

constexpr const char* kSelectFile =
    "SELECT filename, length, chunk_size, upload_date, content_type, sha256, metadata, "
    "expires_at FROM files WHERE id = ?1";

std::int64_t to_millis(system_clock::time_point time) {
  return std::chrono::duration_cast<milliseconds>(time.time_since_epoch()).count();
}

system_clock::time_point from_millis(std::int64_t millis) {
  return system_clock::time_point(milliseconds(millis));
}

/// Reads from `source` until `buffer` is full or the source ends; returns the bytes read.
std::size_t fill(ByteSource& source, std::span<std::byte> buffer) {
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    const std::size_t got = source.read(buffer.subspan(filled));
    if (got == 0) {
      break;
    }
    filled += got;
  }
  return filled;
}

std::string quoted_id(std::string_view id) {
  // Ids can come from outside (a message's fileId); keep a malformed one short in messages.
  constexpr std::size_t kMaxShown = 64;
  return "'" + std::string(id.substr(0, kMaxShown)) + (id.size() > kMaxShown ? "...'" : "'");
}

void require_file_id(std::string_view id) {
  if (!is_file_id(id)) {
    throw StoreError(StoreErrc::kInvalidArgument,
                     "file id " + quoted_id(id) + " is not 24 lower-case hex digits");
  }
}

// The SQLite wrapper knows the database but not the file; add the id to its errors here.
template <typename Operation>
auto naming_file(std::string_view id, Operation&& operation) {
  try {
    return operation();
  } catch (const StoreError& error) {
    if (error.code() != StoreErrc::kBackend ||
        std::string_view(error.what()).find(id) != std::string_view::npos) {
      throw;
    }
    throw StoreError(StoreErrc::kBackend, fmt::format("file {}: {}", id, error.what()));
  }
}

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::string& path, std::uint32_t chunk_size)
      : db_(path, kBusyTimeout), chunk_size_(chunk_size) {
    sqlite::Transaction transaction(db_);
    db_.exec(kSchema);
    transaction.commit();
  }

  FileInfo put(std::string_view filename, ByteSource& source, const PutOptions& options) override {
    const std::string id = new_file_id();
    if (!options.metadata.is_object()) {
      throw StoreError(StoreErrc::kInvalidArgument,
                       fmt::format("file {} ('{}'): metadata must be a JSON object, not {}", id,
                                   filename, options.metadata.type_name()));
    }
    retry_discards();
    try {
      return naming_file(id, [&] { return upload(id, filename, source, options); });
    } catch (...) {
      discard_chunks(id);
      throw;
    }
  }

  FileInfo stat(std::string_view id) override {
    require_file_id(id);
    return naming_file(id, [&] {
      const std::lock_guard lock(mutex_);
      return stat_locked(id);
    });
  }

  FileInfo read(std::string_view id, ByteSink& sink) override {
    require_file_id(id);
    return naming_file(id, [&] { return download(id, sink); });
  }

  bool remove(std::string_view id) override {
    require_file_id(id);
    return naming_file(id, [&] {
      const std::lock_guard lock(mutex_);
      // Files record first: a crash in between leaves orphaned chunks for sweep(), never a
      // file whose bytes are gone.
      sqlite::Statement delete_file = db_.prepare("DELETE FROM files WHERE id = ?1");
      delete_file.bind(1, id);
      delete_file.run();
      if (db_.changes() == 0) {
        return false;
      }
      delete_chunks_locked(id);
      return true;
    });
  }

  SweepResult sweep(system_clock::time_point now, std::chrono::seconds safety_window) override {
    SweepResult result;
    for (const std::string& id : expired_file_ids(now)) {
      if (remove(id)) {
        ++result.expired_files;
      }
    }

    // A chunk's files_id starts with its upload's start time as 8 hex digits, so comparing
    // ids with the cutoff's 8-digit prefix selects uploads started before the cutoff.
    const std::string cutoff = new_file_id(now - safety_window).substr(0, 8);
    const std::lock_guard lock(mutex_);
    sqlite::Statement delete_orphans = db_.prepare(
        "DELETE FROM chunks WHERE files_id < ?1 AND NOT EXISTS "
        "(SELECT 1 FROM files WHERE files.id = chunks.files_id)");
    delete_orphans.bind(1, cutoff);
    delete_orphans.run();
    result.orphaned_chunks = static_cast<std::uint64_t>(db_.changes());

    sqlite::Statement delete_messages = db_.prepare("DELETE FROM messages WHERE expires_at <= ?1");
    delete_messages.bind(1, to_millis(now));
    delete_messages.run();
    result.expired_messages = static_cast<std::uint64_t>(db_.changes());
    return result;
  }

  void remember_message(std::string_view message_id, system_clock::time_point expires_at,
                        std::string_view reply) override {
    require_message_id(message_id);
    const std::lock_guard lock(mutex_);
    sqlite::Statement upsert = db_.prepare(
        "INSERT INTO messages (id, expires_at, reply) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, reply = excluded.reply");
    upsert.bind(1, message_id);
    upsert.bind(2, to_millis(expires_at));
    upsert.bind(3, reply);
    upsert.run();
  }

  std::optional<std::string> seen_message(std::string_view message_id,
                                          system_clock::time_point now) override {
    require_message_id(message_id);
    const std::lock_guard lock(mutex_);
    sqlite::Statement select =
        db_.prepare("SELECT reply FROM messages WHERE id = ?1 AND expires_at > ?2");
    select.bind(1, message_id);
    select.bind(2, to_millis(now));
    if (!select.step()) {
      return std::nullopt;
    }
    return select.column_text(0);
  }

  [[nodiscard]] std::string_view kind() const override { return "sqlite"; }

  [[nodiscard]] std::string describe() const override { return "sqlite:" + db_.path(); }

 private:
  FileInfo upload(const std::string& id, std::string_view filename, ByteSource& source,
                  const PutOptions& options) {
    const std::size_t batch_capacity =
        std::max<std::size_t>(1, kBatchBytes / chunk_size_) * chunk_size_;
    const auto batch = std::make_unique_for_overwrite<std::byte[]>(batch_capacity);
    Sha256 hash;
    std::uint64_t length = 0;
    std::int64_t next_chunk = 0;

    for (;;) {
      std::vector<std::span<const std::byte>> chunks;
      std::size_t used = 0;
      bool at_end = false;
      while (!at_end && used < batch_capacity) {
        const std::span<std::byte> slot(batch.get() + used, chunk_size_);
        const std::size_t got = fill(source, slot);
        if (got > 0) {
          chunks.emplace_back(slot.first(got));
          hash.update(slot.first(got));
          used += got;
        }
        at_end = got < chunk_size_;
      }
      length += used;

      const std::lock_guard lock(mutex_);
      sqlite::Transaction transaction(db_);
      next_chunk = insert_chunks_locked(id, next_chunk, chunks);
      if (!at_end) {
        transaction.commit();
        continue;
      }
      FileInfo info{.id = id,
                    .filename = std::string(filename),
                    .length = length,
                    .chunk_size = chunk_size_,
                    .sha256 = hash.hex_digest(),
                    .content_type = options.content_type,
                    .upload_date = from_millis(to_millis(system_clock::now())),
                    .metadata = options.metadata,
                    .expires_at = options.expires_at};
      insert_file_locked(info);
      transaction.commit();
      return info;
    }
  }

  std::int64_t insert_chunks_locked(const std::string& id, std::int64_t first_chunk,
                                    const std::vector<std::span<const std::byte>>& chunks) {
    sqlite::Statement insert =
        db_.prepare("INSERT INTO chunks (files_id, n, data) VALUES (?1, ?2, ?3)");
    insert.bind(1, id);
    std::int64_t n = first_chunk;
    for (const auto& chunk : chunks) {
      insert.bind(2, n++);
      insert.bind(3, chunk);
      insert.run();
    }
    return n;
  }

  void insert_file_locked(const FileInfo& info) {
    sqlite::Statement insert = db_.prepare(
        "INSERT INTO files (id, filename, length, chunk_size, upload_date, content_type, sha256, "
        "metadata, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    insert.bind(1, info.id);
    insert.bind(2, info.filename);
    insert.bind(3, static_cast<std::int64_t>(info.length));
    insert.bind(4, static_cast<std::int64_t>(info.chunk_size));
    insert.bind(5, to_millis(info.upload_date));
    insert.bind(6, info.content_type);
    insert.bind(7, info.sha256);
    insert.bind(8, info.metadata.dump());
    if (info.expires_at) {
      insert.bind(9, to_millis(*info.expires_at));
    } else {
      insert.bind_null(9);
    }
    insert.run();
  }

  // Best effort after a failed put(). The failure is often the database being locked, which
  // makes this delete fail too: such ids are tried again before the next upload, and sweep()
  // takes whatever remains.
  void discard_chunks(const std::string& id) noexcept {
    try {
      const std::lock_guard lock(mutex_);
      delete_chunks_locked(id);
    } catch (const std::exception& error) {
      spdlog::warn(
          "file {}: could not remove the chunks of a failed upload ({}); trying again "
          "before the next upload",
          id, error.what());
      discard_backlog_.add(id);
    }
  }

  void retry_discards() noexcept {
    for (const std::string& id : discard_backlog_.take()) {
      discard_chunks(id);
    }
  }

  void delete_chunks_locked(std::string_view id) {
    sqlite::Statement delete_chunks = db_.prepare("DELETE FROM chunks WHERE files_id = ?1");
    delete_chunks.bind(1, id);
    delete_chunks.run();
  }

  FileInfo stat_locked(std::string_view id) {
    sqlite::Statement select = db_.prepare(kSelectFile);
    select.bind(1, id);
    if (!select.step()) {
      throw StoreError(StoreErrc::kNotFound,
                       fmt::format("file {} not found in sqlite store '{}'", id, db_.path()));
    }

    const std::int64_t length = select.column_int64(1);
    const std::int64_t chunk_size = select.column_int64(2);
    check_recorded_sizes(id, length, chunk_size);
    auto metadata = nlohmann::json::parse(select.column_text(6), nullptr, false);
    if (metadata.is_discarded()) {
      // Damage to one file's record must not look like a store outage: an outage is retried,
      // a damaged record never heals.
      throw StoreError(StoreErrc::kBadRecord,
                       fmt::format("file {}: its files record holds malformed metadata JSON", id));
    }

    FileInfo info{.id = std::string(id),
                  .filename = select.column_text(0),
                  .length = static_cast<std::uint64_t>(length),
                  .chunk_size = static_cast<std::uint32_t>(chunk_size),
                  .sha256 = select.column_text(5),
                  .content_type = select.column_text(4),
                  .upload_date = from_millis(select.column_int64(3)),
                  .metadata = std::move(metadata),
                  .expires_at = std::nullopt};
    if (!select.is_null(7)) {
      info.expires_at = from_millis(select.column_int64(7));
    }
    return info;
  }

  /// Checks from the chunk index alone (no data read) that chunks 0..k-1 exist and no others.
  void check_chunk_numbers_locked(const FileInfo& info) {
    sqlite::Statement summary =
        db_.prepare("SELECT count(*), min(n), max(n) FROM chunks WHERE files_id = ?1");
    summary.bind(1, info.id);
    summary.step();
    check_chunk_numbers(info, summary.column_int64(0), summary.column_int64(1),
                        summary.column_int64(2), [&] { return first_gap_locked(info.id); });
  }

  std::int64_t first_gap_locked(std::string_view id) {
    sqlite::Statement gap = db_.prepare(
        "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM chunks WHERE files_id = ?1 AND n = 0) THEN 0 "
        "ELSE (SELECT c.n + 1 FROM chunks c WHERE c.files_id = ?1 AND NOT EXISTS "
        "(SELECT 1 FROM chunks d WHERE d.files_id = ?1 AND d.n = c.n + 1) ORDER BY c.n LIMIT 1) "
        "END");
    gap.bind(1, id);
    gap.step();
    return gap.column_int64(0);
  }

  /// Fetches chunk `n` into `buffer` after checking its size; returns the size.
  std::size_t fetch_chunk(sqlite::Statement& select, const FileInfo& info, std::uint64_t n,
                          std::uint64_t remaining, std::span<std::byte> buffer) {
    const std::lock_guard lock(mutex_);
    select.bind(2, static_cast<std::int64_t>(n));
    if (!select.step()) {
      select.reset();
      stat_locked(info.id);  // throws kNotFound if the file was removed meanwhile
      corrupt(StoreErrc::kMissingChunk, info.id,
              fmt::format("chunk {} disappeared while the file was being read", n));
    }
    const std::span<const std::byte> data = select.column_blob(0);
    check_chunk_size(info, n, data.size(), remaining);
    std::copy(data.begin(), data.end(), buffer.begin());
    // Reset before the bytes go to the sink: a slow sink must not hold a database snapshot.
    select.reset();
    return data.size();
  }

  FileInfo download(std::string_view id, ByteSink& sink) {
    std::unique_lock lock(mutex_);
    const FileInfo info = stat_locked(id);
    check_chunk_numbers_locked(info);
    sqlite::Statement select =
        db_.prepare("SELECT data FROM chunks WHERE files_id = ?1 AND n = ?2");
    select.bind(1, id);
    lock.unlock();

    const auto buffer = std::make_unique_for_overwrite<std::byte[]>(info.chunk_size);
    Sha256 hash;
    std::uint64_t remaining = info.length;
    for (std::uint64_t n = 0; remaining > 0; ++n) {
      const std::span<std::byte> chunk(
          buffer.get(),
          fetch_chunk(select, info, n, remaining, std::span(buffer.get(), info.chunk_size)));
      hash.update(chunk);
      sink.write(chunk);
      remaining -= chunk.size();
    }

    if (const std::string digest = hash.hex_digest(); digest != info.sha256) {
      corrupt(StoreErrc::kDigestMismatch, id,
              fmt::format("bytes hash to SHA-256 {}, files record says {}", digest, info.sha256));
    }
    return info;
  }

  std::vector<std::string> expired_file_ids(system_clock::time_point now) {
    const std::lock_guard lock(mutex_);
    sqlite::Statement select = db_.prepare(
        "SELECT id FROM files WHERE expires_at IS NOT NULL AND expires_at <= ?1 ORDER BY id");
    select.bind(1, to_millis(now));
    std::vector<std::string> ids;
    while (select.step()) {
      ids.push_back(select.column_text(0));
    }
    return ids;
  }

  std::mutex mutex_;
  DiscardBacklog discard_backlog_;
  sqlite::Database db_;
  std::uint32_t chunk_size_;
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path, std::uint32_t chunk_size) {
  return std::make_unique<SqliteStore>(path, chunk_size);
}

}  // namespace claimcheck::store
