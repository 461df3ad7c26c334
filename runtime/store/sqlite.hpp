// A thin RAII layer over the SQLite C API, just what the snapshot store needs.
//
// Every failure becomes a folio::Error whose message names the database file
// and what was being done. SQLITE_BUSY / SQLITE_LOCKED are different: they are
// thrown as sqlite::Busy so that `with_retry` can run the whole unit of work
// again (a transaction that met a lock is rolled back and retried as a whole;
// retrying a single statement inside a transaction is not safe in general).
// Nothing outside runtime/store ever sees Busy: after the retry deadline it
// becomes folio::Error(io, "... busy for more than N ms").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "runtime/common/error.hpp"

struct sqlite3;
struct sqlite3_stmt;
struct sqlite3_blob;

namespace folio::store::sqlite {

// A lock held by another connection; retried by with_retry, never surfaced.
class Busy : public Error {
 public:
  explicit Busy(const std::string& message) : Error(Errc::io, message) {}
};

class Db;

// A prepared statement. Bind indexes are 1-based as in SQLite.
class Stmt {
 public:
  Stmt() = default;
  Stmt(Db& db, std::string_view sql);
  Stmt(Stmt&& other) noexcept;
  Stmt& operator=(Stmt&& other) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  Stmt& bind(int index, int64_t value);
  Stmt& bind(int index, std::string_view text);
  Stmt& bind_blob(int index, std::span<const std::byte> bytes);
  Stmt& bind_zeroblob(int index, uint64_t n_bytes);
  Stmt& bind_null(int index);

  // Advances; true when a row is available. Throws Busy / folio::Error.
  bool step();
  // Steps a statement expected to return no row (or whose rows are ignored).
  void run();
  // Resets and clears bindings so the statement can be reused.
  void reset() noexcept;

  int64_t column_int(int col) const;
  std::string column_text(int col) const;
  std::span<const std::byte> column_blob(int col) const;  // valid until the next step/reset
  bool column_is_null(int col) const;

 private:
  Db* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

// An incremental BLOB handle (sqlite3_blob_open): reads and writes a byte range
// of one value without materialising the whole value in memory.
class Blob {
 public:
  Blob(Db& db, const char* table, const char* column, int64_t rowid, bool writable);
  Blob(Blob&& other) noexcept;
  Blob& operator=(Blob&&) = delete;
  Blob(const Blob&) = delete;
  Blob& operator=(const Blob&) = delete;
  ~Blob();

  uint64_t size() const;
  void read(uint64_t offset, std::span<std::byte> out);
  void write(uint64_t offset, std::span<const std::byte> bytes);

 private:
  Db* db_;
  sqlite3_blob* blob_ = nullptr;
};

struct OpenOptions {
  bool read_only = false;
  bool create = true;
  std::chrono::milliseconds busy_timeout{2000};  // SQLite's own wait per lock attempt
};

// One connection. Not shared between threads without external locking.
class Db {
 public:
  Db(const std::filesystem::path& path, const OpenOptions& options);
  Db(Db&& other) noexcept;
  Db& operator=(Db&&) = delete;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  sqlite3* handle() const noexcept { return db_; }
  const std::string& name() const noexcept { return name_; }
  bool read_only() const noexcept;

  // Runs one or more statements without results.
  void exec(std::string_view sql);
  // Runs a single-value query ("PRAGMA page_count").
  int64_t query_int(std::string_view sql);
  int64_t last_insert_rowid() const noexcept;
  // How long SQLite itself waits on a lock before returning SQLITE_BUSY.
  void set_busy_timeout(std::chrono::milliseconds timeout) noexcept;
  int64_t changes() const noexcept;

  // Throws Busy or folio::Error for a non-OK result code `rc` of an operation
  // described by `what`.
  [[noreturn]] void raise(int rc, std::string_view what) const;

 private:
  sqlite3* db_ = nullptr;
  std::string name_;
};

// A transaction: BEGIN IMMEDIATE (takes the write lock up front, so a write
// never has to upgrade a read lock, the classic source of unretryable BUSY) or
// BEGIN DEFERRED for read-only work. Rolled back by the destructor unless
// committed.
class Transaction {
 public:
  enum class Mode { read, write };
  Transaction(Db& db, Mode mode);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Db& db_;
  bool open_ = false;
};

struct RetryPolicy {
  std::chrono::milliseconds deadline{60000};  // total time before giving up
};

// Runs `work` until it completes without meeting a lock, sleeping with jittered
// exponential backoff between attempts. `work` must be idempotent as a whole
// (it is: each attempt is one transaction that was rolled back on Busy).
void with_retry(const Db& db, const RetryPolicy& policy, const std::function<void()>& work);

}  // namespace folio::store::sqlite
