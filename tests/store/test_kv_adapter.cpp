// The host paged KV cache saved to and restored from a store, bit for bit.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "runtime/kv/paged_cache.hpp"
#include "runtime/store/kv_adapter.hpp"
#include "store_test_util.hpp"

using namespace folio;
using namespace folio::store;
using namespace folio::store::test;

namespace {

kv::CacheConfig config() {
  kv::CacheConfig c;
  c.n_layers = 3;
  c.n_kv_heads = 2;
  c.head_dim = 16;
  c.max_tokens = 64 * 16;
  c.minmax_summary = true;
  return c;
}

// Fills `n` tokens of every layer with random K/V, written in uneven chunks as
// a prefill would.
void fill(kv::PagedCache& cache, uint64_t seed, int64_t n) {
  const auto& c = cache.config();
  const size_t row = size_t(c.n_kv_heads * c.head_dim);
  uint64_t s = seed;
  for (int l = 0; l < c.n_layers; ++l) {
    for (int64_t pos = 0; pos < n;) {
      const int64_t chunk = std::min<int64_t>(n - pos, 37 + int64_t(splitmix(s) % 50));
      std::vector<float> k(size_t(chunk) * row), v(size_t(chunk) * row);
      for (auto& x : k) x = float(int64_t(splitmix(s) % 20001) - 10000) / 997.0f;
      for (auto& x : v) x = float(int64_t(splitmix(s) % 20001) - 10000) / 991.0f;
      cache.write(l, pos, chunk, k.data(), int64_t(row), v.data(), int64_t(row));
      pos += chunk;
    }
  }
}

// Compares blocks [0, n) of two caches bitwise: K, V and every summary.
bool same_blocks(const kv::PagedCache& a, const kv::PagedCache& b, int64_t n) {
  const auto& c = a.config();
  const size_t D = size_t(c.head_dim);
  for (int l = 0; l < c.n_layers; ++l)
    for (int64_t blk = 0; blk < n; ++blk)
      for (int h = 0; h < c.n_kv_heads; ++h) {
        if (std::memcmp(a.keys_t(l, blk, h), b.keys_t(l, blk, h), D * 64 * 4) != 0) return false;
        if (std::memcmp(a.values(l, blk, h), b.values(l, blk, h), D * 64 * 4) != 0) return false;
        if (std::memcmp(a.key_mean(l, blk, h), b.key_mean(l, blk, h), D * 4) != 0) return false;
        if (std::memcmp(a.key_min(l, blk, h), b.key_min(l, blk, h), D * 4) != 0) return false;
        if (std::memcmp(a.key_max(l, blk, h), b.key_max(l, blk, h), D * 4) != 0) return false;
      }
  return true;
}

}  // namespace

TEST_CASE("kv adapter: save and restore a paged cache bit-identically, with anchors") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  TempDir dir;
  const KeyContext ctx = context(seed);
  kv::PagedCache original(config());
  fill(original, seed, 64 * 10 + 21);  // 10 complete blocks and a partial one
  const auto keys = block_keys(ctx, tokens(seed, 64 * 10 + 21), {});
  REQUIRE(keys.size() == 10);
  std::vector<std::vector<std::byte>> anchors;
  for (size_t b = 0; b < 10; ++b) anchors.push_back(payload(seed, b, 9, b * 13));  // block 0: none
  auto store = Store::open(dir / "kv.db");
  const auto saved = save_snapshot(store, ctx.model, keys, original, "adapter", anchors);
  CHECK(saved.blocks_written == 10);

  kv::PagedCache restored(config());
  const auto r = restore_snapshot(store, ctx.model, keys, restored);
  CHECK(r.blocks == 10);
  CHECK(restored.size() == 640);
  CHECK(same_blocks(original, restored, 10));
  CHECK(r.anchors == anchors);

  // The stored summaries equal the ones the restored cache recomputed.
  {
    auto reader = store.restore(ctx.model, keys);
    const auto& c = original.config();
    const size_t per_layer = size_t(3 * c.n_kv_heads * c.head_dim);
    std::vector<float> sums(size_t(c.n_layers) * per_layer);
    REQUIRE(reader.read(7, PartId::of(PartKind::summary), summary_part_layout(c),
                        std::as_writable_bytes(std::span(sums))) == ReadStatus::ok);
    for (int l = 0; l < c.n_layers; ++l) {
      const float* s = sums.data() + size_t(l) * per_layer;
      const size_t hd = size_t(c.n_kv_heads * c.head_dim);
      CHECK(std::memcmp(s, restored.key_mean(l, 7, 0), hd * 4) == 0);
      CHECK(std::memcmp(s + hd, restored.key_min(l, 7, 0), hd * 4) == 0);
      CHECK(std::memcmp(s + 2 * hd, restored.key_max(l, 7, 0), hd * 4) == 0);
    }
  }

  SUBCASE("a second save of the same stream writes nothing") {
    CHECK(save_snapshot(store, ctx.model, keys, original, "again").blocks_written == 0);
  }
  SUBCASE("a cache of another shape restores nothing (layout mismatch)") {
    auto other = config();
    other.head_dim = 8;
    kv::PagedCache small(other);
    StoreOptions quiet;
    std::vector<std::string> lines;
    quiet.report = [&](const std::string& s) { lines.push_back(s); };
    auto s2 = Store::open(dir / "other.db", quiet);
    save_snapshot(s2, ctx.model, keys, original, "x");
    CHECK(restore_snapshot(s2, ctx.model, keys, small).blocks == 0);
    CHECK(small.size() == 0);
    CHECK(lines.size() == 1);
  }
}

TEST_CASE("kv adapter: a damaged layer ends the restore at the block before it") {
  const uint64_t seed = fresh_seed();
  INFO("seed " << seed);
  TempDir dir;
  const KeyContext ctx = context(seed);
  kv::PagedCache original(config());
  fill(original, seed, 64 * 8);
  const auto keys = block_keys(ctx, tokens(seed, 64 * 8), {});
  {
    auto store = Store::open(dir / "kv.db");
    save_snapshot(store, ctx.model, keys, original, "x");
  }
  // Damage layer 2, block 5, head 1's values in the file itself.
  {
    std::ifstream in(dir / "kv.db", std::ios::binary);
    std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const auto* needle = reinterpret_cast<const char*>(original.values(2, 5, 1));
    auto it = std::search(bytes.begin(), bytes.end(), needle, needle + 256);
    REQUIRE(it != bytes.end());
    it[100] ^= 0x01;
    std::ofstream out(dir / "kv.db", std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
  }
  std::vector<std::string> lines;
  StoreOptions options;
  options.report = [&](const std::string& s) { lines.push_back(s); };
  auto store = Store::open(dir / "kv.db", options);
  kv::PagedCache restored(config());
  const auto r = restore_snapshot(store, ctx.model, keys, restored);
  CHECK(r.blocks == 5);
  CHECK(restored.size() == 5 * 64);
  for (int l = 0; l < 3; ++l) CHECK(restored.size(l) == 5 * 64);
  CHECK(same_blocks(original, restored, 5));
  CHECK(lines.size() == 1);
  // The caller prefills the rest and saves again: the next restore is whole.
  save_snapshot(store, ctx.model, keys, original, "x");
  kv::PagedCache again(config());
  CHECK(restore_snapshot(store, ctx.model, keys, again).blocks == 8);
  CHECK(same_blocks(original, again, 8));
}
