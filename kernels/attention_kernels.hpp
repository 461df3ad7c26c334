// Block-sparse flash attention on the GPU: prefill, decode and the planner.
//
// Host-callable entry points over device pointers; no allocation inside (the
// caller owns every buffer), no global state. bf16 inputs and outputs, f32
// accumulation and softmax, tensor cores (mma.sync m16n8k16, sm_80+).
//
// Layouts (elements, not bytes):
//   q, o    [token][n_heads][head_dim], `token_stride` elements between tokens
//   K/V     paged in blocks of 64 tokens: element (page, slot, kv_head, c) is at
//           page * page_stride + kv_head * head_stride + slot * row_stride + c.
//           Contiguous [n_keys][n_kv_heads][d] is page_stride = 64*n_kv_heads*d,
//           head_stride = d, row_stride = n_kv_heads*d and no block table.
//   plan    rows r = query_block * n_kv_heads + kv_head (decode: seq * n_kv_heads
//           + kv_head); row r reads block_indices[row_offsets[r] + i] for
//           i < (row_counts ? row_counts[r] : row_offsets[r+1] - row_offsets[r]).
//           The host Plan (runtime/attention/plan.hpp) is the CSR form with
//           row_counts = nullptr; the GPU planner writes fixed-capacity rows.
// Query head h reads KV head h / (n_heads / n_kv_heads). Causal: query i sits at
// position q_offset + i and reads keys at positions <= its own.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace folio::kernels {

inline constexpr int kKvBlock = 64;  // tokens per KV block (page)

struct PagedKv {
  const __nv_bfloat16* k = nullptr;
  const __nv_bfloat16* v = nullptr;
  const int32_t* block_table = nullptr;  // logical block -> page; nullptr: identity
  int64_t block_table_stride = 0;        // entries between sequences (decode batches)
  int64_t page_stride = 0, head_stride = 0, row_stride = 0;
};

struct DevicePlan {
  const int32_t* row_offsets = nullptr;
  const int32_t* row_counts = nullptr;  // nullptr: CSR (row_offsets has n_rows + 1 entries)
  const int32_t* block_indices = nullptr;
  int query_block = 64;  // 1..128 (decode plans: 1)
};

// Prefill kernel variants; all compute the same function (bench/attention checks
// each). automatic = `wgmma_ws` on sm_90 (Hopper), `mma_8warps` elsewhere.
//   mma_4warps, mma_8warps: mma.sync m16n8k16, 64 or 128 rows per CTA (sm_80+)
//   wgmma:             warpgroup MMA, Q and K from shared memory, 2 CTAs per SM (sm_90a)
//   wgmma_1cta:        the same with 1 CTA per SM (no register cap)
//   wgmma_qreg:        Q in registers, next block's Q K^T overlapped with P V, 1 CTA per SM
//   wgmma_256:         as wgmma with 4 warpgroups (256 rows), 3 K/V stages, 1 CTA per SM
//   wgmma_ws:          warp-specialised (FlashAttention-3 style): a producer warpgroup copies
//                      K/V (128 keys per stage; TMA for a contiguous cache, cp.async for a
//                      paged one) for two consumer warpgroups that take turns on the tensor
//                      cores; 128 rows, 1 CTA per SM
enum class PrefillKernel { automatic, mma_4warps, mma_8warps, wgmma, wgmma_1cta, wgmma_qreg, wgmma_256, wgmma_ws };
const char* prefill_kernel_name(PrefillKernel kernel);

struct PrefillArgs {
  const __nv_bfloat16* q = nullptr;
  __nv_bfloat16* o = nullptr;
  int64_t q_token_stride = 0, o_token_stride = 0;
  int64_t n_queries = 0, q_offset = 0, n_keys = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;  // head_dim 64 or 128
  float scale = 0.0f;
  PagedKv kv;
  DevicePlan plan;
  PrefillKernel kernel = PrefillKernel::automatic;
};

// Attention of one sequence's chunk of queries over the plan (dense causal =
// the plan listing every visible block). Throws nothing; returns the launch error.
cudaError_t attention_prefill(const PrefillArgs& args, cudaStream_t stream);

struct DecodeArgs {
  const __nv_bfloat16* q = nullptr;  // [batch][n_heads][d]: one query per sequence
  __nv_bfloat16* o = nullptr;
  int64_t q_token_stride = 0, o_token_stride = 0;
  // Optional: the output as f32 instead (the bf16-rounded values, widened: the
  // bits a separate bf16 -> f32 conversion of o gives), o untouched; saves the
  // model's decode step a conversion launch.
  float* o_f32 = nullptr;
  int64_t o_f32_token_stride = 0;
  int batch = 0;
  const int32_t* seq_lens = nullptr;  // device [batch]: keys of each sequence (query at seq_len - 1)
  // Dense decode of one sequence without a plan or a device length: with
  // all_blocks each row reads every block of the first n_keys keys in order
  // (plan and seq_lens unused; batch must be 1). Saves the model's decode step
  // the launch that would write them.
  bool all_blocks = false;
  int64_t n_keys = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;  // n_heads / n_kv_heads <= 16
  float scale = 0.0f;
  PagedKv kv;
  DevicePlan plan;        // rows = batch * n_kv_heads
  int max_row_blocks = 0; // upper bound of any row's block count (sizes the split)
  int splits = 0;         // CTAs per row; 0 picks from the device size
  float* workspace = nullptr;  // decode_workspace_floats(...) floats
  // Launch with programmatic dependent launch (sm_90+): the kernels are
  // scheduled while the previous kernel in the stream finishes and wait for it
  // on the device (cudaGridDependencySynchronize semantics), which hides the
  // launch latency between the planner, the decode and the split merge. Safe
  // with any preceding kernel; also inside CUDA graphs (stream capture).
  bool programmatic_launch = true;
  // Optional [batch * n_kv_heads] counters, zeroed once by the caller
  // (cudaMemset) and left zero by every call: with them the last CTA of a row
  // merges the row's splits (up to 64 splits), saving the merge launch.
  uint32_t* counters = nullptr;
};
// CTAs per plan row so the decode fills the device (sm_count multiprocessors) in
// exactly one wave, with at least 2 blocks per CTA.
int decode_splits(int batch, int n_kv_heads, int max_row_blocks, int sm_count, int head_dim = 128);
size_t decode_workspace_floats(int batch, int n_heads, int head_dim, int splits);
// Flash-decoding: each row's blocks are split over `splits` CTAs, then reduced.
cudaError_t attention_decode(const DecodeArgs& args, cudaStream_t stream);

// ---- the fused sparse decode step --------------------------------------------

// Plan and attention of one query token (batch 1) in one launch: one
// thread-block cluster per KV head scores the block summaries, selects exactly
// as build_plan does, and attends the listed blocks (sparse_decode.cu). Needs
// sm_90 and shared memory for the context's block keys (about 800K tokens at
// head_dim 128); sparse_decode_cluster_size says whether it runs.
struct SparseDecodeArgs {
  const __nv_bfloat16* q = nullptr;  // [n_heads][d]: the query token
  __nv_bfloat16* o = nullptr;        // [n_heads][d]
  float* o_f32 = nullptr;            // optional, as DecodeArgs::o_f32
  int64_t n_keys = 0;                // keys in the cache; the query sits at n_keys - 1
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 0.0f;
  PagedKv kv;
  const __nv_bfloat16* summaries = nullptr;  // as PlannerArgs
  const int32_t* first_global = nullptr;     // as PlannerArgs; may be null
  int sink_blocks = 1, window_tokens = 1024, topk_blocks = 32;
  int row_capacity = 0;  // planner_row_capacity(...)
  // Optional: the plan, written as build_plan writes it (rows = KV heads).
  int32_t* row_offsets = nullptr;
  int32_t* row_counts = nullptr;
  int32_t* block_indices = nullptr;
  bool programmatic_launch = true;  // as DecodeArgs
};
// CTAs per cluster to launch with (2..16), or 0 when the fused step cannot run
// here (before sm_90, bad shapes, or a context whose keys overflow shared memory).
// Costs occupancy queries: call once per shape, not per step.
int sparse_decode_cluster_size(const SparseDecodeArgs& args);
cudaError_t sparse_decode(const SparseDecodeArgs& args, int cluster_size, cudaStream_t stream);

// ---- planner ---------------------------------------------------------------

// Mean key per (block, KV head) of the first n_keys keys: summaries
// [n_blocks][n_kv_heads][d] in bf16 (what the GPU KV cache keeps up to date).
// programmatic: launched with programmatic dependent launch (sm_90+ only).
cudaError_t summarize_blocks(const PagedKv& kv, int64_t n_keys, int n_kv_heads, int head_dim,
                             __nv_bfloat16* summaries, cudaStream_t stream, bool programmatic = false);

struct PlannerArgs {
  const __nv_bfloat16* q = nullptr;  // as PrefillArgs (decode: n_queries = 1, query_block = 1)
  int64_t q_token_stride = 0;
  int64_t n_queries = 0, q_offset = 0, n_keys = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  const __nv_bfloat16* summaries = nullptr;  // [n_blocks][n_kv_heads][d]
  const int32_t* first_global = nullptr;     // [n_blocks]: first global position in the block, INT32_MAX if none; may be null
  int query_block = 64, sink_blocks = 1, window_tokens = 1024, topk_blocks = 32;
  int row_capacity = 0;  // planner_row_capacity(...)
  // outputs: fixed-capacity rows (DevicePlan with row_counts)
  int32_t* row_offsets = nullptr;    // [n_rows] = r * row_capacity
  int32_t* row_counts = nullptr;     // [n_rows]
  int32_t* block_indices = nullptr;  // [n_rows * row_capacity]
  // workspace
  __nv_bfloat16* query_means = nullptr;  // [n_query_blocks][n_heads][d]
  float* scores = nullptr;               // [score_rows][n_blocks]
  int64_t score_rows = 0;                // rows scored per pass (bounds `scores`)
  // Decode plans (n_queries 1, query_block 1) use one fused launch (scores and
  // selection of a row in one thread-block cluster; query_means and scores
  // unused); it is launched programmatically (see DecodeArgs) when this is set.
  bool programmatic_launch = true;
  // Optional [n_rows] counters, zeroed once by the caller (cudaMemset) and left
  // zero by every call. With them a decode plan is built by many CTAs scoring a
  // share of the blocks each (order keys in `scores`), the last CTA of a row
  // selecting: one launch over the whole device instead of one cluster per row.
  uint32_t* counters = nullptr;
};
// Entries a row can need: sink + window + top-k + global blocks, capped by the block count.
int planner_row_capacity(int64_t n_keys, int sink_blocks, int window_tokens, int topk_blocks, int64_t global_blocks);
// Scores every visible block of every (query block, KV head) row by
// max_h mean_q(h) . summary (bf16 tensor cores, f32 sums) and selects sink,
// window, global blocks and the top-k of the rest (ties to the lower index),
// by the rule of runtime/attention/config.hpp (window = the window_tokens keys
// up to the block's last query; global blocks take selection slots).
cudaError_t build_plan(const PlannerArgs& args, cudaStream_t stream);

}  // namespace folio::kernels
