// KV-cache store (f32 rows -> bf16 cache rows), the fused q/k norm + RoPE + KV
// store + block summaries of a decode step, dense attention plans and a small
// int fill (see model_ops.hpp).
#include "kernels/block_summary.cuh"
#include "kernels/head_norm_rope.cuh"
#include "kernels/launch.cuh"
#include "kernels/mma_common.cuh"
#include "kernels/model_ops.hpp"
#include "kernels/ops_common.cuh"

namespace folio::kernels::ops {
namespace {

using namespace detail;
using kernels::detail::griddep_launch_dependents;
using kernels::detail::griddep_wait;
using kernels::detail::launch;

__global__ void kv_store_kernel(const float* k, int64_t ks, const float* v, int64_t vs, int64_t n, int64_t pos0,
                                int64_t row_elems, bf16* kc, bf16* vc) {
  griddep_wait();  // k and v come from the kernels before (programmatic launch)
  const int64_t total = n * row_elems;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / row_elems, c = i % row_elems;
    const int64_t dst = (pos0 + r) * row_elems + c;
    kc[dst] = __float2bfloat16(k[r * ks + c]);
    vc[dst] = __float2bfloat16(v[r * vs + c]);
  }
  griddep_launch_dependents();
}

// qk_norm_rope_kv: blocks [0, q_blocks) take one (row, query head) per warp;
// block q_blocks + h takes KV head h of every row (a warp per row: norm, RoPE,
// the bf16 key and value into the cache), then, once the block's keys are
// stored (__syncthreads makes them visible to the whole block), recomputes the
// head's summaries of the blocks from pos0 / 64 on with block_key_mean, as
// summarize_kernel (planner.cu) does, so the summaries are the bits a kv_write gives.
constexpr int kFusedWarps = 8;
__global__ void __launch_bounds__(kFusedWarps * 32) qk_norm_rope_kv_kernel(const QkNormRopeKvArgs a, int rot,
                                                                            unsigned q_blocks) {
  __shared__ float head[kFusedWarps][kHeadNormRopeMaxDim];
  griddep_wait();  // q, k and v come from the kernels before (programmatic launch)
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, hd = a.head_dim;
  if (blockIdx.x < q_blocks) {
    const int64_t task = int64_t(blockIdx.x) * kFusedWarps + warp;
    if (task >= a.rows * a.n_heads) return;
    const int64_t r = task / a.n_heads;
    const int64_t col = (task % a.n_heads) * hd;
    head_norm_rope_warp(a.q + r * a.q_stride + col, head[warp], hd, a.q_gamma, a.eps, a.pos0 + r, a.theta, rot, a.neox,
                        lane, a.q_bf16 ? a.q_bf16 + r * a.q_bf16_stride + col : nullptr);
    griddep_launch_dependents();
    return;
  }
  const int h = int(blockIdx.x - q_blocks);
  const int64_t row_elems = int64_t(a.n_kv_heads) * hd, col = int64_t(h) * hd;
  for (int64_t r = warp; r < a.rows; r += kFusedWarps) {
    bf16* kc = a.k_cache + (a.pos0 + r) * row_elems + col;
    bf16* vc = a.v_cache + (a.pos0 + r) * row_elems + col;
    head_norm_rope_warp(a.k + r * a.k_stride + col, head[warp], hd, a.k_gamma, a.eps, a.pos0 + r, a.theta, rot, a.neox,
                        lane, kc);
    for (int c = lane; c < hd; c += 32) vc[c] = __float2bfloat16(a.v[r * a.v_stride + col + c]);
    __syncwarp();  // the warp's shared slice is reused by its next row
  }
  __syncthreads();
  griddep_launch_dependents();
  for (int64_t j = a.pos0 / 64; j * 64 < a.n_cached; ++j) {
    const int rows = int(min(int64_t(64), a.n_cached - j * 64));
    const bf16* base = a.k_cache + j * 64 * row_elems + col;
    for (int c = threadIdx.x; c < hd; c += blockDim.x)
      a.summaries[(j * a.n_kv_heads + h) * hd + c] = kernels::detail::block_key_mean(base + c, rows, row_elems);
  }
}

// The prefill form of qk_norm_rope_kv: one block per row. The row's RoPE angles
// are computed once (rope_angle, the expression head_norm_rope_warp uses, so
// the bits are the same) and shared by its query and key heads; warps take the
// row's heads in turn: query heads normalised and rotated in place, key heads
// too and also stored as bf16 in the cache, value heads stored. The block
// summaries are left to summarize_blocks, which needs every row of a block.
__global__ void __launch_bounds__(kFusedWarps * 32)
    qk_norm_rope_kv_rows_kernel(const QkNormRopeKvArgs a, int rot) {
  __shared__ float head[kFusedWarps][kHeadNormRopeMaxDim];
  __shared__ float2 angles[kHeadNormRopeMaxDim / 2];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, hd = a.head_dim;
  const int64_t r = blockIdx.x, pos = a.pos0 + r;
  for (int p = threadIdx.x; p < rot / 2; p += blockDim.x) angles[p] = rope_angle(pos, p, a.theta, rot);
  __syncthreads();
  const int64_t row_elems = int64_t(a.n_kv_heads) * hd;
  for (int t = warp; t < a.n_heads + 2 * a.n_kv_heads; t += kFusedWarps) {
    if (t < a.n_heads) {
      const int64_t col = int64_t(t) * hd;
      head_norm_rope_warp(a.q + r * a.q_stride + col, head[warp], hd, a.q_gamma, a.eps, pos, a.theta, rot, a.neox, lane,
                          a.q_bf16 ? a.q_bf16 + r * a.q_bf16_stride + col : nullptr, angles);
    } else if (t < a.n_heads + a.n_kv_heads) {
      const int64_t col = int64_t(t - a.n_heads) * hd;
      head_norm_rope_warp(a.k + r * a.k_stride + col, head[warp], hd, a.k_gamma, a.eps, pos, a.theta, rot, a.neox,
                          lane, a.k_cache + pos * row_elems + col, angles);
    } else {
      const int64_t col = int64_t(t - a.n_heads - a.n_kv_heads) * hd;
      bf16* vc = a.v_cache + pos * row_elems + col;
      for (int c = lane; c < hd; c += 32) vc[c] = __float2bfloat16(a.v[r * a.v_stride + col + c]);
    }
    __syncwarp();  // the warp's shared slice is reused by its next head
  }
}

// One block per plan row.
__global__ void dense_plan_kernel(int64_t n_queries, int64_t q_offset, int query_block, int n_kv_heads, int capacity,
                                  int32_t* offsets, int32_t* counts, int32_t* indices) {
  const int64_t r = blockIdx.x;
  const int64_t qb = r / n_kv_heads;
  const int64_t end = min((qb + 1) * query_block, n_queries);
  const int64_t last = q_offset + end - 1;
  const int count = int(min(int64_t(capacity), last / 64 + 1));
  if (threadIdx.x == 0) {
    offsets[r] = int32_t(r * capacity);
    counts[r] = count;
  }
  for (int i = threadIdx.x; i < count; i += blockDim.x) indices[r * capacity + i] = i;
}

__global__ void fill_i32_kernel(int32_t* p, int64_t n, int32_t value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    p[i] = value;
}

}  // namespace

cudaError_t kv_store(const float* k, int64_t ks, const float* v, int64_t vs, int64_t n, int64_t pos0, int64_t row_elems,
                     bf16* kc, bf16* vc, cudaStream_t s, bool programmatic) {
  if (n * row_elems == 0) return cudaSuccess;
  return launch(kv_store_kernel, dim3(grid_for(n * row_elems, 256)), dim3(256), 0, s, programmatic, k, ks, v, vs, n,
                pos0, row_elems, kc, vc);
}

cudaError_t qk_norm_rope_kv(const QkNormRopeKvArgs& a, cudaStream_t s, bool programmatic) {
  const int rot = a.rot_dims > 0 ? a.rot_dims : a.head_dim;
  if (a.head_dim <= 0 || a.head_dim > kHeadNormRopeMaxDim || rot > a.head_dim || rot % 2 != 0 || a.n_heads < 0 ||
      a.n_kv_heads < 0 || a.pos0 < 0 || a.n_cached < a.pos0 + a.rows)
    return cudaErrorInvalidValue;
  if (a.rows == 0) return cudaSuccess;
  if (a.rows > kGemvMaxRows) {
    if (a.rows > INT32_MAX) return cudaErrorInvalidValue;
    qk_norm_rope_kv_rows_kernel<<<unsigned(a.rows), kFusedWarps * 32, 0, s>>>(a, rot);
    return cudaGetLastError();
  }
  const unsigned q_blocks = unsigned((a.rows * a.n_heads + kFusedWarps - 1) / kFusedWarps);
  return launch(qk_norm_rope_kv_kernel, dim3(q_blocks + unsigned(a.n_kv_heads)), dim3(kFusedWarps * 32), 0, s,
                programmatic, a, rot, q_blocks);
}

cudaError_t dense_plan(int64_t n_queries, int64_t q_offset, int query_block, int n_kv_heads, int capacity,
                       int32_t* offsets, int32_t* counts, int32_t* indices, cudaStream_t s) {
  const int64_t rows = (n_queries + query_block - 1) / query_block * n_kv_heads;
  if (rows == 0) return cudaSuccess;
  dense_plan_kernel<<<unsigned(rows), 256, 0, s>>>(n_queries, q_offset, query_block, n_kv_heads, capacity, offsets,
                                                   counts, indices);
  return cudaGetLastError();
}

cudaError_t fill_i32(int32_t* p, int64_t n, int32_t value, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  fill_i32_kernel<<<grid_for(n, 256), 256, 0, s>>>(p, n, value);
  return cudaGetLastError();
}

}  // namespace folio::kernels::ops
