#include <doctest/doctest.h>

#include <cmath>
#include <tuple>

#include "runtime/attention/reference.hpp"
#include "tests/attention/test_support.hpp"

using namespace folio::attn;
using folio::attn::testing::random_values;
using folio::attn::testing::rel_error;

namespace {

// Brute force: softmax over the keys a mask allows, written independently of
// attend_plan (a full mask per query, no block lists, no ranges).
std::vector<float> masked_attention(const std::vector<float>& q, const std::vector<float>& k,
                                    const std::vector<float>& v, const Shape& s, const Plan& p, float scale) {
  const int d = s.head_dim, group = s.group();
  std::vector<float> out(q.size());
  for (int64_t i = 0; i < p.n_queries; ++i)
    for (int h = 0; h < s.n_heads; ++h) {
      const int g = h / group;
      std::vector<bool> allowed(size_t(p.n_keys), false);
      for (int32_t j : p.row(i / p.query_block, g))
        for (int64_t t = int64_t(j) * kBlockTokens; t < std::min<int64_t>(p.n_keys, (j + 1) * int64_t(kBlockTokens)); ++t)
          allowed[size_t(t)] = t <= p.q_offset + i;
      std::vector<double> w(size_t(p.n_keys), 0.0);
      double mx = -1e300, den = 0;
      for (int64_t t = 0; t < p.n_keys; ++t)
        if (allowed[size_t(t)]) {
          double dot = 0;
          for (int c = 0; c < d; ++c)
            dot += double(q[size_t((i * s.n_heads + h) * d + c)]) * k[size_t((t * s.n_kv_heads + g) * d + c)];
          w[size_t(t)] = dot * scale;
          mx = std::max(mx, w[size_t(t)]);
        }
      for (int64_t t = 0; t < p.n_keys; ++t)
        if (allowed[size_t(t)]) den += (w[size_t(t)] = std::exp(w[size_t(t)] - mx));
      for (int c = 0; c < d; ++c) {
        double acc = 0;
        for (int64_t t = 0; t < p.n_keys; ++t)
          if (allowed[size_t(t)]) acc += w[size_t(t)] * v[size_t((t * s.n_kv_heads + g) * d + c)];
        out[size_t((i * s.n_heads + h) * d + c)] = float(acc / den);
      }
    }
  return out;
}

}  // namespace

TEST_CASE("attention over the dense plan equals dense causal attention") {
  for (auto [nq, off, shape] : {std::tuple{int64_t(130), int64_t(0), Shape{4, 4, 16}},
                                std::tuple{int64_t(77), int64_t(190), Shape{8, 2, 32}},
                                std::tuple{int64_t(1), int64_t(260), Shape{8, 1, 64}}}) {
    const int64_t nk = nq + off;
    const auto q = random_values(size_t(nq * shape.n_heads * shape.head_dim), 31);
    const auto k = random_values(size_t(nk * shape.n_kv_heads * shape.head_dim), 32);
    const auto v = random_values(size_t(nk * shape.n_kv_heads * shape.head_dim), 33);
    const float scale = 1.0f / std::sqrt(float(shape.head_dim));
    std::vector<float> dense(q.size()), planned(q.size(), NAN);
    attend_dense(q, nq, off, {k, v, nk}, shape, scale, dense, 2);
    const Plan p = make_dense_plan(nq, off, nk, nq == 1 ? 1 : 64, shape.n_kv_heads);
    attend_plan(q, {k, v, nk}, shape, p, scale, planned, 2);
    CHECK(rel_error(planned, dense) < 1e-6);
    // Independent brute force agrees too.
    CHECK(rel_error(masked_attention(q, k, v, shape, p, scale), dense) < 1e-6);
  }
}

TEST_CASE("sparse attention is exact over its plan and differs from dense") {
  const Shape shape{8, 2, 16};
  const int64_t nq = 100, off = 900, nk = nq + off;  // 1000 keys: 16 blocks, the last partial
  const auto q = random_values(size_t(nq * shape.n_heads * shape.head_dim), 41);
  const auto k = random_values(size_t(nk * shape.n_kv_heads * shape.head_dim), 42);
  const auto v = random_values(size_t(nk * shape.n_kv_heads * shape.head_dim), 43);
  const BlockSummaries sum = summarize_blocks(k, nk, shape.n_kv_heads, shape.head_dim);
  SparseConfig cfg;
  cfg.window_tokens = 100;
  cfg.topk_blocks = 2;
  const std::vector<int32_t> globals = {130, 999};
  const Plan p = plan_attention(q, nq, off, nk, shape, sum, globals, cfg);
  const float scale = 0.25f;
  std::vector<float> out(q.size(), NAN), dense(q.size());
  attend_plan(q, {k, v, nk}, shape, p, scale, out);
  CHECK(rel_error(out, masked_attention(q, k, v, shape, p, scale)) < 1e-6);
  attend_dense(q, nq, off, {k, v, nk}, shape, scale, dense);
  CHECK(rel_error(out, dense) > 1e-3);  // the plan really skipped blocks
  CHECK(p.mean_attended_keys() < 0.7 * double(off + nq / 2));

  // With room for every block the sparse plan is the dense plan.
  cfg.topk_blocks = 1000;
  const Plan all = plan_attention(q, nq, off, nk, shape, sum, globals, cfg);
  CHECK(all.block_indices == make_dense_plan(nq, off, nk, cfg.query_block, shape.n_kv_heads).block_indices);
}

TEST_CASE("reference rejects spans that do not fit the shape") {
  const Shape shape{2, 1, 8};
  const auto q = random_values(2 * 8 * 4, 1);
  const auto k = random_values(8 * 4, 2);
  std::vector<float> out(q.size());
  CHECK_THROWS(attend_dense(q, 4, 0, {k, k, 5}, shape, 1.0f, out));  // 5 keys, span holds 4
  CHECK_THROWS(attend_dense(q, 4, 1, {k, k, 4}, shape, 1.0f, out));  // queries end past keys
}

TEST_CASE("threaded reference equals the single-threaded one; decode plans of one query") {
  const Shape shape{8, 2, 32};
  const int64_t nk = 777;  // the query sits at the last position, mid-block
  const auto q = random_values(size_t(shape.n_heads * shape.head_dim), 51);
  const auto k = random_values(size_t(nk * shape.n_kv_heads * shape.head_dim), 52);
  const auto v = random_values(size_t(nk * shape.n_kv_heads * shape.head_dim), 53);
  const BlockSummaries sum = summarize_blocks(k, nk, shape.n_kv_heads, shape.head_dim);
  SparseConfig cfg;
  cfg.query_block = 1;
  cfg.window_tokens = 100;
  cfg.topk_blocks = 2;
  cfg.score = ScoreMode::minmax_bound;
  const Plan p = plan_attention(q, 1, nk - 1, nk, shape, sum, {}, cfg);
  REQUIRE_NOTHROW(validate(p));
  for (int g = 0; g < shape.n_kv_heads; ++g) {
    const auto row = p.row(0, g);
    CHECK(row.front() == 0);                            // sink
    CHECK(row.back() == int32_t((nk - 1) / kBlockTokens));  // the query's own block
    CHECK(row.size() <= size_t(1 + 3 + cfg.topk_blocks));
  }
  std::vector<float> one(q.size()), four(q.size());
  attend_plan(q, {k, v, nk}, shape, p, 0.2f, one, 1);
  attend_plan(q, {k, v, nk}, shape, p, 0.2f, four, 4);
  CHECK(one == four);
  CHECK(rel_error(one, masked_attention(q, k, v, shape, p, 0.2f)) < 1e-6);
  // Attended keys: sink 64 + window blocks (partial last one) + 2 selected blocks.
  CHECK(p.mean_attended_keys() < double(nk) / 2);
  CHECK(p.mean_attended_keys() > 64 + 100);
}
