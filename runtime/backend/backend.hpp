// Backend: the narrow set of operations a transformer forward pass needs.
//
// The model code (runtime/model) is written once against this interface; the CPU
// backend (runtime/backend/cpu) is the exact f32 oracle and the CUDA backend
// (runtime/backend/cuda) must match it within stated tolerances.
//
// Memory model. Every tensor an operation touches lives in the backend's memory
// (host memory for the CPU backend, device memory for CUDA):
//   * Weights are uploaded once (`upload`) and referenced through a `Weight`,
//     which keeps the stored element type (F32/F16/BF16/Q8_0): matmuls read the
//     stored type directly, there is no f32 copy of the model.
//   * Activations are f32 row-major matrices (`Act`), one row per token, in
//     buffers the backend allocates (`alloc`). Only logits (and test inputs)
//     cross to the host, through `to_host` / `from_host`.
//   * The KV cache is created by the backend (`make_kv_cache`) so it lives where
//     attention runs; it is paged in blocks of kv::kBlockTokens tokens, each block
//     with a per-KV-head summary that the sparse-attention planner scores.
// Operations may run asynchronously (CUDA streams); `to_host` synchronises.
//
// Token positions are absolute positions in the sequence; a batch of n rows
// handed to `kv_write` / `attention` covers positions pos0 .. pos0+n-1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "runtime/attention/config.hpp"
#include "runtime/common/error.hpp"
#include "runtime/attention/plan.hpp"
#include "runtime/kv/kv_config.hpp"

namespace folio::backend {

// Element type a weight is stored in. Values match the GGUF/ggml type numbers.
enum class WeightType : uint32_t { f32 = 0, f16 = 1, q8_0 = 8, bf16 = 30 };
inline const char* weight_type_name(WeightType t) noexcept {
  switch (t) {
    case WeightType::f32: return "f32";
    case WeightType::f16: return "f16";
    case WeightType::q8_0: return "q8_0";
    case WeightType::bf16: return "bf16";
  }
  return "?";
}
// Bytes of one row of `cols` elements (cols must be a multiple of 32 for q8_0:
// blocks of one f16 scale + 32 int8).
inline size_t weight_row_bytes(WeightType t, int64_t cols) {
  switch (t) {
    case WeightType::f32: return size_t(cols) * 4;
    case WeightType::f16:
    case WeightType::bf16: return size_t(cols) * 2;
    case WeightType::q8_0: return size_t(cols) / 32 * 34;
  }
  return 0;
}

// A weight as it lies in host memory (e.g. inside an mmap'd GGUF file): `count`
// matrices (experts; 1 for ordinary weights), each `rows` x `cols`, row-major,
// rows contiguous. For a projection y = W x, rows = output features and
// cols = input features (GGUF shape {cols, rows, count}).
struct HostWeight {
  std::string name;
  WeightType type = WeightType::f32;
  int64_t count = 1, rows = 0, cols = 0;
  std::span<const std::byte> bytes;  // exactly count * rows * weight_row_bytes(type, cols)
};

// A weight in backend memory. `data` is a host pointer for the CPU backend and a
// device pointer for CUDA; `keep` owns whatever must outlive it (nothing when the
// CPU backend borrows the mmap'd file, which must then outlive the weight).
struct Weight {
  std::string name;
  WeightType type = WeightType::f32;
  int64_t count = 1, rows = 0, cols = 0;
  const void* data = nullptr;
  size_t row_bytes = 0;  // weight_row_bytes(type, cols)
  std::shared_ptr<const void> keep;

  const std::byte* matrix(int64_t i) const {
    return static_cast<const std::byte*>(data) + size_t(i) * size_t(rows) * row_bytes;
  }
  bool empty() const noexcept { return data == nullptr; }
};

// A dense row-major f32 matrix view in backend memory: `rows` tokens x `cols`
// features, consecutive rows `stride` floats apart (stride >= cols).
struct Act {
  float* data = nullptr;
  int64_t rows = 0, cols = 0, stride = 0;

  float* row(int64_t r) const { return data + r * stride; }
  // Rows [first, first + n) as a view.
  Act slice_rows(int64_t first, int64_t n) const { return {data + first * stride, n, cols, stride}; }
  // Columns [first, first + n) of every row (a head, or q within a fused qkv).
  Act slice_cols(int64_t first, int64_t n) const { return {data + first, rows, n, stride}; }
};

// Backend memory holding f32 values; freed by the backend's deleter.
struct Buffer {
  std::shared_ptr<float> ptr;
  int64_t n_floats = 0;

  // A rows x cols view at the start of the buffer (rows * cols <= n_floats).
  Act view(int64_t rows, int64_t cols) const { return {ptr.get(), rows, cols, cols}; }
};

struct RopeParams {
  enum class Style { neox, interleaved };  // neox: rotate halves (qwen3); interleaved: pairs (llama.cpp llama)
  Style style = Style::neox;
  float theta = 10000.0f;
  int rot_dims = 0;  // leading dims of each head rotated; 0 = the whole head
};

// One projection of a shared input: y = x W^T (matmul_shared_input).
struct Projection {
  const Weight* w = nullptr;
  Act y;
};

struct MoeWeights {
  const Weight* router = nullptr;  // [n_expert rows][d cols], f32 logits
  const Weight* gate = nullptr;    // count = n_expert, [ff][d]
  const Weight* up = nullptr;      // count = n_expert, [ff][d]
  const Weight* down = nullptr;    // count = n_expert, [d][ff]
};

struct MoeParams {
  int n_used = 8;              // experts per token (top-k of the router softmax)
  bool normalize_topk = true;  // renormalise the k chosen probabilities to sum to 1
  // Routing replay: when not empty, rows x n_used expert ids (host memory, row
  // by row) used instead of the router's top-k; the weights are still the
  // router's probabilities of those experts (renormalised as above). Two
  // backends whose rounding differs can move a near-tied expert choice across
  // the top-k boundary, and one moved choice changes that token's K/V and so
  // every later token; replaying one backend's routing in the other compares
  // their arithmetic alone (tests/cuda/cuda_backend_check.cpp). Ids must be in
  // [0, expert count) and distinct within a row.
  std::span<const int32_t> forced_experts;
};

// Checks a routing replay against the problem's shape; throws naming the row.
inline void check_forced_experts(std::span<const int32_t> forced, int64_t rows, int n_used, int64_t n_expert) {
  if (forced.empty()) return;
  if (forced.size() != size_t(rows) * size_t(n_used))
    fail(Errc::invalid_argument, "moe: routing replay holds " + std::to_string(forced.size()) + " ids, expected " +
                                     std::to_string(rows) + " rows x " + std::to_string(n_used));
  for (int64_t r = 0; r < rows; ++r)
    for (int i = 0; i < n_used; ++i) {
      const int32_t e = forced[size_t(r * n_used + i)];
      bool repeated = false;
      for (int j = 0; j < i; ++j) repeated |= forced[size_t(r * n_used + j)] == e;
      if (e < 0 || e >= n_expert || repeated)
        fail(Errc::invalid_argument, "moe: routing replay row " + std::to_string(r) + ": expert id " +
                                         std::to_string(e) + (repeated ? " repeated" : " out of range"));
    }
}

// Optional routing statistics (host memory): tokens routed to each expert.
struct MoeStats {
  std::span<int64_t> tokens_per_expert;
};

struct AttentionParams {
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 0.0f;  // usually 1/sqrt(head_dim)
};

// Keys/values of all layers of one sequence, in backend memory, paged in blocks
// of kv::kBlockTokens tokens with per-block summaries (see runtime/kv).
class KvCache {
 public:
  virtual ~KvCache() = default;
  virtual const kv::CacheConfig& config() const noexcept = 0;
  // Tokens stored (positions 0 .. size()-1), counted on layer 0.
  virtual int64_t size() const noexcept = 0;
  // Forgets positions >= n_tokens (n_tokens <= size()).
  virtual void truncate(int64_t n_tokens) = 0;

  // A cache with the same contents that then evolves on its own (a forked
  // conversation): writes to either are never seen by the other. A backend
  // with paged memory shares the full blocks instead of copying them (see
  // kv::PagedCache). Null when the backend cannot fork: the caller recomputes.
  // Serialise with this cache's writes, like any mutation.
  virtual std::unique_ptr<KvCache> fork() { return nullptr; }

  // Memory this cache holds, for reports and tests.
  struct Memory {
    size_t bytes = 0;         // everything this cache references
    size_t shared_bytes = 0;  // of which also referenced by another cache now
    size_t family_bytes = 0;  // distinct bytes of this cache, its origin and all forks
  };
  virtual Memory memory() const noexcept { return {}; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const noexcept = 0;

  // --- memory --------------------------------------------------------------
  virtual Buffer alloc(int64_t n_floats) = 0;
  virtual Weight upload(const HostWeight& w) = 0;
  virtual std::unique_ptr<KvCache> make_kv_cache(const kv::CacheConfig& config) = 0;
  virtual void to_host(const Act& src, std::span<float> dst) = 0;    // dst: rows*cols, packed
  virtual void from_host(std::span<const float> src, const Act& dst) = 0;

  // --- element-wise and normalisation --------------------------------------
  // out[i] = row `ids[i]` of `table` ([vocab][d]) as f32.
  virtual void embed(const Weight& table, std::span<const int32_t> ids, const Act& out) = 0;
  // y = rmsnorm(x) * gamma over each row (gamma: 1 row of x.cols). y may alias x.
  virtual void rms_norm(const Act& x, const Weight& gamma, float eps, const Act& y) = 0;
  // In place: RMSNorm of each head_dim slice of each row, with gamma of length
  // head_dim (qwen3's q_norm / k_norm, applied before RoPE).
  virtual void head_rms_norm(const Act& x, int head_dim, const Weight& gamma, float eps) = 0;
  // In place: rotary embedding of every head of every row; row r is at position pos0 + r.
  virtual void rope(const Act& x, int head_dim, int64_t pos0, const RopeParams& p) = 0;
  // y += x
  virtual void add(const Act& y, const Act& x) = 0;
  // y += x, then out = rmsnorm(y) * gamma: a residual step and the norm after
  // it, which a backend may do in one pass. out may alias x.
  virtual void add_rms_norm(const Act& y, const Act& x, const Weight& gamma, float eps, const Act& out) {
    add(y, x);
    rms_norm(y, gamma, eps, out);
  }
  // head_rms_norm then rope, which a backend may do in one pass.
  virtual void head_norm_rope(const Act& x, int head_dim, const Weight& gamma, float eps, int64_t pos0,
                              const RopeParams& p) {
    head_rms_norm(x, head_dim, gamma, eps);
    rope(x, head_dim, pos0, p);
  }

  // --- matmuls -------------------------------------------------------------
  // y = x W^T: x [n][w.cols], y [n][w.rows]; matrix `index` of a stacked weight.
  virtual void matmul(const Act& x, const Weight& w, const Act& y, int64_t index = 0) = 0;
  // matmul of one x by several weights (the q, k and v projections of a
  // layer), which a backend may run as one pass over the weights. The outputs
  // must not overlap x or each other.
  virtual void matmul_shared_input(const Act& x, std::span<const Projection> out) {
    for (const Projection& p : out) matmul(x, *p.w, p.y);
  }
  // Dense SwiGLU feed-forward: out = down(silu(gate x) * up x).
  virtual void ffn_swiglu(const Act& x, const Weight& gate, const Weight& up, const Weight& down,
                          const Act& out) = 0;
  // Mixture of experts: router softmax, top-k (ties to the lower index),
  // optional renormalisation, SwiGLU experts weighted and summed into out.
  // Tokens are grouped by expert so each expert runs one GEMM per batch.
  virtual void moe(const Act& x, const MoeWeights& w, const MoeParams& p, const Act& out,
                   MoeStats* stats = nullptr) = 0;

  // --- attention -----------------------------------------------------------
  // Stores k, v ([n][n_kv_heads*head_dim]) of `layer` at positions pos0..pos0+n-1
  // and updates the block summaries of the blocks they touch.
  virtual void kv_write(KvCache& cache, int layer, int64_t pos0, const Act& k, const Act& v) = 0;
  // qwen3's attention input: head_norm_rope of q (gain q_norm) and of k
  // (k_norm), then kv_write of k and v, which a backend may do in one pass for
  // a decode step. q and k are rotated in place, as by the separate calls.
  virtual void qk_norm_rope_kv_write(const Act& q, const Act& k, const Act& v, int head_dim, const Weight& q_norm,
                                     const Weight& k_norm, float eps, int64_t pos0, const RopeParams& p,
                                     KvCache& cache, int layer) {
    head_norm_rope(q, head_dim, q_norm, eps, pos0, p);
    head_norm_rope(k, head_dim, k_norm, eps, pos0, p);
    kv_write(cache, layer, pos0, k, v);
  }
  // out = softmax(q K^T * scale) V per query head, GQA (query head h reads KV
  // head h / (n_heads / n_kv_heads)), causal: query row r (position pos0 + r)
  // sees cache positions 0 .. pos0 + r. With `plan`, only the KV blocks (and
  // global positions) the plan lists for each query block and KV head are read;
  // without, every block (dense, exact).
  virtual void attention(const Act& q, KvCache& cache, int layer, int64_t pos0,
                         const AttentionParams& p, const Act& out, const attn::Plan* plan = nullptr) = 0;

  // Attention evidence (optional: false when the backend does not measure it).
  // Adds to mass[i] (one row of floats in this backend's memory) `weight` times
  // the exact softmax weight that query row 0 of q, at position pos of `layer`,
  // gives cache position first + i (keys 0..pos; every query head, GQA as in
  // attention()), summed over the heads; positions past pos get nothing.
  virtual bool attention_mass(const Act& q, KvCache& cache, int layer, int64_t pos, const AttentionParams& p,
                              int64_t first, float weight, const Act& mass) {
    (void)q, (void)cache, (void)layer, (void)pos, (void)p, (void)first, (void)weight, (void)mass;
    return false;
  }

  // Sparse-attention plan for queries q (after RoPE) at positions pos0.. over
  // the cache of `layer` (K/V of these queries already written): scores the
  // cache's block summaries and picks sink, window, global and top-k blocks
  // (runtime/attention/planner.hpp). config.dense gives the dense plan.
  virtual attn::Plan plan_attention(const Act& q, KvCache& cache, int layer, int64_t pos0, const AttentionParams& p,
                                    std::span<const int32_t> global_positions, const attn::SparseConfig& config) = 0;

  // Sparse attention in one call: plan_attention, then attention over that
  // plan. A backend that plans on the device overrides it to keep the plan
  // there (no host round trip per layer); it computes the same function.
  virtual void attention_sparse(const Act& q, KvCache& cache, int layer, int64_t pos0, const AttentionParams& p,
                                std::span<const int32_t> global_positions, const attn::SparseConfig& config,
                                const Act& out) {
    const attn::Plan plan = plan_attention(q, cache, layer, pos0, p, global_positions, config);
    attention(q, cache, layer, pos0, p, out, &plan);
  }

  // Blocks until queued work is done.
  virtual void synchronize() = 0;
};

}  // namespace folio::backend
