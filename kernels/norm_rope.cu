// Conversions, embedding, RMSNorm, per-head RMSNorm, RoPE, residual add, SwiGLU
// and the random fill used by benchmarks (see model_ops.hpp).
#include <algorithm>

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

// The conversions run over whole activations at prefill (queries, attention
// outputs, every GEMM input), so they move 8 elements per thread with 16-byte
// accesses when the rows allow it (kVec), and index rows without a division per
// element.
template <bool kVec>
__global__ void f32_to_bf16_kernel(const float* x, int64_t xs, int64_t rows, int64_t cols, bf16* y, int64_t ys) {
  constexpr int V = kVec ? 8 : 1;
  const int64_t per_row = (cols + V - 1) / V, total = rows * per_row;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / per_row, c = (i - r * per_row) * V;
    if constexpr (kVec) {
      const float4 a = *reinterpret_cast<const float4*>(x + r * xs + c);
      const float4 b = *reinterpret_cast<const float4*>(x + r * xs + c + 4);
      const float f[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
      *reinterpret_cast<uint4*>(y + r * ys + c) = pack8(f);
    } else {
      y[r * ys + c] = __float2bfloat16(x[r * xs + c]);
    }
  }
}

template <bool kVec>
__global__ void bf16_to_f32_kernel(const bf16* x, int64_t xs, int64_t rows, int64_t cols, float* y, int64_t ys) {
  constexpr int V = kVec ? 8 : 1;
  const int64_t per_row = (cols + V - 1) / V, total = rows * per_row;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / per_row, c = (i - r * per_row) * V;
    if constexpr (kVec) {
      float f[8];
      unpack8(*reinterpret_cast<const uint4*>(x + r * xs + c), f);
      *reinterpret_cast<float4*>(y + r * ys + c) = make_float4(f[0], f[1], f[2], f[3]);
      *reinterpret_cast<float4*>(y + r * ys + c + 4) = make_float4(f[4], f[5], f[6], f[7]);
    } else {
      y[r * ys + c] = __bfloat162float(x[r * xs + c]);
    }
  }
}

__global__ void embed_kernel(const bf16* table, int64_t cols, const int32_t* ids, float* out, int64_t os) {
  const int64_t t = blockIdx.x;
  const bf16* src = table + int64_t(ids[t]) * cols;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) out[t * os + c] = __bfloat162float(src[c]);
}

// One block per row. Each thread reads then writes only its own elements, so y may alias x.
// kCached: the row (cols <= 4 * 4 * blockDim) stays in registers as float4s between
// the sum of squares and the scaling, so x is read once. With `add` (the fused
// residual step, add_rms_norm) x += add is stored first and normalised: each
// thread reads and writes only its own elements, so y may alias add or x.
template <bool kCached>
__global__ void rms_norm_kernel(float* x, int64_t xs, const float* add, int64_t as, int64_t cols, const float* gamma,
                                float eps, float* y, int64_t ys) {
  griddep_wait();  // x and add come from the kernels before (programmatic launch)
  float* xr = x + blockIdx.x * xs;
  const float* ar = add ? add + blockIdx.x * as : nullptr;
  float* yr = y + blockIdx.x * ys;
  float ss = 0.0f;
  if constexpr (kCached) {
    constexpr int kMax = 4;
    float4 v[kMax];
    const int64_t n4 = cols / 4;
#pragma unroll
    for (int j = 0; j < kMax; ++j) {
      const int64_t i = threadIdx.x + int64_t(j) * blockDim.x;
      v[j] = i < n4 ? reinterpret_cast<const float4*>(xr)[i] : make_float4(0, 0, 0, 0);
      if (ar && i < n4) {
        const float4 b = reinterpret_cast<const float4*>(ar)[i];
        v[j].x += b.x;
        v[j].y += b.y;
        v[j].z += b.z;
        v[j].w += b.w;
        reinterpret_cast<float4*>(xr)[i] = v[j];
      }
      ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    }
    ss = block_sum(ss);
    griddep_launch_dependents();  // only the scaling is left: the next kernel may be scheduled
    const float inv = 1.0f / sqrtf(ss / float(cols) + eps);
#pragma unroll
    for (int j = 0; j < kMax; ++j) {
      const int64_t i = threadIdx.x + int64_t(j) * blockDim.x;
      if (i < n4) {
        const float4 g = reinterpret_cast<const float4*>(gamma)[i];
        reinterpret_cast<float4*>(yr)[i] =
            make_float4(v[j].x * inv * g.x, v[j].y * inv * g.y, v[j].z * inv * g.z, v[j].w * inv * g.w);
      }
    }
  } else {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      if (ar) xr[c] += ar[c];
      ss += xr[c] * xr[c];
    }
    ss = block_sum(ss);
    griddep_launch_dependents();
    const float inv = 1.0f / sqrtf(ss / float(cols) + eps);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = xr[c] * inv * gamma[c];
  }
}

// One warp per (row, head).
__global__ void head_rms_norm_kernel(float* x, int64_t xs, int64_t rows, int n_heads, int head_dim,
                                     const float* gamma, float eps) {
  const int64_t task = blockIdx.x * int64_t(blockDim.x >> 5) + (threadIdx.x >> 5);
  if (task >= rows * n_heads) return;
  const int lane = threadIdx.x & 31;
  float* v = x + (task / n_heads) * xs + (task % n_heads) * head_dim;
  float ss = 0.0f;
  for (int c = lane; c < head_dim; c += 32) ss += v[c] * v[c];
  ss = warp_sum(ss);
  const float inv = 1.0f / sqrtf(ss / float(head_dim) + eps);
  for (int c = lane; c < head_dim; c += 32) v[c] = v[c] * inv * gamma[c];
}

// One thread per (row, rotated pair, group of kRopeHeads heads): the angle's
// sin/cos (the costly part at long-context positions) is computed once per
// group, and the group's 2 * kRopeHeads values are all loaded before any is
// stored, so their memory latencies overlap. (A thread that walked every head
// of the row in turn, load-rotate-store, waited one full latency per head: a
// decode step, one row, spent ~12 us in it on an H200.) inv_freq as
// transformers computes it, in f32.
constexpr int kRopeHeads = 4;
__global__ void rope_kernel(float* x, int64_t xs, int64_t rows, int n_heads, int head_dim, int64_t pos0, float theta,
                            int rot, bool neox) {
  const int half = rot / 2;
  const int groups = (n_heads + kRopeHeads - 1) / kRopeHeads;
  const int64_t total = rows * groups * half;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int p = int(i % half);
    const int64_t rest = i / half;
    const int g = int(rest % groups);
    const int64_t r = rest / groups;
    const float inv = 1.0f / powf(theta, float(2 * p) / float(rot));
    const float a = float(pos0 + r) * inv;
    float sn, cs;
    sincosf(a, &sn, &cs);
    const int i1 = neox ? p : 2 * p, i2 = neox ? p + half : 2 * p + 1;
    float* row = x + r * xs;
    float x1[kRopeHeads], x2[kRopeHeads];
#pragma unroll
    for (int j = 0; j < kRopeHeads; ++j) {
      const int h = g * kRopeHeads + j;
      if (h < n_heads) {
        x1[j] = row[int64_t(h) * head_dim + i1];
        x2[j] = row[int64_t(h) * head_dim + i2];
      }
    }
#pragma unroll
    for (int j = 0; j < kRopeHeads; ++j) {
      const int h = g * kRopeHeads + j;
      if (h < n_heads) {
        row[int64_t(h) * head_dim + i1] = x1[j] * cs - x2[j] * sn;
        row[int64_t(h) * head_dim + i2] = x2[j] * cs + x1[j] * sn;
      }
    }
  }
}

// head_norm_rope: one warp per (row, head) does qwen3's q/k norm and RoPE in one
// pass (head_norm_rope_warp: the same bits as head_rms_norm_kernel then rope_kernel).
constexpr int kHeadNormRopeWarps = 8;
__global__ void __launch_bounds__(kHeadNormRopeWarps * 32)
    head_norm_rope_kernel(float* x, int64_t xs, int64_t rows, int n_heads, int head_dim, const float* gamma, float eps,
                          int64_t pos0, float theta, int rot, bool neox) {
  __shared__ float head[kHeadNormRopeWarps][kHeadNormRopeMaxDim];
  griddep_wait();  // x comes from the kernel before (programmatic launch)
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t task = blockIdx.x * int64_t(kHeadNormRopeWarps) + warp;
  if (task >= rows * n_heads) return;
  const int64_t r = task / n_heads;
  head_norm_rope_warp(x + r * xs + (task % n_heads) * head_dim, head[warp], head_dim, gamma, eps, pos0 + r, theta, rot,
                      neox, lane, nullptr);
  griddep_launch_dependents();
}

// grid (column blocks, rows): no 64-bit division per element; float4 when aligned.
template <bool kVec4>
__global__ void add_kernel(float* y, int64_t ys, const float* x, int64_t xs, int64_t cols) {
  const int64_t r = blockIdx.y;
  float* yr = y + r * ys;
  const float* xr = x + r * xs;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  if constexpr (kVec4) {
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < cols / 4; c += step) {
      float4 a = reinterpret_cast<float4*>(yr)[c];
      const float4 b = reinterpret_cast<const float4*>(xr)[c];
      a.x += b.x;
      a.y += b.y;
      a.z += b.z;
      a.w += b.w;
      reinterpret_cast<float4*>(yr)[c] = a;
    }
  } else {
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < cols; c += step) yr[c] += xr[c];
  }
}

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(bf16 v) { return __bfloat162float(v); }

__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.0f + expf(-g)) * u; }

template <class T>
__global__ void silu_mul_kernel(const T* g, const T* u, int64_t n, bf16* h) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    h[i] = __float2bfloat16(silu_mul(to_f32(g[i]), to_f32(u[i])));
}

// The MoE prefill's form (bf16 in and out, n a multiple of 8, aligned): 16 bytes per access.
__global__ void silu_mul_bf16x8_kernel(const bf16* g, const bf16* u, int64_t n8, bf16* h) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n8; i += int64_t(gridDim.x) * blockDim.x) {
    float a[8], b[8];
    unpack8(reinterpret_cast<const uint4*>(g)[i], a);
    unpack8(reinterpret_cast<const uint4*>(u)[i], b);
#pragma unroll
    for (int j = 0; j < 8; ++j) a[j] = silu_mul(a[j], b[j]);
    reinterpret_cast<uint4*>(h)[i] = pack8(a);
  }
}

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

__device__ __forceinline__ float uniform_at(uint64_t seed, int64_t i, float centre, float half_width) {
  const uint64_t h = mix64(seed * 0x100000001b3ull ^ mix64(uint64_t(i)));
  const float u = float(h >> 40) * (1.0f / 16777216.0f);  // [0, 1)
  return centre + half_width * (2.0f * u - 1.0f);
}

__global__ void random_bf16_kernel(bf16* p, int64_t n, uint64_t seed, float centre, float hw) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    p[i] = __float2bfloat16(uniform_at(seed, i, centre, hw));
}

__global__ void random_f32_kernel(float* p, int64_t n, uint64_t seed, float centre, float hw) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    p[i] = uniform_at(seed, i, centre, hw);
}

constexpr int kThreads = 256;

}  // namespace

cudaError_t f32_to_bf16(const float* x, int64_t xs, int64_t rows, int64_t cols, bf16* y, int64_t ys, cudaStream_t s) {
  if (rows * cols == 0) return cudaSuccess;
  if (cols % 8 == 0 && xs % 4 == 0 && ys % 8 == 0 && aligned16(x, y))
    f32_to_bf16_kernel<true><<<grid_for(rows * cols / 8, kThreads), kThreads, 0, s>>>(x, xs, rows, cols, y, ys);
  else
    f32_to_bf16_kernel<false><<<grid_for(rows * cols, kThreads), kThreads, 0, s>>>(x, xs, rows, cols, y, ys);
  return cudaGetLastError();
}

cudaError_t bf16_to_f32(const bf16* x, int64_t xs, int64_t rows, int64_t cols, float* y, int64_t ys, cudaStream_t s) {
  if (rows * cols == 0) return cudaSuccess;
  if (cols % 8 == 0 && xs % 8 == 0 && ys % 4 == 0 && aligned16(x, y))
    bf16_to_f32_kernel<true><<<grid_for(rows * cols / 8, kThreads), kThreads, 0, s>>>(x, xs, rows, cols, y, ys);
  else
    bf16_to_f32_kernel<false><<<grid_for(rows * cols, kThreads), kThreads, 0, s>>>(x, xs, rows, cols, y, ys);
  return cudaGetLastError();
}

cudaError_t embed(const bf16* table, int64_t cols, const int32_t* ids, int64_t n, float* out, int64_t os,
                  cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  embed_kernel<<<unsigned(n), kThreads, 0, s>>>(table, cols, ids, out, os);
  return cudaGetLastError();
}

namespace {
cudaError_t launch_rms_norm(float* x, int64_t xs, const float* add, int64_t as, int64_t rows, int64_t cols,
                            const float* gamma, float eps, float* y, int64_t ys, cudaStream_t s, bool programmatic) {
  if (rows == 0) return cudaSuccess;
  const bool cached = cols % 4 == 0 && cols <= 16 * kThreads && xs % 4 == 0 && ys % 4 == 0 && aligned16(x) &&
                      aligned16(y) && aligned16(gamma) && (!add || (as % 4 == 0 && aligned16(add)));
  return launch(cached ? rms_norm_kernel<true> : rms_norm_kernel<false>, dim3(unsigned(rows)), dim3(kThreads), 0, s,
                programmatic, x, xs, add, as, cols, gamma, eps, y, ys);
}
}  // namespace

cudaError_t rms_norm(const float* x, int64_t xs, int64_t rows, int64_t cols, const float* gamma, float eps, float* y,
                     int64_t ys, cudaStream_t s, bool programmatic) {
  // Without `add` the kernel only reads x.
  return launch_rms_norm(const_cast<float*>(x), xs, nullptr, 0, rows, cols, gamma, eps, y, ys, s, programmatic);
}

cudaError_t add_rms_norm(float* x, int64_t xs, const float* add, int64_t as, int64_t rows, int64_t cols,
                         const float* gamma, float eps, float* y, int64_t ys, cudaStream_t s, bool programmatic) {
  return launch_rms_norm(x, xs, add, as, rows, cols, gamma, eps, y, ys, s, programmatic);
}

cudaError_t head_norm_rope(float* x, int64_t xs, int64_t rows, int n_heads, int head_dim, const float* gamma,
                           float eps, int64_t pos0, float theta, int rot_dims, bool neox, cudaStream_t s,
                           bool programmatic) {
  const int rot = rot_dims > 0 ? rot_dims : head_dim;
  if (head_dim > kHeadNormRopeMaxDim || rot > head_dim || rot % 2 != 0) return cudaErrorInvalidValue;
  const int64_t tasks = rows * n_heads;
  if (tasks == 0) return cudaSuccess;
  return launch(head_norm_rope_kernel, dim3(unsigned((tasks + kHeadNormRopeWarps - 1) / kHeadNormRopeWarps)),
                dim3(kHeadNormRopeWarps * 32), 0, s, programmatic, x, xs, rows, n_heads, head_dim, gamma, eps, pos0,
                theta, rot, neox);
}

cudaError_t head_rms_norm(float* x, int64_t xs, int64_t rows, int n_heads, int head_dim, const float* gamma, float eps,
                          cudaStream_t s) {
  const int64_t tasks = rows * n_heads;
  if (tasks == 0) return cudaSuccess;
  head_rms_norm_kernel<<<unsigned((tasks + 7) / 8), kThreads, 0, s>>>(x, xs, rows, n_heads, head_dim, gamma, eps);
  return cudaGetLastError();
}

cudaError_t rope(float* x, int64_t xs, int64_t rows, int n_heads, int head_dim, int64_t pos0, float theta,
                 int rot_dims, bool neox, cudaStream_t s) {
  const int rot = rot_dims > 0 ? rot_dims : head_dim;
  const int64_t total = rows * ((n_heads + kRopeHeads - 1) / kRopeHeads) * (rot / 2);
  if (total == 0 || n_heads == 0) return cudaSuccess;
  rope_kernel<<<grid_for(total, kThreads), kThreads, 0, s>>>(x, xs, rows, n_heads, head_dim, pos0, theta, rot, neox);
  return cudaGetLastError();
}

cudaError_t add(float* y, int64_t ys, const float* x, int64_t xs, int64_t rows, int64_t cols, cudaStream_t s) {
  if (rows * cols == 0) return cudaSuccess;
  if (rows > 65535) {  // grid.y limit: split the rows
    for (int64_t r0 = 0; r0 < rows; r0 += 65535) {
      const cudaError_t err = add(y + r0 * ys, ys, x + r0 * xs, xs, std::min<int64_t>(65535, rows - r0), cols, s);
      if (err != cudaSuccess) return err;
    }
    return cudaSuccess;
  }
  const bool vec = cols % 4 == 0 && xs % 4 == 0 && ys % 4 == 0 && aligned16(x) && aligned16(y);
  const int64_t per_row = vec ? cols / 4 : cols;
  const unsigned col_blocks = unsigned(std::min<int64_t>((per_row + kThreads - 1) / kThreads, 8));
  if (vec)
    add_kernel<true><<<dim3(col_blocks, unsigned(rows)), kThreads, 0, s>>>(y, ys, x, xs, cols);
  else
    add_kernel<false><<<dim3(col_blocks, unsigned(rows)), kThreads, 0, s>>>(y, ys, x, xs, cols);
  return cudaGetLastError();
}

cudaError_t silu_mul_bf16(const float* g, const float* u, int64_t n, bf16* h, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  silu_mul_kernel<float><<<grid_for(n, kThreads), kThreads, 0, s>>>(g, u, n, h);
  return cudaGetLastError();
}

cudaError_t silu_mul_bf16(const bf16* g, const bf16* u, int64_t n, bf16* h, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  if (n % 8 == 0 && aligned16(g, u, h))
    silu_mul_bf16x8_kernel<<<grid_for(n / 8, kThreads), kThreads, 0, s>>>(g, u, n / 8, h);
  else
    silu_mul_kernel<bf16><<<grid_for(n, kThreads), kThreads, 0, s>>>(g, u, n, h);
  return cudaGetLastError();
}

cudaError_t random_fill_bf16(bf16* p, int64_t n, uint64_t seed, float centre, float hw, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  random_bf16_kernel<<<grid_for(n, kThreads, 132 * 64), kThreads, 0, s>>>(p, n, seed, centre, hw);
  return cudaGetLastError();
}

cudaError_t random_fill_f32(float* p, int64_t n, uint64_t seed, float centre, float hw, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  random_f32_kernel<<<grid_for(n, kThreads, 132 * 64), kThreads, 0, s>>>(p, n, seed, centre, hw);
  return cudaGetLastError();
}

}  // namespace folio::kernels::ops
