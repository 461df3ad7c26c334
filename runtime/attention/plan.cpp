#include "runtime/attention/plan.hpp"

#include <algorithm>
#include <string>

#include "runtime/common/error.hpp"

namespace folio::attn {

namespace {
[[noreturn]] void bad_plan(const std::string& what) { fail(Errc::invalid_argument, "attention plan: " + what); }
}  // namespace

SparseConfig preset_by_name(std::string_view name) {
  if (name == "dense") return preset_dense();
  if (name == "balanced") return preset_balanced();
  if (name == "fast") return preset_fast();
  fail(Errc::invalid_argument, "unknown sparse-attention preset '" + std::string(name) +
                                   "' (expected dense, balanced or fast)");
}

void validate(const SparseConfig& c) {
  auto bad = [](const std::string& what) { fail(Errc::invalid_argument, "sparse config: " + what); };
  if (c.query_block < 1 || c.query_block > 128) bad("query_block must be in 1..128, got " + std::to_string(c.query_block));
  if (c.sink_blocks < 0) bad("sink_blocks must be >= 0");
  if (c.window_tokens < 0) bad("window_tokens must be >= 0");
  if (c.topk_blocks < 0) bad("topk_blocks must be >= 0");
}

double Plan::mean_attended_keys() const {
  // Each listed block contributes its visible keys to every query of the block.
  double total = 0;
  for (int64_t qb = 0; qb < n_query_blocks(); ++qb) {
    const int64_t first = qb * query_block, end = std::min<int64_t>(first + query_block, n_queries);
    for (int h = 0; h < n_kv_heads; ++h)
      for (int32_t j : row(qb, h))
        for (int64_t i = first; i < end; ++i) {
          const int64_t limit = std::min<int64_t>(q_offset + i + 1, n_keys);  // keys [0, limit) visible
          const int64_t lo = int64_t(j) * kBlockTokens, hi = std::min<int64_t>(lo + kBlockTokens, limit);
          if (hi > lo) total += double(hi - lo);
        }
  }
  return n_queries > 0 && n_kv_heads > 0 ? total / double(n_queries * n_kv_heads) : 0.0;
}

void validate(const Plan& p) {
  if (p.n_queries < 0 || p.q_offset < 0 || p.n_keys < 0) bad_plan("negative size");
  if (p.q_offset + p.n_queries > p.n_keys)
    bad_plan("queries end at position " + std::to_string(p.q_offset + p.n_queries) + " past the " +
             std::to_string(p.n_keys) + " keys");
  if (p.query_block < 1 || p.query_block > 128) bad_plan("query_block out of range");
  if (p.n_kv_heads < 1) bad_plan("n_kv_heads < 1");
  const int64_t rows = p.n_rows();
  if (int64_t(p.row_offsets.size()) != rows + 1)
    bad_plan("row_offsets has " + std::to_string(p.row_offsets.size()) + " entries, expected " +
             std::to_string(rows + 1));
  if (p.row_offsets[0] != 0) bad_plan("row_offsets[0] != 0");
  if (int64_t(p.row_offsets.back()) != int64_t(p.block_indices.size())) bad_plan("row_offsets.back() != block count");
  const int64_t n_blocks = p.n_kv_blocks();
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t b = p.row_offsets[size_t(r)], e = p.row_offsets[size_t(r) + 1];
    if (e < b) bad_plan("row_offsets decrease at row " + std::to_string(r));
    const int64_t qb = r / p.n_kv_heads;
    const int64_t last_visible_block = p.last_position(qb) / kBlockTokens;
    for (int32_t k = b; k < e; ++k) {
      const int32_t j = p.block_indices[size_t(k)];
      if (j < 0 || j >= n_blocks || j > last_visible_block)
        bad_plan("row " + std::to_string(r) + " lists block " + std::to_string(j) + " (visible blocks: 0.." +
                 std::to_string(std::min(last_visible_block, n_blocks - 1)) + ")");
      if (k > b && j <= p.block_indices[size_t(k) - 1])
        bad_plan("row " + std::to_string(r) + " is not sorted and unique");
    }
  }
  for (size_t i = 0; i < p.global_positions.size(); ++i) {
    const int32_t g = p.global_positions[i];
    if (g < 0 || g >= p.n_keys) bad_plan("global position " + std::to_string(g) + " out of range");
    if (i > 0 && g <= p.global_positions[i - 1]) bad_plan("global positions not sorted and unique");
  }
}

Plan make_dense_plan(int64_t n_queries, int64_t q_offset, int64_t n_keys, int query_block, int n_kv_heads) {
  Plan p;
  p.n_queries = n_queries;
  p.q_offset = q_offset;
  p.n_keys = n_keys;
  p.query_block = query_block;
  p.n_kv_heads = n_kv_heads;
  if (query_block < 1 || query_block > 128 || n_kv_heads < 1 || n_queries < 0 || q_offset < 0 ||
      q_offset + n_queries > n_keys)
    bad_plan("make_dense_plan: bad shape");
  const int64_t rows = p.n_rows();
  p.row_offsets.reserve(size_t(rows) + 1);
  p.row_offsets.push_back(0);
  int64_t total = 0;
  for (int64_t qb = 0; qb < p.n_query_blocks(); ++qb) {
    const int64_t visible = p.last_position(qb) / kBlockTokens + 1;
    for (int h = 0; h < n_kv_heads; ++h) {
      for (int64_t j = 0; j < visible; ++j) p.block_indices.push_back(int32_t(j));
      total += visible;
      if (total > INT32_MAX) fail(Errc::unsupported, "attention plan: more than 2^31 block entries");
      p.row_offsets.push_back(int32_t(total));
    }
  }
  return p;
}

}  // namespace folio::attn
