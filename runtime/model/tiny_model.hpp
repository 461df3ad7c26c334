// Deterministic random-weight models for tests, demos and benchmarks
// (`folio make-tiny`). The same config and seed always give a byte-identical
// GGUF file: every tensor is filled from its own counter-based random stream
// keyed by (seed, tensor name), independent of generation order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/backend/backend.hpp"

namespace folio::gguf { class Writer; }

namespace folio::model {

struct TinyConfig {
  std::string arch = "qwen3moe";  // qwen3moe | qwen3 | llama
  int n_layers = 2;
  int d_model = 64;
  int n_heads = 4;
  int n_kv_heads = 2;
  int head_dim = 16;
  int ff = 128;             // dense feed-forward (qwen3, llama)
  int n_expert = 8;         // qwen3moe
  int n_expert_used = 2;
  int expert_ff = 32;
  bool norm_topk = true;
  bool tied_output = false;
  int64_t context_length = 4096;
  float rope_theta = 1000000.0f;
  float rms_eps = 1e-6f;
  backend::WeightType type = backend::WeightType::f32;  // matrices; norms stay f32
  uint64_t seed = 1;
  int n_merges = 400;                   // synthetic vocabulary size (see synthetic_vocab.hpp)
  std::filesystem::path tokenizer_json; // non-empty: embed this Hugging Face tokenizer instead
};

// Named sizes: "tiny" (~0.2M params), "small" (~7M), "0.5b" (~0.5B total).
// Throws folio::Error(invalid_argument) for an unknown name.
TinyConfig tiny_preset(std::string_view arch, std::string_view size);

// Throws folio::Error(invalid_argument) naming the bad field.
void validate(const TinyConfig& c);

// Adds metadata, tokenizer and tensors to `writer` (tensor data is generated
// while the file is written).
void add_tiny_model(gguf::Writer& writer, const TinyConfig& c);
void write_tiny_model(const TinyConfig& c, const std::filesystem::path& out);
std::vector<std::byte> tiny_model_bytes(const TinyConfig& c);

}  // namespace folio::model
