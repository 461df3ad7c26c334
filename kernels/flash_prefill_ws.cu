// Block-sparse flash attention, prefill, Hopper (sm_90a): the warp-specialised
// variant (PrefillKernel::wgmma_ws), FlashAttention-3's arrangement on our plans.
//
// One CTA = 128 (token, head) rows of one (query block, KV head) plan row, as in
// flash_prefill_sm90.cu, but its three warpgroups have fixed roles:
//   producer   (warpgroup 0) fills a ring of kStages K/V stages. A stage holds
//              two plan entries (128 keys), so S = Q K^T is one m64n128 product
//              per 16-wide slice of D. A contiguous cache is copied by TMA from
//              one thread (the tensor maps swizzle the tiles and zero the rows
//              past the cache); a paged one by the whole warpgroup with cp.async.
//   consumers  (warpgroups 1 and 2) own 64 rows each, Q in registers: S, mask,
//              online softmax, O += P V (P from registers), epilogue.
// Stages change hands through mbarriers (full: the stage's copies landed;
// empty: every consumer warp's products that read the stage are done), so no
// instruction waits for the whole CTA. Two overlaps hide the softmax:
//   ping-pong  the consumers take turns issuing their products (named
//              barriers), so one's softmax runs while the other's wgmmas keep
//              the tensor cores busy;
//   in-group   S of step i + 1 is issued before O += P V of step i, so within a
//              warpgroup the softmax of i + 1 overlaps the P V of i.
// The producer hands most of its registers to the consumers (setmaxnreg).
// Measured on H200 (docs/attention.md): the cp.async producer first computed
// each copy's address from scratch and ran at 47% of the tensor peak; constant
// strides per thread gave +55%, TMA a further +18%.
#include <cfloat>
#include <utility>

#include <cuda.h>  // CUtensorMap (the driver entry point is looked up at run time: no libcuda link)
#include <cudaTypedefs.h>

#include "kernels/async_sync.cuh"
#include "kernels/attention_kernels.hpp"
#include "kernels/mma_common.cuh"
#include "kernels/prefill_params.cuh"
#include "kernels/sm90_tiles.cuh"
#include "kernels/wgmma.cuh"

namespace folio::kernels::detail {

namespace {

constexpr int kWsThreads = 384, kWsRows = 128;
// 128 x 56 + 256 x 224 registers fill the 64K of a multiprocessor (the
// producer spills below 56; the consumers need about 200).
[[maybe_unused]] constexpr int kProducerRegs = 56, kConsumerRegs = 224;
// Named barriers (0 is __syncthreads): 1 + c = consumer c's turn to issue,
// 3 + c = consumer c's Q has landed.
[[maybe_unused]] constexpr int kTurnBarrier = 1, kQBarrier = 3;

// K and V as 3-D tensors (head dim, token, KV head) for the TMA path.
struct KvTensorMaps {
  CUtensorMap k, v;
};

template <int kD, int kStages>
struct WsLayout {
  static constexpr uint32_t q_sub = kWsRows * 128;      // [128 rows][64] bf16, one of kD / 64
  static constexpr uint32_t kv_sub = 128 * 128;         // [128 keys][64] bf16
  static constexpr uint32_t kv_tile = (kD / 64) * kv_sub;  // K (or V) of one stage
  static constexpr uint32_t stage = 2 * kv_tile;           // K, then V
  static constexpr uint32_t kv = (kD / 64) * q_sub, bars = kv + kStages * stage;  // Q at 0
  static constexpr int bytes = 1024 + int(bars) + 2 * kStages * 8;  // + 1024: alignment of the swizzle atoms
};

// Copies the 64 keys of KV block `block` (none: block < 0, zeros written) into
// rows [half * 64, half * 64 + 64) of a 128-row stage tile; 128 threads. A
// thread always copies the same 16-byte chunk of every (128 / (kD / 8))-th row,
// so its addresses advance by constants and the swizzle (row % 8) never changes.
template <int kD>
__device__ __forceinline__ void copy_block_half(uint32_t tile, const __nv_bfloat16* base, int64_t page,
                                                int64_t page_stride, int64_t row_stride, int block, int64_t n_keys,
                                                int half, int tid) {
  constexpr int kChunks = kD / 8, kRowsPerPass = 128 / kChunks;
  const int chunk = tid % kChunks, row0 = tid / kChunks;
  // Row row0 + i kRowsPerPass exists while i kRowsPerPass < rows_left.
  const int64_t rows_left = block >= 0 ? n_keys - int64_t(block) * 64 - row0 : 0;
  const __nv_bfloat16* src = base + page * page_stride + row0 * row_stride + chunk * 8;
  uint32_t dst = tile + sw128_offset<kD>(128, half * 64 + row0, chunk);
#pragma unroll
  for (int i = 0; i < 64 / kRowsPerPass; ++i) {
    const bool valid = i * kRowsPerPass < rows_left;
    cp_async_16(dst, valid ? src : base, valid ? 16 : 0);
    src += kRowsPerPass * row_stride;
    dst += kRowsPerPass * 128;
  }
}

// kTma: one producer thread moves each stage with TMA copies (contiguous caches,
// block_table == nullptr); otherwise the producer warpgroup copies with cp.async.
template <int kD, int kStages, bool kTma>
__global__ void __launch_bounds__(kWsThreads, 1)
    flash_prefill_ws_kernel(const PrefillParams p, const __grid_constant__ KvTensorMaps maps) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using L = WsLayout<kD, kStages>;
  constexpr int kChunks = kD / 8, kSub = kD / 64;
  extern __shared__ unsigned char smem_raw[];
  const uint32_t base = (smem_addr(smem_raw) + 1023u) & ~1023u;
  const uint32_t q_s = base, kv_s = base + L::kv;
  const uint32_t full_bar = base + L::bars, empty_bar = full_bar + kStages * 8;  // [kStages] each

  const int tid = threadIdx.x, wg = tid / 128;
  const int tile = blockIdx.x % p.tiles_per_row;
  const int rest = blockIdx.x / p.tiles_per_row;
  const int kv_head = rest % p.n_kv_heads;
  const int qb = p.n_query_blocks - 1 - rest / p.n_kv_heads;
  const int64_t plan_row = int64_t(qb) * p.n_kv_heads + kv_head;
  const int G = p.group, Bq = p.plan.query_block;
  const int64_t first_query = int64_t(qb) * Bq;
  if (first_query + (int64_t(tile) * kWsRows) / G >= p.n_queries || (tile * kWsRows) / G >= Bq) return;

  const int32_t begin = p.plan.row_offsets[plan_row];
  const int32_t count =
      p.plan.row_counts ? p.plan.row_counts[plan_row] : p.plan.row_offsets[plan_row + 1] - begin;
  const int32_t* blocks = p.plan.block_indices + begin;
  const int steps = (count + 1) / 2;  // two plan entries per stage

  if (tid == 0)
    for (int s = 0; s < kStages; ++s) {
      mbarrier_init(full_bar + 8 * s, kTma ? 1 : 128);  // the TMA thread, or every cp.async thread
      mbarrier_init(empty_bar + 8 * s, 8);   // one arrival per consumer warp
    }
  __syncthreads();

  if (wg == 0) {  // ---- producer ----
    warpgroup_release_registers<kProducerRegs>();
    if constexpr (kTma) {
      if (tid != 0) return;
      // An absent second entry (odd count) reads a box wholly past the cache: zeros.
      const int past_end = int((p.n_keys + 63) / 64 * 64);
      for (int step = 0; step < steps; ++step) {
        const int s = step % kStages;
        if (step >= kStages) mbarrier_wait(empty_bar + 8 * s, (step / kStages - 1) & 1);
        const uint32_t k_tile = kv_s + s * L::stage, bar = full_bar + 8 * s;
        mbarrier_expect_tx(bar, L::stage);
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int entry = 2 * step + half;
          const int row = entry < count ? blocks[entry] * 64 : past_end;
#pragma unroll
          for (int sub = 0; sub < kSub; ++sub) {
            const uint32_t dst = k_tile + sub * L::kv_sub + half * 64 * 128;
            tma_load_3d(dst, &maps.k, sub * 64, row, kv_head, bar);
            tma_load_3d(dst + L::kv_tile, &maps.v, sub * 64, row, kv_head, bar);
          }
        }
      }
      return;
    }
    const __nv_bfloat16* k_base = p.kv.k + kv_head * p.kv.head_stride;
    const __nv_bfloat16* v_base = p.kv.v + kv_head * p.kv.head_stride;
    for (int step = 0; step < steps; ++step) {
      const int s = step % kStages;
      // The stage's previous round (step - kStages) must be fully read.
      if (step >= kStages) mbarrier_wait(empty_bar + 8 * s, (step / kStages - 1) & 1);
      const uint32_t k_tile = kv_s + s * L::stage;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int entry = 2 * step + half;
        const int j = entry < count ? blocks[entry] : -1;
        const int64_t page = j < 0 ? 0 : p.kv.block_table ? p.kv.block_table[j] : j;
        copy_block_half<kD>(k_tile, k_base, page, p.kv.page_stride, p.kv.row_stride, j, p.n_keys, half, tid);
        copy_block_half<kD>(k_tile + L::kv_tile, v_base, page, p.kv.page_stride, p.kv.row_stride, j, p.n_keys, half,
                            tid);
      }
      cp_async_mbarrier_arrive(full_bar + 8 * s);
    }
    cp_async_wait<0>();  // leave no copy in flight behind an exited thread
    return;
  }

  // ---- consumers ----
  warpgroup_claim_registers<kConsumerRegs>();
  const int c = wg - 1, ctid = tid - 128 * wg, warp = ctid / 32, lane = tid % 32;
  for (int i = ctid; i < 64 * kChunks; i += 128) {
    const int r = c * 64 + i / kChunks, chunk = i % kChunks;
    const int f = tile * kWsRows + r, tok = f / G, h = kv_head * G + f % G;
    const int64_t query = first_query + tok;
    const bool valid = tok < Bq && query < p.n_queries;
    const __nv_bfloat16* src = valid ? p.q + query * p.q_stride + int64_t(h) * kD + chunk * 8 : p.q;
    cp_async_16(q_s + sw128_offset<kD>(kWsRows, r, chunk), src, valid ? 16 : 0);
  }
  cp_async_commit();
  cp_async_wait<0>();
  fence_proxy_async();
  named_barrier_sync(kQBarrier + c, 128);

  const int group_id = lane / 4, quad = lane % 4;
  const int warp_row0 = tile * kWsRows + c * 64 + warp * 16;  // flat row of this warp's first row
  const WarpPositions pos = warp_positions(p, first_query, warp_row0, group_id, G);
  const int(&qpos)[2] = pos.qpos;
  const int warp_min_pos = pos.min_pos;
  const int n_keys = int(p.n_keys);

  float o[kSub][32];
  zero_rows<kSub>(o);
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  float s[64];
  uint32_t pf[8][4];
  // Q as the A fragments of S = Q K^T, so the products read only K from shared
  // memory (Q from shared memory measured 5% slower: the S product's operand
  // traffic, 6 KB per m64n128k16, nears the shared-memory bandwidth).
  uint32_t qf[kD / 16][4];
  load_q_fragments<kD>(q_s, kWsRows, c * 64, warp, lane, qf);

  // S = Q K^T of stage `step` (issued, not waited for).
  auto issue_s = [&](int step) {
    const uint32_t k_tile = kv_s + (step % kStages) * L::stage;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      const uint32_t kin = (kk % 4) * 32, sub = kk / 4;
      wgmma_m64n128k16_rs(s, qf[kk], smem_desc_sw128(k_tile + sub * L::kv_sub + kin, 16, 1024), kk > 0);
    }
    wgmma_commit();
  };
  // O += P V of stage `step`, P from the packed fragments.
  auto issue_pv = [&](int step) {
    const uint32_t v_tile = kv_s + (step % kStages) * L::stage + L::kv_tile;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < 8; ++kk)
#pragma unroll
      for (int h = 0; h < kSub; ++h)
        wgmma_m64n64k16_rs_tb(o[h], pf[kk], smem_desc_sw128(v_tile + h * L::kv_sub + kk * 16 * 128, L::kv_sub, 1024));
    wgmma_commit();
  };
  // Masks S of stage `step` (keys past a row's query, past the cache, or of the
  // absent second entry of an odd count), updates m and l, turns S into
  // probabilities; alpha = the factor the earlier output must be scaled by.
  auto softmax = [&](const int (&first_key)[2], float (&alpha)[2]) {
    mask_block<16>(s, 0, first_key[0], qpos, warp_min_pos, n_keys, quad);
    mask_block<16>(s, 8, first_key[1], qpos, warp_min_pos, n_keys, quad);
    online_softmax<16>(s, m, l, p.scale_log2, alpha);
  };
  auto pack_p = [&] { pack_p_fragments<8>(s, pf); };
  // The first key of each entry of a step, loaded before the step's waits so
  // that its latency hides behind them (n_keys: the absent second entry of an
  // odd count, every key masked).
  auto first_keys = [&](int step, int (&first_key)[2]) {
#pragma unroll
    for (int b = 0; b < 2; ++b) first_key[b] = 2 * step + b < count ? blocks[2 * step + b] * 64 : n_keys;
  };
  auto wait_full = [&](int step) {
    mbarrier_wait(full_bar + 8 * (step % kStages), (step / kStages) & 1);
    if constexpr (!kTma) fence_proxy_async();  // cp.async writes are generic-proxy; wgmma reads async
  };
  // Ping-pong: consumer c issues after the other has issued its step (consumer
  // 1's first turn is given by consumer 1 itself, before its first step, and it
  // skips its last hand-over, so both barriers see whole phases only).
  const int my_turn = kTurnBarrier + c, other_turn = kTurnBarrier + (1 - c);
  auto take_turn = [&] { named_barrier_sync(my_turn, 256); };
  auto hand_over = [&](int step) {
    if (!(c == 1 && step == steps - 1)) named_barrier_arrive(other_turn, 256);
  };

  if (steps > 0) {
    if (c == 1) named_barrier_arrive(kTurnBarrier + 0, 256);
    int first_key[2];
    first_keys(0, first_key);
    wait_full(0);
    take_turn();
    issue_s(0);
    hand_over(0);
    wgmma_wait<0>();
    float alpha[2];
    softmax(first_key, alpha);
    pack_p();
  }
  for (int step = 1; step < steps; ++step) {
    int first_key[2];
    first_keys(step, first_key);
    wait_full(step);
    take_turn();
    issue_s(step);
    issue_pv(step - 1);
    hand_over(step);
    wgmma_wait<1>();  // S of this step is ready; P V of the previous one still runs
    float alpha[2];
    softmax(first_key, alpha);
    wgmma_wait<0>();
    if (lane == 0) mbarrier_arrive(empty_bar + 8 * ((step - 1) % kStages));
    scale_rows<kSub>(o, alpha);
    pack_p();
  }
  if (steps > 0) {
    issue_pv(steps - 1);
    wgmma_wait<0>();
  }

  store_rows<kD>(p, o, l, warp_row0 + group_id, quad, G, kv_head, first_query, Bq);
#else
  __trap();  // built without sm_90a: the host never launches this variant then
#endif
}

template <int kD, int kStages, bool kTma>
cudaError_t launch(const PrefillParams& p, const KvTensorMaps& maps, int64_t ctas, cudaStream_t stream) {
  constexpr int smem = WsLayout<kD, kStages>::bytes;
  auto kernel = flash_prefill_ws_kernel<kD, kStages, kTma>;
  const cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (err != cudaSuccess) return err;
  kernel<<<unsigned(ctas), kWsThreads, smem, stream>>>(p, maps);
  return cudaGetLastError();
}

// The driver's cuTensorMapEncodeTiled, looked up once through the runtime.
PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      return PFN_cuTensorMapEncodeTiled_v12000{};
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  }();
  return encode;
}

// Tensor maps of a contiguous cache (no block table): (head dim, token, KV head)
// with boxes of 64 x 64 x 1, 128-byte swizzled as the wgmma tiles expect. Rows
// past n_keys read as zeros, so a partial last block needs no special case.
bool encode_kv_maps(const PrefillParams& p, int head_dim, KvTensorMaps& maps) {
  const auto encode = tensor_map_encoder();
  if (!encode || p.kv.block_table != nullptr) return false;
  const cuuint64_t dims[3] = {cuuint64_t(head_dim), cuuint64_t(p.n_keys), cuuint64_t(p.n_kv_heads)};
  const cuuint64_t strides[2] = {cuuint64_t(p.kv.row_stride) * 2, cuuint64_t(p.kv.head_stride) * 2};
  const cuuint32_t box[3] = {64, 64, 1}, element_strides[3] = {1, 1, 1};
  for (auto [map, base] : {std::pair{&maps.k, p.kv.k}, std::pair{&maps.v, p.kv.v}})
    if (encode(map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, const_cast<__nv_bfloat16*>(base), dims, strides, box,
               element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
               CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
      return false;
  return true;
}

}  // namespace

template <int kD>
cudaError_t launch_prefill_ws(const PrefillParams& p, int64_t ctas, cudaStream_t stream) {
  // Three 64 KB stages fit next to Q at head dim 128 (225 of 227 KB). TMA needs
  // a contiguous cache; a paged one takes the cp.async producer (about 20% slower).
  KvTensorMaps maps{};
  if (encode_kv_maps(p, kD, maps)) return launch<kD, 3, true>(p, maps, ctas, stream);
  return launch<kD, 3, false>(p, maps, ctas, stream);
}

template cudaError_t launch_prefill_ws<64>(const PrefillParams&, int64_t, cudaStream_t);
template cudaError_t launch_prefill_ws<128>(const PrefillParams&, int64_t, cudaStream_t);

}  // namespace folio::kernels::detail
