// Test helper for the `folio cache` CLI test: fills a store with random
// snapshots, or damages one stored payload byte behind the store's back.
//   store_fill fill PATH SNAPSHOTS BLOCKS KV_BYTES
//   store_fill damage PATH
#include <sqlite3.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "store_test_util.hpp"

using namespace folio::store;
using namespace folio::store::test;

int main(int argc, char** argv) {
  try {
    if (argc == 6 && std::strcmp(argv[1], "fill") == 0) {
      const uint64_t seed = fresh_seed();
      const KeyContext ctx = context(seed);
      auto store = Store::open(argv[2]);
      const int snapshots = std::stoi(argv[3]);
      const size_t blocks = std::stoul(argv[4]), kv_bytes = std::stoul(argv[5]);
      for (int i = 0; i < snapshots; ++i) {
        const auto keys = block_keys(ctx, tokens(seed + uint64_t(i), 64 * blocks), {});
        write_stream(store, ctx, keys, seed + uint64_t(i), kv_bytes, "snapshot " + std::to_string(i));
      }
      return 0;
    }
    if (argc == 3 && std::strcmp(argv[1], "damage") == 0) {
      sqlite3* db = nullptr;
      if (sqlite3_open(argv[2], &db) != SQLITE_OK) return 1;
      sqlite3_blob* blob = nullptr;
      // The last byte of the first part's payload.
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(db, "SELECT id, length(data) FROM parts ORDER BY id LIMIT 1", -1, &st, nullptr);
      if (sqlite3_step(st) != SQLITE_ROW) return 1;
      const sqlite3_int64 id = sqlite3_column_int64(st, 0);
      const int size = sqlite3_column_int(st, 1);
      sqlite3_finalize(st);
      if (sqlite3_blob_open(db, "main", "parts", "data", id, 1, &blob) != SQLITE_OK) return 1;
      unsigned char byte = 0;
      sqlite3_blob_read(blob, &byte, 1, size - 1);
      byte ^= 0x10;
      sqlite3_blob_write(blob, &byte, 1, size - 1);
      sqlite3_blob_close(blob);
      sqlite3_close(db);
      return 0;
    }
    std::fprintf(stderr, "usage: store_fill fill PATH SNAPSHOTS BLOCKS KV_BYTES | damage PATH\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store_fill: %s\n", e.what());
    return 1;
  }
}
