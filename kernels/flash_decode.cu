// Block-sparse flash decoding: one query token per sequence.
//
// A plan row (sequence, KV head) is split over `splits` CTAs, each taking a
// contiguous run of the row's blocks. Inside a CTA the G query heads of the KV
// group form the 16 rows of one mma tile (rows >= G are zero), every K/V block
// is loaded once (cp.async, kStages deep) and its 64 keys are shared by the 4
// warps, 16 keys each; each warp keeps its own online-softmax state, merged
// through shared memory at the end. The CTA writes an unnormalised partial
// (max, sum, O) per head; the splits are merged (flash-decoding) by the last
// CTA of the row to finish when the caller gives counters (DecodeArgs::counters)
// and the splits are few, else by a second kernel. With one split the CTA
// writes the output directly. Launched programmatically on sm_90 (griddep_*).
#include <algorithm>
#include <cfloat>

#include "kernels/attention_kernels.hpp"
#include "kernels/decode_step.cuh"
#include "kernels/mma_common.cuh"

namespace folio::kernels {
namespace {

using namespace detail;

constexpr int kWarps = 4, kThreads = 128, kStages = 3;

struct DecodeParams {
  const __nv_bfloat16* q;
  __nv_bfloat16* o;
  int64_t q_stride, o_stride;
  float* o_f32;  // null, or the output in f32 instead of o (DecodeArgs::o_f32)
  int64_t o_f32_stride;
  const int32_t* seq_lens;  // null with all_blocks: n_keys instead
  bool all_blocks;          // DecodeArgs::all_blocks: every block of n_keys keys, no plan
  int64_t n_keys;
  int n_heads, n_kv_heads, group, splits;
  float scale_log2;
  PagedKv kv;
  DevicePlan plan;
  float* part_o;   // [batch * n_heads][splits][d]
  float* part_ml;  // [batch * n_heads][splits][2]: max (scaled, base 2) and sum
  uint32_t* counters;  // [batch * n_kv_heads] or null: finished splits of a row (in-kernel merge)
};
// The last CTA of a row merges the row's splits when counters are given and
// the splits' weights fit in its shared memory.
constexpr int kMaxInKernelMergeSplits = 64;

// Output element `col` of sequence seq: rounded to bf16, stored as bf16 or widened to f32.
__device__ __forceinline__ void store_output(const DecodeParams& p, int64_t seq, int64_t col, float v) {
  const __nv_bfloat16 b = __float2bfloat16(v);
  if (p.o_f32)
    p.o_f32[seq * p.o_f32_stride + col] = __bfloat162float(b);
  else
    p.o[seq * p.o_stride + col] = b;
}

template <int kD>
__global__ void __launch_bounds__(kThreads) flash_decode_kernel(const DecodeParams p) {
  constexpr int kChunks = kD / 8, kTile = 64 * kD * 2;  // bytes of one K or V block
  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t q_s = smem_addr(smem);
  const uint32_t kv_s = q_s + 16 * kD * 2;  // stage s: K at kv_s + 2*s*kTile, V after it

  griddep_wait();  // the plan, Q and K/V come from the kernels before (programmatic launch)
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int split = blockIdx.x, row = blockIdx.y;
  const int seq = row / p.n_kv_heads, kv_head = row % p.n_kv_heads, G = p.group;
  const int64_t n_keys = p.all_blocks ? p.n_keys : p.seq_lens[seq];
  const int32_t row_begin = p.all_blocks ? 0 : p.plan.row_offsets[row];
  const int32_t row_count = p.all_blocks           ? int32_t((n_keys + 63) / 64)
                            : p.plan.row_counts    ? p.plan.row_counts[row]
                                                   : p.plan.row_offsets[row + 1] - row_begin;
  // Balanced contiguous shares: split s takes [s * n / splits, (s + 1) * n / splits).
  const int first = int(int64_t(split) * row_count / p.splits);
  const int count = int(int64_t(split + 1) * row_count / p.splits) - first;
  const int32_t* blocks = p.all_blocks ? nullptr : p.plan.block_indices + row_begin + first;
  const int32_t* table = p.kv.block_table ? p.kv.block_table + int64_t(seq) * p.kv.block_table_stride : nullptr;

  for (int i = tid; i < 16 * kChunks; i += kThreads) {
    const int r = i / kChunks, chunk = i % kChunks;
    const bool valid = r < G;
    const __nv_bfloat16* src = valid ? p.q + seq * p.q_stride + int64_t(kv_head * G + r) * kD + chunk * 8 : p.q;
    cp_async_16(q_s + swizzle<kD>(r, chunk) * 2, src, valid ? 16 : 0);
  }
  auto load_block = [&](int entry, int stage) {
    const int j = blocks ? blocks[entry] : first + entry;
    const int64_t page = table ? table[j] : j;
    const uint32_t k_tile = kv_s + stage * 2 * kTile;
    load_kv_block<kD, kThreads>(k_tile, p.kv.k + kv_head * p.kv.head_stride, page, p.kv.page_stride,
                                p.kv.row_stride, j, n_keys, tid);
    load_kv_block<kD, kThreads>(k_tile + kTile, p.kv.v + kv_head * p.kv.head_stride, page, p.kv.page_stride,
                                p.kv.row_stride, j, n_keys, tid);
  };
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < count) load_block(s, s);
    cp_async_commit();
  }

  uint32_t qf[kD / 16][4];
  WarpSoftmax<kD> st;
  st.init();
  for (int e = 0; e < count; ++e) {
    const int stage = e % kStages;
    if (e + kStages - 1 < count) load_block(e + kStages - 1, (e + kStages - 1) % kStages);
    cp_async_commit();
    cp_async_wait<kStages - 1>();
    __syncthreads();
    if (e == 0) load_query_fragments<kD>(qf, q_s, lane);
    const uint32_t k_tile = kv_s + stage * 2 * kTile;
    const int j = blocks ? blocks[e] : first + e;
    attend_block_keys<kD>(st, qf, k_tile, k_tile + kTile, warp, int64_t(j) * 64 + warp * 16, n_keys, p.scale_log2,
                          lane);
    __syncthreads();
  }
  cp_async_wait<0>();
  griddep_launch_dependents();  // the next kernel may be scheduled now; it waits for this grid
  __syncthreads();

  // Merge the 4 warps' states in shared memory (the K/V stages are free now).
  float* red_o = reinterpret_cast<float*>(smem + 16 * kD * 2);  // [kWarps][16][kRedStride]
  float* red_m = red_o + kWarps * 16 * kRedStride<kD>;          // [kWarps][16]
  float* red_l = red_m + kWarps * 16;
  store_warp_state<kD>(st, red_o, red_m, red_l, warp, p.scale_log2, lane);
  __syncthreads();
  for (int i = tid; i < G * kD; i += kThreads) {
    const int r = i / kD, c = i % kD;
    float mx, sum, acc;
    combine_warp_states<kD, kWarps>(red_o, red_m, red_l, r, c, &mx, &sum, &acc);
    const int h = kv_head * G + r;
    if (p.splits == 1) {
      store_output(p, seq, int64_t(h) * kD + c, sum > 0.0f ? acc / sum : 0.0f);
    } else {
      const int64_t slot = (int64_t(seq) * p.n_heads + h) * p.splits + split;
      p.part_o[slot * kD + c] = acc;
      if (c == 0) {
        p.part_ml[slot * 2] = mx;
        p.part_ml[slot * 2 + 1] = sum;
      }
    }
  }
  if (p.splits == 1 || p.counters == nullptr || p.splits > kMaxInKernelMergeSplits) return;
  // Last CTA of the row to finish: merge the row's splits (threadfence reduction).
  __shared__ bool last;
  __threadfence();  // this CTA's partials are visible device-wide before it is counted
  __syncthreads();
  if (tid == 0) {
    last = atomicAdd(&p.counters[row], 1u) == uint32_t(p.splits - 1);
    if (last) p.counters[row] = 0u;  // every split has counted: ready for the next call
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  // Split weights 2^(m_s - M) per head in shared memory (the K/V stages are free).
  float* weight = red_o;  // [G][splits]
  float* inv_sum = red_o + 16 * kMaxInKernelMergeSplits;  // [G]
  for (int r = warp; r < G; r += kWarps) {
    const int64_t base = (int64_t(seq) * p.n_heads + kv_head * G + r) * p.splits;
    float mx = -INFINITY;
    for (int s = lane; s < p.splits; s += 32) mx = fmaxf(mx, __ldcg(&p.part_ml[(base + s) * 2]));
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
    float sum = 0.0f;
    for (int s = lane; s < p.splits; s += 32) {
      const float w = mx == -INFINITY ? 0.0f : fast_exp2(__ldcg(&p.part_ml[(base + s) * 2]) - mx);
      weight[r * kMaxInKernelMergeSplits + s] = w;
      sum += w * __ldcg(&p.part_ml[(base + s) * 2 + 1]);
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if (lane == 0) inv_sum[r] = sum > 0.0f ? 1.0f / sum : 0.0f;
  }
  __syncthreads();
  for (int i = tid; i < G * kD; i += kThreads) {
    const int r = i / kD, c = i % kD;
    const int h = kv_head * G + r;
    const float* po = p.part_o + (int64_t(seq) * p.n_heads + h) * p.splits * kD + c;
    float acc = 0.0f;
#pragma unroll 8
    for (int s = 0; s < p.splits; ++s) acc += weight[r * kMaxInKernelMergeSplits + s] * __ldcg(po + int64_t(s) * kD);
    store_output(p, seq, int64_t(h) * kD + c, acc * inv_sum[r]);
  }
}

// One CTA per (sequence, head): out = sum_s 2^(m_s - M) O_s / sum_s 2^(m_s - M) l_s.
// The split weights go to shared memory first; then kMergeThreads / head_dim
// groups of threads each sum a strided share of the splits for every channel
// (all their loads in flight at once: the merge is latency-bound, not
// bandwidth-bound), and the groups' partial sums are added in shared memory.
constexpr int kMaxSplits = 1024, kMergeThreads = 1024;
__global__ void __launch_bounds__(kMergeThreads) merge_splits_kernel(const DecodeParams p, int head_dim) {
  __shared__ float weight[kMaxSplits];
  __shared__ float partial[kMergeThreads];
  __shared__ float red[kMergeThreads / 32];
  griddep_wait();  // the partials come from flash_decode_kernel (programmatic launch)
  const int64_t sh = blockIdx.x;  // seq * n_heads + h
  const int seq = int(sh / p.n_heads), h = int(sh % p.n_heads);
  const int tid = threadIdx.x, n_warps = kMergeThreads / 32;
  const float* ml = p.part_ml + sh * p.splits * 2;
  float mx = -INFINITY;
  for (int s = tid; s < p.splits; s += kMergeThreads) mx = fmaxf(mx, ml[2 * s]);
  for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
  if (tid % 32 == 0) red[tid / 32] = mx;
  __syncthreads();
  mx = -INFINITY;
  for (int w = 0; w < n_warps; ++w) mx = fmaxf(mx, red[w]);
  __syncthreads();
  float sum = 0.0f;
  for (int s = tid; s < p.splits; s += kMergeThreads) {
    const float w = mx == -INFINITY ? 0.0f : fast_exp2(ml[2 * s] - mx);
    weight[s] = w;
    sum += w * ml[2 * s + 1];
  }
  for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
  if (tid % 32 == 0) red[tid / 32] = sum;
  __syncthreads();
  sum = 0.0f;
  for (int w = 0; w < n_warps; ++w) sum += red[w];
  const int groups = kMergeThreads / head_dim, g = tid / head_dim, c = tid % head_dim;
  const float* po = p.part_o + sh * p.splits * head_dim;
  float acc = 0.0f;
#pragma unroll 4
  for (int s = g; s < p.splits; s += groups) acc += weight[s] * po[s * head_dim + c];
  partial[tid] = acc;
  __syncthreads();
  if (g == 0) {
    for (int k = 1; k < groups; ++k) acc += partial[k * head_dim + c];
    store_output(p, seq, int64_t(h) * head_dim + c, sum > 0.0f ? acc / sum : 0.0f);
  }
}

template <int kD>
constexpr int decode_smem_bytes() {
  constexpr int kStageBytes = 2 * 64 * kD * 2;
  constexpr int kMergeBytes = (kWarps * 16 * kRedStride<kD> + 2 * kWarps * 16) * 4;
  return 16 * kD * 2 + (kStages * kStageBytes > kMergeBytes ? kStages * kStageBytes : kMergeBytes);
}

// Programmatic dependent launch needs compute capability 9.0.
bool sm90_or_later() {
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess)
    return false;
  return major >= 9;
}

template <int kD>
cudaError_t launch(const DecodeArgs& a, cudaStream_t stream) {
  DecodeParams p;
  p.q = a.q;
  p.o = a.o;
  p.q_stride = a.q_token_stride;
  p.o_stride = a.o_token_stride;
  p.o_f32 = a.o_f32;
  p.o_f32_stride = a.o_f32_token_stride;
  p.seq_lens = a.seq_lens;
  p.all_blocks = a.all_blocks;
  p.n_keys = a.n_keys;
  if (a.all_blocks && (a.batch != 1 || a.n_keys < 1)) return cudaErrorInvalidValue;
  if (!a.all_blocks && a.seq_lens == nullptr) return cudaErrorInvalidValue;
  p.n_heads = a.n_heads;
  p.n_kv_heads = a.n_kv_heads;
  p.group = a.n_heads / a.n_kv_heads;
  p.scale_log2 = a.scale * 1.4426950408889634f;
  p.kv = a.kv;
  p.plan = a.plan;
  p.splits = std::max(1, a.splits);
  if (p.splits > kMaxSplits) return cudaErrorInvalidValue;
  p.part_o = a.workspace;
  p.part_ml = a.workspace + size_t(a.batch) * a.n_heads * p.splits * kD;
  if (p.splits > 1 && a.workspace == nullptr) return cudaErrorInvalidValue;
  p.counters = a.counters;
  constexpr int smem = decode_smem_bytes<kD>();
  cudaError_t err =
      cudaFuncSetAttribute(flash_decode_kernel<kD>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (err != cudaSuccess) return err;
  cudaLaunchAttribute attr;
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(p.splits), unsigned(a.batch * a.n_kv_heads));
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = &attr;
  cfg.numAttrs = a.programmatic_launch && sm90_or_later() ? 1 : 0;
  err = cudaLaunchKernelEx(&cfg, flash_decode_kernel<kD>, p);
  if (err != cudaSuccess || p.splits == 1 || (p.counters && p.splits <= kMaxInKernelMergeSplits)) return err;
  cfg.gridDim = dim3(unsigned(a.batch * a.n_heads));
  cfg.blockDim = dim3(kMergeThreads);
  cfg.dynamicSmemBytes = 0;
  return cudaLaunchKernelEx(&cfg, merge_splits_kernel, p, kD);
}

}  // namespace

int decode_splits(int batch, int n_kv_heads, int max_row_blocks, int sm_count, int head_dim) {
  // Exactly one wave: as many CTAs as fit on the device at once (fewer when a
  // row has few blocks: at least 2 blocks per split).
  int per_sm = 0;
  if (head_dim == 64)
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, flash_decode_kernel<64>, kThreads, decode_smem_bytes<64>());
  else
    cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, flash_decode_kernel<128>, kThreads, decode_smem_bytes<128>());
  // Before the first launch raises the kernel's shared-memory limit the query can
  // answer 0: assume the 227 KB an sm_90 multiprocessor gives.
  if (per_sm == 0) per_sm = std::max(1, (227 * 1024) / (head_dim == 64 ? decode_smem_bytes<64>() : decode_smem_bytes<128>()));
  const int rows = std::max(1, batch * n_kv_heads);
  const int want = std::max(1, std::max(1, sm_count) * per_sm / rows);
  return std::max(1, std::min({want, (max_row_blocks + 1) / 2, kMaxSplits}));
}

size_t decode_workspace_floats(int batch, int n_heads, int head_dim, int splits) {
  return size_t(batch) * size_t(n_heads) * size_t(splits) * size_t(head_dim + 2);
}

cudaError_t attention_decode(const DecodeArgs& a, cudaStream_t stream) {
  if (a.batch <= 0 || a.n_heads <= 0 || a.n_kv_heads <= 0 || a.n_heads % a.n_kv_heads != 0 ||
      a.n_heads / a.n_kv_heads > 16)
    return cudaErrorInvalidValue;
  if (a.head_dim == 128) return launch<128>(a, stream);
  if (a.head_dim == 64) return launch<64>(a, stream);
  return cudaErrorInvalidValue;
}

}  // namespace folio::kernels
