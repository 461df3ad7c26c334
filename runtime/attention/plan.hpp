// The attention plan: for each query block and KV head, the KV blocks to read.
//
// The plan is plain flat arrays so it can be copied to the GPU as is:
//   row r = query_block * n_kv_heads + kv_head
//   blocks of row r = block_indices[row_offsets[r] .. row_offsets[r+1])
// (CSR), each list sorted ascending without duplicates. A query block covers
// queries [qb * query_block, min((qb+1) * query_block, n_queries)); query i sits
// at absolute position q_offset + i and sees keys at positions <= its own
// (causal). KV block j holds key positions [j * 64, j * 64 + 64) ∩ [0, n_keys).
//
// Attention over a plan is exact over the union of the listed blocks: inside a
// listed block every causally visible key is read, keys of other blocks are not.
// global_positions (sorted, unique) are the anchor tokens the planner was given;
// the planner lists every block that holds a visible one (see planner.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/attention/config.hpp"

namespace folio::attn {

struct Plan {
  int64_t n_queries = 0;    // queries covered (one chunk of a prefill, or 1 for decode)
  int64_t q_offset = 0;     // absolute position of query 0
  int64_t n_keys = 0;       // keys in the cache (>= q_offset + n_queries)
  int query_block = 64;     // queries per query block
  int n_kv_heads = 0;
  std::vector<int32_t> row_offsets;     // n_rows() + 1 entries, row_offsets[0] = 0
  std::vector<int32_t> block_indices;   // row_offsets.back() entries
  std::vector<int32_t> global_positions;

  int64_t n_query_blocks() const noexcept { return (n_queries + query_block - 1) / query_block; }
  int64_t n_kv_blocks() const noexcept { return (n_keys + kBlockTokens - 1) / kBlockTokens; }
  int64_t n_rows() const noexcept { return n_query_blocks() * n_kv_heads; }

  std::span<const int32_t> row(int64_t query_block_index, int kv_head) const {
    const int64_t r = query_block_index * n_kv_heads + kv_head;
    return std::span<const int32_t>(block_indices).subspan(size_t(row_offsets[size_t(r)]),
                                                           size_t(row_offsets[size_t(r) + 1] - row_offsets[size_t(r)]));
  }
  // Absolute position of the last query of a query block (the causal limit).
  int64_t last_position(int64_t query_block_index) const noexcept {
    const int64_t end = std::min<int64_t>((query_block_index + 1) * query_block, n_queries);
    return q_offset + end - 1;
  }
  int64_t first_position(int64_t query_block_index) const noexcept {
    return q_offset + query_block_index * query_block;
  }
  // Keys attended by query i summed over its plan rows (per KV head, one head).
  // Used for statistics: mean attended tokens per query.
  double mean_attended_keys() const;
};

// Throws folio::Error(invalid_argument or internal) when the plan breaks an
// invariant: sizes, offsets monotone and in range, indices sorted, unique and
// causally visible (block j must start at or before the block's last query).
void validate(const Plan& plan);

// The plan listing every causally visible block: dense causal attention.
Plan make_dense_plan(int64_t n_queries, int64_t q_offset, int64_t n_keys, int query_block, int n_kv_heads);

}  // namespace folio::attn
