#include <doctest/doctest.h>

#include "runtime/common/error.hpp"
#include "store_test_util.hpp"

using namespace folio::store;
using namespace folio::store::test;

TEST_CASE("budget: least-recently-used snapshots are evicted first") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  TempDir dir;
  const KeyContext ctx = context(seed);
  constexpr size_t kv_bytes = 200000;  // ~1.8 MB per 9-block stream
  // Measure what one stream costs in pages, then allow three and a half.
  uint64_t empty_bytes = 0, stream_bytes = 0;
  {
    auto scratch = Store::open(dir / "scratch.db");
    empty_bytes = scratch.stats().used_bytes;
    write_stream(scratch, ctx, block_keys(ctx, tokens(seed + 100, 64 * 9), {}), seed, kv_bytes);
    stream_bytes = scratch.stats().used_bytes - empty_bytes;
  }
  StoreOptions options;
  options.max_bytes = empty_bytes + stream_bytes * 7 / 2;  // room for three streams, not four
  auto store = Store::open(dir / "kv.db", options);
  std::vector<std::vector<Hash128>> streams;
  for (int i = 0; i < 3; ++i) {
    streams.push_back(block_keys(ctx, tokens(seed + uint64_t(i), 64 * 9), {}));
    write_stream(store, ctx, streams.back(), seed + uint64_t(i), kv_bytes, std::string("s").append(std::to_string(i)));
  }
  for (const auto& s : streams) CHECK(store.lookup(s) == 9);
  // Use stream 0 again: stream 1 is now the least recently used.
  CHECK(restore_and_check(store, ctx, streams[0], seed, kv_bytes) == 9);
  streams.push_back(block_keys(ctx, tokens(seed + 3, 64 * 9), {}));
  write_stream(store, ctx, streams[3], seed + 3, kv_bytes, "s3");
  CHECK(store.lookup(streams[0]) == 9);
  CHECK(store.lookup(streams[1]) == 0);  // evicted
  CHECK(store.lookup(streams[2]) == 9);
  CHECK(store.lookup(streams[3]) == 9);
  CHECK(store.stats().used_bytes <= options.max_bytes);
  const auto list = store.list();  // most recently used first
  REQUIRE(list.size() == 3);
  CHECK(list[0].label == "s3");
  CHECK(list[1].label == "s0");
  CHECK(list[2].label == "s2");

  SUBCASE("a snapshot larger than the whole budget is refused and changes nothing") {
    const auto huge = block_keys(ctx, tokens(seed + 9, 64 * 40), {});
    CHECK_THROWS_WITH_AS(write_stream(store, ctx, huge, seed, kv_bytes), doctest::Contains("budget"), folio::Error);
    CHECK(store.lookup(huge) == 0);
    CHECK(store.list().size() == 3);
  }
  SUBCASE("prune evicts down to a smaller size, LRU first, and gives pages back") {
    const auto before = store.stats();
    const uint64_t target = empty_bytes + stream_bytes * 5 / 2;
    const auto r = store.prune(target);
    CHECK(r.snapshots_evicted == 1);
    CHECK(r.used_bytes_after <= target);
    CHECK(store.lookup(streams[2]) == 0);  // the least recently used of the three
    CHECK(store.lookup(streams[0]) == 9);
    CHECK(store.stats().file_bytes < before.file_bytes);
    CHECK(store.prune(0).snapshots_evicted == 2);
    const auto empty = store.stats();
    CHECK(empty.snapshots == 0);
    CHECK(empty.blocks == 0);
    CHECK(empty.parts == 0);
  }
}

TEST_CASE("budget: evicting a snapshot keeps blocks shared with others") {
  const uint64_t seed = fresh_seed();
  TempDir dir;
  const KeyContext ctx = context(seed);
  auto store = Store::open(dir / "kv.db");
  const auto toks = tokens(seed, 64 * 8);
  auto branch_toks = toks;
  branch_toks[64 * 5] += 1;
  const auto a = block_keys(ctx, toks, {});
  const auto b = block_keys(ctx, branch_toks, {});
  write_stream(store, ctx, a, seed, 100000, "a");
  write_stream(store, ctx, b, seed ^ 7, 100000, "b");
  CHECK(store.stats().blocks == 11);
  // a is older: a budget that holds one stream evicts a, keeps b whole.
  const uint64_t used = store.stats().used_bytes;
  store.prune(used - 1);
  CHECK(store.lookup(a) == 5);  // its shared prefix survives inside b
  CHECK(store.lookup(b) == 8);
  CHECK(store.verify().bad_parts == 0);
}
