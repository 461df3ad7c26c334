// The GPU planner: block summaries, block scores and top-k selection.
//
// 1. query_means_kernel: mean query of each (query block, head), bf16.
// 2. score_kernel: for each plan row (query block, KV head) and visible KV block
//    j, score = max over the G heads of the group of mean_q(h) . summary(j):
//    the G mean queries are the rows of an m16n8k16 A tile, 8 summaries an n-tile.
// 3. select_kernel: one CTA per row forces sink, window and global blocks and
//    picks the top-k of the rest: a radix select (8 bits a round) on the
//    order-preserving integer image of the scores finds the k-th largest, ties go to the lower index (as
//    in the CPU planner), and the chosen blocks are written in ascending order.
// Scores for at most `score_rows` rows are kept at a time; longer plans are
// built in passes so the workspace does not grow with the square of the context.
#include <algorithm>
#include <climits>

#include "kernels/attention_kernels.hpp"
#include "kernels/mma_common.cuh"

namespace folio::kernels {
namespace {

using namespace detail;

__host__ __device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
__host__ __device__ __forceinline__ int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

struct RowGeometry {
  int64_t n_queries, q_offset;
  int query_block, n_kv_heads;
  __device__ int64_t first_position(int64_t qb) const { return q_offset + qb * query_block; }
  __device__ int64_t last_position(int64_t qb) const {
    return q_offset + min64((qb + 1) * query_block, n_queries) - 1;
  }
};

__global__ void summarize_kernel(const PagedKv kv, int64_t n_keys, int head_dim, __nv_bfloat16* out) {
  const int j = blockIdx.x, h = blockIdx.y, n_kv_heads = gridDim.y;
  const int64_t page = kv.block_table ? kv.block_table[j] : j;
  const int rows = int(min64(64, n_keys - int64_t(j) * 64));
  const __nv_bfloat16* base = kv.k + page * kv.page_stride + h * kv.head_stride;
  for (int c = threadIdx.x; c < head_dim; c += blockDim.x) {
    float sum = 0.0f;
    for (int t = 0; t < rows; ++t) sum += __bfloat162float(base[t * kv.row_stride + c]);
    out[(int64_t(j) * n_kv_heads + h) * head_dim + c] = __float2bfloat16(sum / float(rows));
  }
}

__global__ void query_means_kernel(const __nv_bfloat16* q, int64_t q_stride, int64_t n_queries, int query_block,
                                   int head_dim, __nv_bfloat16* out) {
  const int qb = blockIdx.x, h = blockIdx.y, n_heads = gridDim.y;
  const int64_t first = int64_t(qb) * query_block, end = min64(first + query_block, n_queries);
  for (int c = threadIdx.x * 2; c < head_dim; c += blockDim.x * 2) {
    float s0 = 0.0f, s1 = 0.0f;
    for (int64_t t = first; t < end; ++t) {
      const __nv_bfloat162 v = *reinterpret_cast<const __nv_bfloat162*>(q + t * q_stride + int64_t(h) * head_dim + c);
      s0 += __low2float(v);
      s1 += __high2float(v);
    }
    const float inv = 1.0f / float(end - first);
    *reinterpret_cast<__nv_bfloat162*>(out + (int64_t(qb) * n_heads + h) * head_dim + c) =
        __floats2bfloat162_rn(s0 * inv, s1 * inv);
  }
}

// grid: x = chunk of 32 * tiles KV blocks, y = plan row (relative to row0); 4 warps of
// `tiles` n-tiles (8 blocks each). Few rows (decode): tiles = 1, many short-latency CTAs.
// query_means: [query block][n_heads][d] with `qb_stride` elements between query blocks.
template <int kD>
__global__ void __launch_bounds__(128) score_kernel(const __nv_bfloat16* query_means, int64_t qb_stride,
                                                    const __nv_bfloat16* summaries, RowGeometry geo, int n_heads,
                                                    int64_t n_blocks, int64_t row0, int tiles, float* scores) {
  const int64_t row = row0 + blockIdx.y;
  const int64_t qb = row / geo.n_kv_heads;
  const int kv_head = int(row % geo.n_kv_heads), G = n_heads / geo.n_kv_heads;
  const int64_t visible = geo.last_position(qb) / 64 + 1;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, quad = lane % 4;
  const int64_t j_warp = (int64_t(blockIdx.x) * 4 + warp) * 8 * tiles;
  if (j_warp >= visible) return;
  // A fragments straight from global memory (rows >= G are zero).
  uint32_t a[kD / 16][4];
  const __nv_bfloat16* qm = query_means + qb * qb_stride + int64_t(kv_head) * G * kD;
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    const int c = kk * 16 + quad * 2;
    a[kk][0] = g < G ? *reinterpret_cast<const uint32_t*>(qm + g * kD + c) : 0u;
    a[kk][1] = g + 8 < G ? *reinterpret_cast<const uint32_t*>(qm + (g + 8) * kD + c) : 0u;
    a[kk][2] = g < G ? *reinterpret_cast<const uint32_t*>(qm + g * kD + c + 8) : 0u;
    a[kk][3] = g + 8 < G ? *reinterpret_cast<const uint32_t*>(qm + (g + 8) * kD + c + 8) : 0u;
  }
  float* out = scores + int64_t(blockIdx.y) * n_blocks;
  for (int n = 0; n < tiles; ++n) {
    const int64_t j0 = j_warp + n * 8;
    if (j0 >= visible) break;
    const int64_t jb = min64(j0 + g, n_blocks - 1);  // B column g = block j0 + g
    const __nv_bfloat16* sm = summaries + (jb * geo.n_kv_heads + kv_head) * kD;
    float c[4] = {0, 0, 0, 0};
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      const uint32_t b0 = *reinterpret_cast<const uint32_t*>(sm + kk * 16 + quad * 2);
      const uint32_t b1 = *reinterpret_cast<const uint32_t*>(sm + kk * 16 + quad * 2 + 8);
      mma_bf16(c, a[kk], b0, b1);
    }
    // Column max over the G real rows: rows g (c0, c1) and g + 8 (c2, c3).
    float m0 = g < G ? c[0] : -INFINITY, m1 = g < G ? c[1] : -INFINITY;
    if (g + 8 < G) {
      m0 = fmaxf(m0, c[2]);
      m1 = fmaxf(m1, c[3]);
    }
#pragma unroll
    for (int off = 4; off < 32; off <<= 1) {
      m0 = fmaxf(m0, __shfl_xor_sync(0xffffffffu, m0, off));
      m1 = fmaxf(m1, __shfl_xor_sync(0xffffffffu, m1, off));
    }
    if (g == 0) {
      const int64_t j = j0 + quad * 2;
      if (j < visible) out[j] = m0;
      if (j + 1 < visible) out[j + 1] = m1;
    }
  }
}

__device__ __forceinline__ uint32_t order_key(float f) {
  const uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // larger float -> larger key; > 0 for every float
}

constexpr int kSelectThreads = 256;

__device__ int block_sum(int v, int* scratch) {
  v = __reduce_add_sync(0xffffffffu, v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  int total = 0;
#pragma unroll
  for (int w = 0; w < kSelectThreads / 32; ++w) total += scratch[w];
  return total;
}

// One CTA per row. Shared: key[n_blocks] (0 = not a candidate), chosen[n_blocks].
__global__ void __launch_bounds__(kSelectThreads) select_kernel(const float* scores, RowGeometry geo,
                                                                int64_t n_blocks, int64_t row0,
                                                                const int32_t* first_global, int sink_blocks,
                                                                int window_tokens, int topk, int capacity,
                                                                int32_t* row_offsets, int32_t* row_counts,
                                                                int32_t* block_indices) {
  extern __shared__ __align__(16) unsigned char smem[];
  uint32_t* key = reinterpret_cast<uint32_t*>(smem);
  uint8_t* chosen = smem + n_blocks * 4;
  __shared__ int scratch[kSelectThreads / 32];
  __shared__ int warp_base[kSelectThreads / 32];
  __shared__ int hist[256];
  __shared__ int radix_state[2];

  const int64_t row = row0 + blockIdx.x;
  const int64_t qb = row / geo.n_kv_heads;
  const int64_t first = geo.first_position(qb), last = geo.last_position(qb);
  const int visible = int(last / 64 + 1);
  const int window_first = window_tokens > 0 ? int(max64(0, first - window_tokens + 1) / 64) : visible;
  const float* s = scores + int64_t(blockIdx.x) * n_blocks;

  int n_cand = 0;
  for (int j = threadIdx.x; j < visible; j += kSelectThreads) {
    const bool forced = j < sink_blocks || j >= window_first || (first_global && first_global[j] <= last);
    chosen[j] = forced;
    key[j] = forced ? 0u : order_key(s[j]);
    n_cand += !forced;
  }
  n_cand = block_sum(n_cand, scratch);
  if (n_cand > topk) {
    // Radix select, 8 bits a round: T = the topk-th largest key; `need` = how
    // many keys equal to T belong to the top k.
    uint32_t t = 0;
    int need = topk;
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int i = threadIdx.x; i < 256; i += kSelectThreads) hist[i] = 0;
      __syncthreads();
      const uint32_t high = shift == 24 ? 0u : ~0u << (shift + 8);
      for (int j = threadIdx.x; j < visible; j += kSelectThreads) {
        const uint32_t kj = key[j];
        if (kj != 0u && (kj & high) == (t & high)) atomicAdd(&hist[(kj >> shift) & 255u], 1);
      }
      __syncthreads();
      if (threadIdx.x < 32) {
        // Lane l holds digits 255 - 8l down to 248 - 8l; find the digit where the
        // count of matching keys at or above it first reaches `need`.
        const int lane = threadIdx.x;
        int local = 0;
#pragma unroll
        for (int b = 0; b < 8; ++b) local += hist[255 - 8 * lane - b];
        int incl = local;
#pragma unroll
        for (int off = 1; off < 32; off <<= 1) {
          const int v = __shfl_up_sync(0xffffffffu, incl, off);
          if (lane >= off) incl += v;
        }
        const uint32_t hit = __ballot_sync(0xffffffffu, incl >= need);
        const int owner = __ffs(hit) - 1;  // exists: the matching keys number >= need
        int digit = 0, rest = 0;
        if (lane == owner) {
          int cum = incl - local;
          for (int b = 0; b < 8; ++b) {
            const int d = 255 - 8 * lane - b;
            if (cum + hist[d] >= need) {
              digit = d;
              rest = need - cum;
              break;
            }
            cum += hist[d];
          }
        }
        digit = __shfl_sync(0xffffffffu, digit, owner);
        rest = __shfl_sync(0xffffffffu, rest, owner);
        if (lane == 0) {
          radix_state[0] = int(digit);
          radix_state[1] = rest;
        }
      }
      __syncthreads();
      t |= uint32_t(radix_state[0]) << shift;
      need = radix_state[1];
      __syncthreads();  // radix_state and hist are rewritten next round
    }
    for (int j = threadIdx.x; j < visible; j += kSelectThreads)
      if (key[j] > t) chosen[j] = 1;
    // Ties at T: the lowest indices, in order, until `need` are chosen.
    if (threadIdx.x < 32) {
      for (int base = 0; base < visible && need > 0; base += 32) {
        const int j = base + threadIdx.x;
        const bool tie = j < visible && key[j] == t;
        const uint32_t mask = __ballot_sync(0xffffffffu, tie);
        const int rank = __popc(mask & ((1u << threadIdx.x) - 1u));
        if (tie && rank < need) chosen[j] = 1;
        need -= __popc(mask);
      }
    }
  } else {
    for (int j = threadIdx.x; j < visible; j += kSelectThreads)
      if (key[j] != 0u) chosen[j] = 1;
  }
  __syncthreads();
  // Ordered compaction: each thread takes a contiguous range, one block-wide scan.
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int32_t* out = block_indices + row * int64_t(capacity);
  const int per = (visible + kSelectThreads - 1) / kSelectThreads;
  const int lo = min(visible, int(threadIdx.x) * per), hi = min(visible, lo + per);
  int mine = 0;
  for (int j = lo; j < hi; ++j) mine += chosen[j];
  int incl = mine;  // inclusive scan within the warp
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    const int v = __shfl_up_sync(0xffffffffu, incl, off);
    if (lane >= off) incl += v;
  }
  if (lane == 31) warp_base[warp] = incl;
  __syncthreads();
  int pos = incl - mine, written = 0;
  for (int w = 0; w < kSelectThreads / 32; ++w) {
    if (w < warp) pos += warp_base[w];
    written += warp_base[w];
  }
  for (int j = lo; j < hi; ++j)
    if (chosen[j]) {
      if (pos < capacity) out[pos] = j;
      ++pos;
    }
  if (threadIdx.x == 0) {
    row_offsets[row] = int32_t(row * capacity);
    row_counts[row] = min(written, capacity);
  }
}

}  // namespace

int planner_row_capacity(int64_t n_keys, int sink_blocks, int window_tokens, int topk_blocks, int64_t global_blocks) {
  const int64_t n_blocks = (n_keys + 63) / 64;
  // The window of a 128-query block spans (window + 127) / 64 + 2 blocks at most.
  const int64_t need = int64_t(sink_blocks) + (window_tokens + 127) / 64 + 2 + topk_blocks + global_blocks;
  return int(min64(n_blocks, need));
}

cudaError_t summarize_blocks(const PagedKv& kv, int64_t n_keys, int n_kv_heads, int head_dim,
                             __nv_bfloat16* summaries, cudaStream_t stream) {
  const int64_t n_blocks = (n_keys + 63) / 64;
  if (n_blocks == 0) return cudaSuccess;
  summarize_kernel<<<dim3(unsigned(n_blocks), n_kv_heads), head_dim, 0, stream>>>(kv, n_keys, head_dim, summaries);
  return cudaGetLastError();
}

cudaError_t build_plan(const PlannerArgs& a, cudaStream_t stream) {
  if (a.n_heads <= 0 || a.n_kv_heads <= 0 || a.n_heads % a.n_kv_heads != 0 || a.n_heads / a.n_kv_heads > 16 ||
      (a.head_dim != 64 && a.head_dim != 128) || a.query_block < 1 || a.query_block > 128 || a.score_rows < 1 ||
      a.row_capacity < 1 || a.q_offset + a.n_queries > a.n_keys)
    return cudaErrorInvalidValue;
  const int64_t n_blocks = (a.n_keys + 63) / 64;
  const int64_t n_qb = (a.n_queries + a.query_block - 1) / a.query_block;
  const int64_t n_rows = n_qb * a.n_kv_heads;
  if (n_rows == 0) return cudaSuccess;
  const RowGeometry geo{a.n_queries, a.q_offset, a.query_block, a.n_kv_heads};
  // A query block of one query (decode) is its own mean: score the query directly.
  const __nv_bfloat16* means = a.q;
  int64_t qb_stride = a.q_token_stride;
  if (a.query_block > 1) {
    query_means_kernel<<<dim3(unsigned(n_qb), a.n_heads), 64, 0, stream>>>(a.q, a.q_token_stride, a.n_queries,
                                                                            a.query_block, a.head_dim, a.query_means);
    means = a.query_means;
    qb_stride = int64_t(a.n_heads) * a.head_dim;
  }
  const size_t select_smem = size_t(n_blocks) * 5;
  cudaError_t err = cudaFuncSetAttribute(select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(select_smem));
  if (err != cudaSuccess) return err;
  for (int64_t row0 = 0; row0 < n_rows; row0 += a.score_rows) {
    const int64_t rows = std::min(a.score_rows, n_rows - row0);
    // Decode-sized plans have few rows: one n-tile per warp so the summaries are
    // fetched by many CTAs at once instead of by a few in sequence.
    const int tiles = rows >= 512 ? 8 : 1;
    const dim3 grid(unsigned((n_blocks + 32 * tiles - 1) / (32 * tiles)), unsigned(rows));
    if (a.head_dim == 128)
      score_kernel<128><<<grid, 128, 0, stream>>>(means, qb_stride, a.summaries, geo, a.n_heads, n_blocks, row0,
                                                  tiles, a.scores);
    else
      score_kernel<64><<<grid, 128, 0, stream>>>(means, qb_stride, a.summaries, geo, a.n_heads, n_blocks, row0,
                                                 tiles, a.scores);
    select_kernel<<<unsigned(rows), kSelectThreads, select_smem, stream>>>(
        a.scores, geo, n_blocks, row0, a.first_global, a.sink_blocks, a.window_tokens, a.topk_blocks, a.row_capacity,
        a.row_offsets, a.row_counts, a.block_indices);
  }
  return cudaGetLastError();
}

}  // namespace folio::kernels
