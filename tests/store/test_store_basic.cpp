#include <doctest/doctest.h>

#include <sqlite3.h>

#include "runtime/common/error.hpp"
#include "store_test_util.hpp"

using namespace folio::store;
using namespace folio::store::test;

TEST_CASE("store: write, look up the longest prefix, restore byte-exact") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  TempDir dir;
  const KeyContext ctx = context(seed);
  const auto toks = tokens(seed, 64 * 12 + 30);
  const auto keys = block_keys(ctx, toks, {});
  constexpr size_t kv_bytes = 70000;  // not a multiple of the 256 KiB chunk
  {
    auto store = Store::open(dir / "kv.db");
    CHECK(store.lookup(keys) == 0);
    write_stream(store, ctx, keys, seed, kv_bytes, "corpus A");
    CHECK(store.lookup(keys) == 12);
  }
  // Another Store (as another process would) sees it.
  auto store = Store::open(dir / "kv.db");
  bool content_ok = false;
  CHECK(restore_and_check(store, ctx, keys, seed, kv_bytes, &content_ok) == 12);
  CHECK(content_ok);

  SUBCASE("a stream diverging in block 7 restores exactly 7 blocks") {
    auto t2 = toks;
    t2[64 * 7 + 63] += 1;
    const auto k2 = block_keys(ctx, t2, {});
    CHECK(store.lookup(k2) == 7);
    auto r = store.restore(ctx.model, k2);
    CHECK(r.n_blocks() == 7);
  }
  SUBCASE("another model or attention configuration finds nothing") {
    KeyContext other = ctx;
    other.attention = attention_fingerprint("different");
    CHECK(store.lookup(block_keys(other, toks, {})) == 0);
  }
  SUBCASE("list and stats describe what is stored") {
    const auto list = store.list();
    REQUIRE(list.size() == 1);
    CHECK(list[0].n_blocks == 12);
    CHECK(list[0].label == "corpus A");
    CHECK(list[0].head == keys.back());
    CHECK(list[0].model == ctx.model);
    CHECK(list[0].bytes == 12 * (kv_bytes + 256));
    const auto st = store.stats();
    CHECK(st.schema_version == 1);
    CHECK(st.snapshots == 1);
    CHECK(st.blocks == 12);
    CHECK(st.parts == 24);
    CHECK(st.payload_bytes == 12 * (kv_bytes + 256));
    CHECK(st.used_bytes >= st.payload_bytes);
  }
  SUBCASE("part_info reports the stored layout and size") {
    auto r = store.restore(ctx.model, keys);
    const auto info = r.part_info(3, PartId::of(PartKind::kv));
    REQUIRE(info);
    CHECK(info->layout == kKvLayout);
    CHECK(info->payload_bytes == kv_bytes);
    CHECK_FALSE(r.part_info(3, PartId::of(PartKind::anchors)));
  }
  SUBCASE("scatter read into pieces equals the contiguous read") {
    auto r = store.restore(ctx.model, keys);
    std::vector<std::byte> a(1000), b(kv_bytes - 1000 - 5), c(5);
    const std::span<std::byte> pieces[] = {a, b, c};
    REQUIRE(r.read(4, PartId::of(PartKind::kv), kKvLayout, pieces) == ReadStatus::ok);
    std::vector<std::byte> joined(a);
    joined.insert(joined.end(), b.begin(), b.end());
    joined.insert(joined.end(), c.begin(), c.end());
    CHECK(joined == payload(seed, 4, 1, kv_bytes));
  }
}

TEST_CASE("store: extending a stream shares its prefix blocks and replaces the shorter snapshot") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  TempDir dir;
  const KeyContext ctx = context(seed);
  auto store = Store::open(dir / "kv.db");
  const auto toks = tokens(seed, 64 * 10);
  const auto all = block_keys(ctx, toks, {});
  const std::vector<Hash128> first(all.begin(), all.begin() + 6);
  write_stream(store, ctx, first, seed, 4096);
  {
    auto w = store.write(ctx.model, all, "longer");
    for (size_t b = 0; b < 6; ++b) CHECK(w.stored(b));
    for (size_t b = 6; b < 10; ++b) CHECK_FALSE(w.stored(b));
    CHECK_FALSE(w.put(0, PartId::of(PartKind::kv), kKvLayout, payload(seed, 0, 1, 4096)));  // not rewritten
    for (size_t b = 6; b < 10; ++b) {
      CHECK(w.put(b, PartId::of(PartKind::kv), kKvLayout, payload(seed, b, 1, 4096)));
      CHECK(w.put(b, PartId::of(PartKind::summary), kSummaryLayout, payload(seed, b, 2, 256)));
    }
    w.commit();
  }
  const auto list = store.list();
  REQUIRE(list.size() == 1);  // the 6-block snapshot is subsumed
  CHECK(list[0].n_blocks == 10);
  CHECK(store.stats().blocks == 10);
  bool ok = false;
  CHECK(restore_and_check(store, ctx, all, seed, 4096, &ok) == 10);
  CHECK(ok);
  // A branch sharing 4 blocks adds only its own blocks.
  auto t2 = toks;
  t2[64 * 4] += 1;
  const auto branch = block_keys(ctx, t2, {});
  write_stream(store, ctx, branch, seed ^ 1, 4096, "branch");
  CHECK(store.list().size() == 2);
  CHECK(store.stats().blocks == 16);
  CHECK(store.lookup(branch) == 10);
  CHECK(store.lookup(all) == 10);
}

TEST_CASE("store: an uncommitted writer leaves nothing; misuse is refused") {
  const uint64_t seed = fresh_seed();
  TempDir dir;
  const KeyContext ctx = context(seed);
  auto store = Store::open(dir / "kv.db");
  const auto keys = block_keys(ctx, tokens(seed, 64 * 3), {});
  {
    auto w = store.write(ctx.model, keys, "abandoned");
    w.put(0, PartId::of(PartKind::kv), kKvLayout, payload(seed, 0, 1, 100));
    CHECK_THROWS_AS(w.put(0, PartId::of(PartKind::kv), kKvLayout, payload(seed, 0, 1, 100)), folio::Error);
    CHECK_THROWS_AS(w.put(3, PartId::of(PartKind::kv), kKvLayout, payload(seed, 0, 1, 100)), folio::Error);
    CHECK_THROWS_AS(w.commit(), folio::Error);  // blocks 1 and 2 have no parts
  }
  CHECK(store.lookup(keys) == 0);
  CHECK(store.stats().parts == 0);
  CHECK(store.list().empty());
}

TEST_CASE("store: schema versions") {
  TempDir dir;
  const auto path = dir / "kv.db";
  { auto store = Store::open(path); }
  auto set_pragma = [&](const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  };
  SUBCASE("a newer schema is refused with a message naming the file") {
    set_pragma("PRAGMA user_version = 99");
    try {
      Store::open(path);
      FAIL("a newer schema was accepted");
    } catch (const folio::Error& e) {
      const std::string msg = e.what();
      CHECK(e.code() == folio::Errc::unsupported);
      CHECK(msg.find(path.string()) != std::string::npos);
      CHECK(msg.find("99") != std::string::npos);
    }
  }
  SUBCASE("another application's database is refused") {
    const auto other = dir / "other.db";
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(other.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
    CHECK_THROWS_WITH_AS(Store::open(other), doctest::Contains("not a Folio KV store"), folio::Error);
  }
  SUBCASE("a fresh file is created at the current version, in WAL mode") {
    auto store = Store::open(dir / "new.db");
    CHECK(store.stats().schema_version == 1);
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir / "new.db").c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
}
