// Sparse-attention configuration: which KV blocks a query block reads.
//
// A query block (64 or 128 consecutive queries) reads, for each KV head:
//   * the first `sink_blocks` blocks (attention sinks: the start of the text),
//   * a local window covering the `window_tokens` keys before each of its queries,
//   * every block holding a global (anchor) token it can see,
//   * the `topk_blocks` best-scoring blocks among the rest.
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
