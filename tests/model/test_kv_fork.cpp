// Forked KV caches share their full blocks: the same pages, not copies; the
// partial last block is copied; writes to either side are never seen by the
// other (copy-on-write); shared pages are freed with their last holder; and a
// forked model session continues bit-identically to its origin.
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "runtime/backend/cpu/cpu_backend.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/kv/paged_cache.hpp"
#include "runtime/model/model.hpp"
#include "runtime/model/tiny_model.hpp"

using namespace folio;

namespace {

constexpr int kLayers = 2, kHeads = 2, kDim = 8;

kv::CacheConfig small_config() {
  kv::CacheConfig c;
  c.n_layers = kLayers;
  c.n_kv_heads = kHeads;
  c.head_dim = kDim;
  c.max_tokens = 1024;
  return c;
}

// Rows of k and v for positions pos0.., every value distinct per (salt, pos, i).
void fill(kv::PagedCache& c, int64_t pos0, int64_t n, float salt) {
  const int row = kHeads * kDim;
  std::vector<float> k(size_t(n * row)), v(k.size());
  for (int64_t t = 0; t < n; ++t)
    for (int i = 0; i < row; ++i) {
      k[size_t(t * row + i)] = salt + float(pos0 + t) + 0.001f * float(i);
      v[size_t(t * row + i)] = -salt - float(pos0 + t) - 0.001f * float(i);
    }
  for (int l = 0; l < kLayers; ++l) c.write(l, pos0, n, k.data(), row, v.data(), row);
}

// Value of token `pos`, head 0, dim 0 of layer 0 as stored.
float value_at(const kv::PagedCache& c, int64_t pos) {
  return c.values(0, pos / kv::kBlockTokens, 0)[(pos % kv::kBlockTokens) * kDim];
}

bool same_block(const kv::PagedCache& a, const kv::PagedCache& b, int layer, int64_t block) {
  // The whole page (keys, values, summaries) starts at head 0's keys.
  return std::memcmp(a.keys_t(layer, block, 0), b.keys_t(layer, block, 0), a.page_bytes()) == 0;
}

}  // namespace

TEST_CASE("kv fork shares full blocks, copies the partial one and never leaks writes across") {
  kv::PagedCache a(small_config());
  fill(a, 0, 150, 1.0f);  // blocks 0, 1 full; block 2 holds 22 tokens
  REQUIRE(a.family_pages() == 3 * kLayers);

  kv::PagedCache b = a.fork();
  CHECK(b.size() == 150);
  for (int l = 0; l < kLayers; ++l) {
    CHECK(b.keys_t(l, 0, 0) == a.keys_t(l, 0, 0));  // the same memory
    CHECK(b.keys_t(l, 1, 0) == a.keys_t(l, 1, 0));
    CHECK(b.keys_t(l, 2, 0) != a.keys_t(l, 2, 0));  // the partial block is each one's own
    for (int64_t blk = 0; blk < 3; ++blk) CHECK(same_block(a, b, l, blk));
  }
  // Only the partial block per layer is new memory.
  CHECK(a.family_pages() == 4 * kLayers);
  CHECK(b.bytes_shared() == 2 * kLayers * b.page_bytes());
  CHECK(b.family_bytes() == a.family_bytes());

  // Each appends its own tokens: neither sees the other's.
  fill(a, 150, 40, 1000.0f);  // a: 190 tokens, still 3 blocks
  fill(b, 150, 10, 5000.0f);  // b: 160 tokens
  CHECK(value_at(a, 150) == -1150.0f);
  CHECK(value_at(b, 150) == -5150.0f);
  CHECK(b.block_fill(0, 2) == 32);
  CHECK(b.key_mean(0, 2, 0)[0] != a.key_mean(0, 2, 0)[0]);  // summaries are per cache too
  CHECK(a.family_pages() == 4 * kLayers);                   // both wrote into their own block 2

  // Rewriting a shared block copies it first: the other cache keeps its values.
  fill(b, 64, 96, 7000.0f);  // b rewrites positions 64..159 (block 1 is shared)
  CHECK(value_at(b, 70) == -7070.0f);
  CHECK(value_at(a, 70) == -71.0f);
  CHECK(a.keys_t(0, 1, 0) != b.keys_t(0, 1, 0));
  CHECK(a.keys_t(0, 0, 0) == b.keys_t(0, 0, 0));  // block 0 still shared
  CHECK(a.family_pages() == 5 * kLayers);

  // Truncating into a shared block copies it too (the tail is zeroed in b only).
  kv::PagedCache c = a.fork();
  c.truncate(30);
  CHECK(value_at(a, 40) == -41.0f);
  CHECK(value_at(c, 40) == 0.0f);
  CHECK(c.block_fill(0, 0) == 30);
  CHECK(a.block_fill(0, 0) == 64);
}

TEST_CASE("kv fork: shared pages are freed with their last holder") {
  auto a = std::make_unique<kv::PagedCache>(small_config());
  fill(*a, 0, 64 * 4 + 5, 1.0f);  // 4 full blocks + 1 partial per layer
  kv::PagedCache b = a->fork();
  CHECK(b.family_pages() == 6 * kLayers);
  a->truncate(0);  // a drops its references: the shared pages live on in b
  CHECK(b.family_pages() == 5 * kLayers);
  CHECK(value_at(b, 200) == -201.0f);
  CHECK(b.bytes_shared() == 0);
  a.reset();
  CHECK(b.family_pages() == 5 * kLayers);
  {
    kv::PagedCache c = b.fork();
    CHECK(b.family_pages() == 6 * kLayers);
    b.truncate(0);
    CHECK(c.family_pages() == 5 * kLayers);
    c.truncate(64);
    CHECK(c.family_pages() == 1 * kLayers);
  }
  CHECK(b.family_pages() == 0);  // the last holder went: nothing left
}

TEST_CASE("a forked model session continues bit-identically and memory grows by its own tokens only") {
  model::TinyConfig tc = model::tiny_preset("qwen3moe", "tiny");
  tc.seed = 5;
  auto bytes = std::make_shared<std::vector<std::byte>>(model::tiny_model_bytes(tc));
  auto file = std::make_shared<const gguf::File>(gguf::File::parse(*bytes, "tiny.gguf"));
  auto be = cpu::make_cpu_backend({2});
  const model::Model m = model::Model::load(file, *be);
  const int64_t n_vocab = m.hparams().n_vocab;

  std::vector<model::TokenId> corpus(300), q1(20), q2(70);
  for (size_t i = 0; i < corpus.size(); ++i) corpus[i] = model::TokenId((i * 7 + 3) % size_t(n_vocab));
  for (size_t i = 0; i < q1.size(); ++i) q1[i] = model::TokenId((i * 11 + 1) % size_t(n_vocab));
  for (size_t i = 0; i < q2.size(); ++i) q2[i] = model::TokenId((i * 13 + 5) % size_t(n_vocab));

  model::Session origin(m, {1024, 64});
  origin.prefill(corpus);
  const auto mem0 = origin.kv_cache().memory();
  // The origin's answers to q1 and q2, each from the bare corpus.
  const std::vector<float> want1 = [&] {
    auto s = origin.prefill(q1);
    return std::vector<float>(s.begin(), s.end());
  }();
  const std::vector<float> want1_next = [&] {
    auto s = origin.decode_step(42);
    return std::vector<float>(s.begin(), s.end());
  }();
  origin.truncate(int64_t(corpus.size()));
  const std::vector<float> want2 = [&] {
    auto s = origin.prefill(q2);
    return std::vector<float>(s.begin(), s.end());
  }();
  origin.truncate(int64_t(corpus.size()));
  CHECK(origin.kv_cache().memory().family_bytes == mem0.family_bytes);

  constexpr int kForks = 4;
  std::vector<std::unique_ptr<model::Session>> forks;
  for (int i = 0; i < kForks; ++i) {
    forks.push_back(std::make_unique<model::Session>(m, model::SessionOptions{1024, 64}));
    REQUIRE(forks.back()->fork_cache_from(origin));
    CHECK(forks.back()->n_past() == int64_t(corpus.size()));
  }
  // 300 tokens: 4 full blocks shared, the partial fifth copied per fork and layer.
  const size_t page = mem0.bytes / size_t(kv::blocks_for(300));  // one block of every layer
  const auto grown = origin.kv_cache().memory();
  CHECK(grown.family_bytes == mem0.bytes + kForks * page);
  CHECK(grown.shared_bytes == mem0.bytes - page);

  // Fork 0 appends q1 and keeps it; fork 1 then answers q2 and fork 2 q1:
  // exactly the origin's logits, bit for bit, whatever the others appended.
  const auto f1 = forks[0]->prefill(q1);
  CHECK(std::memcmp(f1.data(), want1.data(), want1.size() * sizeof(float)) == 0);
  const auto f1n = forks[0]->decode_step(42);
  CHECK(std::memcmp(f1n.data(), want1_next.data(), want1_next.size() * sizeof(float)) == 0);
  const auto f2 = forks[1]->prefill(q2);
  CHECK(std::memcmp(f2.data(), want2.data(), want2.size() * sizeof(float)) == 0);
  const auto f3 = forks[2]->prefill(q1);
  CHECK(std::memcmp(f3.data(), want1.data(), want1.size() * sizeof(float)) == 0);

  // Their own tokens are the only growth: fork 2 (320 tokens) stays within its
  // copied partial block, fork 0 (321) and fork 1 (370) need one more block each.
  CHECK(origin.kv_cache().memory().family_bytes == mem0.bytes + (kForks + 2) * page);

  // Dropping the origin frees nothing the forks still hold.
  const auto before = forks[3]->kv_cache().memory().family_bytes;
  origin.truncate(0);
  CHECK(forks[3]->kv_cache().memory().family_bytes == before - page);  // only the origin's private block
  forks[3]->truncate(int64_t(corpus.size()));
  const auto f4 = forks[3]->prefill(q2);
  CHECK(std::memcmp(f4.data(), want2.data(), want2.size() * sizeof(float)) == 0);
}
