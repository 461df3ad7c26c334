// The KV-snapshot store: one SQLite file that keeps the KV cache of prefilled
// token streams so that a later question, process or run restores the longest
// matching prefix instead of prefilling it again.
//
// The store knows nothing about models or caches. A stream is a list of block
// keys (block_key.hpp); each block holds opaque "parts" (K/V of the layers,
// summaries, the anchor map, ...), each written with the Layout it was laid out
// in and verified on every read (blob_format.hpp). The adapter in
// runtime/store/kv_adapter.hpp maps a kv::PagedCache onto parts.
//
//   auto store = Store::open("corpus.folio-kv");
//   auto keys = block_keys({model_fp, attn_fp}, tokens, global);
//   {
//     auto r = store.restore(model_fp, keys);       // consistent read view
//     for (size_t b = 0; b < r.n_blocks(); ++b)
//       if (r.read(b, part, layout, dest) != ReadStatus::ok) break;   // n_blocks() shrank
//     use blocks [0, r.n_blocks())
//   }
//   ... prefill the rest ...
//   auto w = store.write(model_fp, keys, "label");
//   for (b in blocks not w.stored(b)) w.put(b, part, layout, bytes);
//   w.commit();
//
// Concurrency: any number of processes may open the same file (SQLite WAL; a
// lock held by another process is waited for and retried, never surfaced as
// SQLITE_BUSY). One Store may be shared by threads: its calls are serialised,
// and a SnapshotWriter or RestoreReader holds the Store for its lifetime, so a
// thread must not call the Store while it holds one (open a second Store for
// parallel work). Writers hold SQLite's write lock from write() to commit():
// keep the time between them short.
//
// Faults: a part that is damaged, truncated, from another block or model, or in
// a layout other than the one the reader expects is reported once (through
// StoreOptions::report), removed, and read as ReadStatus::bad: the caller
// recomputes it. A writer killed at any moment leaves either its whole snapshot
// or nothing. Disk full, a read-only file or a database that cannot be opened
// throw folio::Error(io|corrupt|...) with a message naming the file; the caller
// goes on without the cache.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/store/blob_format.hpp"
#include "runtime/store/hash.hpp"

namespace folio::store {

// 64 KiB pages: a KV part is tens of KiB to MiB, and large pages mean short
// overflow chains for blob I/O. Parts much smaller than a page waste space.
inline constexpr uint32_t kDefaultPageSize = 65536;

struct StoreOptions {
  // Budget for the database's size (pages in use). After a snapshot is written,
  // least-recently-used snapshots are evicted until the store fits; a snapshot
  // that alone exceeds it is refused. 0: no budget.
  uint64_t max_bytes = 0;
  // A hard ceiling on the file size enforced by SQLite (max_page_count): a write
  // that would pass it fails as "disk full". 0: none.
  uint64_t hard_limit_bytes = 0;
  bool read_only = false;
  // Page size of a new file (a power of two in 512..65536); an existing file
  // keeps its own. 0: kDefaultPageSize.
  uint32_t page_size = 0;
  // Bytes of the file SQLite may read through mmap (capped by the SQLite
  // build, 2 GiB on Debian); 0 turns mmap off.
  uint64_t mmap_bytes = 0;
  // How long to wait for other processes' locks before giving up with an error.
  std::chrono::milliseconds busy_deadline{60000};
  // Receives one line per problem found in stored data (corrupt or mismatched
  // parts, removals). Default: print to stderr.
  std::function<void(const std::string&)> report;
};

struct SnapshotInfo {
  int64_t id = 0;
  Hash128 head;   // key of the last block
  Hash128 model;
  uint64_t n_blocks = 0;
  uint64_t bytes = 0;  // payload bytes of all its blocks (shared blocks counted in each)
  std::string label;
  int64_t created_at = 0;  // unix seconds
  int64_t used_at = 0;
  int64_t used_tick = 0;   // LRU order: lower is evicted first
};

struct StoreStats {
  int schema_version = 0;
  uint64_t page_size = 0;
  uint64_t file_bytes = 0;      // main database file
  uint64_t used_bytes = 0;      // pages in use (file minus free pages): what the budget counts
  uint64_t wal_bytes = 0;
  uint64_t budget_bytes = 0;    // StoreOptions::max_bytes
  uint64_t snapshots = 0;
  uint64_t blocks = 0;
  uint64_t parts = 0;
  uint64_t payload_bytes = 0;   // sum of part payloads
};

struct PruneResult {
  uint64_t snapshots_evicted = 0;
  uint64_t used_bytes_before = 0;
  uint64_t used_bytes_after = 0;
};

struct VerifyResult {
  uint64_t parts_checked = 0;
  uint64_t bytes_checked = 0;
  uint64_t bad_parts = 0;
  bool sqlite_ok = true;               // PRAGMA quick_check
  std::vector<std::string> problems;   // one line each
};

struct PartInfo {
  Layout layout;
  uint64_t payload_bytes = 0;
};

enum class ReadStatus { ok, bad };

namespace detail {
struct StoreImpl;
}

// Writes one snapshot in one transaction. Destroying it without commit() rolls
// everything back.
class SnapshotWriter {
 public:
  SnapshotWriter(SnapshotWriter&&) noexcept;
  SnapshotWriter& operator=(SnapshotWriter&&) = delete;
  ~SnapshotWriter();

  size_t n_blocks() const noexcept;
  // True when block `block` is already in the store (shared with an earlier
  // snapshot): its parts need not, and will not, be written again.
  bool stored(size_t block) const;
  // Writes one part of a block; `pieces` are concatenated (gathered straight
  // from cache pages, no staging copy). Returns false and writes nothing when
  // the block is already stored. A part may be written once per block.
  bool put(size_t block, PartId part, const Layout& layout, std::span<const std::span<const std::byte>> pieces);
  bool put(size_t block, PartId part, const Layout& layout, std::span<const std::byte> payload);
  // Makes the snapshot visible to every process at once, then enforces the
  // budget. Every block that was not stored must have at least one part.
  void commit();

 private:
  friend class Store;
  struct State;
  explicit SnapshotWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// A consistent view of the store for restoring one stream's prefix.
class RestoreReader {
 public:
  RestoreReader(RestoreReader&&) noexcept;
  RestoreReader& operator=(RestoreReader&&) = delete;
  ~RestoreReader();

  // Blocks of the stream's longest stored prefix that are still usable: shrinks
  // to `block` when read() finds block `block` bad.
  size_t n_blocks() const noexcept;
  // The stored layout and size of a part (nullopt when absent or unreadable).
  std::optional<PartInfo> part_info(size_t block, PartId part);
  // Reads a part into `out` (scattered to the pieces in order; their sizes must
  // add up to the payload size) and verifies header, key, model, layout and
  // checksum. On ReadStatus::bad the contents of `out` are unspecified and must
  // not be used; the problem was reported and the block is removed at finish().
  ReadStatus read(size_t block, PartId part, const Layout& expected, std::span<const std::span<std::byte>> out);
  ReadStatus read(size_t block, PartId part, const Layout& expected, std::span<std::byte> out);
  // Ends the read, removes bad blocks and marks the restored snapshot as used.
  // Never throws (problems are reported); the destructor calls it.
  void finish() noexcept;

 private:
  friend class Store;
  struct State;
  explicit RestoreReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class Store {
 public:
  // Opens or creates the store. Throws folio::Error naming the file when it
  // cannot be opened or created, is not a Folio store, or has a newer schema.
  static Store open(const std::filesystem::path& path, StoreOptions options = {});

  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  const std::filesystem::path& path() const noexcept;

  // Number of leading `keys` stored (the longest stored prefix, in blocks).
  size_t lookup(std::span<const Hash128> keys);
  // Opens a read view positioned on the longest stored prefix of `keys`.
  RestoreReader restore(const Hash128& model, std::span<const Hash128> keys);
  // Starts writing the snapshot of a stream whose complete blocks have `keys`.
  // Throws folio::Error(io) on a read-only store or when the write lock cannot
  // be had within the busy deadline.
  SnapshotWriter write(const Hash128& model, std::span<const Hash128> keys, std::string label);

  std::vector<SnapshotInfo> list();
  StoreStats stats();
  // Evicts least-recently-used snapshots until the pages in use fit in
  // `max_bytes` (0 evicts everything), then returns free pages to the OS.
  PruneResult prune(uint64_t max_bytes);
  // Reads and checks every part; removes bad ones (and the blocks and snapshot
  // tails that depend on them) unless `remove_bad` is false.
  VerifyResult verify(bool remove_bad = true);

 private:
  explicit Store(std::unique_ptr<detail::StoreImpl> impl);
  std::unique_ptr<detail::StoreImpl> impl_;
};

}  // namespace folio::store
