// The CPU planner: scores KV blocks against each query block and builds a Plan.
//
// Inputs are plain row-major f32 spans:
//   queries    [n_queries][n_heads][head_dim]   (after RoPE, as attention sees them)
//   keys       [n_keys][n_kv_heads][head_dim]
//   summaries  [n_blocks][n_kv_heads][head_dim] (mean key; optional per-channel min/max)
// Query head h belongs to KV head h / (n_heads / n_kv_heads) (GQA).
//
// For query block qb and KV head g the plan lists, sorted and unique:
//   sink blocks [0, sink_blocks), the window blocks covering positions
//   [last_position - window_tokens + 1, last_position], every block holding a
//   global position <= last_position, and the best-scoring other visible blocks
//   (ties to the lower block index): topk_blocks less the global blocks outside
//   sink and window, so a row holds at most sink + window + topk blocks
//   (config.hpp: window_first_block, selected_blocks).
// Scores (ScoreMode):
//   mean_key:     max over heads h of group g of  mean_q(qb, h) . mean_k(j, g)
//   minmax_bound: max over h of sum_c max(mq_c * kmin_c, mq_c * kmax_c)
// The GPU planner (kernels/) computes the same plan up to rounding of scores.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/attention/config.hpp"
#include "runtime/attention/plan.hpp"

namespace folio::attn {

struct Shape {
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int group() const noexcept { return n_kv_heads > 0 ? n_heads / n_kv_heads : 0; }
};
// Throws folio::Error(invalid_argument) unless sizes are positive and n_kv_heads divides n_heads.
void validate(const Shape& shape);

// Per-block, per-KV-head key summaries, [n_blocks][n_kv_heads][head_dim] each.
struct BlockSummaries {
  int64_t n_blocks = 0;
  int n_kv_heads = 0, head_dim = 0;
  std::vector<float> mean;      // mean key over the block's keys
  std::vector<float> min, max;  // per-channel min/max (for ScoreMode::minmax_bound)
};

// Summaries of keys [n_keys][n_kv_heads][head_dim]; the last block may be partial.
BlockSummaries summarize_blocks(std::span<const float> keys, int64_t n_keys, int n_kv_heads, int head_dim);

// Builds the plan for queries at positions q_offset .. q_offset + n_queries - 1
// over n_keys keys. `global_positions` need not be sorted; duplicates and
// positions >= n_keys are an error. With config.dense, returns make_dense_plan.
Plan plan_attention(std::span<const float> queries, int64_t n_queries, int64_t q_offset, int64_t n_keys,
                    const Shape& shape, const BlockSummaries& summaries,
                    std::span<const int32_t> global_positions, const SparseConfig& config);

// The scores plan_attention ranks for query block qb and KV head g: one per KV
// block (all blocks, visible or not). Exposed for tests and the GPU comparison.
std::vector<float> score_blocks(std::span<const float> queries, int64_t n_queries, int query_block, int64_t qb,
                                int kv_head, const Shape& shape, const BlockSummaries& summaries, ScoreMode mode);

}  // namespace folio::attn
