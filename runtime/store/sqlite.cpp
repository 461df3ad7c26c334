#include "runtime/store/sqlite.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <random>
#include <thread>
#include <utility>

namespace folio::store::sqlite {

namespace {

// Translates a result code into the Folio error category a caller can act on.
Errc errc_for(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Errc::corrupt;
    case SQLITE_NOMEM: return Errc::out_of_memory;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISUSE: return Errc::invalid_argument;
    case SQLITE_CONSTRAINT:
    case SQLITE_ERROR: return Errc::internal;
    default: return Errc::io;  // FULL, READONLY, IOERR, CANTOPEN, PERM, ...
  }
}

// A sentence for the codes users meet in practice, so a message says what to do.
std::string_view hint_for(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL: return " (disk full or the store's size limit reached; nothing was written)";
    case SQLITE_READONLY: return " (the database is read-only: file permissions or a read-only mount)";
    case SQLITE_CANTOPEN: return " (cannot open the file: check the path and permissions)";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return " (the file is not a valid SQLite database or is damaged)";
    default: return "";
  }
}

bool is_busy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

}  // namespace

// ---- Db ---------------------------------------------------------------------

Db::Db(const std::filesystem::path& path, const OpenOptions& options) : name_(path.string()) {
  int flags = SQLITE_OPEN_NOMUTEX;  // one connection per thread (or guarded by the owner)
  if (options.read_only) {
    flags |= SQLITE_OPEN_READONLY;
  } else {
    flags |= SQLITE_OPEN_READWRITE;
    if (options.create) flags |= SQLITE_OPEN_CREATE;
  }
  const int rc = sqlite3_open_v2(name_.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = name_ + ": cannot open store: " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)) +
                          std::string(hint_for(rc));
    sqlite3_close_v2(db_);
    db_ = nullptr;
    fail(errc_for(rc), message);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, int(options.busy_timeout.count()));
}

Db::Db(Db&& other) noexcept : db_(std::exchange(other.db_, nullptr)), name_(std::move(other.name_)) {}

Db::~Db() {
  // close_v2 defers the close until every statement and blob handle is gone, so
  // destruction order of members in owners does not matter.
  if (db_) sqlite3_close_v2(db_);
}

bool Db::read_only() const noexcept { return sqlite3_db_readonly(db_, "main") == 1; }

void Db::raise(int rc, std::string_view what) const {
  std::string message = name_ + ": " + std::string(what) + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
  if (is_busy(rc)) throw Busy(message);
  message += hint_for(rc);
  fail(errc_for(rc), message);
}

void Db::exec(std::string_view sql) {
  const std::string text(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);  // the connection's errmsg carries the same text
  if (rc != SQLITE_OK) raise(rc, "executing \"" + text.substr(0, 60) + "\"");
}

int64_t Db::query_int(std::string_view sql) {
  Stmt stmt(*this, sql);
  if (!stmt.step()) fail(Errc::internal, name_ + ": query returned no row: " + std::string(sql));
  return stmt.column_int(0);
}

int64_t Db::last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }
void Db::set_busy_timeout(std::chrono::milliseconds timeout) noexcept {
  sqlite3_busy_timeout(db_, int(timeout.count()));
}

int64_t Db::changes() const noexcept { return sqlite3_changes64(db_); }

// ---- Stmt -------------------------------------------------------------------

Stmt::Stmt(Db& db, std::string_view sql) : db_(&db) {
  const int rc = sqlite3_prepare_v3(db.handle(), sql.data(), int(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt_,
                                    nullptr);
  if (rc != SQLITE_OK) db.raise(rc, "preparing \"" + std::string(sql.substr(0, 60)) + "\"");
}

Stmt::Stmt(Stmt&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

Stmt& Stmt::operator=(Stmt&& other) noexcept {
  if (this != &other) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Stmt::~Stmt() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Stmt& Stmt::bind(int index, int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) db_->raise(rc, "binding an integer");
  return *this;
}

Stmt& Stmt::bind(int index, std::string_view text) {
  const int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK) db_->raise(rc, "binding text");
  return *this;
}

Stmt& Stmt::bind_blob(int index, std::span<const std::byte> bytes) {
  // A zero-length blob must still bind as a blob, not NULL: SQLite treats a null
  // data pointer as NULL, so point at something valid.
  static constexpr std::byte kEmpty{};
  const void* data = bytes.empty() ? &kEmpty : bytes.data();
  const int rc = sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) db_->raise(rc, "binding a blob");
  return *this;
}

Stmt& Stmt::bind_zeroblob(int index, uint64_t n_bytes) {
  const int rc = sqlite3_bind_zeroblob64(stmt_, index, n_bytes);
  if (rc != SQLITE_OK) db_->raise(rc, "reserving a blob of " + std::to_string(n_bytes) + " bytes");
  return *this;
}

Stmt& Stmt::bind_null(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) db_->raise(rc, "binding NULL");
  return *this;
}

bool Stmt::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const char* sql = sqlite3_sql(stmt_);
  const std::string what = "running \"" + std::string(sql ? sql : "").substr(0, 60) + "\"";
  sqlite3_reset(stmt_);
  db_->raise(rc, what);
}

void Stmt::run() {
  while (step()) {
  }
  reset();
}

void Stmt::reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t Stmt::column_int(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Stmt::column_text(int col) const {
  const auto* text = sqlite3_column_text(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  return text ? std::string(reinterpret_cast<const char*>(text), size_t(n)) : std::string();
}

std::span<const std::byte> Stmt::column_blob(int col) const {
  const void* data = sqlite3_column_blob(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  if (!data) return {};
  return {static_cast<const std::byte*>(data), size_t(n)};
}

bool Stmt::column_is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

// ---- Blob -------------------------------------------------------------------

Blob::Blob(Db& db, const char* table, const char* column, int64_t rowid, bool writable) : db_(&db) {
  const int rc = sqlite3_blob_open(db.handle(), "main", table, column, rowid, writable ? 1 : 0, &blob_);
  if (rc != SQLITE_OK) {
    if (blob_) sqlite3_blob_close(blob_);
    blob_ = nullptr;
    db.raise(rc, std::string("opening ") + table + "." + column + " row " + std::to_string(rowid));
  }
}

Blob::Blob(Blob&& other) noexcept : db_(other.db_), blob_(std::exchange(other.blob_, nullptr)) {}

Blob::~Blob() {
  if (blob_) sqlite3_blob_close(blob_);
}

uint64_t Blob::size() const { return uint64_t(sqlite3_blob_bytes(blob_)); }

void Blob::read(uint64_t offset, std::span<std::byte> out) {
  if (offset + out.size() > size())
    fail(Errc::corrupt, db_->name() + ": blob read past its end (" + std::to_string(offset + out.size()) + " > " +
                            std::to_string(size()) + ")");
  const int rc = sqlite3_blob_read(blob_, out.data(), int(out.size()), int(offset));
  if (rc != SQLITE_OK) db_->raise(rc, "reading a blob");
}

void Blob::write(uint64_t offset, std::span<const std::byte> bytes) {
  const int rc = sqlite3_blob_write(blob_, bytes.data(), int(bytes.size()), int(offset));
  if (rc != SQLITE_OK) db_->raise(rc, "writing a blob");
}

// ---- Transaction ------------------------------------------------------------

Transaction::Transaction(Db& db, Mode mode) : db_(db) {
  db_.exec(mode == Mode::write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
  open_ = true;
}

Transaction::~Transaction() {
  if (!open_) return;
  // ROLLBACK can fail only if no transaction is active (SQLite may already have
  // rolled back after an I/O error); either way the transaction is gone.
  sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

// ---- retry ------------------------------------------------------------------

void with_retry(const Db& db, const RetryPolicy& policy, const std::function<void()>& work) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  std::minstd_rand rng(std::random_device{}());
  auto backoff = std::chrono::microseconds(200);
  for (int attempt = 1;; ++attempt) {
    try {
      work();
      return;
    } catch (const Busy& busy) {
      const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
      if (waited >= policy.deadline)
        fail(Errc::io, db.name() + ": database busy for more than " + std::to_string(waited.count()) + " ms (" +
                           std::to_string(attempt) + " attempts; last: " + busy.what() + ")");
      // Jitter so that processes that collided do not collide again in step.
      const auto sleep = std::chrono::microseconds(std::uniform_int_distribution<int64_t>(
          backoff.count() / 2, backoff.count())(rng));
      std::this_thread::sleep_for(sleep);
      backoff = std::min<std::chrono::microseconds>(backoff * 2, std::chrono::milliseconds(50));
    }
  }
}

}  // namespace folio::store::sqlite
