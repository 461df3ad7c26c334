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

#include <cooperative_groups.h>

#include "kernels/attention_kernels.hpp"
#include "kernels/block_summary.cuh"
#include "kernels/launch.cuh"
#include "kernels/mma_common.cuh"
#include "kernels/plan_select.cuh"

namespace folio::kernels {
namespace {

using namespace detail;

__host__ __device__ __forceinline__ int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

struct RowGeometry {
  int64_t n_queries, q_offset;
  int query_block, n_kv_heads;
  __device__ int64_t last_position(int64_t qb) const {
    return q_offset + min64((qb + 1) * query_block, n_queries) - 1;
  }
};

__global__ void summarize_kernel(const PagedKv kv, int64_t n_keys, int head_dim, __nv_bfloat16* out) {
  griddep_wait();  // the keys come from the kernels before (programmatic launch)
  const int j = blockIdx.x, h = blockIdx.y, n_kv_heads = gridDim.y;
  const int64_t page = kv.block_table ? kv.block_table[j] : j;
  const int rows = int(min64(64, n_keys - int64_t(j) * 64));
  const __nv_bfloat16* base = kv.k + page * kv.page_stride + h * kv.head_stride;
  for (int c = threadIdx.x; c < head_dim; c += blockDim.x)
    out[(int64_t(j) * n_kv_heads + h) * head_dim + c] = detail::block_key_mean(base + c, rows, kv.row_stride);
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

// grid: x = chunk of 32 KV blocks, y = plan row (relative to row0); 4 warps of one
// n-tile (8 blocks) each: decode-sized plans have few rows, so many short CTAs
// fetch the summaries at once (prefill-sized ones use score_tiled_kernel).
// query_means: [query block][n_heads][d] with `qb_stride` elements between query blocks.
template <int kD>
__global__ void __launch_bounds__(128) score_kernel(const __nv_bfloat16* query_means, int64_t qb_stride,
                                                    const __nv_bfloat16* summaries, RowGeometry geo, int n_heads,
                                                    int64_t n_blocks, int64_t row0, float* scores) {
  const int64_t row = row0 + blockIdx.y;
  const int64_t qb = row / geo.n_kv_heads;
  const int kv_head = int(row % geo.n_kv_heads), G = n_heads / geo.n_kv_heads;
  const int64_t visible = geo.last_position(qb) / 64 + 1;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, quad = lane % 4;
  const int64_t j0 = (int64_t(blockIdx.x) * 4 + warp) * 8;
  if (j0 >= visible) return;
  // A fragments straight from global memory (rows >= G are zero).
  uint32_t a[kD / 16][4];
  load_group_queries<kD>(query_means + qb * qb_stride + int64_t(kv_head) * G * kD, G, g, quad, a);
  float* out = scores + int64_t(blockIdx.y) * n_blocks;
  const int64_t jb = min64(j0 + g, n_blocks - 1);  // B column g = block j0 + g
  float m0, m1;
  score_eight_blocks<kD>(summaries + (jb * geo.n_kv_heads + kv_head) * kD, a, G, g, quad, m0, m1);
  if (g == 0) {
    const int64_t j = j0 + quad * 2;
    if (j < visible) out[j] = m0;
    if (j + 1 < visible) out[j + 1] = m1;
  }
}


// Prefill-sized plans (many rows): score_kernel would read every visible summary
// once per plan row. Here a CTA takes kTiledRows / G query blocks of one KV
// head at once: their G-head mean queries stacked as the 64 rows of four m16
// A tiles (one per warp; G = 8 packs two query blocks per tile, so no rows sit
// idle), and walks the summaries 64 blocks at a time through shared memory, so
// each summary is read once per CTA instead of once per row. The per-head
// scores go through shared memory for the max over the group. grid: x = tile of
// query blocks, y = KV head, z = share of the summaries (a chunked prefill has
// few query tiles: its CTAs split the context's blocks between them instead).
constexpr int kTiledRows = 64, kTiledBlocks = 64;

template <int kD>
constexpr int tiled_summary_stride() { return kD + 8; }  // padded rows: conflict-free B fragments

template <int kD>
__global__ void __launch_bounds__(128) score_tiled_kernel(const __nv_bfloat16* query_means, int64_t qb_stride,
                                                          const __nv_bfloat16* summaries, RowGeometry geo,
                                                          int n_heads, int64_t n_blocks, int64_t row0, int64_t rows,
                                                          float* scores) {
  constexpr int kStride = tiled_summary_stride<kD>();
  __shared__ __align__(16) __nv_bfloat16 tile[kTiledBlocks * kStride];
  __shared__ float head_scores[kTiledRows][kTiledBlocks + 1];
  const int kv_head = blockIdx.y, G = n_heads / geo.n_kv_heads, qbs = kTiledRows / G;
  const int64_t qb0 = row0 / geo.n_kv_heads + int64_t(blockIdx.x) * qbs;
  const int64_t n_qb = (geo.n_queries + geo.query_block - 1) / geo.query_block;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, quad = lane % 4;

  // A fragments: tile row r = (query block qb0 + r / G, head kv_head * G + r % G); zero past the tile.
  uint32_t a[kD / 16][4];
  {
    const __nv_bfloat16* src[2];
    bool valid[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = warp * 16 + g + half * 8;
      const int64_t qb = qb0 + r / G;
      valid[half] = r < qbs * G && qb < n_qb;
      src[half] = query_means + (valid[half] ? qb : 0) * qb_stride + int64_t(kv_head * G + r % G) * kD;
    }
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      const int c = kk * 16 + quad * 2;
      a[kk][0] = valid[0] ? *reinterpret_cast<const uint32_t*>(src[0] + c) : 0u;
      a[kk][1] = valid[1] ? *reinterpret_cast<const uint32_t*>(src[1] + c) : 0u;
      a[kk][2] = valid[0] ? *reinterpret_cast<const uint32_t*>(src[0] + c + 8) : 0u;
      a[kk][3] = valid[1] ? *reinterpret_cast<const uint32_t*>(src[1] + c + 8) : 0u;
    }
  }
  const int64_t last_qb = min64(qb0 + qbs, n_qb) - 1;
  const int64_t visible_max = min64(geo.last_position(last_qb) / 64 + 1, n_blocks);
  for (int64_t j0 = int64_t(blockIdx.z) * kTiledBlocks; j0 < visible_max; j0 += int64_t(gridDim.z) * kTiledBlocks) {
    __syncthreads();  // the previous tile's summaries and scores are consumed
    for (int i = threadIdx.x; i < kTiledBlocks * (kD / 8); i += 128) {
      const int b = i / (kD / 8), chunk = i % (kD / 8);
      const int64_t j = j0 + b;
      uint4 v = {0u, 0u, 0u, 0u};
      if (j < n_blocks)
        v = *reinterpret_cast<const uint4*>(summaries + (j * geo.n_kv_heads + kv_head) * kD + chunk * 8);
      *reinterpret_cast<uint4*>(tile + b * kStride + chunk * 8) = v;
    }
    __syncthreads();
#pragma unroll
    for (int nt = 0; nt < kTiledBlocks / 8; ++nt) {
      float c[4] = {0, 0, 0, 0};
      mma_eight_blocks<kD>(tile + (nt * 8 + g) * kStride, a, quad, c);
      const int col = nt * 8 + quad * 2, r = warp * 16 + g;
      head_scores[r][col] = c[0];
      head_scores[r][col + 1] = c[1];
      head_scores[r + 8][col] = c[2];
      head_scores[r + 8][col + 1] = c[3];
    }
    __syncthreads();
    // Max over each query block's G heads, written for the blocks its row sees.
    for (int i = threadIdx.x; i < qbs * kTiledBlocks; i += 128) {
      const int q = i / kTiledBlocks, b = i % kTiledBlocks;
      const int64_t qb = qb0 + q, row = qb * geo.n_kv_heads + kv_head, j = j0 + b;
      if (qb >= n_qb || row < row0 || row >= row0 + rows || j > geo.last_position(qb) / 64) continue;
      float m = head_scores[q * G][b];
      for (int h = 1; h < G; ++h) m = fmaxf(m, head_scores[q * G + h][b]);
      scores[(row - row0) * n_blocks + j] = m;
    }
  }
}

// Marks sink, window and global blocks (config.hpp's rule) in chosen[], zeroes
// their keys, then selects the best of the rest. key[j] holds order keys of
// every visible block on entry.
template <int kThreads>
__device__ void plan_row(uint32_t* key, uint8_t* chosen, int visible, int64_t last, const int32_t* first_global,
                         int sink_blocks, int window_tokens, int topk, SelectShared& sh) {
  const int64_t window_from = last - window_tokens + 1;
  const int window_first = window_tokens > 0 ? int(window_from > 0 ? window_from / 64 : 0) : visible;
  int n_cand = 0, n_global = 0;
  for (int j = threadIdx.x; j < visible; j += kThreads) {
    const bool base = j < sink_blocks || j >= window_first;
    const bool global = !base && first_global && first_global[j] <= last;
    chosen[j] = base || global;
    if (base || global) key[j] = 0u;
    n_cand += !(base || global);
    n_global += global;
  }
  n_cand = block_sum<kThreads>(n_cand, sh);
  n_global = block_sum<kThreads>(n_global, sh);
  // Global blocks outside sink and window take selection slots (selected_blocks in config.hpp).
  const int k = n_global >= topk ? 0 : topk - n_global;
  if (k > 0 && n_cand > k) {
    select_top<kThreads>(key, chosen, visible, k, sh);
  } else if (k > 0) {
    for (int j = threadIdx.x; j < visible; j += kThreads)
      if (key[j] != 0u) chosen[j] = 1;
    __syncthreads();
  }
}

constexpr int kSelectThreads = 256;

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
  __shared__ SelectShared sh;
  const int64_t row = row0 + blockIdx.x;
  const int64_t qb = row / geo.n_kv_heads;
  const int64_t last = geo.last_position(qb);
  const int visible = int(last / 64 + 1);
  const float* s = scores + int64_t(blockIdx.x) * n_blocks;
  for (int j = threadIdx.x; j < visible; j += kSelectThreads) key[j] = order_key(s[j]);
  // plan_row's first loop reads only the entries this thread wrote.
  plan_row<kSelectThreads>(key, chosen, visible, last, first_global, sink_blocks, window_tokens, topk, sh);
  write_row<kSelectThreads>(chosen, visible, row, capacity, sh, row_offsets, row_counts, block_indices);
}

// ---- fused decode planner ----------------------------------------------------
//
// A decode plan has one row per KV head and one query. One thread-block cluster
// per row: each of its kCluster CTAs copies its share of the block summaries
// into shared memory (all loads in flight at once), scores them on tensor cores
// (the G query heads are the rows of one m16n8k16 A tile) and writes the order
// keys straight into the leader CTA's shared memory (distributed shared memory);
// after a cluster barrier the leader selects and writes the row. One launch, no
// score workspace.
constexpr int kPlanCluster = 8, kPlanThreads = 512, kPlanTileBlocks = 256;

template <int kD>
constexpr int decode_plan_row_elems() { return kD + 8; }  // padded rows: conflict-free B fragment loads


template <int kD>
__global__ void __launch_bounds__(kPlanThreads) decode_plan_kernel(
    const __nv_bfloat16* q, const __nv_bfloat16* summaries, int n_heads, int n_kv_heads, int64_t last,
    int visible, const int32_t* first_global, int sink_blocks, int window_tokens, int topk, int capacity,
    int32_t* row_offsets, int32_t* row_counts, int32_t* block_indices) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900  // clusters: sm_90+ (build_plan checks the device)
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ SelectShared sh;
  constexpr int kRow = decode_plan_row_elems<kD>(), kChunks = kD / 8;
  const int per_cta = (visible + kPlanCluster - 1) / kPlanCluster;
  const int key_bytes = (visible * 4 + 15) / 16 * 16, chosen_bytes = (visible + 15) / 16 * 16;
  uint32_t* key = reinterpret_cast<uint32_t*>(smem);                 // leader: order keys, 0 = forced
  uint8_t* chosen = smem + key_bytes;                                 // leader: listed blocks
  uint8_t* forced = chosen + chosen_bytes;                            // this CTA's share: forced flags
  __nv_bfloat16* tile = reinterpret_cast<__nv_bfloat16*>(forced + (per_cta + 15) / 16 * 16);

  griddep_wait();  // q and the summaries come from the kernels before (programmatic launch)
  griddep_launch_dependents();  // the decode CTAs may take their places now; they wait for this grid
  const int rank = int(cluster.block_rank());
  const int kv_head = blockIdx.x / kPlanCluster;
  const int G = n_heads / n_kv_heads;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, quad = lane % 4;
  uint32_t* leader_key = cluster.map_shared_rank(key, 0);
  uint8_t* leader_chosen = cluster.map_shared_rank(chosen, 0);
  const int my_first = min(visible, rank * per_cta), my_end = min(visible, my_first + per_cta);

  auto issue_tile = [&](int t0, int nb) {
    for (int i = tid; i < nb * kChunks; i += kPlanThreads) {
      const int b = i / kChunks, chunk = i % kChunks;
      cp_async_16(smem_addr(tile + b * kRow + chunk * 8),
                  summaries + (int64_t(t0 + b) * n_kv_heads + kv_head) * kD + chunk * 8, 16);
    }
    cp_async_commit();
  };
  if (my_first < my_end) issue_tile(my_first, min(kPlanTileBlocks, my_end - my_first));

  uint32_t a[kD / 16][4];  // the G query heads as the rows of the A tile (rows >= G zero)
  load_group_queries<kD>(q + int64_t(kv_head) * G * kD, G, g, quad, a);
  // Forced blocks of this share (config.hpp's rule), while the summaries load:
  // sink and window; global blocks outside them take selection slots.
  const int64_t window_from = last - window_tokens + 1;
  const int window_first = window_tokens > 0 ? int(window_from > 0 ? window_from / 64 : 0) : visible;
  int n_cand = 0, n_global = 0;
  for (int j = my_first + tid; j < my_end; j += kPlanThreads) {
    const bool base = j < sink_blocks || j >= window_first;
    const bool global = !base && first_global && first_global[j] <= last;
    forced[j - my_first] = base || global;
    leader_chosen[j] = base || global;
    n_cand += !(base || global);
    n_global += global;
  }
  for (int t0 = my_first; t0 < my_end; t0 += kPlanTileBlocks) {
    const int nb = min(kPlanTileBlocks, my_end - t0);
    if (t0 != my_first) issue_tile(t0, nb);
    cp_async_wait<0>();
    __syncthreads();  // the tile and the forced flags are in
    for (int n0 = warp * 8; n0 < nb; n0 += (kPlanThreads / 32) * 8) {
      float m0, m1;  // B column g = block n0 + g (clamped; not written)
      score_eight_blocks<kD>(tile + min(n0 + g, nb - 1) * kRow, a, G, g, quad, m0, m1);
      if (g == 0) {
        const int j = t0 + n0 + quad * 2;  // absolute block index
        if (n0 + quad * 2 < nb) leader_key[j] = forced[j - my_first] ? 0u : order_key(m0);
        if (n0 + quad * 2 + 1 < nb) leader_key[j + 1] = forced[j + 1 - my_first] ? 0u : order_key(m1);
      }
    }
    __syncthreads();  // the tile is reloaded next pass
  }
  n_cand = block_sum<kPlanThreads>(n_cand, sh);
  n_global = block_sum<kPlanThreads>(n_global, sh);
  if (tid == 0) {
    int* leader_counts = cluster.map_shared_rank(sh.counts, 0);
    leader_counts[2 * rank] = n_cand;
    leader_counts[2 * rank + 1] = n_global;
  }
  cluster.sync();  // release/acquire: every key, flag and count is in the leader's shared memory
  if (rank != 0) return;
  n_cand = n_global = 0;
#pragma unroll
  for (int r = 0; r < kPlanCluster; ++r) {
    n_cand += sh.counts[2 * r];
    n_global += sh.counts[2 * r + 1];
  }
  const int k = n_global >= topk ? 0 : topk - n_global;  // selected_blocks() in config.hpp
  if (k > 0 && n_cand > k) {
    select_top<kPlanThreads>(key, chosen, visible, k, sh);
  } else if (k > 0) {  // every candidate; write_row reads the same contiguous ranges
    const int per = (visible + kPlanThreads - 1) / kPlanThreads;
    const int lo = min(visible, tid * per), hi = min(visible, lo + per);
    for (int j = lo; j < hi; ++j)
      if (key[j] != 0u) chosen[j] = 1;
  }
  write_row<kPlanThreads>(chosen, visible, kv_head, capacity, sh, row_offsets, row_counts, block_indices);
#else
  __trap();
#endif
}

template <int kD>
size_t decode_plan_smem(int visible) {
  const int per_cta = (visible + kPlanCluster - 1) / kPlanCluster;
  const int tile_blocks = std::min(kPlanTileBlocks, per_cta);
  return size_t((visible * 4 + 15) / 16 * 16 + (visible + 15) / 16 * 16 + (per_cta + 15) / 16 * 16) +
         size_t(tile_blocks) * decode_plan_row_elems<kD>() * 2;
}

// ---- decode planner over the whole device (with counters) --------------------
//
// grid (ceil(visible / kScatterBlocks), rows): each CTA scores kScatterBlocks
// blocks (summaries copied to shared memory first, all loads in flight) and
// writes their order keys to `keys_out` (the scores workspace); the last CTA
// of a row to finish (a counter per row, threadfence reduction) loads the row's
// keys and selects by plan_row. Spreads the 2 MB of summaries of a 128K context
// over 64 SMs instead of the 32 of the cluster kernel.
constexpr int kScatterBlocks = 128;

template <int kD>
__global__ void __launch_bounds__(kPlanThreads) decode_scatter_plan_kernel(
    const __nv_bfloat16* q, const __nv_bfloat16* summaries, int n_heads, int n_kv_heads, int64_t last,
    int visible, const int32_t* first_global, int sink_blocks, int window_tokens, int topk, int capacity,
    uint32_t* keys_out, int64_t keys_stride, uint32_t* counters, int32_t* row_offsets, int32_t* row_counts,
    int32_t* block_indices) {
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ SelectShared sh;
  __shared__ bool is_last;
  constexpr int kRow = decode_plan_row_elems<kD>(), kChunks = kD / 8;
  __nv_bfloat16* tile = reinterpret_cast<__nv_bfloat16*>(smem);
  uint32_t* key = reinterpret_cast<uint32_t*>(smem + kScatterBlocks * kRow * 2);
  uint8_t* chosen = reinterpret_cast<uint8_t*>(key + visible);

  griddep_wait();  // q and the summaries come from the kernels before (programmatic launch)
  griddep_launch_dependents();
  const int kv_head = blockIdx.y, G = n_heads / n_kv_heads;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, quad = lane % 4;
  const int t0 = blockIdx.x * kScatterBlocks, nb = min(kScatterBlocks, visible - t0);
  for (int i = tid; i < nb * kChunks; i += kPlanThreads) {
    const int b = i / kChunks, chunk = i % kChunks;
    cp_async_16(smem_addr(tile + b * kRow + chunk * 8),
                summaries + (int64_t(t0 + b) * n_kv_heads + kv_head) * kD + chunk * 8, 16);
  }
  cp_async_commit();
  uint32_t a[kD / 16][4];  // the G query heads as the rows of the A tile (rows >= G zero)
  load_group_queries<kD>(q + int64_t(kv_head) * G * kD, G, g, quad, a);
  cp_async_wait<0>();
  __syncthreads();
  uint32_t* keys = keys_out + int64_t(kv_head) * keys_stride;
  for (int n0 = warp * 8; n0 < nb; n0 += (kPlanThreads / 32) * 8) {
    float m0, m1;  // B column g = block n0 + g (clamped; not written)
    score_eight_blocks<kD>(tile + min(n0 + g, nb - 1) * kRow, a, G, g, quad, m0, m1);
    if (g == 0) {
      const int j = n0 + quad * 2;
      if (j < nb) keys[t0 + j] = order_key(m0);
      if (j + 1 < nb) keys[t0 + j + 1] = order_key(m1);
    }
  }
  __threadfence();  // this CTA's keys are visible device-wide before it is counted
  __syncthreads();
  if (tid == 0) {
    is_last = atomicAdd(&counters[kv_head], 1u) == gridDim.x - 1;
    if (is_last) counters[kv_head] = 0u;  // every CTA of the row has counted: ready for the next call
  }
  __syncthreads();
  if (!is_last) return;
  __threadfence();
  for (int j = tid; j < visible; j += kPlanThreads) key[j] = __ldcg(&keys[j]);
  // plan_row's first loop reads only the entries this thread loaded.
  plan_row<kPlanThreads>(key, chosen, visible, last, first_global, sink_blocks, window_tokens, topk, sh);
  write_row<kPlanThreads>(chosen, visible, kv_head, capacity, sh, row_offsets, row_counts, block_indices);
}

template <int kD>
size_t decode_scatter_plan_smem(int visible) {
  return size_t(kScatterBlocks) * decode_plan_row_elems<kD>() * 2 + size_t(visible) * 5;
}

template <int kD>
cudaError_t launch_decode_scatter_plan(const PlannerArgs& a, cudaStream_t stream) {
  const int visible = int(a.q_offset / 64 + 1);
  const size_t smem = decode_scatter_plan_smem<kD>(visible);
  cudaError_t err =
      cudaFuncSetAttribute(decode_scatter_plan_kernel<kD>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  if (err != cudaSuccess) return err;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned((visible + kScatterBlocks - 1) / kScatterBlocks), unsigned(a.n_kv_heads));
  cfg.blockDim = dim3(kPlanThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr;
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = a.programmatic_launch ? 1 : 0;
  const int64_t n_blocks = (a.n_keys + 63) / 64;
  return cudaLaunchKernelEx(&cfg, decode_scatter_plan_kernel<kD>, a.q, a.summaries, a.n_heads, a.n_kv_heads,
                            int64_t(a.q_offset), visible, a.first_global, a.sink_blocks, a.window_tokens,
                            a.topk_blocks, a.row_capacity, reinterpret_cast<uint32_t*>(a.scores), n_blocks,
                            a.counters, a.row_offsets, a.row_counts, a.block_indices);
}

template <int kD>
cudaError_t launch_decode_plan(const PlannerArgs& a, cudaStream_t stream) {
  const int visible = int(a.q_offset / 64 + 1);
  const size_t smem = decode_plan_smem<kD>(visible);
  cudaError_t err = cudaFuncSetAttribute(decode_plan_kernel<kD>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  if (err != cudaSuccess) return err;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(a.n_kv_heads * kPlanCluster));
  cfg.blockDim = dim3(kPlanThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attrs[2];
  attrs[0].id = cudaLaunchAttributeClusterDimension;
  attrs[0].val.clusterDim.x = kPlanCluster;
  attrs[0].val.clusterDim.y = 1;
  attrs[0].val.clusterDim.z = 1;
  attrs[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attrs[1].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attrs;
  cfg.numAttrs = a.programmatic_launch ? 2 : 1;  // clusters imply sm_90, where PDL exists
  return cudaLaunchKernelEx(&cfg, decode_plan_kernel<kD>, a.q, a.summaries, a.n_heads,
                            a.n_kv_heads, int64_t(a.q_offset), visible, a.first_global, a.sink_blocks,
                            a.window_tokens, a.topk_blocks, a.row_capacity, a.row_offsets, a.row_counts,
                            a.block_indices);
}

}  // namespace

int planner_row_capacity(int64_t n_keys, int sink_blocks, int window_tokens, int topk_blocks, int64_t global_blocks) {
  const int64_t n_blocks = (n_keys + 63) / 64;
  // The window (window_tokens keys ending at the last query) spans at most
  // (window + 63) / 64 + 1 blocks; global blocks take selection slots, so only
  // those beyond topk add to the row.
  const int64_t need = int64_t(sink_blocks) + (int64_t(window_tokens) + 63) / 64 + 1 +
                       std::max<int64_t>(topk_blocks, global_blocks);
  return int(min64(n_blocks, need));
}

cudaError_t summarize_blocks(const PagedKv& kv, int64_t n_keys, int n_kv_heads, int head_dim,
                             __nv_bfloat16* summaries, cudaStream_t stream, bool programmatic) {
  const int64_t n_blocks = (n_keys + 63) / 64;
  if (n_blocks == 0) return cudaSuccess;
  return launch(summarize_kernel, dim3(unsigned(n_blocks), n_kv_heads), dim3(head_dim), 0, stream, programmatic, kv,
                n_keys, head_dim, summaries);
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
  // Decode (one query): the fused single-launch planner, while its shared
  // memory fits (about 2M tokens of context).
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess)
    major = 0;
  if (a.n_queries == 1 && a.query_block == 1 && major >= 9 && a.counters && a.scores && a.score_rows >= a.n_kv_heads) {
    const int visible = int(a.q_offset / 64 + 1);
    const size_t smem = a.head_dim == 128 ? decode_scatter_plan_smem<128>(visible) : decode_scatter_plan_smem<64>(visible);
    if (smem <= size_t(200) * 1024)
      return a.head_dim == 128 ? launch_decode_scatter_plan<128>(a, stream) : launch_decode_scatter_plan<64>(a, stream);
  }
  if (a.n_queries == 1 && a.query_block == 1 && major >= 9) {
    const int visible = int(a.q_offset / 64 + 1);
    const size_t smem = a.head_dim == 128 ? decode_plan_smem<128>(visible) : decode_plan_smem<64>(visible);
    if (smem <= size_t(200) * 1024)
      return a.head_dim == 128 ? launch_decode_plan<128>(a, stream) : launch_decode_plan<64>(a, stream);
  }
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
    if (rows >= 512) {
      // Prefill-sized: query blocks tiled so each CTA reads a summary once for
      // kTiledRows / G of them (1.4 ms -> see docs/attention.md at 256K on H200).
      const int64_t qbs = kTiledRows / (a.n_heads / a.n_kv_heads);
      const int64_t qb_first = row0 / a.n_kv_heads, qb_last = (row0 + rows - 1) / a.n_kv_heads;
      const int64_t tiles = (qb_last - qb_first + qbs) / qbs * a.n_kv_heads;
      // Enough CTAs for two per multiprocessor: a chunk of 8192 queries has 64
      // tiles, which alone took 122 us at 128K keys on the H200 (scores written
      // once each whatever the split).
      int sms = 0;
      if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) sms = 1;
      const int64_t shares = std::clamp<int64_t>((2 * int64_t(sms) + tiles - 1) / tiles, 1,
                                                 (n_blocks + kTiledBlocks - 1) / kTiledBlocks);
      const dim3 grid(unsigned((qb_last - qb_first + qbs) / qbs), unsigned(a.n_kv_heads), unsigned(shares));
      if (a.head_dim == 128)
        score_tiled_kernel<128><<<grid, 128, 0, stream>>>(means, qb_stride, a.summaries, geo, a.n_heads, n_blocks,
                                                          row0, rows, a.scores);
      else
        score_tiled_kernel<64><<<grid, 128, 0, stream>>>(means, qb_stride, a.summaries, geo, a.n_heads, n_blocks,
                                                         row0, rows, a.scores);
    } else {
      // Decode-sized plans have few rows: one n-tile per warp so the summaries
      // are fetched by many CTAs at once instead of by a few in sequence.
      const dim3 grid(unsigned((n_blocks + 31) / 32), unsigned(rows));
      if (a.head_dim == 128)
        score_kernel<128><<<grid, 128, 0, stream>>>(means, qb_stride, a.summaries, geo, a.n_heads, n_blocks, row0,
                                                    a.scores);
      else
        score_kernel<64><<<grid, 128, 0, stream>>>(means, qb_stride, a.summaries, geo, a.n_heads, n_blocks, row0,
                                                   a.scores);
    }
    select_kernel<<<unsigned(rows), kSelectThreads, select_smem, stream>>>(
        a.scores, geo, n_blocks, row0, a.first_global, a.sink_blocks, a.window_tokens, a.topk_blocks, a.row_capacity,
        a.row_offsets, a.row_counts, a.block_indices);
  }
  return cudaGetLastError();
}

}  // namespace folio::kernels
