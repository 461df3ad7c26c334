// Hyper-parameters of a transformer read from GGUF metadata, with the keys and
// tensor names llama.cpp uses, so files people already have load.
#pragma once

#include <cstdint>
#include <string>

namespace folio::gguf { class File; }

namespace folio::model {

enum class Arch { qwen3moe, qwen3, llama };
const char* arch_name(Arch a) noexcept;

struct HParams {
  Arch arch = Arch::qwen3moe;
  int n_layers = 0;
  int d_model = 0;        // <arch>.embedding_length
  int n_heads = 0;        // <arch>.attention.head_count
  int n_kv_heads = 0;     // <arch>.attention.head_count_kv (defaults to n_heads)
  int head_dim = 0;       // <arch>.attention.key_length (defaults to d_model / n_heads)
  int64_t n_vocab = 0;    // rows of token_embd.weight
  int64_t context_length = 0;
  float rope_theta = 10000.0f;
  float rms_eps = 1e-6f;
  // Dense feed-forward (qwen3, llama).
  int ff = 0;             // <arch>.feed_forward_length
  // Mixture of experts (qwen3moe).
  int n_expert = 0;       // <arch>.expert_count
  int n_expert_used = 0;  // <arch>.expert_used_count
  int expert_ff = 0;      // <arch>.expert_feed_forward_length
  bool norm_topk = true;  // <arch>.expert_weights_norm (Qwen3-MoE's norm_topk_prob)
  bool qk_norm = false;   // per-head RMSNorm of q and k before RoPE (qwen3, qwen3moe)

  bool is_moe() const noexcept { return n_expert > 0; }
  // Total parameters (for reports), counting the output matrix once if tied.
  int64_t n_params(bool tied_output) const noexcept;
  // Parameters touched per token (top-k experts only).
  int64_t n_active_params(bool tied_output) const noexcept;
};

// Reads general.architecture and the <arch>.* keys; throws folio::Error naming
// the file and the key when one is missing or out of range. n_vocab comes from
// the token_embd.weight tensor.
HParams read_hparams(const gguf::File& file);

}  // namespace folio::model
