// Block-sparse flash attention, prefill, Hopper (sm_90a) variant with wgmma.
//
// Same work split and plan as flash_prefill.cu (one CTA = 128 (token, head) rows
// of one (query block, KV head) plan row; G heads of a KV group together; K/V
// blocks double-buffered with cp.async), but the two matrix products run on
// warpgroup MMAs: each of the two warpgroups owns 64 rows;
//   S = Q K^T : wgmma m64n64k16, Q and K both read from shared memory,
//   O += P V  : wgmma m64n64k16, P from registers (the S accumulators, rounded
//               to bf16), V from shared memory read transposed (MN-major).
// Tiles are stored as 64-column sub-tiles with the 128-byte swizzle wgmma
// expects. Two CTAs per SM (97 KB of shared memory each, registers capped at
// 128) let one warpgroup's softmax overlap another's matrix products; the
// one-CTA build keeps every value in registers.
#include <cfloat>

#include "kernels/attention_kernels.hpp"
#include "kernels/mma_common.cuh"
#include "kernels/prefill_params.cuh"
#include "kernels/sm90_tiles.cuh"
#include "kernels/wgmma.cuh"

namespace folio::kernels::detail {

namespace {

constexpr int kSm90Threads = 256, kSm90Rows = 128;

template <int kD, int kThreads = kSm90Threads>
__device__ __forceinline__ void load_kv_block_sw128(uint32_t tile, const __nv_bfloat16* base, int64_t page,
                                                    int64_t page_stride, int64_t row_stride, int block, int64_t n_keys,
                                                    int tid) {
  constexpr int kChunks = kD / 8;
  const __nv_bfloat16* src0 = base + page * page_stride;
  const int64_t first = int64_t(block) * 64;
#pragma unroll
  for (int i = tid; i < 64 * kChunks; i += kThreads) {
    const int row = i / kChunks, chunk = i % kChunks;
    const bool valid = first + row < n_keys;
    const __nv_bfloat16* src = valid ? src0 + row * row_stride + chunk * 8 : base;
    cp_async_16(tile + sw128_offset<kD>(64, row, chunk), src, valid ? 16 : 0);
  }
}

}  // namespace

// kWGs warpgroups of 64 rows each; K/V kStages deep. kOneBarrier (kStages >= 3):
// the next load is issued after the iteration's barrier, which then also proves
// every warp done with the stage it overwrites, so no second barrier is needed.
template <int kD, int kMinBlocks, int kWGs = 2, int kStages = 2, bool kOneBarrier = false>
__global__ void __launch_bounds__(128 * kWGs, kMinBlocks) flash_prefill_sm90_kernel(const PrefillParams p) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kChunks = kD / 8, kSub = kD / 64, kThreads = 128 * kWGs, kRows = 64 * kWGs;
  constexpr uint32_t kQSub = kRows * 128, kKvSub = 64 * 128, kKvTile = kSub * kKvSub;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t q_s = (smem_addr(smem_raw) + 1023u) & ~1023u;  // swizzle atoms need 1024-byte alignment
  const uint32_t kv_s = q_s + kSub * kQSub;                     // stage s: K at kv_s + 2 s kKvTile, V after

  const int tid = threadIdx.x, wg = tid / 128, warp = (tid % 128) / 32, lane = tid % 32;
  const int tile = blockIdx.x % p.tiles_per_row;
  const int rest = blockIdx.x / p.tiles_per_row;
  const int kv_head = rest % p.n_kv_heads;
  const int qb = p.n_query_blocks - 1 - rest / p.n_kv_heads;
  const int64_t row = int64_t(qb) * p.n_kv_heads + kv_head;
  const int G = p.group, Bq = p.plan.query_block;
  const int64_t first_query = int64_t(qb) * Bq;
  if (first_query + (int64_t(tile) * kRows) / G >= p.n_queries || (tile * kRows) / G >= Bq) return;

  const int32_t begin = p.plan.row_offsets[row];
  const int32_t count = p.plan.row_counts ? p.plan.row_counts[row] : p.plan.row_offsets[row + 1] - begin;

  for (int i = tid; i < kRows * kChunks; i += kThreads) {
    const int r = i / kChunks, chunk = i % kChunks;
    const int f = tile * kRows + r, tok = f / G, h = kv_head * G + f % G;
    const int64_t query = first_query + tok;
    const bool valid = tok < Bq && query < p.n_queries;
    const __nv_bfloat16* src = valid ? p.q + query * p.q_stride + int64_t(h) * kD + chunk * 8 : p.q;
    cp_async_16(q_s + sw128_offset<kD>(kRows, r, chunk), src, valid ? 16 : 0);
  }
  auto load_block = [&](int entry, int stage) {
    const int j = p.plan.block_indices[begin + entry];
    const int64_t page = p.kv.block_table ? p.kv.block_table[j] : j;
    const uint32_t k_tile = kv_s + stage * 2 * kKvTile;
    load_kv_block_sw128<kD, kThreads>(k_tile, p.kv.k + kv_head * p.kv.head_stride, page, p.kv.page_stride, p.kv.row_stride, j,
                            p.n_keys, tid);
    load_kv_block_sw128<kD, kThreads>(k_tile + kKvTile, p.kv.v + kv_head * p.kv.head_stride, page, p.kv.page_stride,
                            p.kv.row_stride, j, p.n_keys, tid);
  };
#pragma unroll
  for (int b = 0; b < kStages - 1; ++b) {
    if (b < count) load_block(b, b);
    cp_async_commit();
  }

  const int group_id = lane / 4, quad = lane % 4;
  const int warp_row0 = tile * kRows + wg * 64 + warp * 16;  // flat row of this warp's first row
  const WarpPositions pos = warp_positions(p, first_query, warp_row0, group_id, G);
  const int(&qpos)[2] = pos.qpos;
  const int warp_min_pos = pos.min_pos;
  const int n_keys = int(p.n_keys);

  float o[kSub][32];
  zero_rows<kSub>(o);
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

  for (int e = 0; e < count; ++e) {
    const int stage = e % kStages;
    if constexpr (kOneBarrier) {
      cp_async_wait<kStages - 2>();  // block e has landed (this thread's part)
      fence_proxy_async();
      __syncthreads();  // ... every thread's part; every warp is done with block e - 1
      if (e + kStages - 1 < count) load_block(e + kStages - 1, (e + kStages - 1) % kStages);
      cp_async_commit();
    } else {
      if (e + kStages - 1 < count) load_block(e + kStages - 1, (e + kStages - 1) % kStages);
      cp_async_commit();
      cp_async_wait<kStages - 1>();
      fence_proxy_async();
      __syncthreads();
    }
    const uint32_t k_tile = kv_s + stage * 2 * kKvTile, v_tile = k_tile + kKvTile;
    const int key0 = p.plan.block_indices[begin + e] * 64;

    float s[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) s[i] = 0.0f;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      const uint32_t kin = (kk % 4) * 32, sub = kk / 4;
      const uint64_t a = smem_desc_sw128(q_s + sub * kQSub + wg * 64 * 128 + kin, 16, 1024);
      const uint64_t b = smem_desc_sw128(k_tile + sub * kKvSub + kin, 16, 1024);
      wgmma_m64n64k16_ss(s, a, b, kk > 0);
    }
    wgmma_commit();
    wgmma_wait<0>();

    mask_block<8>(s, 0, key0, qpos, warp_min_pos, n_keys, quad);
    float alpha[2];
    online_softmax<8>(s, m, l, p.scale_log2, alpha);
    scale_rows<kSub>(o, alpha);
    // P as bf16 A fragments (all computed before the wgmmas, so none waits on them).
    uint32_t pf[4][4];
    pack_p_fragments(s, pf);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
#pragma unroll
      for (int h = 0; h < kSub; ++h)
        wgmma_m64n64k16_rs_tb(o[h], pf[kk], smem_desc_sw128(v_tile + h * kKvSub + kk * 16 * 128, kKvSub, 1024));
    wgmma_commit();
    wgmma_wait<0>();
    if constexpr (!kOneBarrier) __syncthreads();  // this stage is overwritten by the load kStages - 1 iterations on
  }
  cp_async_wait<0>();

  store_rows<kD>(p, o, l, warp_row0 + group_id, quad, G, kv_head, first_query, Bq);
#else
  __trap();  // built without sm_90a: the host never launches this variant then
#endif
}

// v3: Q in registers (A of S = Q K^T from registers: only K is read from shared
// memory, halving the operand traffic of the S product), one CTA per SM with up
// to 255 registers, K/V kStagesRs deep, and the next block's S = Q K^T issued
// before this block's O += P V so that the softmax of block e+1 runs while the
// tensor cores add block e (FlashAttention-3's intra-warpgroup overlap).
constexpr int kStagesRs = 4;

template <int kD>
__global__ void __launch_bounds__(kSm90Threads, 1) flash_prefill_sm90_rs_kernel(const PrefillParams p) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kChunks = kD / 8, kSub = kD / 64;
  constexpr uint32_t kQSub = kSm90Rows * 128, kKvSub = 64 * 128, kKvTile = kSub * kKvSub;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t q_s = (smem_addr(smem_raw) + 1023u) & ~1023u;
  const uint32_t kv_s = q_s + kSub * kQSub;  // stage s: K at kv_s + 2 s kKvTile, V after

  const int tid = threadIdx.x, wg = tid / 128, warp = (tid % 128) / 32, lane = tid % 32;
  const int tile = blockIdx.x % p.tiles_per_row;
  const int rest = blockIdx.x / p.tiles_per_row;
  const int kv_head = rest % p.n_kv_heads;
  const int qb = p.n_query_blocks - 1 - rest / p.n_kv_heads;
  const int64_t row = int64_t(qb) * p.n_kv_heads + kv_head;
  const int G = p.group, Bq = p.plan.query_block;
  const int64_t first_query = int64_t(qb) * Bq;
  if (first_query + (int64_t(tile) * kSm90Rows) / G >= p.n_queries || (tile * kSm90Rows) / G >= Bq) return;

  const int32_t begin = p.plan.row_offsets[row];
  const int32_t count = p.plan.row_counts ? p.plan.row_counts[row] : p.plan.row_offsets[row + 1] - begin;
  const int32_t* blocks = p.plan.block_indices + begin;

  for (int i = tid; i < kSm90Rows * kChunks; i += kSm90Threads) {
    const int r = i / kChunks, chunk = i % kChunks;
    const int f = tile * kSm90Rows + r, tok = f / G, h = kv_head * G + f % G;
    const int64_t query = first_query + tok;
    const bool valid = tok < Bq && query < p.n_queries;
    const __nv_bfloat16* src = valid ? p.q + query * p.q_stride + int64_t(h) * kD + chunk * 8 : p.q;
    cp_async_16(q_s + sw128_offset<kD>(kSm90Rows, r, chunk), src, valid ? 16 : 0);
  }
  auto load_block = [&](int entry) {
    const int j = blocks[entry];
    const int64_t page = p.kv.block_table ? p.kv.block_table[j] : j;
    const uint32_t k_tile = kv_s + (entry % kStagesRs) * 2 * kKvTile;
    load_kv_block_sw128<kD>(k_tile, p.kv.k + kv_head * p.kv.head_stride, page, p.kv.page_stride, p.kv.row_stride, j,
                            p.n_keys, tid);
    load_kv_block_sw128<kD>(k_tile + kKvTile, p.kv.v + kv_head * p.kv.head_stride, page, p.kv.page_stride,
                            p.kv.row_stride, j, p.n_keys, tid);
  };
  // Groups: 0 = Q + block 0, then one per block.
#pragma unroll
  for (int b = 0; b < kStagesRs - 1; ++b) {
    if (b < count) load_block(b);
    cp_async_commit();
  }

  const int group_id = lane / 4, quad = lane % 4;
  const int warp_row0 = tile * kSm90Rows + wg * 64 + warp * 16;
  const WarpPositions pos = warp_positions(p, first_query, warp_row0, group_id, G);
  const int(&qpos)[2] = pos.qpos;
  const int warp_min_pos = pos.min_pos;
  const int n_keys = int(p.n_keys);

  float o[kSub][32];
  zero_rows<kSub>(o);
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  float s[32];
  uint32_t pf[4][4];
  uint32_t qf[kD / 16][4];

  // S = Q K^T of block `entry` into s (issued, not waited for).
  auto issue_s = [&](int entry) {
    const uint32_t k_tile = kv_s + (entry % kStagesRs) * 2 * kKvTile;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk)
      wgmma_m64n64k16_rs(s, qf[kk], smem_desc_sw128(k_tile + (kk / 4) * kKvSub + (kk % 4) * 32, 16, 1024), kk > 0);
    wgmma_commit();
  };
  // Masks s (block `entry`), updates m and l, turns s into probabilities; returns
  // the factor the earlier output must be scaled by.
  auto softmax = [&](int entry, float (&alpha)[2]) {
    mask_block<8>(s, 0, blocks[entry] * 64, qpos, warp_min_pos, n_keys, quad);
    online_softmax<8>(s, m, l, p.scale_log2, alpha);
  };
  auto pack_p = [&] { pack_p_fragments(s, pf); };

  if (count > 0) {
    cp_async_wait<kStagesRs - 2>();  // Q and block 0
    fence_proxy_async();
    __syncthreads();
    load_q_fragments<kD>(q_s, kSm90Rows, wg * 64, warp, lane, qf);
    issue_s(0);
    wgmma_wait<0>();
    float alpha[2];
    softmax(0, alpha);
    pack_p();
  }
  auto issue_pv = [&](int entry) {
    const uint32_t v_tile = kv_s + (entry % kStagesRs) * 2 * kKvTile + kKvTile;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
#pragma unroll
      for (int h = 0; h < kSub; ++h)
        wgmma_m64n64k16_rs_tb(o[h], pf[kk], smem_desc_sw128(v_tile + h * kKvSub + kk * 16 * 128, kKvSub, 1024));
    wgmma_commit();
  };
  // Steady state: every iteration has a next block (the last one is peeled off
  // so the wgmma pipeline has the same shape on every pass).
  for (int e = 0; e + 1 < count; ++e) {
    // Block e + 1 has landed (groups complete in order); every warp is done with
    // block e - 1, whose stage the next load reuses.
    cp_async_wait<kStagesRs - 3>();
    fence_proxy_async();
    __syncthreads();
    if (e + kStagesRs - 1 < count) load_block(e + kStagesRs - 1);
    cp_async_commit();
    issue_s(e + 1);
    issue_pv(e);
    wgmma_wait<1>();  // S of block e + 1 is ready; P V of block e still runs
    float alpha[2];
    softmax(e + 1, alpha);
    wgmma_wait<0>();
    scale_rows<kSub>(o, alpha);
    pack_p();
  }
  if (count > 0) {
    issue_pv(count - 1);
    wgmma_wait<0>();
  }
  cp_async_wait<0>();

  store_rows<kD>(p, o, l, warp_row0 + group_id, quad, G, kv_head, first_query, Bq);
#else
  __trap();
#endif
}

template <int kD>
cudaError_t launch_prefill_sm90(const PrefillParams& p, int64_t ctas, int variant, cudaStream_t stream) {
  // variant 0: v3 (Q in registers, overlapped); 1: v2 with 2 CTAs per SM; 2: v2 with 1 CTA per SM;
  // 3: v2 with 4 warpgroups (256 rows) and 3 K/V stages, 1 CTA per SM.
  if (variant == 0) {
    constexpr int smem = 1024 + (kSm90Rows + kStagesRs * 2 * 64) * kD * 2;
    cudaError_t err =
        cudaFuncSetAttribute(flash_prefill_sm90_rs_kernel<kD>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (err != cudaSuccess) return err;
    flash_prefill_sm90_rs_kernel<kD><<<unsigned(ctas), kSm90Threads, smem, stream>>>(p);
    return cudaGetLastError();
  }
  if (variant == 3) {  // 4 warpgroups (256 rows), 3 K/V stages, 1 CTA per SM
    constexpr int smem = 1024 + (256 + 3 * 2 * 64) * kD * 2;
    // One barrier per block: 3-4% faster than two on H200 (2026-12-03).
    auto kernel = flash_prefill_sm90_kernel<kD, 1, 4, 3, true>;
    cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    if (err != cudaSuccess) return err;
    kernel<<<unsigned(ctas), 512, smem, stream>>>(p);
    return cudaGetLastError();
  }
  constexpr int smem = 1024 + (kSm90Rows + 4 * 64) * kD * 2;
  auto kernel = variant == 1 ? flash_prefill_sm90_kernel<kD, 2> : flash_prefill_sm90_kernel<kD, 1>;
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (err != cudaSuccess) return err;
  kernel<<<unsigned(ctas), kSm90Threads, smem, stream>>>(p);
  return cudaGetLastError();
}

bool sm90_kernels_available() {
  cudaFuncAttributes attr{};
  return cudaFuncGetAttributes(&attr, flash_prefill_sm90_kernel<128, 2>) == cudaSuccess && attr.binaryVersion == 90;
}

template cudaError_t launch_prefill_sm90<64>(const PrefillParams&, int64_t, int, cudaStream_t);
template cudaError_t launch_prefill_sm90<128>(const PrefillParams&, int64_t, int, cudaStream_t);

}  // namespace folio::kernels::detail
