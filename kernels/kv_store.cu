// KV-cache store (f32 rows -> bf16 cache rows), dense attention plans and a
// small int fill (see model_ops.hpp).
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

// One block per plan row.
__global__ void dense_plan_kernel(int64_t n_queries, int64_t q_offset, int query_block, int n_kv_heads, int capacity,
                                  int32_t* offsets, int32_t* counts, int32_t* indices, int32_t* seq_len) {
  const int64_t r = blockIdx.x;
  if (seq_len && r == 0 && threadIdx.x == 0) *seq_len = int32_t(q_offset + n_queries);
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

cudaError_t dense_plan(int64_t n_queries, int64_t q_offset, int query_block, int n_kv_heads, int capacity,
                       int32_t* offsets, int32_t* counts, int32_t* indices, int32_t* seq_len, cudaStream_t s) {
  const int64_t rows = (n_queries + query_block - 1) / query_block * n_kv_heads;
  if (rows == 0) return cudaSuccess;
  dense_plan_kernel<<<unsigned(rows), 256, 0, s>>>(n_queries, q_offset, query_block, n_kv_heads, capacity, offsets,
                                                   counts, indices, seq_len);
  return cudaGetLastError();
}

cudaError_t fill_i32(int32_t* p, int64_t n, int32_t value, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  fill_i32_kernel<<<grid_for(n, 256), 256, 0, s>>>(p, n, value);
  return cudaGetLastError();
}

}  // namespace folio::kernels::ops
