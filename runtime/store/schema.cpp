#include "runtime/store/schema.hpp"

#include <string>

namespace folio::store {

namespace {

// Schema 1.
//   blocks          one row per stored KV block, addressed by its chain key
//   parts           the payload blobs of a block (blob_format.hpp), one per
//                   (kind, index); read and written with incremental BLOB I/O
//   snapshots       a stored token-stream prefix: its last block's key, its
//                   model, label and LRU clock
//   snapshot_blocks which blocks (by depth) make up each snapshot. A block is
//                   kept while any snapshot references it: snapshots of streams
//                   with a common prefix share the prefix's blocks.
// Large blobs live in their own table so the small tables stay dense and the
// prefix lookup never touches payload pages.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE meta(
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE blocks(
  key    BLOB PRIMARY KEY,      -- 16-byte chain key
  parent BLOB,                  -- key of the previous block, NULL for the first
  depth  INTEGER NOT NULL,      -- block index in the stream
  model  BLOB NOT NULL,         -- 16-byte model fingerprint
  bytes  INTEGER NOT NULL       -- payload bytes of all its parts
) WITHOUT ROWID;
CREATE TABLE parts(
  id        INTEGER PRIMARY KEY,
  block_key BLOB NOT NULL,
  kind      INTEGER NOT NULL,
  idx       INTEGER NOT NULL,
  data      BLOB NOT NULL,      -- header + payload, see blob_format.hpp
  UNIQUE(block_key, kind, idx)
);
CREATE TABLE snapshots(
  id         INTEGER PRIMARY KEY,
  head_key   BLOB NOT NULL,     -- key of its last block
  model      BLOB NOT NULL,
  n_blocks   INTEGER NOT NULL,
  label      TEXT NOT NULL,
  created_at INTEGER NOT NULL,  -- unix seconds
  used_at    INTEGER NOT NULL,  -- unix seconds of the last restore
  used_tick  INTEGER NOT NULL   -- LRU order: a counter, strictly increasing across processes
);
CREATE INDEX snapshots_by_head ON snapshots(head_key);
CREATE INDEX snapshots_by_use ON snapshots(used_tick);
CREATE TABLE snapshot_blocks(
  snapshot_id INTEGER NOT NULL,
  depth       INTEGER NOT NULL,
  block_key   BLOB NOT NULL,
  PRIMARY KEY(snapshot_id, depth)
) WITHOUT ROWID;
CREATE INDEX snapshot_blocks_by_key ON snapshot_blocks(block_key);
INSERT INTO meta(key, value) VALUES('application', 'folio kv-snapshot store'), ('block_tokens', '64');
)sql";

// migrations[v] upgrades version v to v+1.
constexpr const char* kMigrations[] = {kSchemaV1};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion);

}  // namespace

void migrate(sqlite::Db& db, bool read_only) {
  const int64_t app_id = db.query_int("PRAGMA application_id");
  const int64_t version = db.query_int("PRAGMA user_version");
  if (app_id != 0 && app_id != kApplicationId)
    fail(Errc::format, db.name() + ": not a Folio KV store (SQLite application_id " + std::to_string(app_id) + ")");
  if (app_id == 0 && version == 0) {
    // A new file, or some other SQLite database: only an empty one is ours to take.
    if (db.query_int("SELECT count(*) FROM sqlite_schema") != 0)
      fail(Errc::format, db.name() + ": not a Folio KV store (a SQLite database with other tables)");
  }
  if (version > kSchemaVersion)
    fail(Errc::unsupported, db.name() + ": store schema version " + std::to_string(version) +
                                " is newer than this Folio understands (" + std::to_string(kSchemaVersion) +
                                "); upgrade Folio or use another store file");
  if (version == kSchemaVersion) return;
  if (read_only)
    fail(Errc::io, db.name() + ": store needs schema migration from version " + std::to_string(version) + " to " +
                       std::to_string(kSchemaVersion) + " but was opened read-only");
  for (int64_t v = version; v < kSchemaVersion; ++v) db.exec(kMigrations[v]);
  db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
  db.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
}

}  // namespace folio::store
