#pragma once

// The one place that talks to SQLite's C API. Every handle is owned by RAII; every failing call
// becomes StoreError(kBackend) carrying SQLite's message and the database path.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace claimcheck::store::sqlite {

struct DatabaseDeleter {
  void operator()(sqlite3* db) const noexcept;
};
struct StatementDeleter {
  void operator()(sqlite3_stmt* statement) const noexcept;
};
using DatabasePtr = std::unique_ptr<sqlite3, DatabaseDeleter>;
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

class Database;

/// A prepared statement. Parameters are 1-based, columns 0-based, as in SQLite. Moving is
/// allowed, copying is not. Finalized on destruction, which also ends any read it had open.
class Statement {
 public:
  Statement(const Database& db, StatementPtr statement);

  void bind(int index, std::string_view text);
  void bind(int index, std::int64_t value);
  void bind(int index, std::span<const std::byte> blob);
  void bind_null(int index);

  /// True when a row is ready, false when the statement has finished.
  bool step();
  /// Steps a statement that returns no rows (INSERT, DELETE, ...).
  void run();
  /// Makes the statement ready to run again and releases the snapshot it may hold; bindings stay.
  void reset() noexcept;

  [[nodiscard]] bool is_null(int column) const;
  [[nodiscard]] std::int64_t column_int64(int column) const;
  [[nodiscard]] std::string column_text(int column) const;
  /// Valid until the next step(), reset() or destruction.
  [[nodiscard]] std::span<const std::byte> column_blob(int column) const;

 private:
  const Database* db_;
  StatementPtr statement_;
};

/// One connection in WAL mode with a busy timeout, so several processes can share the file.
/// Thread-safe at the SQLite level (serialised mode); callers still serialise their own multi-
/// statement sequences.
class Database {
 public:
  Database(std::string path, std::chrono::milliseconds busy_timeout);

  Statement prepare(std::string_view sql) const;
  /// Runs one or more statements without results.
  void exec(const char* sql) const;
  /// Like exec() but reports failure instead of throwing, for destructors.
  bool try_exec(const char* sql) const noexcept;
  /// SQLite's message for the last failure on this connection.
  [[nodiscard]] std::string last_error() const;
  /// Rows changed by the last INSERT, UPDATE or DELETE on this connection.
  [[nodiscard]] std::int64_t changes() const;

  [[nodiscard]] const std::string& path() const { return path_; }

  /// Throws StoreError(kBackend) "sqlite store 'PATH': WHAT: <SQLite's message>".
  [[noreturn]] void fail(std::string_view what) const;

 private:
  std::string path_;
  DatabasePtr db_;
};

/// BEGIN IMMEDIATE ... COMMIT. Taking the write lock up front means a busy database makes
/// BEGIN wait (up to the busy timeout) instead of failing half-way. Rolls back if destroyed
/// uncommitted.
class Transaction {
 public:
  explicit Transaction(const Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit();

 private:
  const Database& db_;
  bool open_ = true;
};

}  // namespace claimcheck::store::sqlite
