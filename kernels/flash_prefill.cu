// Block-sparse flash attention, prefill: a chunk of queries of one sequence.
//
// Work unit: one CTA takes kRows = 16 * kWarps query rows of one (query block,
// KV head) plan row. Rows are (token, head-of-group) pairs with the head
// fastest, so the G query heads that share a KV head are processed together and
// each K/V block the plan lists is loaded once for all of them. Each warp owns 16
// rows: S = Q K^T for a 64-key block (8 n-tiles), online softmax in registers,
// O += P V. K/V blocks are double-buffered with cp.async (the next block loads
// while this one is computed). CTAs of one plan row are adjacent in launch order
// so they share K/V through L2; heavy (late) query blocks launch first.
#include <cfloat>

#include "kernels/attention_kernels.hpp"
#include "kernels/mma_common.cuh"
#include "kernels/prefill_params.cuh"

namespace folio::kernels {
namespace {

using namespace detail;

template <int kD, int kWarps>
__global__ void __launch_bounds__(kWarps * 32) flash_prefill_kernel(const PrefillParams p) {
  constexpr int kThreads = kWarps * 32, kRows = 16 * kWarps, kChunks = kD / 8;
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16* q_tile = reinterpret_cast<__nv_bfloat16*>(smem);
  const uint32_t q_s = smem_addr(q_tile);
  // Stage s: K at kv_s + s * 2 * kTile, V kTile after it.
  constexpr uint32_t kTile = 64 * kD * 2;
  const uint32_t kv_s = q_s + kRows * kD * 2;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int tile = blockIdx.x % p.tiles_per_row;
  const int rest = blockIdx.x / p.tiles_per_row;
  const int kv_head = rest % p.n_kv_heads;
  const int qb = p.n_query_blocks - 1 - rest / p.n_kv_heads;
  const int64_t row = int64_t(qb) * p.n_kv_heads + kv_head;
  const int G = p.group, Bq = p.plan.query_block;

  // Rows of this tile: flat index f = tile * kRows + r over (token, head) pairs.
  const int64_t first_query = int64_t(qb) * Bq;
  const int64_t tile_first_token = first_query + (int64_t(tile) * kRows) / G;
  if (tile_first_token >= p.n_queries || (tile * kRows) / G >= Bq) return;

  const int32_t begin = p.plan.row_offsets[row];
  const int32_t count = p.plan.row_counts ? p.plan.row_counts[row] : p.plan.row_offsets[row + 1] - begin;

  // Load Q (zeros for rows past the block or the chunk).
  for (int i = tid; i < kRows * kChunks; i += kThreads) {
    const int r = i / kChunks, chunk = i % kChunks;
    const int f = tile * kRows + r, tok = f / G, h = kv_head * G + f % G;
    const int64_t query = first_query + tok;
    const bool valid = tok < Bq && query < p.n_queries;
    const __nv_bfloat16* src = valid ? p.q + query * p.q_stride + int64_t(h) * kD + chunk * 8 : p.q;
    cp_async_16(q_s + swizzle<kD>(r, chunk) * 2, src, valid ? 16 : 0);
  }
  auto load_block = [&](int entry, int stage) {
    const int j = p.plan.block_indices[begin + entry];
    const int64_t page = p.kv.block_table ? p.kv.block_table[j] : j;
    load_kv_block<kD, kThreads>(kv_s + stage * 2 * kTile, p.kv.k + kv_head * p.kv.head_stride, page, p.kv.page_stride,
                                p.kv.row_stride, j, p.n_keys, tid);
    load_kv_block<kD, kThreads>(kv_s + stage * 2 * kTile + kTile, p.kv.v + kv_head * p.kv.head_stride, page, p.kv.page_stride,
                                p.kv.row_stride, j, p.n_keys, tid);
  };
  if (count > 0) load_block(0, 0);
  cp_async_commit();

  const int group_id = lane / 4, quad = lane % 4;
  // Positions of this thread's two rows (g and g + 8 of the warp's 16).
  int64_t qpos[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int f = tile * kRows + warp * 16 + group_id + half * 8;
    qpos[half] = p.q_offset + first_query + f / G;
  }
  const int64_t warp_min_pos = p.q_offset + first_query + (tile * kRows + warp * 16) / G;

  uint32_t qf[kD / 16][4];
  float o[kD / 8][4];
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};

  for (int e = 0; e < count; ++e) {
    const int stage = e & 1;
    if (e + 1 < count) load_block(e + 1, stage ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    if (e == 0) {
#pragma unroll
      for (int kk = 0; kk < kD / 16; ++kk) {
        const int r = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        ldmatrix_x4(qf[kk], q_s + swizzle<kD>(r, kk * 2 + (lane >> 4)) * 2);
      }
    }
    const int j = p.plan.block_indices[begin + e];
    const int64_t key0 = int64_t(j) * 64;

    float s[8][4];
#pragma unroll
    for (int n = 0; n < 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < 4; ++np) {
        uint32_t b[4];
        const int key = np * 16 + (lane & 7) + (lane >> 4) * 8;
        ldmatrix_x4(b, kv_s + stage * 2 * kTile + swizzle<kD>(key, kk * 2 + ((lane >> 3) & 1)) * 2);
        mma_bf16(s[2 * np], qf[kk], b[0], b[1]);
        mma_bf16(s[2 * np + 1], qf[kk], b[2], b[3]);
      }
    }
    // Mask keys past a row's position (causal) or past the end of the cache.
    if (key0 + 63 > warp_min_pos || key0 + 64 > p.n_keys) {
#pragma unroll
      for (int n = 0; n < 8; ++n)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int64_t key = key0 + n * 8 + quad * 2 + (c & 1);
          if (key > qpos[c >> 1] || key >= p.n_keys) s[n][c] = -INFINITY;
        }
    }
    // Online softmax (base 2, scale folded in).
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < 8; ++n) mx = fmaxf(mx, fmaxf(s[n][2 * half], s[n][2 * half + 1]));
      mx = quad_max(mx);
      const float m_new = fmaxf(m[half], mx);
      const float m_use = m_new == -INFINITY ? 0.0f : m_new * p.scale_log2;
      const float alpha = fast_exp2(m[half] * p.scale_log2 - m_use);  // exp2(-inf) = 0 on the first block
      m[half] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int n = 0; n < 8; ++n) {
        s[n][2 * half] = fast_exp2(s[n][2 * half] * p.scale_log2 - m_use);
        s[n][2 * half + 1] = fast_exp2(s[n][2 * half + 1] * p.scale_log2 - m_use);
        sum += s[n][2 * half] + s[n][2 * half + 1];
      }
      l[half] = l[half] * alpha + sum;
#pragma unroll
      for (int n = 0; n < kD / 8; ++n) {
        o[n][2 * half] *= alpha;
        o[n][2 * half + 1] *= alpha;
      }
    }
    // O += P V
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const uint32_t a[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]), pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                             pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < kD / 16; ++dp) {
        uint32_t b[4];
        const int key = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        ldmatrix_x4_trans(b, kv_s + stage * 2 * kTile + kTile + swizzle<kD>(key, dp * 2 + (lane >> 4)) * 2);
        mma_bf16(o[2 * dp], a, b[0], b[1]);
        mma_bf16(o[2 * dp + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // this stage is overwritten by the load two iterations on
  }
  cp_async_wait<0>();

  // Normalise and store.
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const float total = quad_sum(l[half]);
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    const int f = tile * kRows + warp * 16 + group_id + half * 8;
    const int tok = f / G, h = kv_head * G + f % G;
    const int64_t query = first_query + tok;
    if (tok >= Bq || query >= p.n_queries) continue;
    __nv_bfloat16* dst = p.o + query * p.o_stride + int64_t(h) * kD + quad * 2;
#pragma unroll
    for (int n = 0; n < kD / 8; ++n)
      *reinterpret_cast<uint32_t*>(dst + n * 8) = pack_bf16(o[n][2 * half] * inv, o[n][2 * half + 1] * inv);
  }
}

PrefillParams make_params(const PrefillArgs& a, int rows_per_cta) {
  PrefillParams p;
  p.q = a.q;
  p.o = a.o;
  p.q_stride = a.q_token_stride;
  p.o_stride = a.o_token_stride;
  p.n_queries = a.n_queries;
  p.q_offset = a.q_offset;
  p.n_keys = a.n_keys;
  p.n_heads = a.n_heads;
  p.n_kv_heads = a.n_kv_heads;
  p.group = a.n_heads / a.n_kv_heads;
  p.scale_log2 = a.scale * 1.4426950408889634f;
  p.kv = a.kv;
  p.plan = a.plan;
  p.n_query_blocks = int((a.n_queries + a.plan.query_block - 1) / a.plan.query_block);
  p.tiles_per_row = (a.plan.query_block * p.group + rows_per_cta - 1) / rows_per_cta;
  return p;
}

template <int kD, int kWarps>
cudaError_t launch(const PrefillParams& p, int64_t ctas, cudaStream_t stream) {
  constexpr int smem = (16 * kWarps + 4 * 64) * kD * 2;
  cudaError_t err = cudaFuncSetAttribute(flash_prefill_kernel<kD, kWarps>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (err != cudaSuccess) return err;
  flash_prefill_kernel<kD, kWarps><<<unsigned(ctas), kWarps * 32, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

const char* prefill_kernel_name(PrefillKernel k) {
  switch (k) {
    case PrefillKernel::automatic: return "auto";
    case PrefillKernel::mma_4warps: return "mma.sync 64 rows";
    case PrefillKernel::mma_8warps: return "mma.sync 128 rows";
    case PrefillKernel::wgmma: return "wgmma 2 CTA/SM";
    case PrefillKernel::wgmma_1cta: return "wgmma 1 CTA/SM";
    case PrefillKernel::wgmma_qreg: return "wgmma Q-in-regs overlapped";
    case PrefillKernel::wgmma_256: return "wgmma 256 rows 3 stages";
    case PrefillKernel::wgmma_ws: return "wgmma warp-specialised";
  }
  return "?";
}

cudaError_t attention_prefill(const PrefillArgs& a, cudaStream_t stream) {
  if (a.n_heads <= 0 || a.n_kv_heads <= 0 || a.n_heads % a.n_kv_heads != 0 || a.plan.query_block < 1 ||
      a.plan.query_block > 128 || a.n_queries < 0 || a.q_offset + a.n_queries > a.n_keys ||
      (a.head_dim != 64 && a.head_dim != 128) || a.n_keys > INT32_MAX - 64)
    return cudaErrorInvalidValue;
  PrefillKernel kind = a.kernel;
  if ((kind == PrefillKernel::wgmma || kind == PrefillKernel::wgmma_1cta || kind == PrefillKernel::wgmma_qreg ||
       kind == PrefillKernel::wgmma_256 || kind == PrefillKernel::wgmma_ws) &&
      !sm90_kernels_available())
    return cudaErrorNoKernelImageForDevice;
  if (kind == PrefillKernel::automatic) {
    // Fastest measured (docs/attention.md): the warp-specialised wgmma kernel on
    // Hopper (1.5-1.7x the 256-row one on H200), mma.sync elsewhere.
    kind = sm90_kernels_available() ? PrefillKernel::wgmma_ws : PrefillKernel::mma_8warps;
  }
  const int rows = kind == PrefillKernel::mma_4warps ? 64 : kind == PrefillKernel::wgmma_256 ? 256 : 128;
  const PrefillParams p = make_params(a, rows);
  const int64_t ctas = int64_t(p.n_query_blocks) * a.n_kv_heads * p.tiles_per_row;
  if (ctas == 0) return cudaSuccess;
  if (ctas > INT32_MAX) return cudaErrorInvalidValue;
  const bool d128 = a.head_dim == 128;
  switch (kind) {
    case PrefillKernel::mma_4warps: return d128 ? launch<128, 4>(p, ctas, stream) : launch<64, 4>(p, ctas, stream);
    case PrefillKernel::mma_8warps: return d128 ? launch<128, 8>(p, ctas, stream) : launch<64, 8>(p, ctas, stream);
    case PrefillKernel::wgmma:
    case PrefillKernel::wgmma_1cta:
    case PrefillKernel::wgmma_256:
    case PrefillKernel::wgmma_qreg: {
      const int variant = kind == PrefillKernel::wgmma_qreg ? 0
                          : kind == PrefillKernel::wgmma    ? 1
                          : kind == PrefillKernel::wgmma_1cta ? 2
                                                              : 3;
      return d128 ? launch_prefill_sm90<128>(p, ctas, variant, stream)
                  : launch_prefill_sm90<64>(p, ctas, variant, stream);
    }
    case PrefillKernel::wgmma_ws:
      return d128 ? launch_prefill_ws<128>(p, ctas, stream) : launch_prefill_ws<64>(p, ctas, stream);
    case PrefillKernel::automatic: break;
  }
  return cudaErrorInvalidValue;
}

}  // namespace folio::kernels
