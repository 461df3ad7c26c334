// Exact attention for any even head_dim <= 256 (see model_ops.hpp): the CUDA
// backend's fallback for head dims the flash kernels (64, 128) do not cover.
#include "kernels/model_ops.hpp"
#include "kernels/ops_common.cuh"

namespace folio::kernels::ops {
namespace {

using namespace detail;

constexpr int kMaxPerLane = 8;  // head_dim <= 256

__global__ void attention_generic_kernel(const bf16* q, int64_t qs, int64_t n_queries, int64_t q_offset, int n_heads,
                                         int n_kv_heads, int D, float scale, const bf16* kc, const bf16* vc,
                                         const int32_t* offsets, const int32_t* counts, const int32_t* indices,
                                         int query_block, bf16* o, int64_t os) {
  const int64_t task = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5);
  if (task >= n_queries * n_heads) return;
  const int lane = threadIdx.x & 31;
  const int64_t i = task / n_heads;
  const int h = int(task % n_heads);
  const int g = h / (n_heads / n_kv_heads);
  const int64_t pos = q_offset + i;
  const int64_t row = (i / query_block) * n_kv_heads + g;
  const int64_t first = offsets[row];
  const int64_t count = counts ? counts[row] : offsets[row + 1] - offsets[row];
  const int64_t row_elems = int64_t(n_kv_heads) * D;
  float qv[kMaxPerLane], acc[kMaxPerLane];
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) {
    const int c = lane + 32 * j;
    qv[j] = c < D ? __bfloat162float(q[i * qs + int64_t(h) * D + c]) * scale : 0.0f;
    acc[j] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int64_t b = 0; b < count; ++b) {
    const int64_t blk = indices[first + b];
    const int64_t end = min(blk * 64 + 64, pos + 1);
    for (int64_t t = blk * 64; t < end; ++t) {
      const bf16* kr = kc + t * row_elems + int64_t(g) * D;
      float s = 0.0f;
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) {
        const int c = lane + 32 * j;
        if (c < D) s += qv[j] * __bfloat162float(kr[c]);
      }
      s = warp_sum(s);
      const float m_new = fmaxf(m, s);
      const float alpha = expf(m - m_new), p = expf(s - m_new);
      l = l * alpha + p;
      m = m_new;
      const bf16* vr = vc + t * row_elems + int64_t(g) * D;
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) {
        const int c = lane + 32 * j;
        if (c < D) acc[j] = acc[j] * alpha + p * __bfloat162float(vr[c]);
      }
    }
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) {
    const int c = lane + 32 * j;
    if (c < D) o[i * os + int64_t(h) * D + c] = __float2bfloat16(acc[j] * inv);
  }
}

}  // namespace

cudaError_t attention_generic(const bf16* q, int64_t qs, int64_t n_queries, int64_t q_offset, int n_heads,
                              int n_kv_heads, int head_dim, float scale, const bf16* kc, const bf16* vc,
                              const int32_t* offsets, const int32_t* counts, const int32_t* indices, int query_block,
                              bf16* o, int64_t os, cudaStream_t s) {
  if (head_dim <= 0 || head_dim > 32 * kMaxPerLane || n_heads % n_kv_heads != 0 || query_block < 1)
    return cudaErrorInvalidValue;
  const int64_t tasks = n_queries * n_heads;
  if (tasks == 0) return cudaSuccess;
  attention_generic_kernel<<<unsigned((tasks + 7) / 8), 256, 0, s>>>(q, qs, n_queries, q_offset, n_heads, n_kv_heads,
                                                                    head_dim, scale, kc, vc, offsets, counts, indices,
                                                                    query_block, o, os);
  return cudaGetLastError();
}

}  // namespace folio::kernels::ops
