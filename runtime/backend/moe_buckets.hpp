// Expert buckets for the grouped GEMMs of a MoE prefill.
//
// A batched GEMM runs one shape for every matrix of the batch, so experts that
// got different numbers of tokens must be padded to a common row count. One
// batch over all experts pads each to the busiest one: cheap when routing is
// even, but a skewed layer (one expert with 3x the mean) then spends most of
// its tensor-core time on zeros; one GEMM per expert wastes nothing but pays a
// launch and a mostly idle GPU per expert (measured: 17% of the matmul peak,
// against 74% for one padded batch, bench/moe/moe_gemm_bench).
//
// plan_moe_buckets takes the middle road: experts with tokens, sorted by count
// (busiest first), are cut into at most `max_buckets` runs; each run is one
// batched GEMM per projection with its experts padded to the run's first
// (largest) count. The cuts minimise padded rows plus `bucket_cost_rows` per
// run (what a run's launches cost, in rows of work), by dynamic programming
// over the sorted counts. Host-only and deterministic: equal counts keep
// expert order, so the same routing gives the same layout.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace folio::backend {

struct MoeBucket {
  int64_t rows = 0;   // rows each expert of the bucket gets (its padded count)
  int32_t first = 0;  // the bucket's experts: order[first, first + count)
  int32_t count = 0;
};

struct MoeBuckets {
  std::vector<int32_t> order;      // experts with tokens, busiest first
  std::vector<MoeBucket> buckets;  // consecutive runs of `order`
  std::vector<int64_t> offset;     // per expert (all of them): its first grouped row; -1 without tokens
  int64_t rows_total = 0;          // grouped rows, padding included
};

// The CUDA backend's settings (cuda_moe.cpp; bench/moe/moe_gemm_bench measures
// them): up to 8 buckets, each costing slots / 128 rows (512 at a chunk of 8192
// tokens top-8, about what a bucket's three launches and its batch's tail take
// on an H200), at least 64.
inline constexpr int kMoeMaxBuckets = 8;
inline int64_t moe_bucket_cost_rows(int64_t slots) { return std::max<int64_t>(64, slots / 128); }

// Row counts are rounded up to `row_align` (>= 1) so that every expert's block
// of rows starts on an aligned row.
inline MoeBuckets plan_moe_buckets(std::span<const int64_t> counts, int max_buckets, int64_t bucket_cost_rows,
                                   int64_t row_align = 8) {
  MoeBuckets out;
  out.offset.assign(counts.size(), -1);
  for (size_t e = 0; e < counts.size(); ++e)
    if (counts[e] > 0) out.order.push_back(int32_t(e));
  std::stable_sort(out.order.begin(), out.order.end(),
                   [&](int32_t a, int32_t b) { return counts[size_t(a)] > counts[size_t(b)]; });
  const int m = int(out.order.size());
  if (m == 0) return out;
  const int B = std::max(1, std::min(max_buckets, m));
  auto padded = [&](int i) {  // rows of a bucket starting at sorted position i
    const int64_t c = counts[size_t(out.order[size_t(i)])];
    return (c + row_align - 1) / row_align * row_align;
  };
  // cost[b][j]: the best cost of the first j experts in b buckets; cut[b][j]: where its last bucket starts.
  constexpr int64_t kInf = std::numeric_limits<int64_t>::max() / 4;
  std::vector<std::vector<int64_t>> cost(size_t(B) + 1, std::vector<int64_t>(size_t(m) + 1, kInf));
  std::vector<std::vector<int>> cut(size_t(B) + 1, std::vector<int>(size_t(m) + 1, 0));
  cost[0][0] = 0;
  for (int b = 1; b <= B; ++b)
    for (int j = 1; j <= m; ++j)
      for (int i = b - 1; i < j; ++i) {
        if (cost[size_t(b - 1)][size_t(i)] >= kInf) continue;
        const int64_t c = cost[size_t(b - 1)][size_t(i)] + int64_t(j - i) * padded(i) + bucket_cost_rows;
        if (c < cost[size_t(b)][size_t(j)]) {
          cost[size_t(b)][size_t(j)] = c;
          cut[size_t(b)][size_t(j)] = i;
        }
      }
  int best = 1;
  for (int b = 2; b <= B; ++b)
    if (cost[size_t(b)][size_t(m)] < cost[size_t(best)][size_t(m)]) best = b;
  std::vector<MoeBucket> reversed;
  for (int b = best, j = m; b > 0; --b) {
    const int i = cut[size_t(b)][size_t(j)];
    reversed.push_back({padded(i), int32_t(i), int32_t(j - i)});
    j = i;
  }
  out.buckets.assign(reversed.rbegin(), reversed.rend());
  for (const MoeBucket& bk : out.buckets)
    for (int32_t i = bk.first; i < bk.first + bk.count; ++i) {
      out.offset[size_t(out.order[size_t(i)])] = out.rows_total;
      out.rows_total += bk.rows;
    }
  return out;
}

}  // namespace folio::backend
