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
  auto padded = [&](int i) {  // rows of a bucket starting at sorted position i
    const int64_t c = counts[size_t(out.order[size_t(i)])];
    return (c + row_align - 1) / row_align * row_align;
  };
  // A bucket needs to start only where the padded count changes: a cut inside
  // a run of equal counts never pads less than the cut at the run's start. So
  // the cuts are chosen among the R run starts (R is a few dozen at 128
  // experts, where cutting anywhere made this 126 us of host time per layer).
  std::vector<int> starts;  // run starts, then m
  for (int i = 0; i < m; ++i)
    if (i == 0 || padded(i) != padded(i - 1)) starts.push_back(i);
  const int R = int(starts.size());
  starts.push_back(m);
  const int B = std::max(1, std::min(max_buckets, R));
  // cost[b * (R + 1) + r]: the best cost of the first starts[r] experts in b
  // buckets; cut[...]: the run its last bucket starts at.
  constexpr int64_t kInf = std::numeric_limits<int64_t>::max() / 4;
  const size_t width = size_t(R) + 1;
  std::vector<int64_t> cost((size_t(B) + 1) * width, kInf);
  std::vector<int> cut((size_t(B) + 1) * width, 0);
  cost[0] = 0;
  for (int b = 1; b <= B; ++b)
    for (int r = 1; r <= R; ++r)
      for (int q = b - 1; q < r; ++q) {
        const int64_t before = cost[size_t(b - 1) * width + size_t(q)];
        if (before >= kInf) continue;
        const int64_t c = before + int64_t(starts[size_t(r)] - starts[size_t(q)]) * padded(starts[size_t(q)]) +
                          bucket_cost_rows;
        if (c < cost[size_t(b) * width + size_t(r)]) {
          cost[size_t(b) * width + size_t(r)] = c;
          cut[size_t(b) * width + size_t(r)] = q;
        }
      }
  int best = 1;
  for (int b = 2; b <= B; ++b)
    if (cost[size_t(b) * width + size_t(R)] < cost[size_t(best) * width + size_t(R)]) best = b;
  std::vector<MoeBucket> reversed;
  for (int b = best, r = R; b > 0; --b) {
    const int q = cut[size_t(b) * width + size_t(r)];
    const int i = starts[size_t(q)], j = starts[size_t(r)];
    reversed.push_back({padded(i), int32_t(i), int32_t(j - i)});
    r = q;
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
