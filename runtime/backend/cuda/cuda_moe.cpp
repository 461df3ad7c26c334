// Mixture of experts on the GPU.
//
// Prefill (more than kGemvMaxRows tokens): the router GEMM and a routing kernel
// (softmax, top-k, renormalisation) give each token its experts; the expert
// token counts come back to the host (one small synchronous read per layer: the
// GEMM shapes depend on them), the (token, slot) pairs are grouped by expert in
// token order, the grouped rows are gathered once in bf16, and the experts run
// three batched cuBLAS GEMMs per bucket of experts with similar token counts
// (gate, up, down; SwiGLU in between; moe_buckets.hpp). A combine kernel sums
// each token's k expert outputs with its routing weights.
//
// Decode (a few tokens): no grouping and no host round trip. The routing kernel
// writes expert ids on the device and two fused kernels read just the chosen
// experts' rows straight from the stacked tensors (gate+up with SwiGLU, then
// down with the weighted sum over the k experts).
#include <algorithm>
#include <string>

#include "kernels/model_ops.hpp"
#include "runtime/backend/cuda/cuda_backend_impl.hpp"
#include "runtime/backend/moe_buckets.hpp"

namespace folio::cuda {

using backend::Act;
using backend::Weight;
using backend::WeightType;
namespace ops = kernels::ops;

void CudaBackendImpl::moe(const Act& x, const backend::MoeWeights& w, const backend::MoeParams& p, const Act& out,
                          backend::MoeStats* stats) {
  if (!w.router || !w.gate || !w.up || !w.down) fail(Errc::invalid_argument, "moe: missing expert tensors");
  const int64_t d = x.cols, E = w.router->rows, ff = w.gate->rows;
  if (p.n_used <= 0 || p.n_used > E || p.n_used > 32)
    fail(Errc::invalid_argument, "moe: experts used must be in 1..min(expert count, 32)");
  if (w.router->cols != d || w.gate->count != E || w.up->count != E || w.down->count != E || w.gate->cols != d ||
      w.up->rows != ff || w.up->cols != d || w.down->rows != d || w.down->cols != ff || out.rows != x.rows ||
      out.cols != d)
    fail(Errc::invalid_argument, "moe: expert tensors disagree with the router on the expert count or shape");
  if (w.gate->type != WeightType::bf16 || w.up->type != WeightType::bf16 || w.down->type != WeightType::bf16)
    fail(Errc::invalid_argument, "moe: expert tensors must be uploaded to this backend");
  if (x.rows == 0) return;
  backend::check_forced_experts(p.forced_experts, x.rows, p.n_used, E);
  forget_converted_input();
  if (x.rows <= ops::kGemvMaxRows)
    moe_decode(x, w, p, out, stats);
  else
    moe_prefill(x, w, p, out, stats);
  forget_converted_input();  // xb_ held the grouped tokens
}

const int32_t* CudaBackendImpl::upload_forced_experts(const backend::MoeParams& p, int64_t rows) {
  if (p.forced_experts.empty()) return nullptr;
  // A copy from pageable host memory cannot be recorded in a graph.
  if (capturing_) fail(Errc::invalid_argument, "moe: a routing replay cannot be recorded in a graph");
  int32_t* d = forced_.get(size_t(rows) * size_t(p.n_used), "routing replay");
  check(cudaMemcpyAsync(d, p.forced_experts.data(), p.forced_experts.size_bytes(), cudaMemcpyHostToDevice, stream_),
        "routing replay");
  return d;
}

void CudaBackendImpl::moe_decode(const Act& x, const backend::MoeWeights& w, const backend::MoeParams& p,
                                 const Act& out, backend::MoeStats* stats) {
  const int64_t n = x.rows, d = x.cols, E = w.router->rows, ff = w.gate->rows;
  const int K = p.n_used;
  float* logits = logits_.get(size_t(n * E), "router logits");
  gemm_f32_in(x.data, x.stride, n, *w.router, 0, logits, E);
  int32_t* ids = ids_.get(size_t(n * K), "expert ids");
  float* wts = wts_.get(size_t(n * K), "expert weights");
  int32_t* counts = nullptr;
  if (stats && !stats->tokens_per_expert.empty()) {
    if (pending_dirty_ && (pending_stats_.data() != stats->tokens_per_expert.data() ||
                           pending_stats_.size() != stats->tokens_per_expert.size()))
      synchronize();  // another counter array: settle the pending one first
    // The counts are zero whenever nothing is pending (flush_stats zeroes them
    // after reading), so the route kernel adds to them with no memset between
    // the router GEMV and it: the four MoE kernels follow each other directly
    // (programmatic launch). Fresh storage is zeroed once here.
    const size_t capacity = pending_counts_.capacity();
    counts = pending_counts_.get(size_t(E), "expert counts");
    if (pending_counts_.capacity() != capacity)
      check(cudaMemsetAsync(counts, 0, pending_counts_.capacity() * 4, stream_), "memset");
    pending_stats_ = stats->tokens_per_expert;
    pending_dirty_ = true;
  }
  const int32_t* forced = upload_forced_experts(p, n);  // a copy: breaks the programmatic chain, only in checks
  check(ops::moe_route(logits, n, int(E), K, p.normalize_topk, forced, ids, wts, counts, stream_, pdl_), "moe route");
  float* h = g_.get(size_t(n * K * ff), "expert hidden");
  check(ops::moe_experts_gate_up(x.data, x.stride, n, K, ids, static_cast<const bf16*>(w.gate->data),
                                 static_cast<const bf16*>(w.up->data), ff, d, h, stream_, pdl_),
        "experts gate/up");
  check(ops::moe_experts_down(h, n, K, ids, wts, static_cast<const bf16*>(w.down->data), d, ff, out.data, out.stride,
                              stream_, pdl_),
        "experts down");
}

void CudaBackendImpl::flush_stats() {
  if (!pending_dirty_) return;
  const size_t E = pending_stats_.size();
  int32_t* host = host_counts_.get(E);
  check(cudaMemcpyAsync(host, pending_counts_.get(E, "expert counts"), E * 4, cudaMemcpyDeviceToHost, stream_),
        "expert counts");
  check(cudaStreamSynchronize(stream_), "expert counts");
  for (size_t e = 0; e < E; ++e) pending_stats_[e] += host[e];
  pending_dirty_ = false;
  // Zero again for the next decode calls (moe_decode relies on it); queued
  // after the read, before any later work of the stream.
  check(cudaMemsetAsync(pending_counts_.get(E, "expert counts"), 0, E * 4, stream_), "memset");
}

void CudaBackendImpl::moe_prefill(const Act& x, const backend::MoeWeights& w, const backend::MoeParams& p,
                                  const Act& out, backend::MoeStats* stats) {
  const int64_t n = x.rows, d = x.cols, E = w.router->rows, ff = w.gate->rows;
  const int K = p.n_used;
  const int64_t slots = n * K;
  float* logits = logits_.get(size_t(n * E), "router logits");
  gemm_f32_in(x.data, x.stride, n, *w.router, 0, logits, E);
  int32_t* ids = ids_.get(size_t(slots), "expert ids");
  float* wts = wts_.get(size_t(slots), "expert weights");
  int32_t* counts = counts_.get(size_t(E), "expert counts");
  check(cudaMemsetAsync(counts, 0, size_t(E) * 4, stream_), "memset");
  check(ops::moe_route(logits, n, int(E), K, p.normalize_topk, upload_forced_experts(p, n), ids, wts, counts,
                       stream_),
        "moe route");
  // The GEMM shapes depend on the counts: read them (E ints) and wait.
  int32_t* host = host_counts_.get(size_t(2 * E));
  check(cudaMemcpyAsync(host, counts, size_t(E) * 4, cudaMemcpyDeviceToHost, stream_), "expert counts");
  check(cudaStreamSynchronize(stream_), "expert counts");
  int64_t routed = 0;
  for (int64_t e = 0; e < E; ++e) {
    routed += host[e];
    if (stats && size_t(e) < stats->tokens_per_expert.size()) stats->tokens_per_expert[size_t(e)] += host[e];
  }
  if (routed != slots)
    fail(Errc::internal, "moe: routing produced " + std::to_string(routed) + " of " + std::to_string(slots) +
                             " expert slots");
  // The expert GEMMs as a few batched GEMMs: experts bucketed by token count,
  // each padded to its bucket's largest (runtime/backend/moe_buckets.hpp says
  // why and how many).
  const std::vector<int64_t> per_expert(host, host + E);
  const backend::MoeBuckets plan =
      backend::plan_moe_buckets(per_expert, backend::kMoeMaxBuckets, backend::moe_bucket_cost_rows(slots));
  const int64_t rows_total = plan.rows_total;
  int32_t* host_offsets = host + E;
  for (int64_t e = 0; e < E; ++e) host_offsets[e] = int32_t(plan.offset[size_t(e)]);
  int32_t* offsets = offsets_.get(size_t(E), "expert offsets");
  check(cudaMemcpyAsync(offsets, host_offsets, size_t(E) * 4, cudaMemcpyHostToDevice, stream_), "expert offsets");
  int32_t* row_token = row_token_.get(size_t(rows_total), "grouped rows");
  int32_t* slot_row = slot_row_.get(size_t(slots), "slot rows");
  if (rows_total > slots)  // padding rows: token -1 (gathered as zeros)
    check(cudaMemsetAsync(row_token, 0xff, size_t(rows_total) * 4, stream_), "memset");
  check(ops::moe_group(ids, n, K, int(E), offsets, row_token, slot_row, stream_), "moe group");
  // The tokens in bf16 first: each is read k times by the gather, and at bf16
  // a prefill chunk's tokens fit in L2.
  bf16* xt = xt_.get(size_t(n * d), "tokens in bf16");
  check(ops::f32_to_bf16(x.data, x.stride, n, d, xt, d, stream_), "tokens to bf16");
  bf16* xs = xb_.get(size_t(rows_total * d), "grouped tokens");
  check(ops::gather_rows_bf16(xt, d, d, row_token, rows_total, xs, stream_), "moe gather");
  // Expert intermediates in bf16 (f32 accumulation inside the GEMMs): they are
  // the bulk of the MoE's memory traffic, and the next GEMM rounds its input to
  // bf16 anyway.
  bf16* g = gb_.get(size_t(rows_total * ff), "expert gate");
  bf16* u = ub_.get(size_t(rows_total * ff), "expert up");
  bf16* h = hb_.get(size_t(rows_total * ff), "expert hidden");
  bf16* ys = yb_.get(size_t(rows_total * d), "expert outputs");
  const auto* gate = static_cast<const bf16*>(w.gate->data);
  const auto* up = static_cast<const bf16*>(w.up->data);
  const auto* down = static_cast<const bf16*>(w.down->data);
  // The batched GEMMs' operand pointers, one array per operand in bucket
  // order, staged in pinned memory and copied in one transfer. The pinned
  // buffer is rewritten only after the next layer's count read, which waits
  // for this copy.
  enum Operand { kGate, kUp, kDown, kTokens, kGateOut, kUpOut, kHidden, kOut, kOperands };
  const size_t m = plan.order.size();
  const void** host_ptrs = host_ptrs_.get(kOperands * m);
  for (size_t i = 0; i < m; ++i) {
    const int64_t e = plan.order[i], off = plan.offset[size_t(e)];
    const void* at[kOperands] = {gate + e * ff * d, up + e * ff * d, down + e * d * ff, xs + off * d,
                                 g + off * ff,      u + off * ff,    h + off * ff,      ys + off * d};
    for (int o = 0; o < kOperands; ++o) host_ptrs[size_t(o) * m + i] = at[o];
  }
  const void** ptrs = gemm_ptrs_.get(kOperands * m, "expert GEMM operands");
  check(cudaMemcpyAsync(ptrs, host_ptrs, kOperands * m * sizeof(void*), cudaMemcpyHostToDevice, stream_),
        "expert GEMM operands");
  const float alpha = 1.0f, beta = 0.0f;
  // out[r][0..rows) = in[r] . W[0..rows) for the bucket's experts: column-major
  // OUT (rows x bucket rows) = W^T-as-stored (k x rows)^T * IN (k x bucket rows).
  auto batched = [&](const backend::MoeBucket& bk, Operand wt, Operand in, Operand o, int64_t rows, int64_t k,
                     const char* what) {
    const void* const* base = ptrs + bk.first;
    check_cublas(cublasGemmBatchedEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), int(bk.rows), int(k), &alpha,
                                     base + size_t(wt) * m, CUDA_R_16BF, int(k), base + size_t(in) * m, CUDA_R_16BF,
                                     int(k), &beta, const_cast<void* const*>(base + size_t(o) * m), CUDA_R_16BF,
                                     int(rows), bk.count, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 what);
  };
  for (const backend::MoeBucket& bk : plan.buckets) {
    batched(bk, kGate, kTokens, kGateOut, ff, d, "expert gate GEMMs");
    batched(bk, kUp, kTokens, kUpOut, ff, d, "expert up GEMMs");
  }
  check(ops::silu_mul_bf16(g, u, rows_total * ff, h, stream_), "silu");
  for (const backend::MoeBucket& bk : plan.buckets) batched(bk, kDown, kHidden, kOut, d, ff, "expert down GEMMs");
  check(ops::moe_combine(ys, d, slot_row, wts, n, K, out.data, out.stride, stream_), "moe combine");
}

}  // namespace folio::cuda
