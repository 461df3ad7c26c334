#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "runtime/attention/planner.hpp"
#include "runtime/common/error.hpp"
#include "tests/attention/test_support.hpp"

using namespace folio::attn;
using folio::attn::testing::random_values;

namespace {

struct Case {
  int64_t n_queries, q_offset, n_keys;
  Shape shape;
};

bool contains(std::span<const int32_t> row, int32_t j) { return std::binary_search(row.begin(), row.end(), j); }

}  // namespace

TEST_CASE("dense plan lists exactly the causally visible blocks") {
  for (auto [nq, off, nk, qblock] : {std::tuple{1000, 0, 1000, 64}, std::tuple{1, 4999, 5000, 64},
                                     std::tuple{333, 70, 403, 128}, std::tuple{64, 0, 64, 64}}) {
    const Plan p = make_dense_plan(nq, off, nk, qblock, 3);
    CHECK_NOTHROW(validate(p));
    CHECK(p.n_rows() == ((nq + qblock - 1) / qblock) * 3);
    for (int64_t qb = 0; qb < p.n_query_blocks(); ++qb)
      for (int h = 0; h < 3; ++h) {
        const auto row = p.row(qb, h);
        const int64_t visible = p.last_position(qb) / kBlockTokens + 1;
        REQUIRE(int64_t(row.size()) == visible);
        for (int64_t j = 0; j < visible; ++j) CHECK(row[size_t(j)] == j);
      }
  }
}

TEST_CASE("validate rejects broken plans") {
  Plan p = make_dense_plan(200, 0, 200, 64, 2);
  REQUIRE_NOTHROW(validate(p));
  SUBCASE("unsorted row") {
    std::swap(p.block_indices[p.row_offsets[6]], p.block_indices[p.row_offsets[6] + 1]);
    CHECK_THROWS_AS(validate(p), folio::Error);
  }
  SUBCASE("future block") {
    p.block_indices[0] = 3;  // query block 0 cannot see block 3
    CHECK_THROWS_AS(validate(p), folio::Error);
  }
  SUBCASE("offsets out of range") {
    p.row_offsets.back() += 1;
    CHECK_THROWS_AS(validate(p), folio::Error);
  }
  SUBCASE("queries past keys") {
    p.n_keys = 150;
    CHECK_THROWS_AS(validate(p), folio::Error);
  }
}

TEST_CASE("presets and config validation") {
  CHECK(preset_by_name("dense").dense);
  CHECK(preset_by_name("balanced").budget_tokens() == 64 + 1024 + 2048);
  CHECK(preset_by_name("fast").budget_tokens() < preset_by_name("balanced").budget_tokens());
  CHECK_THROWS_AS(preset_by_name("turbo"), folio::Error);
  SparseConfig c;
  c.query_block = 0;
  CHECK_THROWS_AS(validate(c), folio::Error);
}

TEST_CASE("sparse plan: sink, window, globals always; top-k of the rest by score") {
  const Shape shape{8, 2, 32};
  SparseConfig cfg;
  cfg.window_tokens = 200;
  cfg.topk_blocks = 3;
  for (const Case& c : {Case{1500, 0, 1500, shape}, Case{77, 2000, 2077, shape}, Case{1, 3010, 3011, Shape{4, 4, 16}}}) {
    for (int qblock : {64, 128}) {
      if (c.n_queries == 1 && qblock == 128) continue;
      cfg.query_block = c.n_queries == 1 ? 1 : qblock;
      const auto q = random_values(size_t(c.n_queries * c.shape.n_heads * c.shape.head_dim), 11);
      const auto k = random_values(size_t(c.n_keys * c.shape.n_kv_heads * c.shape.head_dim), 12);
      const BlockSummaries sum = summarize_blocks(k, c.n_keys, c.shape.n_kv_heads, c.shape.head_dim);
      const std::vector<int32_t> globals = {int32_t(c.n_keys - 1), 5, 700, 1400};
      const Plan p = plan_attention(q, c.n_queries, c.q_offset, c.n_keys, c.shape, sum, globals, cfg);
      REQUIRE_NOTHROW(validate(p));
      CHECK(p.global_positions == std::vector<int32_t>{5, 700, 1400, int32_t(c.n_keys - 1)});
      for (int64_t qb = 0; qb < p.n_query_blocks(); ++qb) {
        const int64_t first = p.first_position(qb), last = p.last_position(qb);
        const int64_t visible = last / kBlockTokens + 1;
        for (int g = 0; g < c.shape.n_kv_heads; ++g) {
          const auto row = p.row(qb, g);
          std::set<int32_t> forced;
          forced.insert(0);
          // The window: the blocks of the window_tokens keys up to the last query.
          const int64_t window_first = std::max<int64_t>(0, last - cfg.window_tokens + 1) / kBlockTokens;
          CHECK(visible - window_first <= (cfg.window_tokens + kBlockTokens - 1) / kBlockTokens + 1);
          for (int64_t j = window_first; j < visible; ++j) forced.insert(int32_t(j));
          const size_t sink_and_window = forced.size();
          for (int32_t gp : globals)
            if (gp <= last) forced.insert(gp / kBlockTokens);
          // Global blocks outside sink and window take selection slots.
          const int64_t topk = std::max<int64_t>(0, cfg.topk_blocks - int64_t(forced.size() - sink_and_window));
          (void)first;
          for (int32_t j : forced) CHECK(contains(row, j));
          // The unforced part is the top-k by score.
          const auto s = score_blocks(q, c.n_queries, cfg.query_block, qb, g, c.shape, sum, cfg.score);
          std::vector<int32_t> picked, rest;
          for (int32_t j = 0; j < visible; ++j) {
            if (forced.count(j)) continue;
            (contains(row, j) ? picked : rest).push_back(j);
          }
          CHECK(int64_t(picked.size()) == std::min<int64_t>(topk, int64_t(picked.size() + rest.size())));
          for (int32_t a : picked)
            for (int32_t b : rest) CHECK(s[size_t(a)] >= s[size_t(b)]);
          CHECK(int64_t(row.size()) <= int64_t(sink_and_window) + std::max<int64_t>(cfg.topk_blocks, int64_t(forced.size() - sink_and_window)));
        }
      }
    }
  }
}

TEST_CASE("balanced plan rows stay within sink + window + top-k blocks, globals included") {
  // 1024-token window, 32 selected blocks, 16 anchors spread over 6016 keys:
  // every row holds at most 1 + 16 + 32 blocks when the query block is
  // 64-aligned (the window is 1024 keys in whole blocks, globals take selection slots).
  const Shape shape{4, 2, 16};
  const int64_t n = 6016;  // a multiple of 128: every query block ends at a block end
  const auto q = random_values(size_t(n * shape.n_heads * shape.head_dim), 31);
  const auto k = random_values(size_t(n * shape.n_kv_heads * shape.head_dim), 32);
  const BlockSummaries sum = summarize_blocks(k, n, shape.n_kv_heads, shape.head_dim);
  std::vector<int32_t> globals;
  for (int i = 0; i < 16; ++i) globals.push_back(int32_t(n / 16 * i + n / 32));
  for (int qblock : {64, 128}) {
    SparseConfig cfg = preset_balanced();
    cfg.query_block = qblock;
    const Plan p = plan_attention(q, n, 0, n, shape, sum, globals, cfg);
    REQUIRE_NOTHROW(validate(p));
    size_t longest = 0;
    for (int64_t qb = 0; qb < p.n_query_blocks(); ++qb)
      for (int g = 0; g < shape.n_kv_heads; ++g) {
        const auto row = p.row(qb, g);
        longest = std::max(longest, row.size());
        CHECK(row.size() <= size_t(1 + 16 + 32));
        for (int32_t gp : globals)  // globals are still always read
          if (gp <= p.last_position(qb)) CHECK(contains(row, gp / kBlockTokens));
      }
    CHECK(longest == size_t(1 + 16 + 32));  // long rows use the whole budget
    CHECK(p.mean_attended_keys() <= double(preset_balanced().budget_tokens()));
  }
}

TEST_CASE("minmax bound is an upper bound of every logit in the block") {
  const Shape shape{4, 1, 16};
  const int64_t n_keys = 300;
  const auto q = random_values(size_t(shape.n_heads * shape.head_dim), 21);
  const auto k = random_values(size_t(n_keys * shape.head_dim), 22);
  const BlockSummaries sum = summarize_blocks(k, n_keys, 1, shape.head_dim);
  const auto bound = score_blocks(q, 1, 1, 0, 0, shape, sum, ScoreMode::minmax_bound);
  for (int64_t t = 0; t < n_keys; ++t)
    for (int h = 0; h < shape.n_heads; ++h) {
      float dot = 0;
      for (int c = 0; c < shape.head_dim; ++c) dot += q[size_t(h * shape.head_dim + c)] * k[size_t(t * shape.head_dim + c)];
      CHECK(bound[size_t(t / kBlockTokens)] >= dot - 1e-4f);
    }
}

TEST_CASE("planner rejects bad inputs") {
  const Shape shape{4, 2, 8};
  const auto q = random_values(4 * 8 * 10, 1);
  const auto k = random_values(2 * 8 * 100, 2);
  const BlockSummaries sum = summarize_blocks(k, 100, 2, 8);
  const std::vector<int32_t> none;
  CHECK_THROWS_AS(plan_attention(q, 10, 95, 100, shape, sum, none, preset_balanced()), folio::Error);
  const std::vector<int32_t> out_of_range = {100};
  CHECK_THROWS_AS(plan_attention(q, 10, 90, 100, shape, sum, out_of_range, preset_balanced()), folio::Error);
  const std::vector<int32_t> dup = {3, 3};
  CHECK_THROWS_AS(plan_attention(q, 10, 90, 100, shape, sum, dup, preset_balanced()), folio::Error);
  CHECK_THROWS_AS(plan_attention(q, 10, 90, 100, Shape{4, 3, 8}, sum, none, preset_balanced()), folio::Error);
}
