#include "runtime/store/store.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <numeric>
#include <set>
#include <system_error>
#include <utility>

#include "runtime/common/error.hpp"
#include "runtime/store/schema.hpp"
#include "runtime/store/sqlite.hpp"

namespace folio::store {

namespace {

// Blob I/O granularity: payloads are hashed and copied through the database in
// pieces of this size, never as one allocation the size of a layer.
constexpr size_t kChunkBytes = 256 * 1024;

int64_t unix_now() { return int64_t(std::time(nullptr)); }

std::span<const std::byte> key_span(const Hash128& h) { return h.span(); }

std::string part_name(PartId part) {
  return "part " + std::to_string(part.kind) + "/" + std::to_string(part.index);
}

}  // namespace

namespace detail {

struct StoreImpl {
  std::filesystem::path path;
  StoreOptions options;
  sqlite::Db db;
  sqlite::RetryPolicy retry;
  uint64_t page_size = 0;
  std::mutex mutex;

  StoreImpl(std::filesystem::path p, StoreOptions o)
      : path(std::move(p)), options(std::move(o)), db(path, {.read_only = options.read_only}) {
    retry.deadline = options.busy_deadline;
  }

  void report(const std::string& line) const {
    if (options.report)
      options.report(line);
    else
      std::fprintf(stderr, "folio store: %s\n", line.c_str());
  }

  void retry_loop(const std::function<void()>& work) { sqlite::with_retry(db, retry, work); }

  uint64_t used_bytes() {
    return uint64_t(db.query_int("PRAGMA page_count") - db.query_int("PRAGMA freelist_count")) * page_size;
  }

  int64_t next_tick() { return db.query_int("SELECT COALESCE(MAX(used_tick), 0) + 1 FROM snapshots"); }

  std::optional<int64_t> snapshot_with_head(const Hash128& head) {
    sqlite::Stmt q(db, "SELECT id FROM snapshots WHERE head_key = ? LIMIT 1");
    q.bind_blob(1, key_span(head));
    if (!q.step()) return std::nullopt;
    return q.column_int(0);
  }

  // Deletes a block and its parts if no snapshot references it any more.
  void drop_block_if_unreferenced(std::span<const std::byte> key) {
    sqlite::Stmt ref(db, "SELECT 1 FROM snapshot_blocks WHERE block_key = ? LIMIT 1");
    ref.bind_blob(1, key);
    if (ref.step()) return;
    sqlite::Stmt(db, "DELETE FROM parts WHERE block_key = ?").bind_blob(1, key).run();
    sqlite::Stmt(db, "DELETE FROM blocks WHERE key = ?").bind_blob(1, key).run();
  }

  // Removes a snapshot and the blocks only it used.
  void delete_snapshot(int64_t id) {
    std::vector<std::vector<std::byte>> keys;
    {
      sqlite::Stmt q(db, "SELECT block_key FROM snapshot_blocks WHERE snapshot_id = ?");
      q.bind(1, id);
      while (q.step()) {
        auto k = q.column_blob(0);
        keys.emplace_back(k.begin(), k.end());
      }
    }
    sqlite::Stmt(db, "DELETE FROM snapshot_blocks WHERE snapshot_id = ?").bind(1, id).run();
    sqlite::Stmt(db, "DELETE FROM snapshots WHERE id = ?").bind(1, id).run();
    for (const auto& k : keys) drop_block_if_unreferenced(k);
  }

  // Removes every row left unreferenced (after removals that bypassed the
  // targeted path, or a store edited by hand).
  void collect_garbage() {
    db.exec(
        "DELETE FROM snapshots WHERE NOT EXISTS (SELECT 1 FROM snapshot_blocks sb WHERE sb.snapshot_id = snapshots.id);"
        "DELETE FROM blocks WHERE NOT EXISTS (SELECT 1 FROM snapshot_blocks sb WHERE sb.block_key = blocks.key);"
        "DELETE FROM parts WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.key = parts.block_key);");
  }

  // Removes a bad block: every snapshot through it is cut back to the blocks
  // before it (those are still good), then unreferenced blocks go.
  void remove_block(const Hash128& key) {
    std::vector<std::pair<int64_t, int64_t>> refs;  // snapshot, depth
    {
      sqlite::Stmt q(db, "SELECT snapshot_id, depth FROM snapshot_blocks WHERE block_key = ?");
      q.bind_blob(1, key_span(key));
      while (q.step()) refs.emplace_back(q.column_int(0), q.column_int(1));
    }
    for (const auto& [id, depth] : refs) {
      if (depth == 0) {
        delete_snapshot(id);
        continue;
      }
      std::vector<std::vector<std::byte>> tail;
      {
        sqlite::Stmt q(db, "SELECT block_key FROM snapshot_blocks WHERE snapshot_id = ? AND depth >= ?");
        q.bind(1, id).bind(2, depth);
        while (q.step()) {
          auto k = q.column_blob(0);
          tail.emplace_back(k.begin(), k.end());
        }
      }
      sqlite::Stmt(db, "DELETE FROM snapshot_blocks WHERE snapshot_id = ? AND depth >= ?").bind(1, id).bind(2, depth).run();
      std::vector<std::byte> head;
      {
        sqlite::Stmt q(db, "SELECT block_key FROM snapshot_blocks WHERE snapshot_id = ? AND depth = ?");
        q.bind(1, id).bind(2, depth - 1);
        if (q.step()) {
          auto k = q.column_blob(0);
          head.assign(k.begin(), k.end());
        }
      }
      // If another snapshot already ends at the new head, this one is a duplicate.
      sqlite::Stmt dup(db, "SELECT 1 FROM snapshots WHERE head_key = ? AND id != ? LIMIT 1");
      dup.bind_blob(1, head).bind(2, id);
      if (head.empty() || dup.step()) {
        delete_snapshot(id);
      } else {
        sqlite::Stmt(db, "UPDATE snapshots SET head_key = ?, n_blocks = ? WHERE id = ?")
            .bind_blob(1, head)
            .bind(2, depth)
            .bind(3, id)
            .run();
      }
      for (const auto& k : tail) drop_block_if_unreferenced(k);
    }
    drop_block_if_unreferenced(key_span(key));
  }

  // Evicts least-recently-used snapshots (never `keep`) until the pages in use
  // fit in `max_bytes`. Returns how many were evicted.
  uint64_t evict_until(uint64_t max_bytes, std::optional<int64_t> keep) {
    uint64_t evicted = 0;
    while (used_bytes() > max_bytes) {
      sqlite::Stmt q(db, "SELECT id FROM snapshots WHERE id != ? ORDER BY used_tick ASC LIMIT 1");
      q.bind(1, keep.value_or(-1));
      if (!q.step()) break;
      const int64_t victim = q.column_int(0);
      q.reset();
      delete_snapshot(victim);
      ++evicted;
    }
    return evicted;
  }

  size_t stored_prefix(std::span<const Hash128> keys) {
    sqlite::Stmt q(db, "SELECT 1 FROM blocks WHERE key = ?");
    size_t n = 0;
    for (; n < keys.size(); ++n) {
      q.bind_blob(1, key_span(keys[n]));
      const bool found = q.step();
      q.reset();
      if (!found) break;
    }
    return n;
  }

  // Marks the snapshots that contain `key` as just used.
  void touch(const Hash128& key) {
    const int64_t tick = next_tick();
    sqlite::Stmt(db,
                 "UPDATE snapshots SET used_tick = ?, used_at = ? WHERE id IN "
                 "(SELECT snapshot_id FROM snapshot_blocks WHERE block_key = ?)")
        .bind(1, tick)
        .bind(2, unix_now())
        .bind_blob(3, key_span(key))
        .run();
  }
};

}  // namespace detail

using detail::StoreImpl;

// ---- Store ------------------------------------------------------------------

Store::Store(std::unique_ptr<StoreImpl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

Store Store::open(const std::filesystem::path& path, StoreOptions options) {
  auto impl = std::make_unique<StoreImpl>(path, std::move(options));
  auto& db = impl->db;
  const bool read_only = impl->options.read_only || db.read_only();
  if (!read_only) {
    impl->retry_loop([&] {
      // page_size and auto_vacuum take effect only on a new, empty file; WAL
      // lets readers in other processes go on while one process writes.
      const uint32_t page = impl->options.page_size ? impl->options.page_size : kDefaultPageSize;
      if (page < 512 || page > 65536 || (page & (page - 1)) != 0)
        fail(Errc::invalid_argument, path.string() + ": page size " + std::to_string(page) +
                                         " is not a power of two in 512..65536");
      db.exec("PRAGMA page_size = " + std::to_string(page));
      db.exec("PRAGMA auto_vacuum = INCREMENTAL");
      sqlite::Stmt mode(db, "PRAGMA journal_mode = WAL");
      const std::string got = mode.step() ? mode.column_text(0) : std::string();
      if (got != "wal") fail(Errc::io, path.string() + ": cannot switch the store to WAL mode (got '" + got + "')");
    });
    // In WAL mode NORMAL is safe against process crashes (SIGKILL): a
    // transaction is either in the WAL completely or ignored on recovery.
    db.exec("PRAGMA synchronous = NORMAL");
  }
  // Debian builds SQLite with SECURE_DELETE, which overwrites freed pages with
  // zeros: evicting a snapshot would write as much as it frees. The store holds
  // no secrets beyond the file itself.
  db.exec("PRAGMA secure_delete = OFF");
  if (impl->options.mmap_bytes > 0) db.exec("PRAGMA mmap_size = " + std::to_string(impl->options.mmap_bytes));
  impl->retry_loop([&] {
    sqlite::Transaction tx(db, read_only ? sqlite::Transaction::Mode::read : sqlite::Transaction::Mode::write);
    migrate(db, read_only);
    tx.commit();
  });
  impl->page_size = uint64_t(db.query_int("PRAGMA page_size"));
  if (impl->options.hard_limit_bytes > 0) {
    const uint64_t pages = std::max<uint64_t>(1, impl->options.hard_limit_bytes / impl->page_size);
    db.exec("PRAGMA max_page_count = " + std::to_string(pages));
  }
  return Store(std::move(impl));
}

const std::filesystem::path& Store::path() const noexcept { return impl_->path; }

size_t Store::lookup(std::span<const Hash128> keys) {
  std::lock_guard lock(impl_->mutex);
  size_t n = 0;
  impl_->retry_loop([&] {
    sqlite::Transaction tx(impl_->db, sqlite::Transaction::Mode::read);
    n = impl_->stored_prefix(keys);
    tx.commit();
  });
  return n;
}

std::vector<SnapshotInfo> Store::list() {
  std::lock_guard lock(impl_->mutex);
  std::vector<SnapshotInfo> out;
  impl_->retry_loop([&] {
    out.clear();
    sqlite::Transaction tx(impl_->db, sqlite::Transaction::Mode::read);
    sqlite::Stmt q(impl_->db,
                   "SELECT s.id, s.head_key, s.model, s.n_blocks, s.label, s.created_at, s.used_at, s.used_tick, "
                   "(SELECT COALESCE(SUM(b.bytes), 0) FROM snapshot_blocks sb JOIN blocks b ON b.key = sb.block_key "
                   " WHERE sb.snapshot_id = s.id) "
                   "FROM snapshots s ORDER BY s.used_tick DESC");
    while (q.step()) {
      SnapshotInfo s;
      s.id = q.column_int(0);
      s.head = Hash128::from_bytes(q.column_blob(1), impl_->path.string() + ": snapshot head key");
      s.model = Hash128::from_bytes(q.column_blob(2), impl_->path.string() + ": snapshot model");
      s.n_blocks = uint64_t(q.column_int(3));
      s.label = q.column_text(4);
      s.created_at = q.column_int(5);
      s.used_at = q.column_int(6);
      s.used_tick = q.column_int(7);
      s.bytes = uint64_t(q.column_int(8));
      out.push_back(std::move(s));
    }
    q.reset();
    tx.commit();
  });
  return out;
}

StoreStats Store::stats() {
  std::lock_guard lock(impl_->mutex);
  StoreStats s;
  auto& db = impl_->db;
  impl_->retry_loop([&] {
    sqlite::Transaction tx(db, sqlite::Transaction::Mode::read);
    s.schema_version = int(db.query_int("PRAGMA user_version"));
    s.page_size = impl_->page_size;
    s.file_bytes = uint64_t(db.query_int("PRAGMA page_count")) * s.page_size;
    s.used_bytes = impl_->used_bytes();
    s.snapshots = uint64_t(db.query_int("SELECT count(*) FROM snapshots"));
    s.blocks = uint64_t(db.query_int("SELECT count(*) FROM blocks"));
    s.parts = uint64_t(db.query_int("SELECT count(*) FROM parts"));
    s.payload_bytes = uint64_t(db.query_int("SELECT COALESCE(SUM(bytes), 0) FROM blocks"));
    tx.commit();
  });
  s.budget_bytes = impl_->options.max_bytes;
  std::error_code ec;
  const auto wal = std::filesystem::file_size(impl_->path.string() + "-wal", ec);
  s.wal_bytes = ec ? 0 : uint64_t(wal);
  return s;
}

PruneResult Store::prune(uint64_t max_bytes) {
  std::lock_guard lock(impl_->mutex);
  PruneResult r;
  auto& db = impl_->db;
  impl_->retry_loop([&] {
    sqlite::Transaction tx(db, sqlite::Transaction::Mode::write);
    r.used_bytes_before = impl_->used_bytes();
    r.snapshots_evicted = impl_->evict_until(max_bytes, std::nullopt);
    if (max_bytes == 0) {
      // Everything goes, including rows no snapshot references.
      db.exec("DELETE FROM snapshot_blocks; DELETE FROM snapshots;");
    }
    impl_->collect_garbage();
    db.exec("PRAGMA incremental_vacuum");
    r.used_bytes_after = impl_->used_bytes();
    tx.commit();
  });
  // Give the space back: copy the WAL into the file and truncate both. Best
  // effort: a reader in another process may keep part of the WAL alive.
  try {
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } catch (const Error&) {
  }
  return r;
}

VerifyResult Store::verify(bool remove_bad) {
  std::lock_guard lock(impl_->mutex);
  auto& db = impl_->db;
  VerifyResult result;
  std::vector<Hash128> bad_blocks;
  impl_->retry_loop([&] {
    result = VerifyResult{};
    bad_blocks.clear();
    sqlite::Transaction tx(db, sqlite::Transaction::Mode::read);
    {
      sqlite::Stmt check(db, "PRAGMA quick_check");
      while (check.step()) {
        const std::string line = check.column_text(0);
        if (line == "ok") continue;
        result.sqlite_ok = false;
        result.problems.push_back(impl_->path.string() + ": sqlite: " + line);
      }
    }
    sqlite::Stmt q(db,
                   "SELECT p.id, p.block_key, p.kind, p.idx, b.model FROM parts p "
                   "LEFT JOIN blocks b ON b.key = p.block_key ORDER BY p.id");
    std::vector<std::byte> buffer(kChunkBytes);
    while (q.step()) {
      const int64_t rowid = q.column_int(0);
      const auto key_bytes = q.column_blob(1);
      const PartId part{uint32_t(q.column_int(2)), uint32_t(q.column_int(3))};
      const std::string what = impl_->path.string() + ": parts row " + std::to_string(rowid) + " (" + part_name(part) + ")";
      ++result.parts_checked;
      Hash128 key;
      try {
        key = Hash128::from_bytes(key_bytes, what + " key");
        if (q.column_is_null(4)) fail(Errc::corrupt, what + ": belongs to no stored block");
        const Hash128 model = Hash128::from_bytes(q.column_blob(4), what + " model");
        sqlite::Blob blob(db, "parts", "data", rowid, false);
        const uint64_t size = blob.size();
        std::array<std::byte, kMaxBlobHeaderBytes> head;
        const size_t head_n = size_t(std::min<uint64_t>(size, head.size()));
        blob.read(0, std::span(head).first(head_n));
        const BlobHeader h = parse_blob_header(std::span(head).first(head_n), size, what);
        if (h.block_key != key) fail(Errc::corrupt, what + ": blob belongs to another block");
        if (h.part != part) fail(Errc::corrupt, what + ": blob holds another part");
        if (h.model != model) fail(Errc::corrupt, what + ": blob was written by another model");
        Hasher hasher;
        for (uint64_t off = 0; off < h.payload_bytes; off += kChunkBytes) {
          const auto n = size_t(std::min<uint64_t>(kChunkBytes, h.payload_bytes - off));
          blob.read(h.header_bytes() + off, std::span(buffer).first(n));
          hasher.update(std::span(buffer).first(n));
        }
        result.bytes_checked += h.payload_bytes;
        if (hasher.digest() != h.payload_checksum) fail(Errc::corrupt, what + ": payload checksum mismatch");
      } catch (const sqlite::Busy&) {
        throw;
      } catch (const Error& e) {
        ++result.bad_parts;
        result.problems.push_back(e.what());
        if (key_bytes.size() == 16) bad_blocks.push_back(key);
      }
    }
    q.reset();
    tx.commit();
  });
  if (remove_bad && !bad_blocks.empty()) {
    impl_->retry_loop([&] {
      sqlite::Transaction tx(db, sqlite::Transaction::Mode::write);
      for (const auto& k : bad_blocks) impl_->remove_block(k);
      impl_->collect_garbage();
      tx.commit();
    });
    for (const auto& line : result.problems) impl_->report(line + "; removed");
  }
  return result;
}

// ---- SnapshotWriter ---------------------------------------------------------

struct SnapshotWriter::State {
  StoreImpl* impl;
  std::unique_lock<std::mutex> lock;
  std::optional<sqlite::Transaction> tx;  // destroyed (rolled back) before the lock is released
  Hash128 model;
  std::vector<Hash128> keys;
  std::string label;
  std::vector<char> stored;    // already in the store before this writer
  std::vector<char> inserted;  // block row written by this writer
  std::set<std::tuple<size_t, uint32_t, uint32_t>> parts_written;
  bool committed = false;
  // Prepared once per writer: a snapshot has thousands of parts.
  sqlite::Stmt insert_block, insert_part, add_bytes;
};

SnapshotWriter::SnapshotWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}
SnapshotWriter::SnapshotWriter(SnapshotWriter&&) noexcept = default;
SnapshotWriter::~SnapshotWriter() = default;

size_t SnapshotWriter::n_blocks() const noexcept { return state_->keys.size(); }

bool SnapshotWriter::stored(size_t block) const {
  if (block >= state_->keys.size()) fail(Errc::invalid_argument, "SnapshotWriter::stored: block out of range");
  return state_->stored[block] != 0;
}

SnapshotWriter Store::write(const Hash128& model, std::span<const Hash128> keys, std::string label) {
  auto st = std::make_unique<SnapshotWriter::State>();
  st->impl = impl_.get();
  st->lock = std::unique_lock(impl_->mutex);
  if (impl_->options.read_only || impl_->db.read_only())
    fail(Errc::io, impl_->path.string() + ": store is read-only; the snapshot is not saved");
  st->model = model;
  st->keys.assign(keys.begin(), keys.end());
  st->label = std::move(label);
  st->inserted.assign(keys.size(), 0);
  auto& db = impl_->db;
  impl_->retry_loop([&] {
    st->tx.reset();
    st->tx.emplace(db, sqlite::Transaction::Mode::write);
  });
  st->insert_block = sqlite::Stmt(db, "INSERT INTO blocks(key, parent, depth, model, bytes) VALUES(?, ?, ?, ?, 0)");
  st->insert_part = sqlite::Stmt(db, "INSERT INTO parts(block_key, kind, idx, data) VALUES(?, ?, ?, ?)");
  st->add_bytes = sqlite::Stmt(db, "UPDATE blocks SET bytes = bytes + ? WHERE key = ?");
  const size_t prefix = impl_->stored_prefix(keys);
  st->stored.assign(keys.size(), 0);
  std::fill_n(st->stored.begin(), prefix, 1);
  return SnapshotWriter(std::move(st));
}

bool SnapshotWriter::put(size_t block, PartId part, const Layout& layout, std::span<const std::byte> payload) {
  const std::span<const std::byte> one[] = {payload};
  return put(block, part, layout, one);
}

bool SnapshotWriter::put(size_t block, PartId part, const Layout& layout,
                         std::span<const std::span<const std::byte>> pieces) {
  auto& st = *state_;
  if (st.committed) fail(Errc::invalid_argument, "SnapshotWriter::put after commit");
  if (block >= st.keys.size())
    fail(Errc::invalid_argument, "SnapshotWriter::put: block " + std::to_string(block) + " of " +
                                     std::to_string(st.keys.size()));
  if (st.stored[block]) return false;
  if (!st.parts_written.emplace(block, part.kind, part.index).second)
    fail(Errc::invalid_argument, "SnapshotWriter::put: block " + std::to_string(block) + " " + part_name(part) +
                                     " written twice");
  validate_layout(layout);
  uint64_t payload_bytes = 0;
  for (const auto& p : pieces) payload_bytes += p.size();

  BlobHeader header;
  header.part = part;
  header.layout = layout;
  header.payload_bytes = payload_bytes;
  header.block_key = st.keys[block];
  header.model = st.model;
  encode_blob_header(header);  // validates sizes before anything is written

  auto& db = st.impl->db;
  const auto key = key_span(st.keys[block]);
  if (!st.inserted[block]) {
    auto& ins = st.insert_block;
    ins.bind_blob(1, key);
    if (block == 0)
      ins.bind_null(2);
    else
      ins.bind_blob(2, key_span(st.keys[block - 1]));
    ins.bind(3, int64_t(block)).bind_blob(4, key_span(st.model)).run();
    st.inserted[block] = 1;
  }
  auto& ins = st.insert_part;
  ins.bind_blob(1, key).bind(2, int64_t(part.kind)).bind(3, int64_t(part.index));
  ins.bind_zeroblob(4, header.header_bytes() + payload_bytes).run();
  const int64_t rowid = db.last_insert_rowid();

  // Payload first, hashed chunk by chunk on its way in; the header, which holds
  // the checksum, last.
  sqlite::Blob blob(db, "parts", "data", rowid, true);
  Hasher hasher;
  uint64_t offset = header.header_bytes();
  for (const auto& piece : pieces) {
    for (size_t at = 0; at < piece.size(); at += kChunkBytes) {
      const auto chunk = piece.subspan(at, std::min(kChunkBytes, piece.size() - at));
      hasher.update(chunk);
      blob.write(offset, chunk);
      offset += chunk.size();
    }
  }
  header.payload_checksum = hasher.digest();
  blob.write(0, encode_blob_header(header));
  st.add_bytes.bind(1, int64_t(payload_bytes)).bind_blob(2, key).run();
  return true;
}

void SnapshotWriter::commit() {
  auto& st = *state_;
  if (st.committed) fail(Errc::invalid_argument, "SnapshotWriter::commit called twice");
  auto& impl = *st.impl;
  auto& db = impl.db;
  const size_t n = st.keys.size();
  for (size_t b = 0; b < n; ++b)
    if (!st.stored[b] && !st.inserted[b])
      fail(Errc::invalid_argument, impl.path.string() + ": snapshot block " + std::to_string(b) +
                                       " has no parts; write every block that is not stored");
  if (n > 0) {
    const int64_t tick = impl.next_tick();
    const int64_t now = unix_now();
    int64_t id = 0;
    const bool all_stored = std::all_of(st.stored.begin(), st.stored.end(), [](char c) { return c != 0; });
    if (auto existing = impl.snapshot_with_head(st.keys.back())) {
      // The same stream was stored before (by us or another process): refresh it.
      id = *existing;
      sqlite::Stmt(db, "UPDATE snapshots SET used_tick = ?, used_at = ? WHERE id = ?")
          .bind(1, tick)
          .bind(2, now)
          .bind(3, id)
          .run();
    } else if (all_stored) {
      // A prefix of a stored stream: nothing new to keep, only mark it used.
      impl.touch(st.keys.back());
    } else {
      sqlite::Stmt(db,
                   "INSERT INTO snapshots(head_key, model, n_blocks, label, created_at, used_at, used_tick) "
                   "VALUES(?, ?, ?, ?, ?, ?, ?)")
          .bind_blob(1, key_span(st.keys.back()))
          .bind_blob(2, key_span(st.model))
          .bind(3, int64_t(n))
          .bind(4, st.label)
          .bind(5, now)
          .bind(6, now)
          .bind(7, tick)
          .run();
      id = db.last_insert_rowid();
      sqlite::Stmt link(db, "INSERT INTO snapshot_blocks(snapshot_id, depth, block_key) VALUES(?, ?, ?)");
      for (size_t b = 0; b < n; ++b) {
        link.bind(1, id).bind(2, int64_t(b)).bind_blob(3, key_span(st.keys[b]));
        link.run();
      }
      // Snapshots of a strict prefix of this stream are now redundant: their
      // blocks live on in this one.
      for (size_t b = 0; b + 1 < n; ++b)
        if (st.stored[b])
          while (auto prefix = impl.snapshot_with_head(st.keys[b])) impl.delete_snapshot(*prefix);
    }
    if (impl.options.max_bytes > 0) {
      if (impl.evict_until(impl.options.max_bytes, id == 0 ? std::nullopt : std::optional<int64_t>(id)) > 0) db.exec("PRAGMA incremental_vacuum");
      const uint64_t used = impl.used_bytes();
      if (used > impl.options.max_bytes)
        fail(Errc::io, impl.path.string() + ": snapshot does not fit in the store's budget (" +
                           std::to_string(used) + " bytes needed, budget " + std::to_string(impl.options.max_bytes) +
                           "); the snapshot is not saved");
    }
  }
  st.tx->commit();
  st.committed = true;
  st.tx.reset();
  st.lock.unlock();
}

// ---- RestoreReader ----------------------------------------------------------

struct RestoreReader::State {
  StoreImpl* impl;
  std::unique_lock<std::mutex> lock;
  std::optional<sqlite::Transaction> tx;
  Hash128 model;
  std::vector<Hash128> keys;  // the stored prefix only
  size_t usable = 0;
  std::vector<Hash128> bad;
  bool finished = false;
  sqlite::Stmt find_part;  // prepared once: a restore reads thousands of parts
  std::vector<std::byte> header;  // kMaxBlobHeaderBytes

  // Rowid of a part, or nullopt.
  std::optional<int64_t> part_row(size_t block, PartId part) {
    find_part.bind_blob(1, keys[block].span()).bind(2, int64_t(part.kind)).bind(3, int64_t(part.index));
    std::optional<int64_t> row;
    if (find_part.step()) row = find_part.column_int(0);
    find_part.reset();
    return row;
  }
};

RestoreReader::RestoreReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
RestoreReader::RestoreReader(RestoreReader&&) noexcept = default;
RestoreReader::~RestoreReader() {
  if (state_) finish();
}

size_t RestoreReader::n_blocks() const noexcept { return state_->usable; }

RestoreReader Store::restore(const Hash128& model, std::span<const Hash128> keys) {
  auto st = std::make_unique<RestoreReader::State>();
  st->impl = impl_.get();
  st->lock = std::unique_lock(impl_->mutex);
  st->model = model;
  size_t n = 0;
  impl_->retry_loop([&] {
    st->tx.reset();
    st->tx.emplace(impl_->db, sqlite::Transaction::Mode::read);
    n = impl_->stored_prefix(keys);
  });
  st->keys.assign(keys.begin(), keys.begin() + ptrdiff_t(n));
  st->usable = n;
  st->find_part = sqlite::Stmt(impl_->db, "SELECT id FROM parts WHERE block_key = ? AND kind = ? AND idx = ?");
  st->header.resize(kMaxBlobHeaderBytes);
  return RestoreReader(std::move(st));
}

std::optional<PartInfo> RestoreReader::part_info(size_t block, PartId part) {
  auto& st = *state_;
  if (st.finished || block >= st.usable) return std::nullopt;
  auto& db = st.impl->db;
  const auto row = st.part_row(block, part);
  if (!row) return std::nullopt;
  try {
    sqlite::Blob blob(db, "parts", "data", *row, false);
    std::array<std::byte, kMaxBlobHeaderBytes> head;
    const size_t head_n = size_t(std::min<uint64_t>(blob.size(), head.size()));
    blob.read(0, std::span(head).first(head_n));
    BlobHeader h = parse_blob_header(std::span(head).first(head_n), blob.size(), st.impl->path.string());
    return PartInfo{std::move(h.layout), h.payload_bytes};
  } catch (const sqlite::Busy&) {
    throw;
  } catch (const Error&) {
    return std::nullopt;  // read() will find, report and remove it
  }
}

ReadStatus RestoreReader::read(size_t block, PartId part, const Layout& expected, std::span<std::byte> out) {
  const std::span<std::byte> one[] = {out};
  return read(block, part, expected, one);
}

ReadStatus RestoreReader::read(size_t block, PartId part, const Layout& expected,
                               std::span<const std::span<std::byte>> out) {
  auto& st = *state_;
  if (st.finished) fail(Errc::invalid_argument, "RestoreReader::read after finish");
  if (block >= st.keys.size())
    fail(Errc::invalid_argument, "RestoreReader::read: block " + std::to_string(block) + " is not stored");
  if (block >= st.usable) return ReadStatus::bad;  // an earlier block was bad: this one is unreachable
  auto& impl = *st.impl;
  const std::string what = impl.path.string() + ": block " + std::to_string(block) + " (" +
                           st.keys[block].hex().substr(0, 16) + ") " + part_name(part);
  try {
    const auto row = st.part_row(block, part);
    if (!row) fail(Errc::corrupt, what + ": part missing");
    sqlite::Blob blob(impl.db, "parts", "data", *row, false);
    const uint64_t size = blob.size();
    const auto head = std::span(st.header).first(size_t(std::min<uint64_t>(size, st.header.size())));
    blob.read(0, head);
    const BlobHeader h = parse_blob_header(head, size, what);
    if (h.block_key != st.keys[block]) fail(Errc::corrupt, what + ": blob belongs to another block");
    if (h.model != st.model) fail(Errc::corrupt, what + ": written by another model (fingerprint mismatch)");
    if (h.part != part) fail(Errc::corrupt, what + ": blob holds " + part_name(h.part));
    if (h.layout != expected)
      fail(Errc::format, what + ": stored layout \"" + h.layout.descriptor + "\" v" + std::to_string(h.layout.version) +
                             ", expected \"" + expected.descriptor + "\" v" + std::to_string(expected.version));
    uint64_t want = 0;
    for (const auto& piece : out) want += piece.size();
    if (want != h.payload_bytes)
      fail(Errc::format, what + ": payload is " + std::to_string(h.payload_bytes) + " bytes, expected " +
                             std::to_string(want));
    // Straight into the caller's memory, hashed chunk by chunk while it is hot.
    Hasher hasher;
    uint64_t offset = h.header_bytes();
    for (const auto& piece : out) {
      for (size_t at = 0; at < piece.size(); at += kChunkBytes) {
        const auto chunk = piece.subspan(at, std::min(kChunkBytes, piece.size() - at));
        blob.read(offset, chunk);
        hasher.update(chunk);
        offset += chunk.size();
      }
    }
    if (hasher.digest() != h.payload_checksum) fail(Errc::corrupt, what + ": payload checksum mismatch");
    return ReadStatus::ok;
  } catch (const sqlite::Busy&) {
    throw;
  } catch (const Error& e) {
    impl.report(std::string(e.what()) + "; the block is removed and will be recomputed");
    st.bad.push_back(st.keys[block]);
    st.usable = block;
    return ReadStatus::bad;
  }
}

void RestoreReader::finish() noexcept {
  if (!state_ || state_->finished) return;
  auto& st = *state_;
  st.finished = true;
  auto& impl = *st.impl;
  st.tx.reset();  // end the read view
  const bool writable = !impl.options.read_only && !impl.db.read_only();
  if (writable && (!st.bad.empty() || st.usable > 0)) {
    try {
      if (st.bad.empty()) {
        // Only the LRU mark: best effort and never a wait behind a writer.
        impl.db.set_busy_timeout(std::chrono::milliseconds(0));
        try {
          sqlite::Transaction tx(impl.db, sqlite::Transaction::Mode::write);
          impl.touch(st.keys[st.usable - 1]);
          tx.commit();
        } catch (const sqlite::Busy&) {
        }
        impl.db.set_busy_timeout(std::chrono::milliseconds(2000));
      } else {
        impl.retry_loop([&] {
          sqlite::Transaction tx(impl.db, sqlite::Transaction::Mode::write);
          for (const auto& k : st.bad) impl.remove_block(k);
          if (st.usable > 0) impl.touch(st.keys[st.usable - 1]);
          tx.commit();
        });
      }
    } catch (const std::exception& e) {
      impl.report(impl.path.string() + ": could not update the store after a restore: " + e.what());
    }
  } else if (!st.bad.empty()) {
    impl.report(impl.path.string() + ": store is read-only; bad blocks were skipped but not removed");
  }
  st.lock.unlock();
}

}  // namespace folio::store
