#include "runtime/attention/planner.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <string>

#include "runtime/common/error.hpp"

namespace folio::attn {

void validate(const Shape& s) {
  if (s.n_heads < 1 || s.n_kv_heads < 1 || s.head_dim < 1 || s.n_heads % s.n_kv_heads != 0)
    fail(Errc::invalid_argument, "attention shape: n_heads " + std::to_string(s.n_heads) + ", n_kv_heads " +
                                     std::to_string(s.n_kv_heads) + ", head_dim " + std::to_string(s.head_dim) +
                                     " (need positive sizes and n_kv_heads dividing n_heads)");
}

BlockSummaries summarize_blocks(std::span<const float> keys, int64_t n_keys, int n_kv_heads, int head_dim) {
  if (n_keys < 0 || n_kv_heads < 1 || head_dim < 1 ||
      keys.size() < size_t(n_keys) * size_t(n_kv_heads) * size_t(head_dim))
    fail(Errc::invalid_argument, "summarize_blocks: keys span too small for the shape");
  BlockSummaries s;
  s.n_blocks = (n_keys + kBlockTokens - 1) / kBlockTokens;
  s.n_kv_heads = n_kv_heads;
  s.head_dim = head_dim;
  const size_t n = size_t(s.n_blocks) * size_t(n_kv_heads) * size_t(head_dim);
  s.mean.assign(n, 0.0f);
  s.min.assign(n, std::numeric_limits<float>::infinity());
  s.max.assign(n, -std::numeric_limits<float>::infinity());
  const size_t row = size_t(n_kv_heads) * size_t(head_dim);
  for (int64_t j = 0; j < s.n_blocks; ++j) {
    const int64_t lo = j * kBlockTokens, hi = std::min<int64_t>(lo + kBlockTokens, n_keys);
    for (size_t e = 0; e < row; ++e) {
      double sum = 0;
      float mn = std::numeric_limits<float>::infinity(), mx = -mn;
      for (int64_t t = lo; t < hi; ++t) {
        const float v = keys[size_t(t) * row + e];
        sum += v;
        mn = std::min(mn, v);
        mx = std::max(mx, v);
      }
      const size_t o = size_t(j) * row + e;
      s.mean[o] = float(sum / double(hi - lo));
      s.min[o] = mn;
      s.max[o] = mx;
    }
  }
  return s;
}

namespace {

void check_inputs(std::span<const float> queries, int64_t n_queries, int64_t q_offset, int64_t n_keys,
                  const Shape& shape, const BlockSummaries& sum) {
  validate(shape);
  if (n_queries < 0 || q_offset < 0 || q_offset + n_queries > n_keys)
    fail(Errc::invalid_argument, "plan_attention: queries [" + std::to_string(q_offset) + ", " +
                                     std::to_string(q_offset + n_queries) + ") do not fit in " +
                                     std::to_string(n_keys) + " keys");
  if (queries.size() < size_t(n_queries) * size_t(shape.n_heads) * size_t(shape.head_dim))
    fail(Errc::invalid_argument, "plan_attention: queries span too small");
  if (sum.n_kv_heads != shape.n_kv_heads || sum.head_dim != shape.head_dim ||
      sum.n_blocks != (n_keys + kBlockTokens - 1) / kBlockTokens ||
      sum.mean.size() != size_t(sum.n_blocks) * size_t(sum.n_kv_heads) * size_t(sum.head_dim))
    fail(Errc::invalid_argument, "plan_attention: block summaries do not match the keys' shape");
}

}  // namespace

std::vector<float> score_blocks(std::span<const float> queries, int64_t n_queries, int query_block, int64_t qb,
                                int kv_head, const Shape& shape, const BlockSummaries& sum, ScoreMode mode) {
  const int d = shape.head_dim, group = shape.group();
  const int64_t first = qb * query_block, end = std::min<int64_t>(first + query_block, n_queries);
  if (first >= end) fail(Errc::invalid_argument, "score_blocks: empty query block");
  if (mode == ScoreMode::minmax_bound && sum.min.size() != sum.mean.size())
    fail(Errc::invalid_argument, "score_blocks: minmax_bound needs min/max summaries");
  std::vector<float> scores(size_t(sum.n_blocks), -std::numeric_limits<float>::infinity());
  std::vector<float> mq(static_cast<size_t>(d));
  for (int g = 0; g < group; ++g) {
    const int h = kv_head * group + g;
    std::fill(mq.begin(), mq.end(), 0.0f);
    for (int64_t i = first; i < end; ++i) {
      const float* q = queries.data() + (size_t(i) * size_t(shape.n_heads) + size_t(h)) * size_t(d);
      for (int c = 0; c < d; ++c) mq[size_t(c)] += q[c];
    }
    const float inv = 1.0f / float(end - first);
    for (float& v : mq) v *= inv;
    for (int64_t j = 0; j < sum.n_blocks; ++j) {
      const size_t o = (size_t(j) * size_t(sum.n_kv_heads) + size_t(kv_head)) * size_t(d);
      float s = 0;
      if (mode == ScoreMode::mean_key) {
        for (int c = 0; c < d; ++c) s += mq[size_t(c)] * sum.mean[o + size_t(c)];
      } else {
        for (int c = 0; c < d; ++c)
          s += std::max(mq[size_t(c)] * sum.min[o + size_t(c)], mq[size_t(c)] * sum.max[o + size_t(c)]);
      }
      scores[size_t(j)] = std::max(scores[size_t(j)], s);
    }
  }
  return scores;
}

Plan plan_attention(std::span<const float> queries, int64_t n_queries, int64_t q_offset, int64_t n_keys,
                    const Shape& shape, const BlockSummaries& sum, std::span<const int32_t> global_positions,
                    const SparseConfig& config) {
  validate(config);
  check_inputs(queries, n_queries, q_offset, n_keys, shape, sum);

  std::vector<int32_t> globals(global_positions.begin(), global_positions.end());
  std::sort(globals.begin(), globals.end());
  for (size_t i = 0; i < globals.size(); ++i) {
    if (globals[i] < 0 || globals[i] >= n_keys)
      fail(Errc::invalid_argument, "plan_attention: global position " + std::to_string(globals[i]) +
                                       " outside the " + std::to_string(n_keys) + " keys");
    if (i > 0 && globals[i] == globals[i - 1])
      fail(Errc::invalid_argument, "plan_attention: duplicate global position " + std::to_string(globals[i]));
  }

  if (config.dense) {
    Plan p = make_dense_plan(n_queries, q_offset, n_keys, config.query_block, shape.n_kv_heads);
    p.global_positions = std::move(globals);
    return p;
  }

  Plan p;
  p.n_queries = n_queries;
  p.q_offset = q_offset;
  p.n_keys = n_keys;
  p.query_block = config.query_block;
  p.n_kv_heads = shape.n_kv_heads;
  p.global_positions = globals;

  const int64_t n_blocks = p.n_kv_blocks();
  // First global position held by each block (or none): blocks are forced when
  // that position is visible to the query block.
  std::vector<int32_t> first_global(size_t(n_blocks), INT32_MAX);
  for (int32_t g : globals) first_global[size_t(g / kBlockTokens)] = std::min(first_global[size_t(g / kBlockTokens)], g);

  std::vector<uint8_t> chosen(static_cast<size_t>(n_blocks));
  std::vector<int32_t> candidates;
  p.row_offsets.push_back(0);
  int64_t total = 0;
  for (int64_t qb = 0; qb < p.n_query_blocks(); ++qb) {
    const int64_t last = p.last_position(qb);
    const int64_t visible = last / kBlockTokens + 1;
    const int64_t window_first = window_first_block(last, config.window_tokens, visible);
    for (int g = 0; g < shape.n_kv_heads; ++g) {
      std::fill(chosen.begin(), chosen.begin() + visible, uint8_t(0));
      for (int64_t j = 0; j < std::min<int64_t>(config.sink_blocks, visible); ++j) chosen[size_t(j)] = 1;
      for (int64_t j = window_first; j < visible; ++j) chosen[size_t(j)] = 1;
      // Global blocks outside sink and window take selection slots: the row
      // stays within sink + window + topk blocks (see selected_blocks()).
      int64_t global_blocks = 0;
      if (config.use_global)
        for (int64_t j = 0; j < visible; ++j)
          if (first_global[size_t(j)] <= last && !chosen[size_t(j)]) {
            chosen[size_t(j)] = 1;
            ++global_blocks;
          }
      const int64_t topk = selected_blocks(config.topk_blocks, global_blocks);

      candidates.clear();
      for (int64_t j = 0; j < visible; ++j)
        if (!chosen[size_t(j)]) candidates.push_back(int32_t(j));
      if (int64_t(candidates.size()) > topk) {
        const std::vector<float> s =
            score_blocks(queries, n_queries, config.query_block, qb, g, shape, sum, config.score);
        // Best first; ties to the lower block index (the GPU planner agrees).
        auto better = [&](int32_t a, int32_t b) {
          return s[size_t(a)] > s[size_t(b)] || (s[size_t(a)] == s[size_t(b)] && a < b);
        };
        std::nth_element(candidates.begin(), candidates.begin() + topk, candidates.end(), better);
        candidates.resize(size_t(topk));
      }
      for (int32_t j : candidates) chosen[size_t(j)] = 1;
      for (int64_t j = 0; j < visible; ++j)
        if (chosen[size_t(j)]) p.block_indices.push_back(int32_t(j));
      total = int64_t(p.block_indices.size());
      if (total > INT32_MAX) fail(Errc::unsupported, "attention plan: more than 2^31 block entries");
      p.row_offsets.push_back(int32_t(total));
    }
  }
  return p;
}

}  // namespace folio::attn
