// Mixture-of-experts kernels (see model_ops.hpp):
//   routing   softmax / top-k / renormalisation, one warp per token;
//   grouping  (token, slot) pairs ordered by expert, token order inside an
//             expert, so the expert GEMMs see contiguous rows and results do not
//             depend on atomics' ordering;
//   combine   weighted sum of each token's expert outputs, slots in order;
//   decode    the fused top-k expert GEMVs: each chosen expert's rows are read
//             once, directly from the stacked expert tensors, with no grouping.
#include "kernels/model_ops.hpp"
#include "kernels/ops_common.cuh"

namespace folio::kernels::ops {
namespace {

using namespace detail;

constexpr int kRouteWarps = 4;

__global__ void route_kernel(const float* logits, int64_t n, int E, int k, bool normalize, const int32_t* forced,
                             int32_t* ids, float* wts, int32_t* counts) {
  extern __shared__ float probs_all[];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t t = int64_t(blockIdx.x) * kRouteWarps + warp;
  if (t >= n) return;
  float* p = probs_all + warp * E;
  const float* l = logits + t * E;
  float mx = -INFINITY;
  for (int e = lane; e < E; e += 32) {
    p[e] = l[e];
    mx = fmaxf(mx, l[e]);
  }
  mx = warp_max(mx);
  float sum = 0.0f;
  for (int e = lane; e < E; e += 32) {
    const float v = expf(p[e] - mx);
    p[e] = v;
    sum += v;
  }
  sum = warp_sum(sum);
  for (int e = lane; e < E; e += 32) p[e] /= sum;
  __syncwarp();
  float chosen_sum = 0.0f;
  for (int j = 0; j < k; ++j) {
    float best = -1.0f;
    int idx = E;
    if (forced != nullptr) {  // replay: the same id in every lane, nothing to reduce
      idx = forced[t * k + j];
      best = p[idx];
    } else {
      for (int e = lane; e < E; e += 32)
        if (p[e] > best) {  // ascending e: ties keep the lower index
          best = p[e];
          idx = e;
        }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) {
        const float ob = __shfl_xor_sync(0xffffffffu, best, o);
        const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
        if (ob > best || (ob == best && oi < idx)) {
          best = ob;
          idx = oi;
        }
      }
    }
    __syncwarp();  // every lane has read p[idx] before lane 0 clears it
    if (lane == 0) {
      ids[t * k + j] = idx;
      wts[t * k + j] = best;
      p[idx] = -1.0f;
      if (counts) atomicAdd(counts + idx, 1);
    }
    chosen_sum += best;
    __syncwarp();
  }
  if (normalize && lane < k) wts[t * k + lane] = wts[t * k + lane] / chosen_sum;
}

// One block per expert: scans all pairs in order, with a block-wide prefix count.
constexpr int kGroupThreads = 1024;
__global__ void __launch_bounds__(kGroupThreads)
    group_kernel(const int32_t* ids, int64_t total, int k, const int32_t* offsets, int32_t* row_token,
                 int32_t* slot_row) {
  __shared__ int warp_counts[kGroupThreads / 32];
  const int e = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int64_t running = offsets[e];
  for (int64_t base = 0; base < total; base += kGroupThreads) {
    const int64_t slot = base + threadIdx.x;
    const bool match = slot < total && ids[slot] == e;
    const unsigned ballot = __ballot_sync(0xffffffffu, match);
    if (lane == 0) warp_counts[warp] = __popc(ballot);
    __syncthreads();
    int before = 0, all = 0;
    for (int w = 0; w < kGroupThreads / 32; ++w) {
      const int c = warp_counts[w];
      before += w < warp ? c : 0;
      all += c;
    }
    if (match) {
      const int64_t row = running + before + __popc(ballot & ((1u << lane) - 1u));
      row_token[row] = int32_t(slot / k);
      slot_row[slot] = int32_t(row);
    }
    running += all;
    __syncthreads();
  }
}

// Rows whose token is negative (padding of a fixed-capacity expert group) become zeros.
__global__ void gather_kernel(const float* x, int64_t xs, int64_t cols, const int32_t* row_token, bf16* out) {
  const int64_t r = blockIdx.x;
  const int32_t t = row_token[r];
  if (t < 0) {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) out[r * cols + c] = __float2bfloat16(0.0f);
    return;
  }
  const float* src = x + int64_t(t) * xs;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) out[r * cols + c] = __float2bfloat16(src[c]);
}

__device__ __forceinline__ float as_f32(float v) { return v; }
__device__ __forceinline__ float as_f32(bf16 v) { return __bfloat162float(v); }

template <class T>
__global__ void combine_kernel(const T* ys, int64_t cols, const int32_t* slot_row, const float* wts, int64_t n,
                               int k, float* out, int64_t os) {
  const int64_t total = n * cols;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / cols, c = i % cols;
    float acc = 0.0f;
    for (int j = 0; j < k; ++j) acc += wts[t * k + j] * as_f32(ys[int64_t(slot_row[t * k + j]) * cols + c]);
    out[t * os + c] = acc;
  }
}

constexpr int kGemvWarps = 8;

__device__ __forceinline__ float dot_bf16_f32(const bf16* __restrict__ w, const float* __restrict__ x, int64_t n,
                                              int lane, bool vec) {
  float acc = 0.0f;
  if (vec) {
#pragma unroll 4
    for (int64_t c = int64_t(lane) * 8; c < n; c += 256) {
      float wf[8];
      unpack8(__ldg(reinterpret_cast<const uint4*>(w + c)), wf);
      const float4 a = __ldg(reinterpret_cast<const float4*>(x + c));
      const float4 b = __ldg(reinterpret_cast<const float4*>(x + c + 4));
      acc += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * b.x + wf[5] * b.y + wf[6] * b.z +
             wf[7] * b.w;
    }
  } else {
    for (int64_t c = lane; c < n; c += 32) acc += __bfloat162float(w[c]) * x[c];
  }
  return warp_sum(acc);
}

// grid (ceil(ff / 8), n * k): warp per (slot, ff row).
__global__ void __launch_bounds__(kGemvWarps * 32)
    experts_gate_up_kernel(const float* x, int64_t xs, int k, const int32_t* ids, const bf16* gate, const bf16* up,
                           int64_t ff, int64_t d, float* h, bool vec) {
  const int64_t f = int64_t(blockIdx.x) * kGemvWarps + (threadIdx.x >> 5);
  if (f >= ff) return;
  const int64_t slot = blockIdx.y;
  const int lane = threadIdx.x & 31;
  const int64_t e = ids[slot];
  const float* xr = x + (slot / k) * xs;
  const float g = dot_bf16_f32(gate + (e * ff + f) * d, xr, d, lane, vec);
  const float u = dot_bf16_f32(up + (e * ff + f) * d, xr, d, lane, vec);
  if (lane == 0) h[slot * ff + f] = g / (1.0f + expf(-g)) * u;
}

// grid (ceil(d / 8), n): warp per (token, output row). The k experts' rows are
// walked as one flat sequence of 8-element chunks so every lane keeps several
// loads in flight (a row of ff = 768 is only 3 chunks per lane), then one reduction.
__global__ void __launch_bounds__(kGemvWarps * 32)
    experts_down_kernel(const float* h, int k, const int32_t* ids, const float* wts, const bf16* down, int64_t d,
                        int64_t ff, float* out, int64_t os, bool vec) {
  const int64_t r = int64_t(blockIdx.x) * kGemvWarps + (threadIdx.x >> 5);
  if (r >= d) return;
  const int64_t t = blockIdx.y;
  const int lane = threadIdx.x & 31;
  float acc = 0.0f;
  if (vec) {
    const int64_t chunks = ff / 8, total = chunks * k;
#pragma unroll 4
    for (int64_t i = lane; i < total; i += 32) {
      const int64_t j = i / chunks, c = (i - j * chunks) * 8;
      const int64_t slot = t * k + j;
      const int64_t e = ids[slot];
      float wf[8];
      unpack8(__ldg(reinterpret_cast<const uint4*>(down + (e * d + r) * ff + c)), wf);
      const float4 a = __ldg(reinterpret_cast<const float4*>(h + slot * ff + c));
      const float4 b = __ldg(reinterpret_cast<const float4*>(h + slot * ff + c + 4));
      acc += wts[slot] * (wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * b.x + wf[5] * b.y +
                          wf[6] * b.z + wf[7] * b.w);
    }
    acc = warp_sum(acc);
  } else {
    for (int j = 0; j < k; ++j) {
      const int64_t slot = t * k + j;
      const int64_t e = ids[slot];
      acc += wts[slot] * dot_bf16_f32(down + (e * d + r) * ff, h + slot * ff, ff, lane, false);
    }
  }
  if (lane == 0) out[t * os + r] = acc;
}

}  // namespace

cudaError_t moe_route(const float* logits, int64_t n, int E, int k, bool normalize, const int32_t* forced, int32_t* ids,
                      float* wts, int32_t* counts, cudaStream_t s) {
  if (k < 1 || k > 32 || k > E || E > 8192) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const size_t smem = size_t(kRouteWarps) * size_t(E) * 4;
  if (smem > 48 * 1024) {
    const cudaError_t err = cudaFuncSetAttribute(route_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    if (err != cudaSuccess) return err;
  }
  route_kernel<<<unsigned((n + kRouteWarps - 1) / kRouteWarps), kRouteWarps * 32, smem, s>>>(
      logits, n, E, k, normalize, forced, ids, wts, counts);
  return cudaGetLastError();
}

cudaError_t moe_group(const int32_t* ids, int64_t n, int k, int n_expert, const int32_t* offsets, int32_t* row_token,
                      int32_t* slot_row, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  group_kernel<<<unsigned(n_expert), kGroupThreads, 0, s>>>(ids, n * k, k, offsets, row_token, slot_row);
  return cudaGetLastError();
}

cudaError_t gather_rows_bf16(const float* x, int64_t xs, int64_t cols, const int32_t* row_token, int64_t rows,
                             bf16* out, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  gather_kernel<<<unsigned(rows), 256, 0, s>>>(x, xs, cols, row_token, out);
  return cudaGetLastError();
}

cudaError_t moe_combine(const float* ys, int64_t cols, const int32_t* slot_row, const float* wts, int64_t n, int k,
                        float* out, int64_t os, cudaStream_t s) {
  if (n * cols == 0) return cudaSuccess;
  combine_kernel<float><<<grid_for(n * cols, 256), 256, 0, s>>>(ys, cols, slot_row, wts, n, k, out, os);
  return cudaGetLastError();
}

cudaError_t moe_combine(const bf16* ys, int64_t cols, const int32_t* slot_row, const float* wts, int64_t n, int k,
                        float* out, int64_t os, cudaStream_t s) {
  if (n * cols == 0) return cudaSuccess;
  combine_kernel<bf16><<<grid_for(n * cols, 256), 256, 0, s>>>(ys, cols, slot_row, wts, n, k, out, os);
  return cudaGetLastError();
}

cudaError_t moe_experts_gate_up(const float* x, int64_t xs, int64_t n, int k, const int32_t* ids, const bf16* gate,
                                const bf16* up, int64_t ff, int64_t d, float* h, cudaStream_t s) {
  if (n * k == 0) return cudaSuccess;
  const bool vec = d % 8 == 0 && xs % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(gate) % 16 == 0 && reinterpret_cast<uintptr_t>(up) % 16 == 0;
  experts_gate_up_kernel<<<dim3(unsigned((ff + kGemvWarps - 1) / kGemvWarps), unsigned(n * k)), kGemvWarps * 32, 0,
                           s>>>(x, xs, k, ids, gate, up, ff, d, h, vec);
  return cudaGetLastError();
}

cudaError_t moe_experts_down(const float* h, int64_t n, int k, const int32_t* ids, const float* wts, const bf16* down,
                             int64_t d, int64_t ff, float* out, int64_t os, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  const bool vec = ff % 8 == 0 && reinterpret_cast<uintptr_t>(h) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(down) % 16 == 0;
  experts_down_kernel<<<dim3(unsigned((d + kGemvWarps - 1) / kGemvWarps), unsigned(n)), kGemvWarps * 32, 0, s>>>(
      h, k, ids, wts, down, d, ff, out, os, vec);
  return cudaGetLastError();
}

}  // namespace folio::kernels::ops
