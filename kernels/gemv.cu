// Small-batch matmul y = x W^T for 1..8 token rows (decode): one warp per output
// row streams that weight row once with 16-byte loads and applies it to every
// token, so the kernel runs at memory speed where a GEMM library would waste the
// tensor cores on a mostly empty tile.
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
using kernels::detail::prefetch_l2;
using kernels::detail::sm_id_count;

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

// Up to kGemvMaxMatrices weight matrices over one input (the q, k and v
// projections of a decode step in one launch): block b works for the last
// matrix whose first block is <= b, so each matrix starts on a block boundary.
template <class W>
struct Matrices {
  const W* w[kGemvMaxMatrices] = {};
  float* y[kGemvMaxMatrices] = {};
  int64_t rows[kGemvMaxMatrices] = {}, ys[kGemvMaxMatrices] = {};
  unsigned first_block[kGemvMaxMatrices] = {};
  int count = 0;
};

// Weights that fit in L2 with room to spare are prefetched there before the
// kernel waits for the one before it (they do not depend on it): the GEMV's
// first DRAM round trips then overlap that kernel's tail, which in a decode step
// is a small latency-bound kernel (an RMSNorm, the attention) leaving the memory
// system idle. Bigger matrices (the output head) would only evict each other.
constexpr int64_t kPrefetchMaxBytes = int64_t(32) << 20;

// Block b's weight rows (the rows it reduces), as gemv_kernel assigns them.
template <class W>
__device__ __forceinline__ void block_rows(const Matrices<W>& m, unsigned b, int rows_per_block, int64_t cols,
                                           const W** w, int64_t* rows) {
  int i = 0;
  for (int j = 1; j < m.count; ++j)
    if (b >= m.first_block[j]) i = j;
  const int64_t row0 = int64_t(b - m.first_block[i]) * rows_per_block;
  *w = m.w[i] + row0 * cols;
  *rows = min(int64_t(rows_per_block), m.rows[i] - row0);
}

// The first nsmid blocks (the first to be resident) ask L2 for every block's
// rows, one bulk prefetch per block, split over warp 0's lanes; the blocks after
// them find their rows already asked for.
template <class W>
__device__ __forceinline__ void prefetch_weights(const Matrices<W>& m, int rows_per_block, int64_t cols) {
  const unsigned wave = sm_id_count();
  if (blockIdx.x >= wave || threadIdx.x >= 32) return;
  for (unsigned b = blockIdx.x + threadIdx.x * wave; b < gridDim.x; b += 32 * wave) {
    const W* w;
    int64_t rows;
    block_rows(m, b, rows_per_block, cols, &w, &rows);
    if (rows > 0) prefetch_l2(w, uint32_t(rows * cols * int64_t(sizeof(W))));
  }
}

// kVec: W rows and x rows are 16-byte aligned and cols a multiple of the vector width.
// kSplit warps share one row (columns interleaved), for matrices with too few rows
// to keep every SM's memory pipeline busy at one warp per row. prefetch: the
// weights are small enough for prefetch_weights (and kVec: aligned rows).
template <class W, int N, bool kVec, int kSplit>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    gemv_kernel(const float* __restrict__ x, int64_t xs, const Matrices<W> m, int64_t cols, bool prefetch) {
  __shared__ float partial[kWarpsPerBlock][N];
  if (kVec && prefetch) prefetch_weights(m, kWarpsPerBlock / kSplit, cols);
  griddep_wait();  // x comes from the kernel before (programmatic launch)
  // This block's matrix, picked with constant indices so the parameters stay in the constant bank.
  const W* w = m.w[0];
  float* __restrict__ y = m.y[0];
  int64_t rows = m.rows[0], ys = m.ys[0];
  unsigned block = blockIdx.x;
#pragma unroll
  for (int i = 1; i < kGemvMaxMatrices; ++i)
    if (i < m.count && blockIdx.x >= m.first_block[i]) {
      w = m.w[i];
      y = m.y[i];
      rows = m.rows[i];
      ys = m.ys[i];
      block = blockIdx.x - m.first_block[i];
    }
  const int warp = threadIdx.x >> 5, part = warp % kSplit;
  const int64_t row = int64_t(block) * (kWarpsPerBlock / kSplit) + warp / kSplit;
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
  griddep_launch_dependents();  // the weights are read: the next kernel may be scheduled
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
cudaError_t launch_split(const float* x, int64_t xs, Matrices<W> m, int64_t cols, bool vec, cudaStream_t s,
                         bool programmatic) {
  constexpr int kRowsPerBlock = kWarpsPerBlock / kSplit;
  unsigned blocks = 0;
  for (int i = 0; i < m.count; ++i) {
    m.first_block[i] = blocks;
    blocks += unsigned((m.rows[i] + kRowsPerBlock - 1) / kRowsPerBlock);
  }
  const dim3 threads(kWarpsPerBlock * 32);
  int64_t bytes = 0;
  for (int i = 0; i < m.count; ++i) bytes += m.rows[i] * cols * int64_t(sizeof(W));
  const bool prefetch = bytes <= kPrefetchMaxBytes;
  if (vec)
    return launch(gemv_kernel<W, N, true, kSplit>, dim3(blocks), threads, 0, s, programmatic, x, xs, m, cols,
                  prefetch);
  return launch(gemv_kernel<W, N, false, kSplit>, dim3(blocks), threads, 0, s, programmatic, x, xs, m, cols, false);
}

// Below this many rows (all matrices together) a row gets a whole block (8 warps) instead of one warp.
constexpr int64_t kSplitBelowRows = 8192;

template <class W, int N>
cudaError_t launch_n(const float* x, int64_t xs, const Matrices<W>& m, int64_t cols, bool vec, cudaStream_t s,
                     bool programmatic) {
  int64_t rows = 0;
  for (int i = 0; i < m.count; ++i) rows += m.rows[i];
  if (rows < kSplitBelowRows && cols >= 1024)
    return launch_split<W, N, kWarpsPerBlock>(x, xs, m, cols, vec, s, programmatic);
  return launch_split<W, N, 1>(x, xs, m, cols, vec, s, programmatic);
}

template <class W>
cudaError_t gemv(const float* x, int64_t xs, int n, const Matrices<W>& m, int64_t cols, cudaStream_t s,
                 bool programmatic) {
  if (n < 1 || n > kGemvMaxRows || m.count < 1 || m.count > kGemvMaxMatrices) return cudaErrorInvalidValue;
  constexpr int V = Vec<W>::n;
  bool vec = cols % V == 0 && xs % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  int64_t rows = 0;
  for (int i = 0; i < m.count; ++i) {
    vec = vec && reinterpret_cast<uintptr_t>(m.w[i]) % 16 == 0;
    rows += m.rows[i];
  }
  if (rows == 0) return cudaSuccess;
  switch (n) {
    case 1: return launch_n<W, 1>(x, xs, m, cols, vec, s, programmatic);
    case 2: return launch_n<W, 2>(x, xs, m, cols, vec, s, programmatic);
    case 3: return launch_n<W, 3>(x, xs, m, cols, vec, s, programmatic);
    case 4: return launch_n<W, 4>(x, xs, m, cols, vec, s, programmatic);
    case 5: return launch_n<W, 5>(x, xs, m, cols, vec, s, programmatic);
    case 6: return launch_n<W, 6>(x, xs, m, cols, vec, s, programmatic);
    case 7: return launch_n<W, 7>(x, xs, m, cols, vec, s, programmatic);
    default: return launch_n<W, 8>(x, xs, m, cols, vec, s, programmatic);
  }
}

template <class W>
Matrices<W> one_matrix(const W* w, int64_t rows, float* y, int64_t ys) {
  Matrices<W> m;
  m.w[0] = w;
  m.y[0] = y;
  m.rows[0] = rows;
  m.ys[0] = ys;
  m.count = 1;
  return m;
}

}  // namespace

cudaError_t gemv_bf16(const float* x, int64_t xs, int n, const bf16* w, int64_t rows, int64_t cols, float* y,
                      int64_t ys, cudaStream_t s, bool programmatic) {
  return gemv<bf16>(x, xs, n, one_matrix(w, rows, y, ys), cols, s, programmatic);
}

cudaError_t gemv_f32(const float* x, int64_t xs, int n, const float* w, int64_t rows, int64_t cols, float* y,
                     int64_t ys, cudaStream_t s, bool programmatic) {
  return gemv<float>(x, xs, n, one_matrix(w, rows, y, ys), cols, s, programmatic);
}

cudaError_t gemv_bf16_multi(const float* x, int64_t xs, int n, std::span<const GemvMatrix> mats, int64_t cols,
                            cudaStream_t s, bool programmatic) {
  if (mats.empty() || mats.size() > size_t(kGemvMaxMatrices)) return cudaErrorInvalidValue;
  Matrices<bf16> m;
  for (const GemvMatrix& g : mats) {
    m.w[m.count] = g.w;
    m.y[m.count] = g.y;
    m.rows[m.count] = g.rows;
    m.ys[m.count] = g.y_stride;
    ++m.count;
  }
  return gemv<bf16>(x, xs, n, m, cols, s, programmatic);
}

}  // namespace folio::kernels::ops
