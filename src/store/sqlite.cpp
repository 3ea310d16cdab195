#include "sqlite.hpp"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <limits>

#include "claimcheck/store/store.hpp"

namespace claimcheck::store::sqlite {

void DatabaseDeleter::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }

void StatementDeleter::operator()(sqlite3_stmt* statement) const noexcept {
  sqlite3_finalize(statement);
}

Statement::Statement(const Database& db, StatementPtr statement)
    : db_(&db), statement_(std::move(statement)) {}

void Statement::bind(int index, std::string_view text) {
  // SQLite binds a null pointer as NULL; an empty view (whose data() may be null) is "".
  const char* data = text.data() != nullptr ? text.data() : "";
  if (sqlite3_bind_text64(statement_.get(), index, data, text.size(), SQLITE_TRANSIENT,
                          SQLITE_UTF8) != SQLITE_OK) {
    db_->fail("binding a text parameter");
  }
}

void Statement::bind(int index, std::int64_t value) {
  if (sqlite3_bind_int64(statement_.get(), index, value) != SQLITE_OK) {
    db_->fail("binding an integer parameter");
  }
}

void Statement::bind(int index, std::span<const std::byte> blob) {
  // SQLITE_STATIC: the caller's buffer outlives the step that uses it, so no copy is needed.
  if (sqlite3_bind_blob64(statement_.get(), index, blob.data(), blob.size(), SQLITE_STATIC) !=
      SQLITE_OK) {
    db_->fail("binding a blob parameter");
  }
}

void Statement::bind_null(int index) {
  if (sqlite3_bind_null(statement_.get(), index) != SQLITE_OK) {
    db_->fail("binding a null parameter");
  }
}

bool Statement::step() {
  const int rc = sqlite3_step(statement_.get());
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  db_->fail(sqlite3_sql(statement_.get()));
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() noexcept { sqlite3_reset(statement_.get()); }

bool Statement::is_null(int column) const {
  return sqlite3_column_type(statement_.get(), column) == SQLITE_NULL;
}

std::int64_t Statement::column_int64(int column) const {
  return sqlite3_column_int64(statement_.get(), column);
}

std::string Statement::column_text(int column) const {
  const auto* text = sqlite3_column_text(statement_.get(), column);
  const int size = sqlite3_column_bytes(statement_.get(), column);
  if (text == nullptr) {
    return {};
  }
  return {reinterpret_cast<const char*>(text), static_cast<std::size_t>(size)};
}

std::span<const std::byte> Statement::column_blob(int column) const {
  const void* data = sqlite3_column_blob(statement_.get(), column);
  const int size = sqlite3_column_bytes(statement_.get(), column);
  if (data == nullptr) {
    return {};
  }
  return {static_cast<const std::byte*>(data), static_cast<std::size_t>(size)};
}

Database::Database(std::string path, std::chrono::milliseconds busy_timeout)
    : path_(std::move(path)) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path_.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  // sqlite3_open_v2 hands out a handle even on failure; own it before anything can throw.
  db_.reset(raw);
  if (rc != SQLITE_OK) {
    fail("opening the database");
  }
  sqlite3_extended_result_codes(db_.get(), 1);

  const auto timeout_ms =
      std::min<std::int64_t>(busy_timeout.count(), std::numeric_limits<int>::max());
  sqlite3_busy_timeout(db_.get(), static_cast<int>(timeout_ms));

  // Large pages: a 255 KiB chunk spans 4 pages instead of 64, which makes writing, reading and
  // above all deleting large files several times cheaper. Only a new, empty database takes it,
  // and it must come before WAL mode is set.
  exec("PRAGMA page_size=65536");
  // WAL lets readers and one writer of several processes proceed together.
  Statement journal = prepare("PRAGMA journal_mode=WAL");
  if (!journal.step() || journal.column_text(0) != "wal") {
    throw StoreError(StoreErrc::kBackend, "sqlite store '" + path_ +
                                              "': the database cannot use WAL journal mode, " +
                                              "which several processes sharing it need");
  }
  // FULL rather than WAL's usual NORMAL: a file acknowledged by put() must survive a power cut,
  // because a message naming it may already be on its way.
  exec("PRAGMA synchronous=FULL");
  // Debian's SQLite zeroes every deleted byte by default, which made deleting a 5 GiB file
  // rewrite 5 GiB. FAST still clears what it can without extra writes; freed pages are reused
  // by later files, and the file system holds the store like any other data at rest.
  exec("PRAGMA secure_delete=FAST");
}

Statement Database::prepare(std::string_view sql) const {
  sqlite3_stmt* raw = nullptr;
  const int rc =
      sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  StatementPtr statement(raw);
  if (rc != SQLITE_OK) {
    fail("preparing '" + std::string(sql) + "'");
  }
  return {*this, std::move(statement)};
}

void Database::exec(const char* sql) const {
  if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    fail(sql);
  }
}

bool Database::try_exec(const char* sql) const noexcept {
  return sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

std::string Database::last_error() const { return sqlite3_errmsg(db_.get()); }

std::int64_t Database::changes() const { return sqlite3_changes64(db_.get()); }

void Database::fail(std::string_view what) const {
  throw StoreError(StoreErrc::kBackend,
                   "sqlite store '" + path_ + "': " + std::string(what) + ": " + last_error());
}

Transaction::Transaction(const Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!open_) {
    return;
  }
  // The failure that brought us here is already propagating; a failed rollback only earns a
  // warning because SQLite rolls back by itself when the connection closes.
  if (!db_.try_exec("ROLLBACK")) {
    spdlog::warn("sqlite store '{}': rollback failed ({}); the connection will roll back on close",
                 db_.path(), db_.last_error());
  }
}

void Transaction::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

}  // namespace claimcheck::store::sqlite
