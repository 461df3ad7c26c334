// The sparse decode step in one launch: plan and attention of one query token.
//
// A decode step at long context reads little (the block summaries, then the
// ~50 listed K/V blocks per KV head: about 8 MB at 128K), so its time is the
// latency of its dependent stages, not bandwidth. The planner + decode +
// split-merge chain pays a launch, a device-wide round trip and a tail each;
// here one thread-block cluster per KV head does everything, and its C CTAs
// talk through distributed shared memory (DSMEM):
//
//   1. every CTA copies its contiguous share of the block summaries (bulk
//      copies) and, once they are in, starts copying its share of the K/V
//      blocks that need no score (sink and window: the set W, dealt round
//      robin);
//   2. it scores its share on tensor cores (as the planner does), marks forced
//      blocks (sink, window, global) and ranks its candidates locally: a
//      candidate's rank is the number of candidates of the share that beat it
//      (higher score, ties to the lower block index, as the CPU planner). The
//      top `topk` of the share form a sorted list, which the CTA stores, with
//      its counts, into every CTA's shared memory (DSMEM stores: no round
//      trip). Arrive at a cluster barrier; attend the W blocks; wait;
//   3. the global top-k is in the union of the local lists: each CTA computes
//      the global rank of its own listed candidates (over the lists, now in
//      its own shared memory: the entries that beat it). Those ranked below
//      k = topk - (global blocks outside sink and window) are selected.
//      Selected blocks (numbered by rank) and global blocks (numbered after
//      them) are dealt round robin: the owner writes each block index into
//      its attending CTA's shared memory. Second barrier;
//   4. each CTA copies and attends the blocks it was dealt;
//   5. each CTA merges its 8 warps and stores each slice of the merged state
//      into the shared memory of the CTA that owns that slice of the output;
//      after a third barrier every CTA merges its slice from its own shared
//      memory and writes it as bf16. No remote access follows the barrier, so
//      CTAs may leave.
//
// The selection is exactly build_plan's, and when asked the kernel writes the
// plan row as build_plan does (bench/attention checks both against the CPU and
// against build_plan). Batch 1; sm_90 (clusters).
#include <algorithm>
#include <cfloat>

#include <cooperative_groups.h>

#include "kernels/async_sync.cuh"
#include "kernels/attention_kernels.hpp"
#include "kernels/decode_step.cuh"
#include "kernels/mma_common.cuh"
#include "kernels/plan_select.cuh"

namespace folio::kernels {
namespace {

using namespace detail;

constexpr int kThreads = 256, kWarps = 8;
constexpr int kStages = 4;         // K/V blocks in flight per CTA (both halves of the CTA attend one each)
constexpr int kTileBlocks = 128;   // summaries scored per pass
constexpr int kMaxCluster = 16;    // non-portable cluster size on sm_90
constexpr int kSmemLimit = 227 * 1024;

struct Params {
  const __nv_bfloat16* q;
  __nv_bfloat16* o;
  float* o_f32;  // null, or the output in f32 instead of o (SparseDecodeArgs::o_f32)
  int64_t n_keys;                     // the query is at n_keys - 1
  int visible;                        // blocks holding keys
  int n_heads, n_kv_heads;
  float scale_log2;
  PagedKv kv;
  const __nv_bfloat16* summaries;     // [n_blocks][n_kv_heads][d]
  const int32_t* first_global;        // may be null
  int n_sink, window_first, topk, capacity;
  int32_t *row_offsets, *row_counts, *block_indices;  // may be null
};

// Shared memory that is not sized by the context.
struct StaticShared {
  int warp_sums[kWarps];
  int sum3[kWarps][3];
  int counts[3];             // this CTA's candidates, global blocks outside sink/window, list length
  int plan_count;            // this CTA's entries of the plan row
  int all_counts[kMaxCluster][3];
  int n_selected_here;       // this CTA's selected blocks (for the plan row)
  float fin_m[16], fin_l[16];  // this CTA's merged state per query head (m in base 2)
  int32_t w_blocks[kStages];
};

// Candidates compare by (order key, then lower block index): a composite that
// is larger for the better one, unique per block.
__device__ __forceinline__ uint64_t composite(uint32_t key, int block) {
  return (uint64_t(key) << 32) | uint32_t(0xffffffffu - uint32_t(block));
}
__device__ __forceinline__ int composite_block(uint64_t c) { return int(0xffffffffu - uint32_t(c)); }

// Byte offsets into dynamic shared memory.
template <int kD>
struct Layout {
  static constexpr int kTile = 64 * kD * 2;  // one K or V block
  static constexpr int q = 0;
  static constexpr int stages = q + 16 * kD * 2;
  static constexpr int tile = stages + kStages * 2 * kTile;
  static constexpr int key = tile + kTileBlocks * (kD + 8) * 2;
  int per_cta, list_cap, slot_cap, cluster;
  // slot_cap: a CTA is dealt at most ceil(visible / c) blocks after W
  __host__ __device__ Layout(int visible, int topk, int c)
      : per_cta((visible + c - 1) / c), list_cap(max(1, min(topk, per_cta))),
        slot_cap(per_cta), cluster(c) {}
  // key [per_cta] u32 (0: forced), then the sorted list [list_cap] u64, the
  // copy of every list [cluster][list_cap] u64, the dealt blocks [slot_cap] i32
  // and the selected flags [per_cta] u8 (for the plan row).
  __host__ __device__ int list() const { return key + (per_cta * 4 + 16 + 15) / 16 * 16; }
  __host__ __device__ int lists() const { return list() + (list_cap * 8 + 15) / 16 * 16; }
  // Lists are list_cap | 1 entries apart: the 16 lanes searching 16 lists at
  // once hit different banks.
  __host__ __device__ int list_stride() const { return list_cap | 1; }
  __host__ __device__ int slots() const { return lists() + (cluster * list_stride() * 8 + 15) / 16 * 16; }
  __host__ __device__ int selected() const { return slots() + (slot_cap * 4 + 15) / 16 * 16; }
  // The cluster merge: what the other CTAs push to this one, [cluster][slice]
  // f32 of O (slice: at most 16 * kD / cluster, a multiple of 4) and
  // [cluster][2][16] of m and l.
  __host__ __device__ int slice() const { return (16 * kD / cluster + 3) / 4 * 4; }
  __host__ __device__ int recv_o() const { return selected() + (per_cta + 15) / 16 * 16; }
  __host__ __device__ int recv_ml() const { return recv_o() + cluster * slice() * 4; }
  __host__ __device__ int total() const { return recv_ml() + cluster * 32 * 4; }
  // aliases of the K/V stages once every block is attended
  static constexpr int red_o = stages;                                      // [kWarps][16][kRedStride] f32
  static constexpr int red_m = red_o + kWarps * 16 * kRedStride<kD> * 4;    // [kWarps][16]
  static constexpr int red_l = red_m + kWarps * 16 * 4;
  static constexpr int fin_o = red_l + kWarps * 16 * 4;                     // [16][kD] f32
  static_assert(fin_o + 16 * kD * 4 <= tile, "the merge must fit in the K/V stages");
};

// A cluster barrier split into its two halves: a CTA may work between arriving
// (its shared-memory writes released to the cluster) and waiting (the others'
// acquired). Every thread of every CTA arrives once per phase.
__device__ __forceinline__ void cluster_arrive() { asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void cluster_wait() { asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory"); }

// Sums of three per-thread counts over the CTA into sh.counts (one barrier
// pair instead of three scans).
__device__ void cta_sum3(int a, int b, int c, StaticShared& sh) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    a += __shfl_xor_sync(0xffffffffu, a, off);
    b += __shfl_xor_sync(0xffffffffu, b, off);
    c += __shfl_xor_sync(0xffffffffu, c, off);
  }
  __syncthreads();  // sh.sum3 may still be read by a previous call
  if (lane == 0) {
    sh.sum3[warp][0] = a;
    sh.sum3[warp][1] = b;
    sh.sum3[warp][2] = c;
  }
  __syncthreads();
  if (threadIdx.x < 3) {
    int t = 0;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) t += sh.sum3[w][threadIdx.x];
    sh.counts[threadIdx.x] = t;
  }
  __syncthreads();
}

template <int kD>
__global__ void __launch_bounds__(kThreads, 1) sparse_decode_kernel(const Params p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  using L = Layout<kD>;
  constexpr int kChunks = kD / 8, kRow = kD + 8;
  cg::cluster_group cluster = cg::this_cluster();
  extern __shared__ __align__(128) unsigned char smem[];
  __shared__ StaticShared sh;
  const int C = int(cluster.num_blocks()), rank = int(cluster.block_rank());
  const int kv_head = blockIdx.x / C, G = p.n_heads / p.n_kv_heads, visible = p.visible;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, quad = lane % 4;
  const L lay(visible, p.topk, C);
  const uint32_t q_s = smem_addr(smem + L::q), stages = smem_addr(smem + L::stages);
  __nv_bfloat16* tile = reinterpret_cast<__nv_bfloat16*>(smem + L::tile);
  uint32_t* key = reinterpret_cast<uint32_t*>(smem + L::key);          // this share's order keys
  uint64_t* list = reinterpret_cast<uint64_t*>(smem + lay.list());     // this share's best, sorted
  uint64_t* lists = reinterpret_cast<uint64_t*>(smem + lay.lists());   // every CTA's list
  int32_t* slots = reinterpret_cast<int32_t*>(smem + lay.slots());     // blocks dealt to this CTA
  uint8_t* selected = smem + lay.selected();                           // this share's selected blocks

  // W = sink blocks, then window blocks: entry i is block w_block(i), dealt to
  // rank i % C; the dealt S blocks continue the round robin after W.
  const int win0 = max(p.window_first, p.n_sink);
  const int n_w = p.n_sink + (visible - win0);
  auto w_block = [&](int i) { return i < p.n_sink ? i : win0 + (i - p.n_sink); };
  // Dealt positions: W entries are 0..n_w-1, the S blocks follow; position P
  // goes to rank P % C, into its slot P / C minus the W entries of that rank.
  auto positions_below = [&](int n, int r) { return n > r ? (n - r + C - 1) / C : 0; };
  const int w_mine = positions_below(n_w, rank);
  auto is_base = [&](int j) { return j < p.n_sink || j >= p.window_first; };
  auto deal = [&](int position, int block) {
    const int target = position % C;
    cluster.map_shared_rank(slots, target)[position / C - positions_below(n_w, target)] = block;
  };

  griddep_wait();  // q, K/V and the summaries come from the kernels before (programmatic launch)
  // The next kernel may take the multiprocessors this one leaves free (about
  // half): in a decode step that is the output projection, which prefetches
  // its weights into L2 meanwhile (gemv.cu); it waits for this grid to finish.
  griddep_launch_dependents();

  // --- 1. copies: summaries (first tile), Q, the first W blocks --------------
  const int my_first = min(visible, rank * lay.per_cta), my_end = min(visible, my_first + lay.per_cta);
  const int n_my = my_end - my_first;
  // The summaries come by bulk copies (the TMA engine), one row of kD a block,
  // completing on an mbarrier: a few large requests instead of 16-byte ones
  // (the step measured the same with cp.async: its time is latency; the bulk
  // form issues far fewer instructions).
  __shared__ __align__(8) uint64_t tile_bar;
  const uint32_t bar = smem_addr(&tile_bar);
  if (tid == 0) mbarrier_init(bar, 1);
  __syncthreads();
  uint32_t tile_phase = 0;
  auto issue_tile = [&](int t0, int nb) {
    if (tid == 0) mbarrier_expect_tx(bar, uint32_t(nb) * kD * 2);
    for (int b = tid; b < nb; b += kThreads)
      bulk_copy_to_shared(smem_addr(tile + b * kRow), p.summaries + (int64_t(t0 + b) * p.n_kv_heads + kv_head) * kD,
                          kD * 2, bar);
  };
  if (n_my > 0) issue_tile(my_first, min(kTileBlocks, n_my));
  for (int i = tid; i < 16 * kChunks; i += kThreads) {
    const int r = i / kChunks, chunk = i % kChunks;
    const bool valid = r < G;
    const __nv_bfloat16* src = valid ? p.q + int64_t(kv_head * G + r) * kD + chunk * 8 : p.q;
    cp_async_16(q_s + swizzle<kD>(r, chunk) * 2, src, valid ? 16 : 0);
  }
  cp_async_commit();
  auto load_block = [&](int block, int stage) {
    const int64_t page = p.kv.block_table ? p.kv.block_table[block] : block;
    const uint32_t k_tile = stages + stage * 2 * L::kTile;
    load_kv_block<kD, kThreads>(k_tile, p.kv.k + kv_head * p.kv.head_stride, page, p.kv.page_stride,
                                p.kv.row_stride, block, p.n_keys, tid);
    load_kv_block<kD, kThreads>(k_tile + L::kTile, p.kv.v + kv_head * p.kv.head_stride, page, p.kv.page_stride,
                                p.kv.row_stride, block, p.n_keys, tid);
  };
  auto my_w_block = [&](int e) { return w_block(rank + e * C); };

  // Attends `count` (<= kStages) blocks whose copies are issued into stages
  // 0..count-1: warps 0-3 take the even entries, 4-7 the odd, 16 keys a warp.
  WarpSoftmax<kD> st;
  st.init();
  uint32_t qf[kD / 16][4];
  bool have_q = false;
  auto attend = [&](int count, const int32_t* blocks) {
    cp_async_wait<0>();
    __syncthreads();
    if (!have_q) {
      load_query_fragments<kD>(qf, q_s, lane);
      have_q = true;
    }
    for (int e = warp / 4; e < count; e += 2) {
      const uint32_t k_tile = stages + e * 2 * L::kTile;
      attend_block_keys<kD>(st, qf, k_tile, k_tile + L::kTile, warp % 4, int64_t(blocks[e]) * 64 + (warp % 4) * 16,
                            p.n_keys, p.scale_log2, lane);
    }
    __syncthreads();  // the stages are refilled next
  };

  // --- 2. scores of this CTA's share, local ranks --------------------------
  uint32_t a[kD / 16][4];  // the G query heads as the rows of the A tile (rows >= G zero)
  load_group_queries<kD>(p.q + int64_t(kv_head) * G * kD, G, g, quad, a);
  int n_cand = 0, n_global = 0;
  if (tid < 4) key[n_my + tid] = 0u;  // padding for the 4-wide reads below (the layout leaves room)
  for (int t0 = my_first; t0 < my_end; t0 += kTileBlocks) {
    const int nb = min(kTileBlocks, my_end - t0);
    // Forced flags first: their global reads overlap the summaries' copy.
    for (int b = tid; b < nb; b += kThreads) {
      const int j = t0 + b;
      const bool base = is_base(j);
      const bool global = !base && p.first_global && p.first_global[j] <= p.n_keys - 1;
      key[j - my_first] = base || global ? 0u : 1u;  // 1: a candidate, scored below
      n_cand += !(base || global);
      n_global += global;
    }
    if (t0 != my_first) {
      fence_proxy_async();  // the last pass's reads of the tile come before the copies' writes
      issue_tile(t0, nb);
    }
    mbarrier_wait(bar, tile_phase);
    tile_phase ^= 1u;
    __syncthreads();
    if (t0 == my_first) {
      // The W blocks' copies start once the summaries are in: on the critical
      // path the summaries would otherwise share the multiprocessor's bandwidth
      // with them. They land while the scores, ranks and lists are worked out.
      for (int e = 0; e < min(w_mine, kStages); ++e) load_block(my_w_block(e), e);
      cp_async_commit();
    }
    for (int n0 = warp * 8; n0 < nb; n0 += kWarps * 8) {
      float m0, m1;  // B column g = block n0 + g (clamped; not written)
      score_eight_blocks<kD>(tile + min(n0 + g, nb - 1) * kRow, a, G, g, quad, m0, m1);
      if (g == 0) {
        uint32_t* k = key + (t0 - my_first) + n0 + quad * 2;
        if (n0 + quad * 2 < nb && k[0] != 0u) k[0] = order_key(m0);
        if (n0 + quad * 2 + 1 < nb && k[1] != 0u) k[1] = order_key(m1);
      }
    }
    __syncthreads();  // the tile is rewritten next pass; the keys are complete
  }
  if (n_my == 0) {  // no share to score: the W blocks start here
    for (int e = 0; e < min(w_mine, kStages); ++e) load_block(my_w_block(e), e);
    cp_async_commit();
  }
  // Local rank of each candidate: the candidates of the share that beat it
  // (a larger key, or an equal key at a lower block; forced blocks have key 0
  // and beat nothing). The best list_cap go to list[rank]: sorted, best first.
  int listed = 0;
  for (int b = tid; b < n_my; b += kThreads) {
    selected[b] = 0;
    const uint32_t kb = key[b];
    if (kb == 0u) continue;
    int r = 0;
    const uint4* k4 = reinterpret_cast<const uint4*>(key);
    for (int j4 = 0; j4 < (n_my + 3) / 4; ++j4) {  // past n_my the keys are 0 (padding)
      const uint4 kj = k4[j4];
      const int j = 4 * j4;
      r += (kj.x > kb) | ((kj.x == kb) & (j < b));
      r += (kj.y > kb) | ((kj.y == kb) & (j + 1 < b));
      r += (kj.z > kb) | ((kj.z == kb) & (j + 2 < b));
      r += (kj.w > kb) | ((kj.w == kb) & (j + 3 < b));
    }
    if (r < lay.list_cap) {
      list[r] = composite(kb, my_first + b);
      ++listed;
    }
  }
  cta_sum3(n_cand, n_global, listed, sh);  // sums in sh.counts
  // Publish counts and list to every CTA of the cluster (remote stores: no
  // round trip; the barrier orders them).
  const int my_len = sh.counts[2];
  if (tid < C) {
    int* dst = cluster.map_shared_rank(&sh.all_counts[rank][0], tid);
    dst[0] = sh.counts[0];
    dst[1] = sh.counts[1];
    dst[2] = my_len;
  }
  for (int i = tid; i < C * my_len; i += kThreads) {
    const int x = i / my_len, e = i % my_len;
    cluster.map_shared_rank(lists, x)[rank * lay.list_stride() + e] = list[e];
  }
  cluster_arrive();  // phase 1: counts and lists are published

  // --- 3. W blocks while the others finish; then the global ranks -----------
  for (int e0 = 0; e0 < w_mine; e0 += kStages) {
    const int count = min(kStages, w_mine - e0);
    if (tid < count) sh.w_blocks[tid] = my_w_block(e0 + tid);
    if (e0 > 0) {
      for (int e = 0; e < count; ++e) load_block(my_w_block(e0 + e), e);
      cp_async_commit();
    }
    attend(count, sh.w_blocks);  // its first barrier publishes w_blocks
  }
  cluster_wait();
  int cand_all = 0, global_all = 0, global_before = 0;
  for (int x = 0; x < C; ++x) {
    cand_all += sh.all_counts[x][0];
    global_before += x < rank ? sh.all_counts[x][1] : 0;
    global_all += sh.all_counts[x][1];
  }
  const int k_sel = min(global_all >= p.topk ? 0 : p.topk - global_all, cand_all);  // selected_blocks() in config.hpp
  const int n_s = k_sel + global_all;  // blocks dealt after W
  // Global rank of list entry e: 16 lanes per entry, lane x counts list x's
  // entries that beat it (the lists are sorted: a short binary search).
  int n_sel_here = 0;
  for (int base = 0; base < my_len; base += kThreads / 16) {
    const int e = base + tid / 16, x = tid % 16;
    const bool valid = e < my_len;
    const uint64_t c = valid ? list[e] : 0;
    int beat = 0;
    if (valid && x < C) {
      int lo = 0, hi = sh.all_counts[x][2];  // first entry of list x not above c
      const uint64_t* lx = lists + x * lay.list_stride();
      while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (lx[mid] > c) lo = mid + 1; else hi = mid;
      }
      beat = lo;
    }
#pragma unroll
    for (int off = 8; off > 0; off >>= 1) beat += __shfl_xor_sync(0xffffffffu, beat, off);
    if (valid && x == 0 && beat < k_sel) {  // selected, number `beat`
      const int block = composite_block(c);
      deal(n_w + beat, block);
      selected[block - my_first] = 1;
      ++n_sel_here;
    }
  }
  // Global blocks outside sink and window: numbered after the selected ones,
  // in block order (this share's come after the lower ranks').
  {
    const int per = (n_my + kThreads - 1) / kThreads;
    const int lo = min(n_my, tid * per), hi = min(n_my, lo + per);
    int mine = 0;
    for (int b = lo; b < hi; ++b) mine += key[b] == 0u && !is_base(my_first + b);
    int unused = 0;
    int number = k_sel + global_before + block_exclusive_scan<kThreads>(mine, sh, &unused);
    for (int b = lo; b < hi; ++b)
      if (key[b] == 0u && !is_base(my_first + b)) deal(n_w + number++, my_first + b);
  }
  if (p.row_counts) {  // this share's entries of the plan row: forced and selected blocks
    int entries = 0;
    for (int b = tid; b < n_my; b += kThreads) entries += key[b] == 0u || selected[b];
    int sum = 0;
    block_exclusive_scan<kThreads>(entries, sh, &sum);
    if (tid == 0) sh.plan_count = sum;
  }
  cluster_arrive();  // phase 2: the dealt blocks are in their CTAs' shared memory
  cluster_wait();

  // --- 4. the blocks dealt to this CTA ---------------------------------------
  const int s_mine = positions_below(n_w + n_s, rank) - w_mine;
  for (int e0 = 0; e0 < s_mine; e0 += kStages) {
    const int count = min(kStages, s_mine - e0);
    for (int e = 0; e < count; ++e) load_block(slots[e0 + e], e);
    cp_async_commit();
    attend(count, slots + e0);
  }
  cp_async_wait<0>();
  if (p.row_counts) {  // the plan row, ascending: this share's entries after the lower ranks'
    int before = 0, all = 0;
    for (int x = 0; x < C; ++x) {
      const int n = *cluster.map_shared_rank(&sh.plan_count, x);
      before += x < rank ? n : 0;
      all += n;
    }
    const int per = (n_my + kThreads - 1) / kThreads;
    const int lo = min(n_my, tid * per), hi = min(n_my, lo + per);
    int mine = 0;
    for (int b = lo; b < hi; ++b) mine += key[b] == 0u || selected[b];
    int unused = 0;
    int pos = before + block_exclusive_scan<kThreads>(mine, sh, &unused);
    int32_t* out = p.block_indices + int64_t(kv_head) * p.capacity;
    for (int b = lo; b < hi; ++b)
      if (key[b] == 0u || selected[b]) {
        if (pos < p.capacity) out[pos] = my_first + b;
        ++pos;
      }
    if (rank == 0 && tid == 0) {
      p.row_offsets[kv_head] = kv_head * p.capacity;
      p.row_counts[kv_head] = min(all, p.capacity);
    }
  }

  // --- 5. merge: warps in shared memory, then the cluster ----------------------
  float* red_o = reinterpret_cast<float*>(smem + L::red_o);
  float* red_m = reinterpret_cast<float*>(smem + L::red_m);
  float* red_l = reinterpret_cast<float*>(smem + L::red_l);
  float* fin_o = reinterpret_cast<float*>(smem + L::fin_o);
  store_warp_state<kD>(st, red_o, red_m, red_l, warp, p.scale_log2, lane, G);
  __syncthreads();
  // This CTA's merged state, pushed to the owners: rank x owns output elements
  // [x * per, (x + 1) * per) of the G x kD, per a multiple of 4 (16-byte stores).
  const int n_out = G * kD, per = (n_out / C + 3) / 4 * 4;
  float* recv_o = reinterpret_cast<float*>(smem + lay.recv_o());   // [C][per]
  float* recv_ml = reinterpret_cast<float*>(smem + lay.recv_ml());  // [C][2][16]
  for (int i = tid; i < G * kD; i += kThreads) {
    const int r = i / kD, c = i % kD;
    float mx, sum, acc;
    combine_warp_states<kD, kWarps>(red_o, red_m, red_l, r, c, &mx, &sum, &acc);
    fin_o[r * kD + c] = acc;
    if (c == 0) {
      sh.fin_m[r] = mx;
      sh.fin_l[r] = sum;
    }
  }
  __syncthreads();
  for (int i4 = tid; i4 * 4 < n_out; i4 += kThreads) {
    const int e = i4 * 4, x = e / per;
    *reinterpret_cast<float4*>(cluster.map_shared_rank(recv_o, x) + rank * per + (e - x * per)) =
        *reinterpret_cast<const float4*>(fin_o + e);
  }
  for (int i = tid; i < C * 2 * G; i += kThreads) {
    const int x = i / (2 * G), which = (i / G) % 2, r = i % G;
    cluster.map_shared_rank(recv_ml, x)[(rank * 2 + which) * 16 + r] = which ? sh.fin_l[r] : sh.fin_m[r];
  }
  cluster_arrive();  // phase 3: every CTA's state is with the owners
  cluster_wait();
  for (int local = tid; local < per; local += kThreads) {
    const int e = rank * per + local;
    if (e >= n_out) break;
    const int r = e / kD, c = e % kD;
    float m = -INFINITY;
    for (int x = 0; x < C; ++x) m = fmaxf(m, recv_ml[(x * 2) * 16 + r]);
    float sum = 0.0f, acc = 0.0f;
    if (m != -INFINITY)
      for (int x = 0; x < C; ++x) {
        const float w = fast_exp2(recv_ml[(x * 2) * 16 + r] - m);  // -inf (no key seen) -> 0
        sum += w * recv_ml[(x * 2 + 1) * 16 + r];
        acc += w * recv_o[x * per + local];
      }
    const __nv_bfloat16 out = __float2bfloat16(sum > 0.0f ? acc / sum : 0.0f);
    if (p.o_f32)
      p.o_f32[int64_t(kv_head * G + r) * kD + c] = __bfloat162float(out);
    else
      p.o[int64_t(kv_head * G + r) * kD + c] = out;
  }
#else
  __trap();
#endif
}

struct Geometry {
  int visible, n_sink, window_first;
};

Geometry geometry(const SparseDecodeArgs& a) {
  Geometry g;
  g.visible = int((a.n_keys + 63) / 64);
  const int64_t last = a.n_keys - 1, window_from = last - a.window_tokens + 1;
  g.window_first = a.window_tokens > 0 ? int(window_from > 0 ? window_from / 64 : 0) : g.visible;
  g.n_sink = std::min(std::max(a.sink_blocks, 0), g.visible);
  return g;
}

size_t smem_bytes(const SparseDecodeArgs& a, int cluster) {
  const int visible = geometry(a).visible;
  return a.head_dim == 128 ? size_t(Layout<128>(visible, a.topk_blocks, cluster).total())
                           : size_t(Layout<64>(visible, a.topk_blocks, cluster).total());
}

template <int kD>
cudaError_t set_attributes() {
  cudaError_t err = cudaFuncSetAttribute(sparse_decode_kernel<kD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         kSmemLimit - int(sizeof(StaticShared)) - 1024);
  if (err != cudaSuccess) return err;
  return cudaFuncSetAttribute(sparse_decode_kernel<kD>, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
}

template <int kD>
cudaError_t launch(const SparseDecodeArgs& a, int cluster, cudaStream_t stream) {
  const Geometry g = geometry(a);
  Params p;
  p.q = a.q;
  p.o = a.o;
  p.o_f32 = a.o_f32;
  p.n_keys = a.n_keys;
  p.visible = g.visible;
  p.n_heads = a.n_heads;
  p.n_kv_heads = a.n_kv_heads;
  p.scale_log2 = a.scale * 1.4426950408889634f;
  p.kv = a.kv;
  p.summaries = a.summaries;
  p.first_global = a.first_global;
  p.n_sink = g.n_sink;
  p.window_first = g.window_first;
  p.topk = a.topk_blocks;
  p.capacity = a.row_capacity;
  p.row_offsets = a.row_offsets;
  p.row_counts = a.row_counts;
  p.block_indices = a.block_indices;
  cudaError_t err = set_attributes<kD>();
  if (err != cudaSuccess) return err;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(a.n_kv_heads * cluster));
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem_bytes(a, cluster);
  cfg.stream = stream;
  cudaLaunchAttribute attrs[2];
  attrs[0].id = cudaLaunchAttributeClusterDimension;
  attrs[0].val.clusterDim.x = unsigned(cluster);
  attrs[0].val.clusterDim.y = 1;
  attrs[0].val.clusterDim.z = 1;
  attrs[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attrs[1].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attrs;
  cfg.numAttrs = a.programmatic_launch ? 2 : 1;
  return cudaLaunchKernelEx(&cfg, sparse_decode_kernel<kD>, p);
}

template <int kD>
int max_active_clusters(const SparseDecodeArgs& a, int cluster) {
  if (set_attributes<kD>() != cudaSuccess) return 0;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(a.n_kv_heads * cluster));
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem_bytes(a, cluster);
  cudaLaunchAttribute attr;
  attr.id = cudaLaunchAttributeClusterDimension;
  attr.val.clusterDim.x = unsigned(cluster);
  attr.val.clusterDim.y = 1;
  attr.val.clusterDim.z = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  int n = 0;
  if (cudaOccupancyMaxActiveClusters(&n, sparse_decode_kernel<kD>, &cfg) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return n;
}

bool shape_ok(const SparseDecodeArgs& a) {
  return a.n_keys >= 1 && a.n_heads > 0 && a.n_kv_heads > 0 && a.n_heads % a.n_kv_heads == 0 &&
         a.n_heads / a.n_kv_heads <= 16 && (a.head_dim == 64 || a.head_dim == 128) && a.row_capacity >= 1 &&
         a.n_keys <= int64_t(INT32_MAX) - 64 && a.topk_blocks >= 0 && a.q && (a.o || a.o_f32) && a.summaries;
}

}  // namespace

int sparse_decode_cluster_size(const SparseDecodeArgs& a) {
  if (!shape_ok(a)) return 0;
  int device = 0, major = 0, optin = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess)
    return 0;
  if (major < 9) return 0;
  // The largest cluster of which one per KV head can be resident at once.
  for (int c = kMaxCluster; c >= 2; c /= 2) {
    if (smem_bytes(a, c) + sizeof(StaticShared) + 1024 > size_t(std::min(optin, kSmemLimit))) continue;
    const int n = a.head_dim == 128 ? max_active_clusters<128>(a, c) : max_active_clusters<64>(a, c);
    if (n >= a.n_kv_heads) return c;
  }
  return 0;
}

cudaError_t sparse_decode(const SparseDecodeArgs& a, int cluster_size, cudaStream_t stream) {
  if (!shape_ok(a) || cluster_size < 2 || cluster_size > kMaxCluster || (cluster_size & (cluster_size - 1)) != 0 ||
      smem_bytes(a, cluster_size) + sizeof(StaticShared) + 1024 > size_t(kSmemLimit))
    return cudaErrorInvalidValue;
  return a.head_dim == 128 ? launch<128>(a, cluster_size, stream) : launch<64>(a, cluster_size, stream);
}

}  // namespace folio::kernels
