// Attention through a sparse plan: the CPU backend against the attention
// library's exact reference over the same plan, and the model with plans.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "runtime/attention/planner.hpp"
#include "runtime/attention/reference.hpp"
#include "runtime/backend/cpu/cpu_attention.hpp"
#include "runtime/backend/cpu/cpu_backend.hpp"
#include "runtime/backend/cpu/thread_pool.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/model/model.hpp"
#include "runtime/model/tiny_model.hpp"

using namespace folio;

namespace {

std::vector<float> randn(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

double rel(const std::vector<float>& a, const std::vector<float>& b) {
  double mx = 0, err = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    mx = std::max(mx, std::fabs(double(b[i])));
    err = std::max(err, std::fabs(double(a[i]) - double(b[i])));
  }
  return err / mx;
}

}  // namespace

TEST_CASE("attention over a sparse plan equals the exact reference over the same plan") {
  cpu::ThreadPool pool(2);
  struct Case { int H, HK, D; int64_t past, n; int qblock; };
  const Case cases[] = {{8, 2, 32, 0, 700, 64}, {4, 4, 64, 300, 200, 128}, {8, 1, 16, 1000, 1, 64}, {4, 2, 32, 517, 90, 64}};
  uint64_t seed = 7;
  for (const Case& c : cases) {
    const int64_t total = c.past + c.n;
    const auto k = randn(size_t(total * c.HK * c.D), ++seed), v = randn(size_t(total * c.HK * c.D), ++seed);
    const auto q = randn(size_t(c.n * c.H * c.D), ++seed);
    kv::PagedCache cache({1, c.HK, c.D, total, true});
    cache.write(0, 0, total, k.data(), c.HK * c.D, v.data(), c.HK * c.D);
    attn::SparseConfig cfg;
    cfg.query_block = c.qblock;
    cfg.window_tokens = 128;
    cfg.topk_blocks = 2;
    const attn::Shape shape{c.H, c.HK, c.D};
    const attn::BlockSummaries sums = attn::summarize_blocks(k, total, c.HK, c.D);
    const std::vector<int32_t> globals{5, int32_t(total / 2)};
    const attn::Plan plan = attn::plan_attention(q, c.n, c.past, total, shape, sums, globals, cfg);
    const float scale = 1.0f / std::sqrt(float(c.D));
    std::vector<float> got(q.size()), want(q.size()), dense(q.size());
    const backend::Act qa{const_cast<float*>(q.data()), c.n, c.H * c.D, c.H * c.D};
    cpu::attention(pool, qa, cache, 0, c.past, {c.H, c.HK, c.D, scale}, {got.data(), c.n, c.H * c.D, c.H * c.D}, &plan);
    attn::attend_plan(q, {k, v, total}, shape, plan, scale, want);
    INFO("H " << c.H << " HK " << c.HK << " D " << c.D << " past " << c.past << " n " << c.n);
    CHECK(rel(got, want) < 1e-5);
    // A dense plan gives exactly the dense kernel's result.
    const attn::Plan dplan = attn::make_dense_plan(c.n, c.past, total, c.qblock, c.HK);
    cpu::attention(pool, qa, cache, 0, c.past, {c.H, c.HK, c.D, scale}, {dense.data(), c.n, c.H * c.D, c.H * c.D}, &dplan);
    std::vector<float> plain(q.size());
    cpu::attention(pool, qa, cache, 0, c.past, {c.H, c.HK, c.D, scale}, {plain.data(), c.n, c.H * c.D, c.H * c.D});
    CHECK(dense == plain);
    if (plan.block_indices.size() < dplan.block_indices.size())
      CHECK(rel(got, plain) > 1e-4);  // the sparse plan really skipped blocks
  }
}

TEST_CASE("a session with sparse attention matches dense when the budget covers the context") {
  model::TinyConfig c = model::tiny_preset("qwen3moe", "tiny");
  auto bytes = std::make_shared<std::vector<std::byte>>(model::tiny_model_bytes(c));
  auto file = std::make_shared<const gguf::File>(gguf::File::parse(*bytes, "tiny.gguf"));
  auto be = cpu::make_cpu_backend({2});
  const model::Model m = model::Model::load(file, *be);
  std::mt19937_64 rng(3);
  std::vector<int32_t> toks(400);
  for (auto& t : toks) t = int32_t(rng() % 600);

  model::Session dense(m, {512, 128});
  const auto ref = dense.prefill_all(toks);

  attn::SparseConfig wide;
  wide.window_tokens = 1024;  // covers all 400 positions
  model::Session s_wide(m, {512, 128, wide});
  CHECK(rel(s_wide.prefill_all(toks), ref) < 1e-6);

  attn::SparseConfig narrow;
  narrow.window_tokens = 64;
  narrow.topk_blocks = 1;
  model::Session s_narrow(m, {512, 128, narrow});
  s_narrow.set_global_positions({3, 70});
  const auto sparse = s_narrow.prefill_all(toks);
  const size_t V = size_t(m.hparams().n_vocab);
  // The first blocks are fully covered by sink + window: identical there.
  CHECK(rel(std::vector<float>(sparse.begin(), sparse.begin() + ptrdiff_t(100 * V)),
            std::vector<float>(ref.begin(), ref.begin() + ptrdiff_t(100 * V))) < 1e-6);
  CHECK(rel(sparse, ref) > 1e-4);
  for (float x : sparse) REQUIRE(std::isfinite(x));
  // decode steps plan too
  const auto lg = s_narrow.decode_step(5);
  for (float x : lg) REQUIRE(std::isfinite(x));
}
