#include "store_test_support.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "claimcheck/common/encoding.hpp"

namespace claimcheck::store::testing {
namespace {

struct StatementCloser {
  void operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }
};
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementCloser>;

StatementPtr prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    throw std::runtime_error("tamper: cannot prepare '" + sql + "': " + sqlite3_errmsg(db));
  }
  return StatementPtr(raw);
}

// xorshift64*: fast and reproducible, all a byte generator for tests needs.
std::uint64_t next_random(std::uint64_t& state) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1DULL;
}

}  // namespace

TempDir::TempDir()
    : path_(std::filesystem::temp_directory_path() / ("claimcheck-store-test-" + random_hex(8))) {
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored_because_best_effort;
  std::filesystem::remove_all(path_, ignored_because_best_effort);
}

StringSource::StringSource(std::string data, std::size_t max_read)
    : data_(std::move(data)), max_read_(max_read) {}

std::size_t StringSource::read(std::span<std::byte> buffer) {
  const std::size_t count = std::min({buffer.size(), data_.size() - offset_, max_read_});
  std::copy_n(reinterpret_cast<const std::byte*>(data_.data()) + offset_, count, buffer.data());
  offset_ += count;
  return count;
}

GeneratedSource::GeneratedSource(std::uint64_t length, std::uint64_t seed, std::uint64_t fail_at)
    : remaining_(length), fail_at_(fail_at), state_(seed | 1) {}

std::size_t GeneratedSource::read(std::span<std::byte> buffer) {
  if (served_ >= fail_at_) {
    throw std::runtime_error("generated source failed after " + std::to_string(served_) + " bytes");
  }
  const auto count = static_cast<std::size_t>(
      std::min<std::uint64_t>({buffer.size(), remaining_, fail_at_ - served_}));
  for (std::size_t i = 0; i < count; ++i) {
    if (word_bytes_left_ == 0) {
      word_ = next_random(state_);
      word_bytes_left_ = 8;
    }
    buffer[i] = static_cast<std::byte>(word_ & 0xff);
    word_ >>= 8;
    --word_bytes_left_;
  }
  remaining_ -= count;
  served_ += count;
  return count;
}

std::string GeneratedSource::sha256_of(std::uint64_t length, std::uint64_t seed) {
  GeneratedSource source(length, seed);
  Sha256 hash;
  std::vector<std::byte> buffer(1 << 16);
  while (const std::size_t got = source.read(buffer)) {
    hash.update(std::span(buffer.data(), got));
  }
  return hash.hex_digest();
}

void StringSink::write(std::span<const std::byte> bytes) {
  data_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void HashingSink::write(std::span<const std::byte> bytes) {
  hash_.update(bytes);
  bytes_ += bytes.size();
}

void SqliteTamper::Closer::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }

SqliteTamper::SqliteTamper(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK) {
    throw std::runtime_error("tamper: cannot open '" + path + "': " + sqlite3_errmsg(raw));
  }
  sqlite3_busy_timeout(db_.get(), 10'000);
}

void SqliteTamper::exec(const std::string& sql) {
  if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    throw std::runtime_error("tamper: '" + sql + "' failed: " + sqlite3_errmsg(db_.get()));
  }
}

void SqliteTamper::run(const std::string& sql, const std::string& id, std::int64_t n,
                       const std::string_view* blob) {
  const StatementPtr statement = prepare(db_.get(), sql);
  sqlite3_bind_text(statement.get(), 1, id.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_bind_parameter_count(statement.get()) >= 2) {
    sqlite3_bind_int64(statement.get(), 2, n);
  }
  if (blob != nullptr) {
    sqlite3_bind_blob64(statement.get(), 3, blob->data(), blob->size(), SQLITE_TRANSIENT);
  }
  if (sqlite3_step(statement.get()) != SQLITE_DONE) {
    throw std::runtime_error("tamper: '" + sql + "' failed: " + sqlite3_errmsg(db_.get()));
  }
}

void SqliteTamper::set_length(const std::string& id, std::int64_t length) {
  run("UPDATE files SET length = ?2 WHERE id = ?1", id, length, nullptr);
}

void SqliteTamper::replace_chunk(const std::string& id, std::int64_t n, std::string_view data) {
  run("UPDATE chunks SET data = ?3 WHERE files_id = ?1 AND n = ?2", id, n, &data);
}

void SqliteTamper::insert_chunk(const std::string& id, std::int64_t n, std::string_view data) {
  run("INSERT INTO chunks (files_id, n, data) VALUES (?1, ?2, ?3)", id, n, &data);
}

void SqliteTamper::delete_chunk(const std::string& id, std::int64_t n) {
  run("DELETE FROM chunks WHERE files_id = ?1 AND n = ?2", id, n, nullptr);
}

void SqliteTamper::delete_chunks(const std::string& id) {
  run("DELETE FROM chunks WHERE files_id = ?1", id, 0, nullptr);
}

std::vector<ChunkRow> SqliteTamper::chunks(const std::string& id) {
  const StatementPtr statement =
      prepare(db_.get(), "SELECT n, length(data) FROM chunks WHERE files_id = ?1 ORDER BY n");
  sqlite3_bind_text(statement.get(), 1, id.c_str(), -1, SQLITE_TRANSIENT);
  std::vector<ChunkRow> rows;
  while (sqlite3_step(statement.get()) == SQLITE_ROW) {
    rows.push_back(
        {sqlite3_column_int64(statement.get(), 0), sqlite3_column_int64(statement.get(), 1)});
  }
  return rows;
}

std::int64_t SqliteTamper::count(const std::string& sql) {
  const StatementPtr statement = prepare(db_.get(), sql);
  if (sqlite3_step(statement.get()) != SQLITE_ROW) {
    throw std::runtime_error("tamper: '" + sql + "' returned no row");
  }
  return sqlite3_column_int64(statement.get(), 0);
}

}  // namespace claimcheck::store::testing
