// Mixture-of-experts kernels (see model_ops.hpp):
//   routing   softmax / top-k / renormalisation, one warp per token: k arg-max
//             rounds, on registers and warp reductions up to 256 experts, on
//             shared memory beyond that or when replaying forced ids (the same
//             results either way);
//   grouping  (token, slot) pairs ordered by expert, token order inside an
//             expert, so the expert GEMMs see contiguous rows and results do not
//             depend on atomics' ordering;
//   combine   weighted sum of each token's expert outputs, slots in order;
//   decode    the fused top-k expert GEMVs: each chosen expert's rows are read
//             once, directly from the stacked expert tensors, with no grouping;
//             down splits each output row over four warps (too few rows to fill
//             the GPU at a warp each) and adds their sums in a fixed order.
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

constexpr int kRouteWarps = 4;
// The register fast path holds 32 * kRegisterRouteMaxBlocks experts at most (kBlocks per lane).
constexpr int kRegisterRouteMaxBlocks = 8;

// p[0..E) = softmax(l). Both selection paths start from these exact values,
// so the fast path cannot drift from the rounds by a rounding difference.
__device__ __forceinline__ void softmax_to_shared(const float* l, float* p, int E, int lane) {
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
}

// General path: k sequential arg-max rounds over p (destroyed: chosen entries
// become -1), or the forced ids. Writes the token's ids / wts, slot j = round j.
__device__ void choose_by_rounds(float* p, int E, int k, bool normalize, const int32_t* forced_t, int32_t* ids_t,
                                 float* wts_t, int32_t* counts, int lane) {
  float chosen_sum = 0.0f;
  for (int j = 0; j < k; ++j) {
    float best = -1.0f;
    int idx = E;
    if (forced_t != nullptr) {  // replay: the same id in every lane, nothing to reduce
      idx = forced_t[j];
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
    // No candidate (every remaining probability NaN, from a NaN or +inf logit):
    // some in-range expert, so nothing past the arrays is written; the output
    // is as meaningless as the logits, but memory stays intact.
    if (idx >= E) {
      idx = j;
      best = 0.0f;
    }
    __syncwarp();  // every lane has read p[idx] before lane 0 clears it
    if (lane == 0) {
      ids_t[j] = idx;
      wts_t[j] = best;
      p[idx] = -1.0f;
      if (counts) atomicAdd(counts + idx, 1);
    }
    chosen_sum += best;
    __syncwarp();
  }
  if (normalize && lane < k) wts_t[lane] = wts_t[lane] / chosen_sum;
}

// Fast path: the same k rounds, with each lane's kBlocks probabilities in
// registers (expert 32 i + lane in v[i]) and a round as two warp reductions:
// the largest probability (as the order of its bits, exact for the
// non-negative floats a softmax gives), then the lowest index holding it. The
// ids, weights, counts and renormalising sum are those of choose_by_rounds: a
// NaN or a chosen expert never wins (key 0); with no candidate left (every
// remaining probability NaN) some in-range expert is taken, as there.
// Nsight on an H200, top-8 of 128: the shared-memory rounds took 5.5 us, ranking
// every expert against every other one 10.8 us.
template <int kBlocks>
__device__ __forceinline__ void choose_by_reduction(float (&v)[kBlocks], int E, int k, bool normalize,
                                                    int32_t* ids_t, float* wts_t, int32_t* counts, int lane) {
  // key 0: not a candidate; else the probability's bits + 1 (> 0, same order).
  uint32_t key[kBlocks];
#pragma unroll
  for (int i = 0; i < kBlocks; ++i) {
    const bool candidate = 32 * i + lane < E && v[i] == v[i];
    key[i] = candidate ? __float_as_uint(v[i]) + 1u : 0u;
  }
  float chosen_sum = 0.0f, my_weight = 0.0f;
  for (int j = 0; j < k; ++j) {
    // This lane's best: the largest key, the lowest i on a tie (ascending index).
    uint32_t best_key = 0u;
    int best_i = 0;
#pragma unroll
    for (int i = 0; i < kBlocks; ++i)
      if (key[i] > best_key) {
        best_key = key[i];
        best_i = i;
      }
    const uint32_t top = __reduce_max_sync(0xffffffffu, best_key);
    const uint32_t mine = best_key == top && top != 0u ? uint32_t(32 * best_i + lane) : 0xffffffffu;
    uint32_t idx = __reduce_min_sync(0xffffffffu, mine);
    float best = top != 0u ? __uint_as_float(top - 1u) : 0.0f;
    if (top == 0u) idx = uint32_t(j);  // no candidate: see choose_by_rounds
    if (int(idx) % 32 == lane) {
#pragma unroll
      for (int i = 0; i < kBlocks; ++i)
        if (32 * i + lane == int(idx)) key[i] = 0u;
    }
    if (lane == 0) {
      ids_t[j] = int32_t(idx);
      if (counts) atomicAdd(counts + idx, 1);
    }
    if (lane == j) my_weight = best;
    chosen_sum += best;
  }
  if (lane < k) wts_t[lane] = normalize ? my_weight / chosen_sum : my_weight;
}

// Warp per token; p: its E probabilities in shared memory. kBlocks == 0: the
// general path (any E up to 8192, forced ids), k sequential arg-max rounds over
// shared memory. kBlocks > 0 (E <= 32 * kBlocks, no forced ids): the same rounds
// on registers and warp reductions (choose_by_reduction).
template <int kBlocks>
__global__ void route_kernel(const float* logits, int64_t n, int E, int k, bool normalize, const int32_t* forced,
                             int32_t* ids, float* wts, int32_t* counts) {
  extern __shared__ float probs_all[];
  griddep_wait();  // the logits come from the router matmul (programmatic launch)
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t t = int64_t(blockIdx.x) * kRouteWarps + warp;
  if (t >= n) return;
  float* p = probs_all + warp * E;
  softmax_to_shared(logits + t * E, p, E, lane);
  griddep_launch_dependents();  // the logits are read: the experts kernel may be scheduled
  if constexpr (kBlocks > 0) {
    float v[kBlocks];
#pragma unroll
    for (int i = 0; i < kBlocks; ++i) v[i] = 32 * i + lane < E ? p[32 * i + lane] : 0.0f;
    choose_by_reduction<kBlocks>(v, E, k, normalize, ids + t * k, wts + t * k, counts, lane);
    return;
  }
  choose_by_rounds(p, E, k, normalize, forced == nullptr ? nullptr : forced + t * k, ids + t * k, wts + t * k, counts,
                   lane);
}

// One block per expert: scans all pairs in order, each thread kGroupPerThread
// consecutive pairs, with a block-wide exclusive scan of the match counts (so
// the rows keep token order without atomics).
constexpr int kGroupThreads = 1024, kGroupPerThread = 8;
__global__ void __launch_bounds__(kGroupThreads)
    group_kernel(const int32_t* ids, int64_t total, int k, const int32_t* offsets, int32_t* row_token,
                 int32_t* slot_row) {
  __shared__ int warp_prefix[kGroupThreads / 32 + 1];
  const int e = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int64_t running = offsets[e];
  for (int64_t base = 0; base < total; base += int64_t(kGroupThreads) * kGroupPerThread) {
    const int64_t first = base + int64_t(threadIdx.x) * kGroupPerThread;
    unsigned match = 0;
#pragma unroll
    for (int j = 0; j < kGroupPerThread; ++j)
      if (first + j < total && ids[first + j] == e) match |= 1u << j;
    const int mine = __popc(match);
    int incl = mine;  // inclusive scan over the warp
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int v = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += v;
    }
    if (lane == 31) warp_prefix[warp] = incl;
    __syncthreads();
    if (warp == 0) {  // exclusive scan of the warp totals; the block total last
      const int t = lane < kGroupThreads / 32 ? warp_prefix[lane] : 0;
      int s = t;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int v = __shfl_up_sync(0xffffffffu, s, o);
        if (lane >= o) s += v;
      }
      if (lane < kGroupThreads / 32) warp_prefix[lane] = s - t;
      if (lane == 31) warp_prefix[kGroupThreads / 32] = s;
    }
    __syncthreads();
    int64_t row = running + warp_prefix[warp] + (incl - mine);
    for (int j = 0; j < kGroupPerThread; ++j)
      if (match >> j & 1u) {
        row_token[row] = int32_t((first + j) / k);
        slot_row[first + j] = int32_t(row);
        ++row;
      }
    running += warp_prefix[kGroupThreads / 32];
    __syncthreads();  // warp_prefix is rewritten by the next round
  }
}

// One warp per grouped row, kGatherWarps rows per block. Rows whose token is
// negative (padding of an expert's rows) become zeros. kVec: 16-byte accesses.
// The source rows are bf16 so that a prefill chunk's tokens (8192 x 2048:
// 32 MiB) stay in L2 while every token is read k times.
constexpr int kGatherWarps = 8;
template <bool kVec>
__global__ void __launch_bounds__(kGatherWarps * 32)
    gather_kernel(const bf16* x, int64_t xs, int64_t cols, const int32_t* row_token, int64_t rows, bf16* out) {
  const int64_t r = int64_t(blockIdx.x) * kGatherWarps + (threadIdx.x >> 5);
  if (r >= rows) return;
  const int lane = threadIdx.x & 31;
  const int32_t t = row_token[r];
  if constexpr (kVec) {
    uint4* dst = reinterpret_cast<uint4*>(out + r * cols);
    if (t < 0) {
      for (int64_t c = lane; c < cols / 8; c += 32) dst[c] = make_uint4(0, 0, 0, 0);
      return;
    }
    const uint4* src = reinterpret_cast<const uint4*>(x + int64_t(t) * xs);
    for (int64_t c = lane; c < cols / 8; c += 32) dst[c] = src[c];
  } else {
    if (t < 0) {
      for (int64_t c = lane; c < cols; c += 32) out[r * cols + c] = __float2bfloat16(0.0f);
      return;
    }
    for (int64_t c = lane; c < cols; c += 32) out[r * cols + c] = x[int64_t(t) * xs + c];
  }
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

// The same sum for bf16 expert outputs, 8 columns per thread with 16-byte
// accesses (cols a multiple of 8, aligned rows); slots in the same order.
__global__ void combine_bf16x8_kernel(const bf16* ys, int64_t cols, const int32_t* slot_row, const float* wts,
                                      int64_t n, int k, float* out, int64_t os) {
  const int64_t per_row = cols / 8, total = n * per_row;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / per_row, c = (i - t * per_row) * 8;
    float acc[8] = {};
    for (int j = 0; j < k; ++j) {
      const float w = wts[t * k + j];
      float y[8];
      unpack8(*reinterpret_cast<const uint4*>(ys + int64_t(slot_row[t * k + j]) * cols + c), y);
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[e] += w * y[e];
    }
    *reinterpret_cast<float4*>(out + t * os + c) = make_float4(acc[0], acc[1], acc[2], acc[3]);
    *reinterpret_cast<float4*>(out + t * os + c + 4) = make_float4(acc[4], acc[5], acc[6], acc[7]);
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
  griddep_wait();  // x and the expert ids come from the kernels before (programmatic launch)
  const int64_t f = int64_t(blockIdx.x) * kGemvWarps + (threadIdx.x >> 5);
  if (f >= ff) return;
  const int64_t slot = blockIdx.y;
  const int lane = threadIdx.x & 31;
  const int64_t e = ids[slot];
  const float* xr = x + (slot / k) * xs;
  const float g = dot_bf16_f32(gate + (e * ff + f) * d, xr, d, lane, vec);
  const float u = dot_bf16_f32(up + (e * ff + f) * d, xr, d, lane, vec);
  griddep_launch_dependents();
  if (lane == 0) h[slot * ff + f] = g / (1.0f + expf(-g)) * u;
}

// experts_down: each output row reads k expert rows of ff elements, one flat
// sequence of pieces (8 elements, or 1 on the unaligned path) that kDownSplits
// warps share, interleaved 32 pieces at a time so every warp instruction reads
// 512 contiguous bytes. Four warps per row give Qwen3-30B-A3B's 2048 rows 8192
// warps (one warp per row was 2048, a quarter of what 132 SMs hold: 34% of copy
// bandwidth in Nsight, 17.5 us for 25 MB, where gate/up reaches 74%), and a lane
// six pieces (768 / 128), all in flight at once.
constexpr int kDownSplits = 4;      // warps per output row
constexpr int kDownRowsPerCta = 2;  // small blocks: one that finishes frees its slot early
constexpr int kDownWarps = kDownSplits * kDownRowsPerCta;
constexpr int kDownInFlight = 6;    // pieces a lane loads before it uses the first
constexpr int kDownMinCtasPerSm = 4;  // caps registers at 64: 32 warps per SM

// Where a lane's next piece lies: expert slot j, piece c of that expert's row.
// Advancing by a fixed stride needs one division up front instead of one per piece.
struct PieceCursor {
  uint32_t expert, piece;
  uint32_t per_row, step_experts, step_pieces;
  __device__ PieceCursor(uint32_t first, uint32_t per_row_, uint32_t step)
      : expert(first / per_row_), piece(first % per_row_), per_row(per_row_), step_experts(step / per_row_),
        step_pieces(step % per_row_) {}
  __device__ void advance() {
    expert += step_experts;
    piece += step_pieces;
    if (piece >= per_row) {
      piece -= per_row;
      ++expert;
    }
  }
};

// 16 bytes of a weight row that no other warp reads: not kept in L1, which then
// holds h, the part every row re-reads.
__device__ __forceinline__ uint4 load_streaming(const bf16* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

// One piece of a down row and its dot product with the matching elements of h.
template <int kPiece> struct DownPiece;
template <> struct DownPiece<8> {
  uint4 w = {};
  __device__ void load(const bf16* p) { w = load_streaming(p); }
  __device__ float dot(const float* x) const {
    float wf[8];
    unpack8(w, wf);
    const float4 a = __ldg(reinterpret_cast<const float4*>(x));
    const float4 b = __ldg(reinterpret_cast<const float4*>(x + 4));
    return wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * b.x + wf[5] * b.y + wf[6] * b.z +
           wf[7] * b.w;
  }
};
template <> struct DownPiece<1> {
  bf16 w = {};
  __device__ void load(const bf16* p) { w = __ldg(p); }
  __device__ float dot(const float* x) const { return __bfloat162float(w) * __ldg(x); }
};

// This lane's share of sum_j wts[j] * dot(down row of expert ids[j], h[j]) for
// one output row: pieces first, first + 32 * kDownSplits, ... of the flat
// sequence. h_t: the token's k rows of h back to back, so piece i's elements sit
// at h_t + i * kPiece; row0: the output row inside expert 0's matrix.
template <int kPiece>
__device__ __forceinline__ float down_row_share(const float* __restrict__ h_t, const int32_t* __restrict__ ids_t,
                                                const float* __restrict__ wts_t, const bf16* __restrict__ row0,
                                                int64_t expert_elems, int64_t ff, int k, uint32_t first) {
  const uint32_t per_row = uint32_t(ff / kPiece);
  if (per_row == 0 || k <= 0) return 0.0f;
  PieceCursor at(first, per_row, 32 * kDownSplits);
  float acc = 0.0f;
  while (at.expert < uint32_t(k)) {
    // Straight-line phases, so the round's loads issue back to back: a piece past
    // the end (the last round) reads slot k - 1's id and weight and h at 0, all
    // valid and cached, skips its weight load, and adds nothing.
    bool live[kDownInFlight];
    uint32_t slot[kDownInFlight], piece[kDownInFlight], h_off[kDownInFlight];
#pragma unroll
    for (int u = 0; u < kDownInFlight; ++u) {
      live[u] = at.expert < uint32_t(k);
      slot[u] = live[u] ? at.expert : uint32_t(k - 1);
      piece[u] = at.piece;
      h_off[u] = live[u] ? at.expert * uint32_t(ff) + at.piece * kPiece : 0;
      at.advance();
    }
    int64_t expert[kDownInFlight];
    float scale[kDownInFlight];
#pragma unroll
    for (int u = 0; u < kDownInFlight; ++u) {
      expert[u] = __ldg(ids_t + slot[u]);
      scale[u] = __ldg(wts_t + slot[u]);
    }
    DownPiece<kPiece> w[kDownInFlight];
#pragma unroll
    for (int u = 0; u < kDownInFlight; ++u)
      if (live[u]) w[u].load(row0 + expert[u] * expert_elems + int64_t(piece[u]) * kPiece);
#pragma unroll
    for (int u = 0; u < kDownInFlight; ++u) {
      const float part = w[u].dot(h_t + h_off[u]);
      if (live[u]) acc += scale[u] * part;
    }
  }
  return acc;
}

// grid (ceil(d / kDownRowsPerCta), n), kDownWarps warps: kDownSplits warps per
// (token, output row). Each warp reduces its share with warp_sum; the row's
// partial sums are added in split order (deterministic, no atomics) and the row
// written once. kPiece 8: 16-byte loads (ff % 8 == 0, h and down 16-byte aligned);
// kPiece 1: element loads, for any ff and alignment.
template <int kPiece>
__global__ void __launch_bounds__(kDownWarps * 32, kDownMinCtasPerSm)
    experts_down_kernel(const float* __restrict__ h, int k, const int32_t* __restrict__ ids,
                        const float* __restrict__ wts, const bf16* __restrict__ down, int64_t d, int64_t ff,
                        float* __restrict__ out, int64_t os) {
  __shared__ float partial[kDownRowsPerCta][kDownSplits];
  griddep_wait();  // h and the routing come from the kernels before (programmatic launch)
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int row_in_cta = warp / kDownSplits, split = warp % kDownSplits;
  const int64_t r = int64_t(blockIdx.x) * kDownRowsPerCta + row_in_cta;
  const int64_t t = blockIdx.y;
  float acc = 0.0f;
  if (r < d)  // rows past d (the last block) still reach the barrier
    acc = down_row_share<kPiece>(h + t * k * ff, ids + t * k, wts + t * k, down + r * ff, d * ff, ff, k,
                                 uint32_t(lane + 32 * split));
  griddep_launch_dependents();
  acc = warp_sum(acc);
  if (lane == 0) partial[row_in_cta][split] = acc;
  __syncthreads();
  if (r < d && split == 0 && lane == 0) {
    float sum = partial[row_in_cta][0];
#pragma unroll
    for (int q = 1; q < kDownSplits; ++q) sum += partial[row_in_cta][q];
    out[t * os + r] = sum;
  }
}

template <int kBlocks>
cudaError_t launch_route(const float* logits, int64_t n, int E, int k, bool normalize, const int32_t* forced,
                         int32_t* ids, float* wts, int32_t* counts, cudaStream_t s, bool programmatic) {
  const size_t smem = size_t(kRouteWarps) * size_t(E) * 4;
  if (smem > 48 * 1024) {
    const cudaError_t err =
        cudaFuncSetAttribute(route_kernel<kBlocks>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    if (err != cudaSuccess) return err;
  }
  return launch(route_kernel<kBlocks>, dim3(unsigned((n + kRouteWarps - 1) / kRouteWarps)), dim3(kRouteWarps * 32),
                smem, s, programmatic, logits, n, E, k, normalize, forced, ids, wts, counts);
}

}  // namespace

cudaError_t moe_route(const float* logits, int64_t n, int E, int k, bool normalize, const int32_t* forced, int32_t* ids,
                      float* wts, int32_t* counts, cudaStream_t s, bool programmatic) {
  if (k < 1 || k > 32 || k > E || E > 8192) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const int blocks = forced == nullptr && E <= 32 * kRegisterRouteMaxBlocks ? (E + 31) / 32 : 0;
  switch (blocks) {
    case 1: return launch_route<1>(logits, n, E, k, normalize, forced, ids, wts, counts, s, programmatic);
    case 2: return launch_route<2>(logits, n, E, k, normalize, forced, ids, wts, counts, s, programmatic);
    case 3: return launch_route<3>(logits, n, E, k, normalize, forced, ids, wts, counts, s, programmatic);
    case 4: return launch_route<4>(logits, n, E, k, normalize, forced, ids, wts, counts, s, programmatic);
    case 5: return launch_route<5>(logits, n, E, k, normalize, forced, ids, wts, counts, s, programmatic);
    case 6: return launch_route<6>(logits, n, E, k, normalize, forced, ids, wts, counts, s, programmatic);
    case 7: return launch_route<7>(logits, n, E, k, normalize, forced, ids, wts, counts, s, programmatic);
    case 8: return launch_route<8>(logits, n, E, k, normalize, forced, ids, wts, counts, s, programmatic);
    default: return launch_route<0>(logits, n, E, k, normalize, forced, ids, wts, counts, s, programmatic);
  }
}

cudaError_t moe_group(const int32_t* ids, int64_t n, int k, int n_expert, const int32_t* offsets, int32_t* row_token,
                      int32_t* slot_row, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  group_kernel<<<unsigned(n_expert), kGroupThreads, 0, s>>>(ids, n * k, k, offsets, row_token, slot_row);
  return cudaGetLastError();
}

cudaError_t gather_rows_bf16(const bf16* x, int64_t xs, int64_t cols, const int32_t* row_token, int64_t rows,
                             bf16* out, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  const int64_t blocks = (rows + kGatherWarps - 1) / kGatherWarps;
  if (blocks > INT32_MAX) return cudaErrorInvalidValue;
  if (cols % 8 == 0 && xs % 8 == 0 && aligned16(x, out))
    gather_kernel<true><<<unsigned(blocks), kGatherWarps * 32, 0, s>>>(x, xs, cols, row_token, rows, out);
  else
    gather_kernel<false><<<unsigned(blocks), kGatherWarps * 32, 0, s>>>(x, xs, cols, row_token, rows, out);
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
  if (cols % 8 == 0 && os % 4 == 0 && aligned16(ys, out))
    combine_bf16x8_kernel<<<grid_for(n * cols / 8, 256), 256, 0, s>>>(ys, cols, slot_row, wts, n, k, out, os);
  else
    combine_kernel<bf16><<<grid_for(n * cols, 256), 256, 0, s>>>(ys, cols, slot_row, wts, n, k, out, os);
  return cudaGetLastError();
}

cudaError_t moe_experts_gate_up(const float* x, int64_t xs, int64_t n, int k, const int32_t* ids, const bf16* gate,
                                const bf16* up, int64_t ff, int64_t d, float* h, cudaStream_t s, bool programmatic) {
  if (n * k == 0) return cudaSuccess;
  const bool vec = d % 8 == 0 && xs % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(gate) % 16 == 0 && reinterpret_cast<uintptr_t>(up) % 16 == 0;
  return launch(experts_gate_up_kernel, dim3(unsigned((ff + kGemvWarps - 1) / kGemvWarps), unsigned(n * k)),
                dim3(kGemvWarps * 32), 0, s, programmatic, x, xs, k, ids, gate, up, ff, d, h, vec);
}

cudaError_t moe_experts_down(const float* h, int64_t n, int k, const int32_t* ids, const float* wts, const bf16* down,
                             int64_t d, int64_t ff, float* out, int64_t os, cudaStream_t s, bool programmatic) {
  if (n == 0) return cudaSuccess;
  if (int64_t(k) * ff > INT32_MAX) return cudaErrorInvalidValue;  // piece offsets inside a token's h are 32-bit
  const bool vec = ff % 8 == 0 && reinterpret_cast<uintptr_t>(h) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(down) % 16 == 0;
  const dim3 grid(unsigned((d + kDownRowsPerCta - 1) / kDownRowsPerCta), unsigned(n));
  return launch(vec ? experts_down_kernel<8> : experts_down_kernel<1>, grid, dim3(kDownWarps * 32), 0, s, programmatic,
                h, k, ids, wts, down, d, ff, out, os);
}

}  // namespace folio::kernels::ops
