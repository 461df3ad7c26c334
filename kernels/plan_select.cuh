// Device helpers of the GPU planner, shared by planner.cu (prefill and decode
// planners) and sparse_decode.cu (the fused decode step): scoring KV blocks on
// tensor cores against block summaries, and exact top-k selection of a row in
// one CTA's shared memory.
#pragma once

#include <cstdint>

#include "kernels/mma_common.cuh"

namespace folio::kernels::detail {

// The G query heads of one KV group (bf16 rows of kD at qh) as the A fragments
// of m16n8k16 MMAs: row r of the A tile is head r, rows >= G are zero.
template <int kD>
__device__ __forceinline__ void load_group_queries(const __nv_bfloat16* qh, int G, int g, int quad,
                                                   uint32_t (&a)[kD / 16][4]) {
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    const int c = kk * 16 + quad * 2;
    a[kk][0] = g < G ? *reinterpret_cast<const uint32_t*>(qh + g * kD + c) : 0u;
    a[kk][1] = g + 8 < G ? *reinterpret_cast<const uint32_t*>(qh + (g + 8) * kD + c) : 0u;
    a[kk][2] = g < G ? *reinterpret_cast<const uint32_t*>(qh + g * kD + c + 8) : 0u;
    a[kk][3] = g + 8 < G ? *reinterpret_cast<const uint32_t*>(qh + (g + 8) * kD + c + 8) : 0u;
  }
}

// One warp scores 8 blocks: lane (g, quad) passes the summary of block g of
// the 8 (`sm`, kD bf16), the MMA takes the group's queries against them, and
// the max over the G heads follows (rows g: c0, c1; rows g + 8: c2, c3). Every
// lane ends with m0, m1 = the scores of blocks 2 quad and 2 quad + 1.
// c = the 16 A rows times the 8 summaries of an n-tile (lane (g, quad) passes
// block g's summary `sm`): c0, c1 = row g, blocks 2 quad and 2 quad + 1; c2, c3 = row g + 8.
template <int kD>
__device__ __forceinline__ void mma_eight_blocks(const __nv_bfloat16* sm, const uint32_t (&a)[kD / 16][4], int quad,
                                                 float (&c)[4]) {
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    const uint32_t b0 = *reinterpret_cast<const uint32_t*>(sm + kk * 16 + quad * 2);
    const uint32_t b1 = *reinterpret_cast<const uint32_t*>(sm + kk * 16 + quad * 2 + 8);
    mma_bf16(c, a[kk], b0, b1);
  }
}

template <int kD>
__device__ __forceinline__ void score_eight_blocks(const __nv_bfloat16* sm, const uint32_t (&a)[kD / 16][4], int G,
                                                   int g, int quad, float& m0, float& m1) {
  float c[4] = {0, 0, 0, 0};
  mma_eight_blocks<kD>(sm, a, quad, c);
  m0 = g < G ? c[0] : -INFINITY;
  m1 = g < G ? c[1] : -INFINITY;
  if (g + 8 < G) {
    m0 = fmaxf(m0, c[2]);
    m1 = fmaxf(m1, c[3]);
  }
#pragma unroll
  for (int off = 4; off < 32; off <<= 1) {
    m0 = fmaxf(m0, __shfl_xor_sync(0xffffffffu, m0, off));
    m1 = fmaxf(m1, __shfl_xor_sync(0xffffffffu, m1, off));
  }
}

__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // larger float -> larger key; > 0 for every float
}

// ---- row selection, shared by the prefill select kernel and the fused decode planner
//
// Shared state: key[j] (order_key of block j's score; 0 = not a candidate) and
// chosen[j] (1 = listed) for the row's visible blocks, set by the caller for the
// forced blocks. select_top picks the k best candidates: a radix select (8 bits
// a round) finds the k-th largest key T; keys > T are chosen, and of the keys
// equal to T the lowest indices (as in the CPU planner), ranked by a block scan.

struct SelectShared {
  int hist[4][256];  // one histogram per radix round: no barrier to clear between rounds
  int warp_sums[32];
  int counts[32];    // fused decode kernels: [cluster rank][candidates, extra global blocks]
};

// Exclusive prefix of v over the CTA's threads in thread order; *total gets the
// sum. Shared: any struct with an int warp_sums[kThreads / 32] or longer.
template <int kThreads, class Shared>
__device__ int block_exclusive_scan(int v, Shared& sh, int* total) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int incl = v;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const int u = __shfl_up_sync(0xffffffffu, incl, off);
    if (lane >= off) incl += u;
  }
  __syncthreads();  // warp_sums may still be read by a previous scan
  if (lane == 31) sh.warp_sums[warp] = incl;
  __syncthreads();
  int base = 0, sum = 0;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) {
    const int s = sh.warp_sums[w];
    base += w < warp ? s : 0;
    sum += s;
  }
  *total = sum;
  return base + incl - v;
}

template <int kThreads>
__device__ int block_sum(int v, SelectShared& sh) {
  int total = 0;
  block_exclusive_scan<kThreads>(v, sh, &total);
  return total;
}

// Precondition: 0 < k < number of candidates (nonzero keys among key[0, n)).
template <int kThreads>
__device__ void select_top(const uint32_t* key, uint8_t* chosen, int n, int k, SelectShared& sh) {
  const int tid = threadIdx.x, lane = tid % 32;
  for (int i = tid; i < 4 * 256; i += kThreads) (&sh.hist[0][0])[i] = 0;
  __syncthreads();
  uint32_t t = 0;
  int need = k;
  for (int round = 0; round < 4; ++round) {
    const int shift = 24 - 8 * round;
    int* hist = sh.hist[round];
    const uint32_t high = round == 0 ? 0u : ~0u << (shift + 8);
    for (int base = 0; base < n; base += kThreads) {  // uniform trip count: whole warps below
      const int j = base + tid;
      const uint32_t kj = j < n ? key[j] : 0u;
      const bool in = kj != 0u && (kj & high) == (t & high);
      const unsigned active = __ballot_sync(0xffffffffu, in);
      if (in) {
        // Scores of a row share their top bits: aggregate equal digits per warp
        // instead of serialising same-address shared atomics.
        const int digit = int((kj >> shift) & 255u);
        const unsigned peers = __match_any_sync(active, digit);
        if ((peers & ((1u << lane) - 1u)) == 0u) atomicAdd(&hist[digit], __popc(peers));
      }
    }
    __syncthreads();
    // Every warp finds the digit itself (no broadcast barrier): lane l holds
    // digits 255 - 8l down to 248 - 8l; the digit is where the count of matching
    // keys at or above it first reaches `need`.
    int local = 0;
#pragma unroll
    for (int b = 0; b < 8; ++b) local += hist[255 - 8 * lane - b];
    int incl = local;
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
      const int v = __shfl_up_sync(0xffffffffu, incl, off);
      if (lane >= off) incl += v;
    }
    const uint32_t hit = __ballot_sync(0xffffffffu, incl >= need);
    const int owner = __ffs(hit) - 1;  // exists: the matching keys number >= need
    int digit = 0, rest = 0;
    if (lane == owner) {
      int cum = incl - local;
#pragma unroll
      for (int b = 0; b < 8; ++b) {
        const int d = 255 - 8 * lane - b;
        const int h = hist[d];
        if (digit == 0 && cum + h >= need) {
          digit = d + 256;  // + 256: found (d may be 0)
          rest = need - cum;
        }
        cum += h;
      }
    }
    digit = __shfl_sync(0xffffffffu, digit, owner) - 256;
    need = __shfl_sync(0xffffffffu, rest, owner);
    t |= uint32_t(digit) << shift;
  }
  // Keys above T are chosen; of the keys equal to T (hist[3][T's low byte] of
  // them) the first `need` by index. Each thread owns a contiguous range.
  const int per = (n + kThreads - 1) / kThreads;
  const int lo = min(n, tid * per), hi = min(n, lo + per);
  if (sh.hist[3][t & 255u] == need) {  // the usual case: every tie is in
    for (int j = lo; j < hi; ++j)
      if (key[j] >= t) chosen[j] = 1;
    return;
  }
  int ties = 0;
  for (int j = lo; j < hi; ++j) {
    const uint32_t kj = key[j];
    if (kj > t) chosen[j] = 1;
    ties += kj == t;
  }
  int total = 0;
  int rank = block_exclusive_scan<kThreads>(ties, sh, &total);
  for (int j = lo; j < hi && rank < need; ++j)
    if (key[j] == t) {
      chosen[j] = 1;
      ++rank;
    }
}

// Writes the chosen blocks of row `row` in ascending order (at most `capacity`),
// its offset and count.
template <int kThreads>
__device__ void write_row(const uint8_t* chosen, int n, int64_t row, int capacity, SelectShared& sh,
                          int32_t* row_offsets, int32_t* row_counts, int32_t* block_indices) {
  const int tid = threadIdx.x;
  int32_t* out = block_indices + row * int64_t(capacity);
  const int per = (n + kThreads - 1) / kThreads;
  const int lo = min(n, tid * per), hi = min(n, lo + per);
  int mine = 0;
  for (int j = lo; j < hi; ++j) mine += chosen[j];
  int written = 0;
  int pos = block_exclusive_scan<kThreads>(mine, sh, &written);
  for (int j = lo; j < hi; ++j)
    if (chosen[j]) {
      if (pos < capacity) out[pos] = j;
      ++pos;
    }
  if (tid == 0) {
    row_offsets[row] = int32_t(row * capacity);
    row_counts[row] = min(written, capacity);
  }
}

}  // namespace folio::kernels::detail
