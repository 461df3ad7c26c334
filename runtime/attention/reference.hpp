// Exact CPU attention: the oracle every attention kernel is checked against.
//
// Layouts (row-major f32):
//   q    [n_queries][n_heads][head_dim], query i at absolute position q_offset + i
//   k, v [n_keys][n_kv_heads][head_dim], key t at position t
//   out  [n_queries][n_heads][head_dim]
// out = softmax(scale * q K^T) V over the keys each query may read, computed in
// f64 with two passes (max, then exp-sum), so it is exact to f32 rounding.
#pragma once

#include <cstdint>
#include <span>

#include "runtime/attention/plan.hpp"
#include "runtime/attention/planner.hpp"

namespace folio::attn {

struct KeysValues {
  std::span<const float> k, v;
  int64_t n_keys = 0;
};

// Dense causal attention: query i reads keys 0 .. q_offset + i. Written without
// plans so it can check the plan path. `threads` >= 1 splits the queries.
void attend_dense(std::span<const float> q, int64_t n_queries, int64_t q_offset, const KeysValues& kv,
                  const Shape& shape, float scale, std::span<float> out, int threads = 1);

// Exact attention over a plan: query i (in query block qb) with head h reads
// the visible keys of the blocks plan.row(qb, h / group) lists, nothing else.
void attend_plan(std::span<const float> q, const KeysValues& kv, const Shape& shape, const Plan& plan, float scale,
                 std::span<float> out, int threads = 1);

}  // namespace folio::attn
