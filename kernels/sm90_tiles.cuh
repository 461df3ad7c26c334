// Tile layout and epilogue shared by the sm_90a prefill kernels
// (flash_prefill_sm90.cu, flash_prefill_ws.cu).
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/mma_common.cuh"
#include "kernels/prefill_params.cuh"

namespace folio::kernels::detail {

// Byte offset of 16-byte chunk `chunk` (of kD / 8) of row `row` in a tile of
// `rows` rows stored as kD / 64 sub-tiles of [rows][64] bf16, 128-byte swizzled.
template <int kD>
__device__ __forceinline__ uint32_t sw128_offset(int rows, int row, int chunk) {
  return uint32_t((chunk >> 3) * rows * 128 + row * 128 + (((chunk & 7) ^ (row & 7)) << 4));
}

// Positions of a warp's rows (flat rows warp_row0 + group_id and + 8 of the
// CTA's (token, head) rows) and of its first row, for the causal mask.
// Positions fit in 32 bits (attention_prefill checks n_keys); 64-bit ones cost registers.
struct WarpPositions {
  int qpos[2];
  int min_pos;
};
__device__ __forceinline__ WarpPositions warp_positions(const PrefillParams& p, int64_t first_query, int warp_row0,
                                                        int group_id, int G) {
  const int base = int(p.q_offset + first_query);
  return {{base + (warp_row0 + group_id) / G, base + (warp_row0 + group_id + 8) / G}, base + warp_row0 / G};
}

// Q rows [row0, row0 + 64) of a `rows`-row swizzled tile as the A fragments of
// a warpgroup's S = Q K^T wgmmas (register operand: mma A-fragment layout, warp
// w holding rows row0 + 16 w ..).
template <int kD>
__device__ __forceinline__ void load_q_fragments(uint32_t q_tile, int rows, int row0, int warp, int lane,
                                                 uint32_t (&qf)[kD / 16][4]) {
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    const int r = row0 + warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
    ldmatrix_x4(qf[kk], q_tile + sw128_offset<kD>(rows, r, kk * 2 + (lane >> 4)));
  }
}

// Zeroed output accumulators.
template <int kSub>
__device__ __forceinline__ void zero_rows(float (&o)[kSub][32]) {
#pragma unroll
  for (int h = 0; h < kSub; ++h)
#pragma unroll
    for (int i = 0; i < 32; ++i) o[h][i] = 0.0f;
}

// Scores are wgmma accumulators of a warp: s[4 n + e] is column 8 n + 2 quad +
// (e & 1) of row group_id (e < 2) or group_id + 8 (e >= 2); each lane holds two
// rows, "half" 0 and 1 below.

// Sets to -inf the scores of keys past a row's query position or past the cache
// in the 8 column groups [group0, group0 + 8), which hold the 64 keys from key0;
// a block wholly before every row of the warp and inside the cache is skipped.
template <int kGroups>
__device__ __forceinline__ void mask_block(float (&s)[4 * kGroups], int group0, int key0, const int (&qpos)[2],
                                           int warp_min_pos, int n_keys, int quad) {
  if (key0 + 63 <= warp_min_pos && key0 + 64 <= n_keys) return;
#pragma unroll
  for (int n = 0; n < 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int key = key0 + n * 8 + quad * 2 + (e & 1);
      if (key > qpos[e >> 1] || key >= n_keys) s[4 * (group0 + n) + e] = -INFINITY;
    }
}

// One step of the online softmax in base 2 (the scale folded into scale_log2):
// updates the running max m and sum l of both rows, turns s into probabilities,
// and returns in alpha the factor the output so far must be scaled by. A row
// with every score -inf so far keeps m = -inf and gets probabilities 0.
template <int kGroups>
__device__ __forceinline__ void online_softmax(float (&s)[4 * kGroups], float (&m)[2], float (&l)[2], float scale_log2,
                                               float (&alpha)[2]) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float mx = -INFINITY;
#pragma unroll
    for (int n = 0; n < kGroups; ++n) mx = fmaxf(mx, fmaxf(s[4 * n + 2 * half], s[4 * n + 2 * half + 1]));
    mx = quad_max(mx);
    const float m_new = fmaxf(m[half], mx);
    const float m_use = m_new == -INFINITY ? 0.0f : m_new * scale_log2;
    alpha[half] = fast_exp2(m[half] * scale_log2 - m_use);
    m[half] = m_new;
    float sum = 0.0f;
#pragma unroll
    for (int n = 0; n < kGroups; ++n) {
      s[4 * n + 2 * half] = fast_exp2(s[4 * n + 2 * half] * scale_log2 - m_use);
      s[4 * n + 2 * half + 1] = fast_exp2(s[4 * n + 2 * half + 1] * scale_log2 - m_use);
      sum += s[4 * n + 2 * half] + s[4 * n + 2 * half + 1];
    }
    l[half] = l[half] * alpha[half] + sum;
  }
}

// Scales both rows of the output accumulators o[kSub][32] by alpha.
template <int kSub>
__device__ __forceinline__ void scale_rows(float (&o)[kSub][32], const float (&alpha)[2]) {
#pragma unroll
  for (int h = 0; h < kSub; ++h)
#pragma unroll
    for (int n = 0; n < 8; ++n) {
      o[h][4 * n] *= alpha[0];
      o[h][4 * n + 1] *= alpha[0];
      o[h][4 * n + 2] *= alpha[1];
      o[h][4 * n + 3] *= alpha[1];
    }
}

// P (probabilities in the score layout) as the bf16 A fragments of the P V
// wgmmas: k-slice kk (keys 16 kk .. 16 kk + 15) holds accumulators 8 kk .. 8 kk + 7.
template <int kSlices>
__device__ __forceinline__ void pack_p_fragments(const float (&s)[8 * kSlices], uint32_t (&pf)[kSlices][4]) {
#pragma unroll
  for (int kk = 0; kk < kSlices; ++kk)
#pragma unroll
    for (int i = 0; i < 4; ++i) pf[kk][i] = pack_bf16(s[8 * kk + 2 * i], s[8 * kk + 2 * i + 1]);
}

// The epilogue of every wgmma variant: a warp's two rows per lane (flat rows `row`
// and row + 8 of the CTA's (token, head) rows), O divided by the softmax sum
// (summed over the quad), as bf16 into p.o; rows past the query block or the
// queries are skipped.
template <int kD>
__device__ __forceinline__ void store_rows(const PrefillParams& p, const float (&o)[kD / 64][32], const float (&l)[2],
                                           int row, int quad, int G, int kv_head, int64_t first_query, int Bq) {
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const float total = quad_sum(l[half]);
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    const int f = row + half * 8;
    const int tok = f / G, h = kv_head * G + f % G;
    const int64_t query = first_query + tok;
    if (tok >= Bq || query >= p.n_queries) continue;
    __nv_bfloat16* dst = p.o + query * p.o_stride + int64_t(h) * kD + quad * 2;
#pragma unroll
    for (int sub = 0; sub < kD / 64; ++sub)
#pragma unroll
      for (int n = 0; n < 8; ++n)
        *reinterpret_cast<uint32_t*>(dst + sub * 64 + n * 8) =
            pack_bf16(o[sub][4 * n + 2 * half] * inv, o[sub][4 * n + 2 * half + 1] * inv);
  }
}

}  // namespace folio::kernels::detail
