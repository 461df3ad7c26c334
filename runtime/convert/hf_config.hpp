// The hyper-parameters of a Hugging Face checkpoint (config.json) that the
// converter needs, read strictly: a missing or mistyped field is an error that
// names the file and the field.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace folio::convert {

struct RopeScaling {
  std::string type;                 // "linear", "yarn", "llama3"
  double factor = 1.0;
  int64_t original_context = 0;     // original_max_position_embeddings (0 when absent)
  double low_freq_factor = 1.0;     // llama3 only
  double high_freq_factor = 4.0;    // llama3 only
};

struct HfConfig {
  std::string hf_architecture;      // "Qwen3MoeForCausalLM", ...
  std::string arch;                 // GGUF name: "qwen3moe", "qwen3", "llama"
  int64_t vocab_size = 0;
  int64_t hidden = 0;
  int64_t n_layers = 0;
  int64_t ffn = 0;                  // intermediate_size (dense FFN)
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t context_length = 0;
  double rope_theta = 10000.0;
  double rms_eps = 1e-6;
  bool tie_embeddings = false;
  bool attention_bias = false;      // llama: q/k/v/o biases
  // Mixture of experts (qwen3moe).
  int64_t n_experts = 0;
  int64_t n_experts_used = 0;
  int64_t expert_ffn = 0;
  bool norm_topk_prob = true;
  std::optional<RopeScaling> rope_scaling;

  bool is_moe() const noexcept { return n_experts > 0; }
};

// Reads `path` (a config.json). Unsupported architectures are
// folio::Error(unsupported) listing the supported ones.
HfConfig read_hf_config(const std::filesystem::path& path);
HfConfig parse_hf_config(std::string_view text, const std::string& display_name);

}  // namespace folio::convert
