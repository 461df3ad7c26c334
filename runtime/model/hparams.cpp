#include "runtime/model/hparams.hpp"

#include <string>

#include "runtime/common/error.hpp"
#include "runtime/gguf/gguf.hpp"

namespace folio::model {

const char* arch_name(Arch a) noexcept {
  switch (a) {
    case Arch::qwen3moe: return "qwen3moe";
    case Arch::qwen3: return "qwen3";
    case Arch::llama: return "llama";
  }
  return "?";
}

int64_t HParams::n_params(bool tied_output) const noexcept {
  const int64_t d = d_model, q = int64_t(n_heads) * head_dim, kv = int64_t(n_kv_heads) * head_dim;
  int64_t per_layer = d * q * 2 + d * kv * 2 + 2 * d + (qk_norm ? 2 * head_dim : 0);
  if (is_moe()) per_layer += int64_t(n_expert) * d + int64_t(n_expert) * 3 * d * expert_ff;
  else per_layer += 3 * d * ff;
  return per_layer * n_layers + n_vocab * d * (tied_output ? 1 : 2) + d;
}

int64_t HParams::n_active_params(bool tied_output) const noexcept {
  if (!is_moe()) return n_params(tied_output);
  const int64_t d = d_model;
  return n_params(tied_output) - int64_t(n_layers) * (n_expert - n_expert_used) * 3 * d * expert_ff;
}

namespace {

int get_int(const gguf::File& f, const std::string& key, int64_t lo, int64_t hi) {
  const uint64_t v = f.get_u64(key);
  if (int64_t(v) < lo || int64_t(v) > hi || v > uint64_t(INT64_MAX))
    fail(Errc::format, f.name() + ": " + key + " = " + std::to_string(v) + " is out of range [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return int(v);
}

}  // namespace

HParams read_hparams(const gguf::File& f) {
  HParams hp;
  const std::string arch = f.get_string("general.architecture");
  if (arch == "qwen3moe") hp.arch = Arch::qwen3moe;
  else if (arch == "qwen3") hp.arch = Arch::qwen3;
  else if (arch == "llama") hp.arch = Arch::llama;
  else
    fail(Errc::unsupported, f.name() + ": architecture '" + arch +
                                "' is not supported (supported: qwen3moe, qwen3, llama)");
  const std::string p = arch + ".";
  constexpr int64_t kMaxDim = 1 << 20;
  hp.n_layers = get_int(f, p + "block_count", 1, 4096);
  hp.d_model = get_int(f, p + "embedding_length", 1, kMaxDim);
  hp.n_heads = get_int(f, p + "attention.head_count", 1, 4096);
  hp.n_kv_heads = f.find(p + "attention.head_count_kv") ? get_int(f, p + "attention.head_count_kv", 1, 4096)
                                                         : hp.n_heads;
  if (hp.n_heads % hp.n_kv_heads != 0)
    fail(Errc::format, f.name() + ": attention.head_count (" + std::to_string(hp.n_heads) +
                           ") is not a multiple of attention.head_count_kv (" + std::to_string(hp.n_kv_heads) + ")");
  if (f.find(p + "attention.key_length")) {
    hp.head_dim = get_int(f, p + "attention.key_length", 2, 4096);
  } else {
    if (hp.d_model % hp.n_heads != 0)
      fail(Errc::format, f.name() + ": no " + p + "attention.key_length and embedding_length is not a multiple of head_count");
    hp.head_dim = hp.d_model / hp.n_heads;
  }
  if (f.find(p + "attention.value_length") && get_int(f, p + "attention.value_length", 1, 4096) != hp.head_dim)
    fail(Errc::unsupported, f.name() + ": attention.value_length differs from attention.key_length");
  if (hp.head_dim % 2 != 0) fail(Errc::format, f.name() + ": head dimension must be even for RoPE");
  hp.context_length = int64_t(f.get_u64_or(p + "context_length", 4096));
  hp.rope_theta = float(f.get_f64_or(p + "rope.freq_base", hp.arch == Arch::llama ? 10000.0 : 1000000.0));
  hp.rms_eps = float(f.get_f64_or(p + "attention.layer_norm_rms_epsilon", 1e-6));
  if (!(hp.rope_theta > 0.0f) || !(hp.rms_eps > 0.0f) || !(hp.rms_eps < 1.0f))
    fail(Errc::format, f.name() + ": rope.freq_base and layer_norm_rms_epsilon must be positive");
  hp.qk_norm = hp.arch != Arch::llama;
  if (hp.arch == Arch::qwen3moe) {
    hp.n_expert = get_int(f, p + "expert_count", 1, 4096);
    hp.n_expert_used = get_int(f, p + "expert_used_count", 1, hp.n_expert);
    hp.expert_ff = get_int(f, p + "expert_feed_forward_length", 1, kMaxDim);
    hp.norm_topk = f.get_bool_or(p + "expert_weights_norm", true);
  } else {
    hp.ff = get_int(f, p + "feed_forward_length", 1, kMaxDim);
  }
  const gguf::TensorInfo& emb = f.tensor("token_embd.weight");
  if (emb.shape.size() != 2 || emb.shape[0] != uint64_t(hp.d_model))
    fail(Errc::format, f.name() + ": tensor 'token_embd.weight' must have shape [" + std::to_string(hp.d_model) +
                           ", n_vocab]");
  hp.n_vocab = int64_t(emb.shape[1]);
  return hp;
}

}  // namespace folio::model
