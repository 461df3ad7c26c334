// A transformer (qwen3moe, qwen3, llama) on a Backend, and a Session that runs
// it over one token sequence with a KV cache.
//
//   auto file = std::make_shared<gguf::File>(gguf::File::open("m.gguf"));
//   auto be = cpu::make_cpu_backend();
//   model::Model m = model::Model::load(file, *be);
//   model::Session s(m, {.max_tokens = 4096});
//   std::span<const float> logits = s.prefill(prompt_ids);   // whole prompt, batched
//   logits = s.decode_step(next_id);                          // one token
//
// Weights are uploaded through the backend once; on the CPU they stay in the
// mmap'd file (the Model keeps the File alive).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/backend/backend.hpp"
#include "runtime/model/hparams.hpp"

namespace folio::gguf { class File; }

namespace folio::model {

using TokenId = int32_t;

struct LayerWeights {
  backend::Weight attn_norm, wq, wk, wv, wo, q_norm, k_norm, ffn_norm;
  backend::Weight ffn_gate, ffn_up, ffn_down;                     // dense
  backend::Weight router, gate_exps, up_exps, down_exps;          // moe
};

class Model {
 public:
  // Validates every tensor the architecture needs (presence, shape, type) and
  // uploads them. Errors name the file and the tensor.
  static Model load(std::shared_ptr<const gguf::File> file, backend::Backend& backend);

  const HParams& hparams() const noexcept { return hp_; }
  backend::Backend& backend() const noexcept { return *backend_; }
  const gguf::File& file() const noexcept { return *file_; }
  bool tied_output() const noexcept { return tied_output_; }
  // Weight type of the attention q projection of layer 0 (for reports).
  backend::WeightType weight_type() const noexcept { return layers_.front().wq.type; }

  const backend::Weight& token_embd() const noexcept { return token_embd_; }
  const backend::Weight& output_norm() const noexcept { return output_norm_; }
  const backend::Weight& output() const noexcept { return tied_output_ ? token_embd_ : output_; }
  const LayerWeights& layer(int i) const { return layers_.at(size_t(i)); }

 private:
  Model() = default;
  std::shared_ptr<const gguf::File> file_;
  backend::Backend* backend_ = nullptr;
  HParams hp_;
  bool tied_output_ = false;
  backend::Weight token_embd_, output_norm_, output_;
  std::vector<LayerWeights> layers_;
};

struct SessionOptions {
  SessionOptions() = default;
  SessionOptions(int64_t max_tokens_, int64_t prefill_chunk_ = 512, std::optional<attn::SparseConfig> sparse_ = {})
      : max_tokens(max_tokens_), prefill_chunk(prefill_chunk_), sparse(std::move(sparse_)) {}

  int64_t max_tokens = 0;      // KV capacity; 0 = the model's context_length
  int64_t prefill_chunk = 512; // tokens per forward batch; bounds activation memory
  // Attention: dense and exact by default. With a sparse config every layer
  // plans (sink, window, global and top-k blocks from the KV block summaries)
  // and attends only over the plan.
  std::optional<attn::SparseConfig> sparse;
};

// Per-session counters (host side) for reports and tests.
struct SessionStats {
  std::vector<int64_t> tokens_per_expert;  // summed over layers, all forwards so far
};

class Session {
 public:
  Session(const Model& model, const SessionOptions& options = {});
  ~Session();
  Session(Session&&) noexcept;

  // Appends `tokens` (batched, in chunks of prefill_chunk) and returns the
  // logits of the last one (n_vocab floats, valid until the next call).
  std::span<const float> prefill(std::span<const TokenId> tokens);
  // Same, returning the logits of every position ([tokens.size()][n_vocab]).
  std::vector<float> prefill_all(std::span<const TokenId> tokens);
  // Appends one token and returns its logits.
  std::span<const float> decode_step(TokenId token);

  int64_t n_past() const noexcept { return n_past_; }
  int64_t capacity() const noexcept { return max_tokens_; }
  // Forgets positions >= n (n <= n_past()).
  void truncate(int64_t n);
  void reset() { truncate(0); }
  // Continues after the KV cache was filled from outside the session (a snapshot
  // restored by runtime/store): positions 0 .. kv_cache().size()-1 count as done.
  void resume_from_cache() noexcept { n_past_ = cache_->size(); }
  // Replaces this session's (empty) KV cache by a fork of `origin`'s
  // (backend::KvCache::fork: full blocks shared) and continues after it. False,
  // and nothing changed, when the backend cannot fork its cache. Both sessions
  // must belong to the same model and have the same capacity; serialise with `origin`'s forward passes.
  bool fork_cache_from(Session& origin);

  const Model& model() const noexcept { return *model_; }
  backend::KvCache& kv_cache() noexcept { return *cache_; }
  const SessionStats& stats() const noexcept { return stats_; }
  // Absolute positions of global (anchor) tokens every sparse plan includes.
  void set_global_positions(std::vector<int32_t> positions) { globals_ = std::move(positions); }
  // Called in every forward pass, for each layer, after the batch's K/V were
  // written to the cache, with its queries (after RoPE, backend memory, one row
  // per token at positions pos0..). Lets the SDK measure where attention goes
  // (citation evidence) without a second forward pass. Empty: no call.
  using QueryObserver = std::function<void(int layer, const backend::Act& q, int64_t pos0)>;
  void set_query_observer(QueryObserver observer) { observer_ = std::move(observer); }

 private:
  // Runs one batch (<= prefill_chunk tokens). Writes logits of the last row, or
  // of all rows when `all` is non-null.
  void forward(std::span<const TokenId> tokens, std::vector<float>* all);

  const Model* model_;
  int64_t max_tokens_ = 0, chunk_ = 0, n_past_ = 0;
  std::unique_ptr<backend::KvCache> cache_;
  backend::Buffer x_, h_, q_, k_, v_, att_, f_, logits_;
  std::vector<float> last_logits_;
  SessionStats stats_;
  std::optional<attn::SparseConfig> sparse_;
  std::vector<int32_t> globals_;
  QueryObserver observer_;
};

}  // namespace folio::model
