// Sparse-attention configuration: which KV blocks a query block reads.
//
// A query block (64 or 128 consecutive queries) reads, for each KV head:
//   * the first `sink_blocks` blocks (attention sinks: the start of the text),
//   * a local window: the blocks holding the `window_tokens` keys up to its last query,
//   * every block holding a global (anchor) token it can see,
//   * the best-scoring blocks among the rest, `topk_blocks` less the global
//     blocks outside sink and window (window_first_block, selected_blocks below).
// Everything else is skipped; attention over the union is exact. With `dense`
// every causally visible block is read and scoring is skipped.
#pragma once

#include <cstdint>
#include <string_view>

namespace folio::attn {

// Tokens per KV block: the unit of paging, of summaries and of the plan.
inline constexpr int kBlockTokens = 64;

// How a candidate block is scored against the queries of a query block.
enum class ScoreMode {
  // max over the group's query heads of (mean query of the block . mean key of
  // the KV block). Cheap, a GEMM; used for prefill.
  mean_key,
  // max over heads of sum_c max(q_c * kmin_c, q_c * kmax_c): an upper bound of
  // every logit in the block (needs per-channel min/max summaries). For decode.
  minmax_bound,
};

struct SparseConfig {
  bool dense = false;          // read every visible block (the reference plan)
  int query_block = 64;        // queries per query block: 64 or 128 (1 for decode)
  int sink_blocks = 1;         // always read blocks [0, sink_blocks)
  int window_tokens = 1024;    // always read the blocks covering the last window_tokens keys
  int topk_blocks = 32;        // best-scoring other blocks read per (query block, KV head)
  bool use_global = true;      // always read blocks holding visible global tokens
  ScoreMode score = ScoreMode::mean_key;

  // Attended-token budget per query, not counting global blocks: the number that
  // sizes the plan (sink + window + selected).
  int64_t budget_tokens() const noexcept {
    if (dense) return -1;
    return int64_t(sink_blocks) * kBlockTokens + window_tokens + int64_t(topk_blocks) * kBlockTokens;
  }
};

// The block rule shared by the CPU planner and the GPU planners (kernels/):
//
// Window: the blocks covering [last - window_tokens + 1, last], `last` being the
// query block's last position. The block's window is window_tokens keys rounded
// out to whole blocks (16 blocks for 1024 tokens when the query block is
// 64-aligned), not window_tokens before its first query: a 128-query block would
// otherwise read 18 window blocks (1152 keys), over the budget. Each query still
// sees at least window_tokens - query_block + 1 keys before it in the window.
inline int64_t window_first_block(int64_t last_position, int window_tokens, int64_t visible_blocks) noexcept {
  if (window_tokens <= 0) return visible_blocks;
  const int64_t first = last_position - window_tokens + 1;
  return first > 0 ? first / kBlockTokens : 0;
}
// Selection: global blocks not already in sink or window are read whole and take
// selection slots, so a row never exceeds sink + window + topk blocks (unless
// the visible global blocks alone outnumber topk: then all of them, none selected).
inline int64_t selected_blocks(int topk_blocks, int64_t extra_global_blocks) noexcept {
  return extra_global_blocks >= topk_blocks ? 0 : topk_blocks - extra_global_blocks;
}

// Every block; scoring skipped. The reference.
inline SparseConfig preset_dense() { SparseConfig c; c.dense = true; return c; }
// ~4K attended tokens: sink 64 + window 1024 + 32 selected blocks (2048) + global.
inline SparseConfig preset_balanced() { return SparseConfig{}; }
// ~1.6K attended tokens: sink 64 + window 512 + 16 selected blocks (1024) + global.
inline SparseConfig preset_fast() {
  SparseConfig c;
  c.window_tokens = 512;
  c.topk_blocks = 16;
  return c;
}
// "dense", "balanced" or "fast"; throws folio::Error(invalid_argument) otherwise.
SparseConfig preset_by_name(std::string_view name);

// Throws folio::Error(invalid_argument) naming the bad field.
void validate(const SparseConfig& config);

}  // namespace folio::attn
