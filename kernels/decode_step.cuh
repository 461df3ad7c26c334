// The inner step of the decode kernels (flash_decode.cu, sparse_decode.cu): one
// warp takes 16 keys of a 64-key K/V block in shared memory against the G query
// heads of one KV group and folds them into its online-softmax state.
//
// The G heads are the 16 rows of one m16n8k16 A tile (rows >= G are zero); a
// warp's state covers rows g and g + 8 (g = lane / 4) with its quad's columns,
// so a CTA's warps are merged through shared memory at the end
// (store_warp_state, then combine_warp_states per output element). Scores are
// kept in base 2: m is the raw maximum, exp2((s - m) * scale_log2).
#pragma once

#include <cfloat>
#include <cstdint>

#include "kernels/mma_common.cuh"

namespace folio::kernels::detail {

template <int kD>
struct WarpSoftmax {
  float o[kD / 8][4];
  float m[2], l[2];

  __device__ __forceinline__ void init() {
#pragma unroll
    for (int n = 0; n < kD / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    m[0] = m[1] = -INFINITY;
    l[0] = l[1] = 0.0f;
  }
};

// The 16 query rows (swizzled [16][kD] bf16 at q_s) as A fragments.
template <int kD>
__device__ __forceinline__ void load_query_fragments(uint32_t (&qf)[kD / 16][4], uint32_t q_s, int lane) {
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    const int r = (lane & 7) + ((lane >> 3) & 1) * 8;
    ldmatrix_x4(qf[kk], q_s + swizzle<kD>(r, kk * 2 + (lane >> 4)) * 2);
  }
}

// Keys [16 * slot, 16 * slot + 16) of the block whose swizzled [64][kD] K and V
// tiles are at k_tile and v_tile; key0 is the absolute position of the first of
// them, and keys at or past n_keys are masked.
template <int kD>
__device__ __forceinline__ void attend_block_keys(WarpSoftmax<kD>& st, const uint32_t (&qf)[kD / 16][4],
                                                  uint32_t k_tile, uint32_t v_tile, int slot, int64_t key0,
                                                  int64_t n_keys, float scale_log2, int lane) {
  const int quad = lane % 4;
  float s[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    uint32_t b[4];
    const int key = slot * 16 + (lane & 7) + (lane >> 4) * 8;
    ldmatrix_x4(b, k_tile + swizzle<kD>(key, kk * 2 + ((lane >> 3) & 1)) * 2);
    mma_bf16(s[0], qf[kk], b[0], b[1]);
    mma_bf16(s[1], qf[kk], b[2], b[3]);
  }
  if (key0 + 16 > n_keys) {
#pragma unroll
    for (int n = 0; n < 2; ++n)
#pragma unroll
      for (int c = 0; c < 4; ++c)
        if (key0 + n * 8 + quad * 2 + (c & 1) >= n_keys) s[n][c] = -INFINITY;
  }
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const float mx = quad_max(fmaxf(fmaxf(s[0][2 * half], s[0][2 * half + 1]), fmaxf(s[1][2 * half], s[1][2 * half + 1])));
    const float m_new = fmaxf(st.m[half], mx);
    const float m_use = m_new == -INFINITY ? 0.0f : m_new * scale_log2;
    const float alpha = fast_exp2(st.m[half] * scale_log2 - m_use);
    st.m[half] = m_new;
    float sum = 0.0f;
#pragma unroll
    for (int n = 0; n < 2; ++n) {
      s[n][2 * half] = fast_exp2(s[n][2 * half] * scale_log2 - m_use);
      s[n][2 * half + 1] = fast_exp2(s[n][2 * half + 1] * scale_log2 - m_use);
      sum += s[n][2 * half] + s[n][2 * half + 1];
    }
    st.l[half] = st.l[half] * alpha + sum;
#pragma unroll
    for (int n = 0; n < kD / 8; ++n) {
      st.o[n][2 * half] *= alpha;
      st.o[n][2 * half + 1] *= alpha;
    }
  }
  const uint32_t a[4] = {pack_bf16(s[0][0], s[0][1]), pack_bf16(s[0][2], s[0][3]), pack_bf16(s[1][0], s[1][1]),
                         pack_bf16(s[1][2], s[1][3])};
#pragma unroll
  for (int dp = 0; dp < kD / 16; ++dp) {
    uint32_t b[4];
    const int key = slot * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
    ldmatrix_x4_trans(b, v_tile + swizzle<kD>(key, dp * 2 + (lane >> 4)) * 2);
    mma_bf16(st.o[2 * dp], a, b[0], b[1]);
    mma_bf16(st.o[2 * dp + 1], a, b[2], b[3]);
  }
}

// Row stride (floats) of red_o: 8 floats of padding put the 8 rows a warp
// stores at once in different banks (2 wavefronts per 8-byte store, no more).
template <int kD>
inline constexpr int kRedStride = kD + 8;

// Writes a warp's state as slot `slot` of red_o [slots][16][kRedStride], red_m
// and red_l [slots][16] (m scaled to base 2; -inf for rows that saw no key).
// Rows >= rows_used (query heads past the group) are not stored.
template <int kD>
__device__ __forceinline__ void store_warp_state(const WarpSoftmax<kD>& st, float* red_o, float* red_m, float* red_l,
                                                 int slot, float scale_log2, int lane, int rows_used = 16) {
  const int quad = lane % 4, group_id = lane / 4;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    if (half == 1 && rows_used <= 8) break;
    const int r = group_id + half * 8;
    const float total = quad_sum(st.l[half]);
    if (quad == 0) {
      red_m[slot * 16 + r] = st.m[half] == -INFINITY ? -INFINITY : st.m[half] * scale_log2;
      red_l[slot * 16 + r] = total;
    }
    float* row = red_o + (slot * 16 + r) * kRedStride<kD> + quad * 2;
#pragma unroll
    for (int n = 0; n < kD / 8; ++n)
      *reinterpret_cast<float2*>(row + n * 8) = make_float2(st.o[n][2 * half], st.o[n][2 * half + 1]);
  }
}

// Merges the stored slots for row r, column c: *mx = max of the slots' m,
// *sum = sum of 2^(m - mx) l, *acc = sum of 2^(m - mx) o (zero when no slot saw a key).
template <int kD, int kSlots>
__device__ __forceinline__ void combine_warp_states(const float* red_o, const float* red_m, const float* red_l, int r,
                                                    int c, float* mx, float* sum, float* acc) {
  float m = -INFINITY;
#pragma unroll
  for (int w = 0; w < kSlots; ++w) m = fmaxf(m, red_m[w * 16 + r]);
  float s = 0.0f, a = 0.0f;
  if (m != -INFINITY) {
#pragma unroll
    for (int w = 0; w < kSlots; ++w) {
      const float f = fast_exp2(red_m[w * 16 + r] - m);
      s += f * red_l[w * 16 + r];
      a += f * red_o[(w * 16 + r) * kRedStride<kD> + c];
    }
  }
  *mx = m;
  *sum = s;
  *acc = a;
}

}  // namespace folio::kernels::detail
