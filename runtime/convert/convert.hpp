// Hugging Face -> GGUF conversion (what llama.cpp's convert_hf_to_gguf.py does
// for the architectures Folio runs).
//
// Reads HF_DIR/config.json, every HF_DIR/*.safetensors (memory-mapped) and
// HF_DIR/tokenizer.json (+ tokenizer_config.json when present), and writes one
// GGUF file with llama.cpp's tensor names and metadata keys, so the result is
// the file a user would get from llama.cpp:
//   - qwen3moe: experts model.layers.N.mlp.experts.E.{gate,up,down}_proj are
//     stacked into blk.N.ffn_{gate,up,down}_exps.weight (3-D, expert outermost);
//     the router mlp.gate becomes blk.N.ffn_gate_inp.weight.
//   - llama: q/k rows are permuted per head as llama.cpp does (so the model runs
//     with interleaved-pair RoPE); Llama 3 rope scaling becomes rope_freqs.weight.
//   - qwen3/qwen3moe: no permutation (NeoX-style RoPE on halves).
//   - tied embeddings: output.weight is omitted.
// 1-D tensors (norms, biases) and the MoE router stay f32 whatever the output
// type; a q8_0 request for a tensor whose rows are not multiples of 32 falls
// back to f16 for that tensor (as llama.cpp does).
// Every source tensor must be used: an unexpected or missing tensor, a shape
// that disagrees with config.json, or an unsupported dtype is an error naming
// the file and the tensor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/gguf/gguf.hpp"

namespace folio::convert {

// Output type of the weight matrices. `automatic` is llama.cpp's "auto": bf16
// when the checkpoint is bf16, otherwise f16.
enum class OutType { automatic, f32, f16, bf16, q8_0 };
// "auto", "f32", "f16", "bf16", "q8_0" (case-insensitive); nullopt otherwise.
std::optional<OutType> parse_out_type(std::string_view text);

struct Options {
  std::filesystem::path hf_dir;
  std::filesystem::path output;
  OutType out_type = OutType::automatic;
  // Progress lines ("converting blk.3.ffn_up_exps.weight ..."); may be empty.
  std::function<void(const std::string&)> log;
};

struct Summary {
  std::string hf_architecture;  // "Qwen3MoeForCausalLM"
  std::string architecture;     // "qwen3moe"
  gguf::TensorType weight_type = gguf::TensorType::f16;  // type of the 2-D/3-D weights
  size_t tensors = 0;
  uint64_t parameters = 0;
  uint64_t file_bytes = 0;
  size_t vocab_size = 0;
};

// Converts; the output is written atomically (a failed run leaves no file).
Summary convert_hf_to_gguf(const Options& options);

}  // namespace folio::convert
