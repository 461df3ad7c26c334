// Non-attention CUDA kernels of the transformer forward pass: conversions,
// embedding, RMSNorm, q/k-norm, RoPE, SwiGLU, small-batch matmul (GEMV), the
// KV-cache store, dense attention plans, MoE routing / grouping / combining,
// the fused top-k expert path for decode, and a random fill for benchmarks.
//
// Host-callable launchers over device pointers, one stream each, no allocation
// inside (callers own every buffer) and no global state. Activations are f32
// row-major with a row stride in elements; weights are bf16 (or f32 for the
// small tensors the backend keeps exact: norm gains and routers).
// Each launcher returns the launch error (cudaSuccess when nothing to do).
//
// `programmatic` (the kernels of the decode path): launch with programmatic
// dependent launch (kernels/launch.cuh); ask for it only on sm_90+ devices.
// These kernels wait for the kernel before them on the device before touching
// global memory, so they are safe after any stream work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

namespace folio::kernels::ops {

using bf16 = __nv_bfloat16;

// ---- conversions ----------------------------------------------------------
cudaError_t f32_to_bf16(const float* x, int64_t x_stride, int64_t rows, int64_t cols, bf16* y, int64_t y_stride,
                        cudaStream_t stream);
cudaError_t bf16_to_f32(const bf16* x, int64_t x_stride, int64_t rows, int64_t cols, float* y, int64_t y_stride,
                        cudaStream_t stream);

// ---- element-wise and normalisation ---------------------------------------
// out[i] = f32(table[ids[i]]); ids already validated by the caller.
cudaError_t embed(const bf16* table, int64_t cols, const int32_t* ids, int64_t n, float* out, int64_t out_stride,
                  cudaStream_t stream);
// y = x * rsqrt(mean(x^2) + eps) * gamma per row; y may alias x.
cudaError_t rms_norm(const float* x, int64_t x_stride, int64_t rows, int64_t cols, const float* gamma, float eps,
                     float* y, int64_t y_stride, cudaStream_t stream, bool programmatic = false);
// x += add, then y = x * rsqrt(mean(x^2) + eps) * gamma per row (the residual
// step and the next norm in one pass); y may alias x or add.
cudaError_t add_rms_norm(float* x, int64_t x_stride, const float* add, int64_t add_stride, int64_t rows, int64_t cols,
                         const float* gamma, float eps, float* y, int64_t y_stride, cudaStream_t stream,
                         bool programmatic = false);
// head_rms_norm then rope in one pass (head_dim <= 256), same results.
cudaError_t head_norm_rope(float* x, int64_t x_stride, int64_t rows, int n_heads, int head_dim, const float* gamma,
                           float eps, int64_t pos0, float theta, int rot_dims, bool neox, cudaStream_t stream,
                           bool programmatic = false);
// In place, every head_dim slice of every row.
cudaError_t head_rms_norm(float* x, int64_t x_stride, int64_t rows, int n_heads, int head_dim, const float* gamma,
                          float eps, cudaStream_t stream);
// In place rotary embedding; row r is at position pos0 + r. neox: rotate halves; else interleaved pairs.
cudaError_t rope(float* x, int64_t x_stride, int64_t rows, int n_heads, int head_dim, int64_t pos0, float theta,
                 int rot_dims, bool neox, cudaStream_t stream);
// y += x
cudaError_t add(float* y, int64_t y_stride, const float* x, int64_t x_stride, int64_t rows, int64_t cols,
                cudaStream_t stream);
// h = silu(g) * u (contiguous [n] each), h in bf16 (the next GEMM's input).
cudaError_t silu_mul_bf16(const float* g, const float* u, int64_t n, bf16* h, cudaStream_t stream);
cudaError_t silu_mul_bf16(const bf16* g, const bf16* u, int64_t n, bf16* h, cudaStream_t stream);

// ---- small-batch matmul ---------------------------------------------------
// y[t][r] = sum_c x[t][c] * W[r][c] for t < n (1..kGemvMaxRows): one warp per
// output row, weights streamed once for all n tokens (decode is bandwidth-bound).
inline constexpr int kGemvMaxRows = 8;
cudaError_t gemv_bf16(const float* x, int64_t x_stride, int n, const bf16* w, int64_t rows, int64_t cols, float* y,
                      int64_t y_stride, cudaStream_t stream, bool programmatic = false);
cudaError_t gemv_f32(const float* x, int64_t x_stride, int n, const float* w, int64_t rows, int64_t cols, float* y,
                     int64_t y_stride, cudaStream_t stream, bool programmatic = false);
// Several bf16 matrices of `cols` columns over one input in one launch (the q,
// k and v projections of a decode step): y_i = x W_i^T for each, every row as
// gemv_bf16 computes it when the rows of all matrices together would take the
// same kernel variant there.
struct GemvMatrix {
  const bf16* w = nullptr;
  int64_t rows = 0;
  float* y = nullptr;
  int64_t y_stride = 0;
};
inline constexpr int kGemvMaxMatrices = 4;
cudaError_t gemv_bf16_multi(const float* x, int64_t x_stride, int n, std::span<const GemvMatrix> matrices,
                            int64_t cols, cudaStream_t stream, bool programmatic = false);

// ---- KV cache -------------------------------------------------------------
// Stores n tokens' keys and values (f32 rows of n_kv_heads*head_dim) as bf16 at
// positions pos0.. of a contiguous [position][n_kv_heads*head_dim] layer buffer.
cudaError_t kv_store(const float* k, int64_t k_stride, const float* v, int64_t v_stride, int64_t n, int64_t pos0,
                     int64_t row_elems, bf16* k_cache, bf16* v_cache, cudaStream_t stream, bool programmatic = false);
// A decode step's attention input in one launch (few rows): q and k (f32, in
// place) get head_norm_rope at positions pos0..; k and v go to the cache as
// kv_store stores them; and each KV head's mean-key summary of every block from
// pos0 / 64 up to position n_cached - 1 is recomputed as summarize_blocks
// computes it. The same bits as head_norm_rope (q), head_norm_rope (k),
// kv_store and summarize_blocks in turn. Past kGemvMaxRows rows (prefill) it
// launches one block per row and leaves the summaries to the caller
// (summarize_blocks needs every row of a block stored first).
struct QkNormRopeKvArgs {
  float* q = nullptr;
  int64_t q_stride = 0;
  float* k = nullptr;
  int64_t k_stride = 0;
  const float* v = nullptr;
  int64_t v_stride = 0;
  int64_t rows = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;  // head_dim <= 256
  const float* q_gamma = nullptr;                 // [head_dim]
  const float* k_gamma = nullptr;                 // [head_dim]
  float eps = 0.0f;
  int64_t pos0 = 0;
  float theta = 10000.0f;
  int rot_dims = 0;  // 0: the whole head
  bool neox = true;
  bf16* k_cache = nullptr;    // as kv_store's layer buffers
  bf16* v_cache = nullptr;
  bf16* summaries = nullptr;  // [block][n_kv_heads][head_dim]
  int64_t n_cached = 0;       // keys cached once this write is done (>= pos0 + rows)
  bf16* q_bf16 = nullptr;     // nullable: q's result also as bf16 rows (the attention kernels' input)
  int64_t q_bf16_stride = 0;
};
cudaError_t qk_norm_rope_kv(const QkNormRopeKvArgs& args, cudaStream_t stream, bool programmatic = false);
// Fixed-capacity plan rows listing every causally visible block:
// row r = qb * n_kv_heads + h reads blocks 0 .. last_position(qb) / 64.
// (A dense decode needs none: DecodeArgs::all_blocks.)
cudaError_t dense_plan(int64_t n_queries, int64_t q_offset, int query_block, int n_kv_heads, int capacity,
                       int32_t* row_offsets, int32_t* row_counts, int32_t* block_indices, cudaStream_t stream);
cudaError_t fill_i32(int32_t* p, int64_t n, int32_t value, cudaStream_t stream);

// ---- mixture of experts ---------------------------------------------------
// Router softmax (f32), top-k (ties to the lower index), optional renormalisation.
// counts (nullable) gets += 1 per chosen (token, expert) with atomics.
// forced (nullable, device, n*k ids): routing replay, those experts instead of
// the top-k, weighted by their probabilities (see backend::MoeParams).
cudaError_t moe_route(const float* logits, int64_t n, int n_expert, int k, bool normalize, const int32_t* forced,
                      int32_t* topk_ids, float* topk_w, int32_t* counts, cudaStream_t stream,
                      bool programmatic = false);
// Groups the n*k (token, slot) pairs by expert, in token order inside an expert
// (deterministic): row_token[offsets[e] + i] = token of the i-th pair of e,
// slot_row[t*k + j] = row of pair (t, j). offsets: [n_expert] exclusive prefix.
cudaError_t moe_group(const int32_t* topk_ids, int64_t n, int k, int n_expert, const int32_t* offsets,
                      int32_t* row_token, int32_t* slot_row, cudaStream_t stream);
// xs[i] = x[row_token[i]] for i < rows; zeros where row_token[i] < 0 (padding).
cudaError_t gather_rows_bf16(const bf16* x, int64_t x_stride, int64_t cols, const int32_t* row_token, int64_t rows,
                             bf16* xs, cudaStream_t stream);
// out[t] = sum_j topk_w[t*k+j] * ys[slot_row[t*k+j]] (j ascending).
cudaError_t moe_combine(const float* ys, int64_t cols, const int32_t* slot_row, const float* topk_w, int64_t n, int k,
                        float* out, int64_t out_stride, cudaStream_t stream);
cudaError_t moe_combine(const bf16* ys, int64_t cols, const int32_t* slot_row, const float* topk_w, int64_t n, int k,
                        float* out, int64_t out_stride, cudaStream_t stream);
// Decode path (few tokens): h[t*k+j][f] = silu(gate_e[f] . x[t]) * (up_e[f] . x[t]) with e = topk_ids[t*k+j],
// then out[t][r] = sum_j topk_w * (down_e[r] . h[t*k+j]). Expert matrices stacked [E][rows][cols].
cudaError_t moe_experts_gate_up(const float* x, int64_t x_stride, int64_t n, int k, const int32_t* topk_ids,
                                const bf16* gate, const bf16* up, int64_t ff, int64_t d, float* h,
                                cudaStream_t stream, bool programmatic = false);
cudaError_t moe_experts_down(const float* h, int64_t n, int k, const int32_t* topk_ids, const float* topk_w,
                             const bf16* down, int64_t d, int64_t ff, float* out, int64_t out_stride,
                             cudaStream_t stream, bool programmatic = false);

// ---- benchmarks -----------------------------------------------------------
// Uniform values in [centre - half_width, centre + half_width] from a counter-based hash of (seed, index).
cudaError_t random_fill_bf16(bf16* p, int64_t n, uint64_t seed, float centre, float half_width, cudaStream_t stream);
cudaError_t random_fill_f32(float* p, int64_t n, uint64_t seed, float centre, float half_width, cudaStream_t stream);

}  // namespace folio::kernels::ops

namespace folio::kernels::ops {

// Exact attention for head dims the flash kernels do not take (<= 256, even):
// one warp per (query, head) walking the plan's blocks key by key with an
// online softmax in f32. Slow but simple; small test models (head_dim 16/32)
// use it. Cache layout as kv_store's; plan rows as attention_kernels.hpp
// (row_counts null = CSR).
// Attention evidence (attention_mass.cu): mass[i] += weight * (the softmax
// weight query q (f32 [n_heads][head_dim], at position n_keys - 1) gives key
// first + i, summed over the heads) for i < count; keys from a cache laid out as
// kv_store's. scratch: attention_mass_scratch_floats(n_keys, n_heads) floats.
size_t attention_mass_scratch_floats(int64_t n_keys, int n_heads);
cudaError_t attention_mass(const float* q, const bf16* k_cache, int64_t n_keys, int n_heads, int n_kv_heads,
                           int head_dim, float scale, int64_t first, int64_t count, float weight, float* mass,
                           float* scratch, cudaStream_t stream);
cudaError_t attention_generic(const bf16* q, int64_t q_stride, int64_t n_queries, int64_t q_offset, int n_heads,
                              int n_kv_heads, int head_dim, float scale, const bf16* k_cache, const bf16* v_cache,
                              const int32_t* row_offsets, const int32_t* row_counts, const int32_t* block_indices,
                              int query_block, bf16* o, int64_t o_stride, cudaStream_t stream);

}  // namespace folio::kernels::ops
