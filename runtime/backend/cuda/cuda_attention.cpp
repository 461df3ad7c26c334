// Attention on the GPU through the block-sparse flash kernels
// (kernels/attention_kernels.hpp): queries are rounded to bf16, the plan is
// either the caller's host plan (uploaded as CSR), the dense plan (built on the
// device) or the GPU planner's sparse plan (attention_config()), and the
// output is widened back to f32. One query row uses the flash-decoding kernel;
// more use the prefill kernel.
#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "kernels/attention_kernels.hpp"
#include "kernels/model_ops.hpp"
#include "runtime/attention/plan.hpp"
#include "runtime/backend/cuda/cuda_backend_impl.hpp"

namespace folio::cuda {

using backend::Act;
namespace ops = kernels::ops;

namespace {
// Bound on the planner's score workspace (floats) for very long contexts.
constexpr int64_t kMaxScoreFloats = int64_t(1) << 24;
}  // namespace

void CudaBackendImpl::attention(const Act& q, backend::KvCache& cache, int layer, int64_t pos0,
                                const backend::AttentionParams& p, const Act& out, const attn::Plan* plan) {
  const bool q_converted = qb_key_ == ConvertedInput{q.data, q.rows, q.cols, q.stride} && q.data != nullptr;
  forget_converted_input();
  CudaKvCache& c = cuda_cache(cache);
  const int H = p.n_heads, HK = p.n_kv_heads, D = p.head_dim;
  if (H <= 0 || HK <= 0 || H % HK != 0)
    fail(Errc::invalid_argument, "attention: n_heads must be a multiple of n_kv_heads");
  if (HK != c.config().n_kv_heads || D != c.config().head_dim)
    fail(Errc::invalid_argument, "attention: head shape differs from the KV cache's");
  // The flash kernels take head_dim 64/128 and up to 16 query heads per KV
  // head; anything else runs the exact generic kernel (small test models).
  const bool flash = (D == 64 || D == 128) && H / HK <= 16;
  if (!flash && (D > 256 || D % 2 != 0))
    fail(Errc::unsupported, "cuda attention: head_dim " + std::to_string(D) + " (at most 256, even)");
  if (q.cols != int64_t(H) * D || out.cols != int64_t(H) * D || out.rows != q.rows)
    fail(Errc::invalid_argument, "attention: q/out must be [n][n_heads*head_dim]");
  if (layer < 0 || layer >= c.config().n_layers) fail(Errc::invalid_argument, "attention: layer out of range");
  const int64_t n = q.rows;
  if (n == 0) return;
  if (pos0 < 0 || pos0 + n > c.size(layer))
    fail(Errc::invalid_argument, "attention: queries past the cached keys (write K/V first)");
  const int64_t n_keys = pos0 + n;  // causal: nothing past the last query is visible
  const int64_t n_blocks = kv::blocks_for(n_keys);
  const int64_t qd = int64_t(H) * D;

  bf16* qb = qb_.get(size_t(n * qd), "attention queries");
  if (!q_converted) check(ops::f32_to_bf16(q.data, q.stride, n, qd, qb, qd, stream_), "queries to bf16");
  // A prefill's output goes to xb_, where the output projection's matmul finds
  // it already in bf16 (xb_key_, set below).
  const bool keep_output = n > ops::kGemvMaxRows;
  bf16* ob = keep_output ? xb_.get(size_t(n * qd), "matmul input") : ob_.get(size_t(n * qd), "attention output");

  // --- the plan ---------------------------------------------------------------
  const bool decode = n == 1;
  bool output_in_f32 = false;  // the decode kernels write out directly (no conversion launch)
  bool all_blocks = false;     // dense decode: no plan (every block, DecodeArgs::all_blocks)
  bool fused = false;          // the fused sparse decode step did it all
  kernels::DevicePlan dp;
  int max_row_blocks = 0;
  if (plan != nullptr) {
    if (plan->n_queries != n || plan->q_offset != pos0 || plan->n_kv_heads != HK || plan->n_keys < n_keys)
      fail(Errc::invalid_argument, "attention: the plan is for another chunk (queries " +
                                       std::to_string(plan->n_queries) + " at " + std::to_string(plan->q_offset) +
                                       ", " + std::to_string(plan->n_kv_heads) + " KV heads)");
    attn::validate(*plan);
    const size_t rows = plan->row_offsets.size(), entries = plan->block_indices.size();
    int32_t* offs = plan_offsets_.get(rows, "plan offsets");
    int32_t* idx = plan_indices_.get(std::max<size_t>(entries, 1), "plan blocks");
    check(cudaMemcpyAsync(offs, plan->row_offsets.data(), rows * 4, cudaMemcpyHostToDevice, stream_), "plan upload");
    if (entries)
      check(cudaMemcpyAsync(idx, plan->block_indices.data(), entries * 4, cudaMemcpyHostToDevice, stream_),
            "plan upload");
    for (size_t r = 0; r + 1 < rows; ++r)
      max_row_blocks = std::max(max_row_blocks, plan->row_offsets[r + 1] - plan->row_offsets[r]);
    dp = {offs, nullptr, idx, plan->query_block};
  } else if (decode && flash && attn_config_.dense) {
    // every block, in order: the decode kernel needs no plan (DecodeArgs::all_blocks)
    all_blocks = true;
    max_row_blocks = int(n_blocks);
  } else if (attn_config_.dense || !flash) {  // prefill, or the generic kernel
    const int query_block = decode ? 1 : 64;
    const int64_t rows = (n + query_block - 1) / query_block * HK;
    int32_t* offs = plan_offsets_.get(size_t(rows), "plan offsets");
    int32_t* counts = plan_counts_.get(size_t(rows), "plan counts");
    int32_t* idx = plan_indices_.get(size_t(rows * n_blocks), "plan blocks");
    check(ops::dense_plan(n, pos0, query_block, HK, int(n_blocks), offs, counts, idx, stream_), "dense plan");
    max_row_blocks = int(n_blocks);
    dp = {offs, counts, idx, query_block};
  } else if (decode && fused_sparse_decode(qb, ob, out.data, c, layer, n_keys, p, sparse_globals_, attn_config_)) {
    // planned and attended in one launch, the output written in f32
    output_in_f32 = fused = true;
  } else {
    dp = device_sparse_plan(qb, c, layer, pos0, n, n_keys, p, sparse_globals_, attn_config_, &max_row_blocks);
  }

  // --- the kernels --------------------------------------------------------------
  if (fused) {
    // the fused sparse decode wrote out
  } else if (!flash) {
    const CudaKvCache& cc = c;
    check(ops::attention_generic(qb, qd, n, pos0, H, HK, D, p.scale, cc.keys(layer), cc.values(layer), dp.row_offsets,
                                 dp.row_counts, dp.block_indices, dp.query_block, ob, qd, stream_),
          "generic attention");
  } else if (decode) {
    kernels::DecodeArgs a;
    if (all_blocks) {
      a.all_blocks = true;
      a.n_keys = n_keys;
    } else {
      int32_t* seq_len = seq_len_.get(1, "sequence length");
      check(ops::fill_i32(seq_len, 1, int32_t(n_keys), stream_), "sequence length");
      a.seq_lens = seq_len;
    }
    a.q = qb;
    a.o = ob;
    a.q_token_stride = qd;
    a.o_token_stride = qd;
    a.o_f32 = out.data;
    a.o_f32_token_stride = out.stride;
    output_in_f32 = true;
    a.batch = 1;
    a.n_heads = H;
    a.n_kv_heads = HK;
    a.head_dim = D;
    a.scale = p.scale;
    a.kv = c.paged(layer);
    a.plan = dp;
    a.max_row_blocks = std::max(1, max_row_blocks);
    a.splits = kernels::decode_splits(1, HK, a.max_row_blocks, sm_count_);
    a.workspace = decode_ws_.get(kernels::decode_workspace_floats(1, H, D, a.splits), "decode workspace");
    check(kernels::attention_decode(a, stream_), "flash decode");
  } else {
    kernels::PrefillArgs a;
    a.q = qb;
    a.o = ob;
    a.q_token_stride = qd;
    a.o_token_stride = qd;
    a.n_queries = n;
    a.q_offset = pos0;
    a.n_keys = n_keys;
    a.n_heads = H;
    a.n_kv_heads = HK;
    a.head_dim = D;
    a.scale = p.scale;
    a.kv = c.paged(layer);
    a.plan = dp;
    check(kernels::attention_prefill(a, stream_), "flash prefill");
  }
  if (!output_in_f32) check(ops::bf16_to_f32(ob, qd, n, qd, out.data, out.stride, stream_), "attention output to f32");
  // out is ob widened, so ob is exactly what rounding out to bf16 gives.
  if (keep_output) xb_key_ = {out.data, n, qd, out.stride};
}

kernels::DevicePlan CudaBackendImpl::device_sparse_plan(const bf16* q, CudaKvCache& c, int layer, int64_t pos0,
                                                        int64_t n, int64_t n_keys, const backend::AttentionParams& p,
                                                        std::span<const int32_t> globals,
                                                        const attn::SparseConfig& cfg, int* capacity) {
  const int H = p.n_heads, HK = p.n_kv_heads, D = p.head_dim;
  const int64_t qd = int64_t(H) * D, n_blocks = kv::blocks_for(n_keys);
  const int query_block = n == 1 ? 1 : cfg.query_block;
  const int64_t n_qb = (n + query_block - 1) / query_block, rows = n_qb * HK;
  int64_t global_blocks = 0;
  const int32_t* first_global = upload_first_global(n_keys, globals, cfg, &global_blocks);
  const int cap =
      kernels::planner_row_capacity(n_keys, cfg.sink_blocks, cfg.window_tokens, cfg.topk_blocks, global_blocks);
  kernels::PlannerArgs a;
  a.q = q;
  a.q_token_stride = qd;
  a.n_queries = n;
  a.q_offset = pos0;
  a.n_keys = n_keys;
  a.n_heads = H;
  a.n_kv_heads = HK;
  a.head_dim = D;
  a.summaries = c.summaries(layer);
  a.first_global = first_global;
  a.query_block = query_block;
  a.sink_blocks = cfg.sink_blocks;
  a.window_tokens = cfg.window_tokens;
  a.topk_blocks = cfg.topk_blocks;
  a.row_capacity = cap;
  a.row_offsets = plan_offsets_.get(size_t(rows), "plan offsets");
  a.row_counts = plan_counts_.get(size_t(rows), "plan counts");
  a.block_indices = plan_indices_.get(size_t(rows * cap), "plan blocks");
  a.query_means = query_means_.get(size_t(n_qb * qd), "planner query means");
  a.score_rows = std::max<int64_t>(1, std::min(rows, kMaxScoreFloats / std::max<int64_t>(n_blocks, 1)));
  a.scores = scores_.get(size_t(a.score_rows * n_blocks), "planner scores");
  check(kernels::build_plan(a, stream_), "sparse planner");
  *capacity = cap;
  return {a.row_offsets, a.row_counts, a.block_indices, query_block};
}

const int32_t* CudaBackendImpl::upload_first_global(int64_t n_keys, std::span<const int32_t> globals,
                                                    const attn::SparseConfig& cfg, int64_t* global_blocks) {
  const int64_t n_blocks = kv::blocks_for(n_keys);
  // Global tokens: the first global position of each block (INT32_MAX: none).
  const int32_t* first_global = nullptr;
  *global_blocks = 0;
  if (cfg.use_global && !globals.empty()) {
    std::vector<int32_t> first(static_cast<size_t>(n_blocks), INT32_MAX);
    for (const int32_t g : globals)
      if (g >= 0 && g < n_keys) first[size_t(g / kv::kBlockTokens)] = std::min(first[size_t(g / kv::kBlockTokens)], g);
    *global_blocks = std::count_if(first.begin(), first.end(), [](int32_t v) { return v != INT32_MAX; });
    int32_t* dev = first_global_.get(size_t(n_blocks), "global positions");
    if (first != first_global_host_) {  // unchanged since the last layer: already on the device
      first_global_host_ = std::move(first);
      // From the member: it outlives the asynchronous copy until the next change,
      // and a change waits for the device below before overwriting it.
      check(cudaMemcpyAsync(dev, first_global_host_.data(), first_global_host_.size() * 4, cudaMemcpyHostToDevice,
                            stream_),
            "globals");
      check(cudaStreamSynchronize(stream_), "globals");
    }
    first_global = dev;
  }
  return first_global;
}

bool CudaBackendImpl::fused_sparse_decode(const bf16* q, bf16* ob, float* out, CudaKvCache& c, int layer,
                                          int64_t n_keys, const backend::AttentionParams& p,
                                          std::span<const int32_t> globals, const attn::SparseConfig& cfg) {
  const int64_t n_blocks = kv::blocks_for(n_keys);
  kernels::SparseDecodeArgs a;
  a.q = q;
  a.o = ob;
  a.o_f32 = out;
  a.n_keys = n_keys;
  a.n_heads = p.n_heads;
  a.n_kv_heads = p.n_kv_heads;
  a.head_dim = p.head_dim;
  a.scale = p.scale;
  a.kv = c.paged(layer);
  a.summaries = c.summaries(layer);
  a.sink_blocks = cfg.sink_blocks;
  a.window_tokens = cfg.window_tokens;
  a.topk_blocks = cfg.topk_blocks;
  a.row_capacity = 1;  // no plan is written
  FusedDecodeShape& f = fused_decode_shape_;
  if (f.n_heads != p.n_heads || f.n_kv_heads != p.n_kv_heads || f.head_dim != p.head_dim ||
      f.topk_blocks != cfg.topk_blocks || n_blocks > f.visible_limit) {
    // Asked for a context 4096 blocks (256K tokens) past this one, so that a
    // growing decode asks again only every 256K tokens.
    kernels::SparseDecodeArgs probe = a;
    const int64_t limit = (n_blocks / 4096 + 1) * 4096;
    probe.n_keys = std::min<int64_t>(limit * kv::kBlockTokens, int64_t(INT32_MAX) - 64);
    f = {p.n_heads, p.n_kv_heads, p.head_dim, cfg.topk_blocks, int(probe.n_keys / kv::kBlockTokens),
         kernels::sparse_decode_cluster_size(probe)};
    if (f.cluster == 0) {  // maybe a shorter context still fits: ask for this one alone
      f.visible_limit = int(n_blocks);
      f.cluster = kernels::sparse_decode_cluster_size(a);
    }
  }
  if (f.cluster == 0) return false;
  int64_t global_blocks = 0;
  a.first_global = upload_first_global(n_keys, globals, cfg, &global_blocks);
  check(kernels::sparse_decode(a, f.cluster, stream_), "fused sparse decode");
  return true;
}

bool CudaBackendImpl::attention_mass(const Act& q, backend::KvCache& cache, int layer, int64_t pos,
                                     const backend::AttentionParams& p, int64_t first, float weight, const Act& mass) {
  forget_converted_input();
  CudaKvCache& c = cuda_cache(cache);
  const int H = p.n_heads, HK = p.n_kv_heads, D = p.head_dim;
  if (H <= 0 || HK <= 0 || H % HK != 0 || H / HK > 16 || D % 2 != 0 || HK != c.config().n_kv_heads ||
      D != c.config().head_dim)
    fail(Errc::invalid_argument, "attention_mass: head shape differs from the KV cache's (or a group over 16 heads)");
  if (q.rows < 1 || q.cols != int64_t(H) * D || mass.rows != 1 || first < 0)
    fail(Errc::invalid_argument, "attention_mass: q must be a [1][n_heads*head_dim] row and mass one row");
  if (layer < 0 || layer >= c.config().n_layers || pos < 0 || pos >= c.size(layer))
    fail(Errc::invalid_argument, "attention_mass: position " + std::to_string(pos) + " is not cached");
  const int64_t n_keys = pos + 1;
  float* scratch = mass_scratch_.get(kernels::ops::attention_mass_scratch_floats(n_keys, H), "attention evidence");
  check(ops::attention_mass(q.data, c.keys(layer), n_keys, H, HK, D, p.scale, first, mass.cols, weight, mass.data,
                            scratch, stream_),
        "attention evidence");
  return true;
}

void CudaBackendImpl::attention_sparse(const Act& q, backend::KvCache& cache, int layer, int64_t pos0,
                                       const backend::AttentionParams& p, std::span<const int32_t> globals,
                                       const attn::SparseConfig& config, const Act& out) {
  const bool flash = (p.head_dim == 64 || p.head_dim == 128) && p.n_kv_heads > 0 && p.n_heads / p.n_kv_heads <= 16;
  if (config.dense || !flash) {  // the host plan path (dense, or the planner's own error for other heads)
    Backend::attention_sparse(q, cache, layer, pos0, p, globals, config, out);
    return;
  }
  attn::validate(config);
  // attention() without a plan runs the GPU planner on attention_config():
  // point it at this call's config and globals for the duration.
  const attn::SparseConfig saved = attn_config_;
  attn_config_ = config;
  sparse_globals_ = globals;
  try {
    attention(q, cache, layer, pos0, p, out, nullptr);
  } catch (...) {
    attn_config_ = saved;
    sparse_globals_ = {};
    throw;
  }
  attn_config_ = saved;
  sparse_globals_ = {};
}

attn::Plan CudaBackendImpl::plan_attention(const Act& q, backend::KvCache& cache, int layer, int64_t pos0,
                                           const backend::AttentionParams& p, std::span<const int32_t> globals,
                                           const attn::SparseConfig& config) {
  forget_converted_input();
  CudaKvCache& c = cuda_cache(cache);
  const int64_t n = q.rows, n_keys = c.size(layer);
  if (config.dense) return attn::make_dense_plan(n, pos0, n_keys, config.query_block, p.n_kv_heads);
  if (p.head_dim != 64 && p.head_dim != 128)
    fail(Errc::unsupported, "cuda plan_attention: the GPU planner takes head_dim 64 or 128");
  if (q.cols != int64_t(p.n_heads) * p.head_dim || pos0 + n > n_keys)
    fail(Errc::invalid_argument, "plan_attention: q must be [n][n_heads*head_dim] with its K/V cached");
  // The GPU planner scores by mean key (ScoreMode::mean_key) whatever config.score says.
  const int64_t qd = q.cols;
  bf16* qb = qb_.get(size_t(n * qd), "attention queries");
  check(ops::f32_to_bf16(q.data, q.stride, n, qd, qb, qd, stream_), "queries to bf16");
  int cap = 0;
  const kernels::DevicePlan dp = device_sparse_plan(qb, c, layer, pos0, n, n_keys, p, globals, config, &cap);
  attn::Plan plan;
  plan.n_queries = n;
  plan.q_offset = pos0;
  plan.n_keys = n_keys;
  plan.query_block = dp.query_block;
  plan.n_kv_heads = p.n_kv_heads;
  plan.global_positions.assign(globals.begin(), globals.end());
  std::sort(plan.global_positions.begin(), plan.global_positions.end());
  const int64_t rows = plan.n_rows();
  std::vector<int32_t> counts(static_cast<size_t>(rows)), fixed(static_cast<size_t>(rows * cap));
  check(cudaMemcpyAsync(counts.data(), dp.row_counts, counts.size() * 4, cudaMemcpyDeviceToHost, stream_), "plan");
  check(cudaMemcpyAsync(fixed.data(), dp.block_indices, fixed.size() * 4, cudaMemcpyDeviceToHost, stream_), "plan");
  check(cudaStreamSynchronize(stream_), "plan download");
  plan.row_offsets.assign(1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    plan.block_indices.insert(plan.block_indices.end(), fixed.begin() + r * cap, fixed.begin() + r * cap + counts[size_t(r)]);
    plan.row_offsets.push_back(int32_t(plan.block_indices.size()));
  }
  return plan;
}

}  // namespace folio::cuda
