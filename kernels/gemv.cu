// Small-batch matmul y = x W^T for 1..8 token rows (decode): one warp per output
// row streams that weight row once with 16-byte loads and applies it to every
// token, so the kernel runs at memory speed where a GEMM library would waste the
// tensor cores on a mostly empty tile.
#include "kernels/model_ops.hpp"
#include "kernels/ops_common.cuh"

namespace folio::kernels::ops {
namespace {

using namespace detail;

constexpr int kWarpsPerBlock = 8;

// Elements one 16-byte load of W carries.
template <class W> struct Vec;
template <> struct Vec<bf16> { static constexpr int n = 8; };
template <> struct Vec<float> { static constexpr int n = 4; };

__device__ __forceinline__ void load_vec(const bf16* p, float* f) { unpack8(__ldg(reinterpret_cast<const uint4*>(p)), f); }
__device__ __forceinline__ void load_vec(const float* p, float* f) {
  const float4 v = __ldg(reinterpret_cast<const float4*>(p));
  f[0] = v.x; f[1] = v.y; f[2] = v.z; f[3] = v.w;
}
__device__ __forceinline__ float to_f(bf16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f(float v) { return v; }

// kVec: W rows and x rows are 16-byte aligned and cols a multiple of the vector width.
// kSplit warps share one row (columns interleaved), for matrices with too few rows
// to keep every SM's memory pipeline busy at one warp per row.
template <class W, int N, bool kVec, int kSplit>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_kernel(const float* __restrict__ x, int64_t xs, const W* __restrict__ w, int64_t rows, int64_t cols,
                float* __restrict__ y, int64_t ys) {
  __shared__ float partial[kWarpsPerBlock][N];
  const int warp = threadIdx.x >> 5, part = warp % kSplit;
  const int64_t row = int64_t(blockIdx.x) * (kWarpsPerBlock / kSplit) + warp / kSplit;
  const int lane = (threadIdx.x & 31) + 32 * part;  // this thread's slot among the row's kSplit * 32
  if (row >= rows) return;  // whole row groups only: no thread of a live row leaves
  const W* wr = w + row * cols;
  float acc[N];
#pragma unroll
  for (int t = 0; t < N; ++t) acc[t] = 0.0f;
  if constexpr (kVec) {
    constexpr int V = Vec<W>::n;
#pragma unroll 4
    for (int64_t c = int64_t(lane) * V; c < cols; c += 32 * kSplit * V) {
      float wf[V];
      load_vec(wr + c, wf);
#pragma unroll
      for (int t = 0; t < N; ++t) {
        const float4* xp = reinterpret_cast<const float4*>(x + t * xs + c);
#pragma unroll
        for (int q = 0; q < V / 4; ++q) {
          const float4 xv = __ldg(xp + q);
          acc[t] += wf[4 * q] * xv.x + wf[4 * q + 1] * xv.y + wf[4 * q + 2] * xv.z + wf[4 * q + 3] * xv.w;
        }
      }
    }
  } else {
    for (int64_t c = lane; c < cols; c += 32 * kSplit) {
      const float wv = to_f(wr[c]);
#pragma unroll
      for (int t = 0; t < N; ++t) acc[t] += wv * x[t * xs + c];
    }
  }
  const int l32 = threadIdx.x & 31;
#pragma unroll
  for (int t = 0; t < N; ++t) {
    const float s = warp_sum(acc[t]);
    if constexpr (kSplit == 1) {
      if (l32 == 0) y[t * ys + row] = s;
    } else if (l32 == 0) {
      partial[warp][t] = s;
    }
  }
  if constexpr (kSplit > 1) {
    static_assert(kSplit == kWarpsPerBlock, "a split row takes the whole block");
    __syncthreads();
    if (part == 0 && l32 < N) {
      float s = 0.0f;
      for (int q = 0; q < kSplit; ++q) s += partial[warp + q][l32];
      y[l32 * ys + row] = s;
    }
  }
}

template <class W, int N, int kSplit>
void launch_split(const float* x, int64_t xs, const W* w, int64_t rows, int64_t cols, float* y, int64_t ys, bool vec,
                  cudaStream_t s) {
  constexpr int kRowsPerBlock = kWarpsPerBlock / kSplit;
  const unsigned blocks = unsigned((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  if (vec)
    gemv_kernel<W, N, true, kSplit><<<blocks, kWarpsPerBlock * 32, 0, s>>>(x, xs, w, rows, cols, y, ys);
  else
    gemv_kernel<W, N, false, kSplit><<<blocks, kWarpsPerBlock * 32, 0, s>>>(x, xs, w, rows, cols, y, ys);
}

// Below this many rows a row gets a whole block (8 warps) instead of one warp.
constexpr int64_t kSplitBelowRows = 8192;

template <class W, int N>
void launch_n(const float* x, int64_t xs, const W* w, int64_t rows, int64_t cols, float* y, int64_t ys, bool vec,
              cudaStream_t s) {
  if (rows < kSplitBelowRows && cols >= 1024)
    launch_split<W, N, kWarpsPerBlock>(x, xs, w, rows, cols, y, ys, vec, s);
  else
    launch_split<W, N, 1>(x, xs, w, rows, cols, y, ys, vec, s);
}

template <class W>
cudaError_t gemv(const float* x, int64_t xs, int n, const W* w, int64_t rows, int64_t cols, float* y, int64_t ys,
                 cudaStream_t s) {
  if (n < 1 || n > kGemvMaxRows) return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  constexpr int V = Vec<W>::n;
  const bool vec = cols % V == 0 && xs % 4 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(x) % 16 == 0;
  switch (n) {
    case 1: launch_n<W, 1>(x, xs, w, rows, cols, y, ys, vec, s); break;
    case 2: launch_n<W, 2>(x, xs, w, rows, cols, y, ys, vec, s); break;
    case 3: launch_n<W, 3>(x, xs, w, rows, cols, y, ys, vec, s); break;
    case 4: launch_n<W, 4>(x, xs, w, rows, cols, y, ys, vec, s); break;
    case 5: launch_n<W, 5>(x, xs, w, rows, cols, y, ys, vec, s); break;
    case 6: launch_n<W, 6>(x, xs, w, rows, cols, y, ys, vec, s); break;
    case 7: launch_n<W, 7>(x, xs, w, rows, cols, y, ys, vec, s); break;
    default: launch_n<W, 8>(x, xs, w, rows, cols, y, ys, vec, s); break;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t gemv_bf16(const float* x, int64_t xs, int n, const bf16* w, int64_t rows, int64_t cols, float* y,
                      int64_t ys, cudaStream_t s) {
  return gemv<bf16>(x, xs, n, w, rows, cols, y, ys, s);
}

cudaError_t gemv_f32(const float* x, int64_t xs, int n, const float* w, int64_t rows, int64_t cols, float* y,
                     int64_t ys, cudaStream_t s) {
  return gemv<float>(x, xs, n, w, rows, cols, y, ys, s);
}

}  // namespace folio::kernels::ops
