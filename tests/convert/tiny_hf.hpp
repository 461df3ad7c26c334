// Builds tiny Hugging Face model directories (config.json, model.safetensors,
// tokenizer.json) with random weights for the converter tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "runtime/common/half.hpp"
#include "runtime/common/json.hpp"
#include "runtime/convert/safetensors.hpp"

namespace folio::test {

// A temporary directory removed on destruction.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("folio_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

struct TinyHf {
  std::string architecture = "Qwen3MoeForCausalLM";
  int64_t vocab = 10, hidden = 64, layers = 2, heads = 4, kv_heads = 2, head_dim = 16, ffn = 96;
  int64_t experts = 4, experts_used = 2, expert_ffn = 32;
  bool tied = false;
  safetensors::Dtype dtype = safetensors::Dtype::f32;
  json::Object extra_config;  // merged into config.json

  // name -> (shape, f32 values); filled by make_weights().
  std::map<std::string, std::pair<std::vector<uint64_t>, std::vector<float>>> weights;

  bool moe() const { return architecture == "Qwen3MoeForCausalLM"; }
  bool qk_norm() const { return architecture != "LlamaForCausalLM"; }

  void make_weights(uint32_t seed = 1) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 0.5f);
    auto add = [&](const std::string& name, std::vector<uint64_t> shape) {
      uint64_t n = 1;
      for (uint64_t d : shape) n *= d;
      std::vector<float> v(n);
      for (float& x : v) {
        x = dist(rng);
        // Values representable in the checkpoint dtype, so conversions to the
        // same type are exact and comparisons simple.
        if (dtype == safetensors::Dtype::f16) x = f16_to_f32(f32_to_f16(x));
        if (dtype == safetensors::Dtype::bf16) x = bf16_to_f32(f32_to_bf16(x));
      }
      weights[name] = {std::move(shape), std::move(v)};
    };
    const auto H = uint64_t(hidden), V = uint64_t(vocab), HD = uint64_t(head_dim);
    add("model.embed_tokens.weight", {V, H});
    add("model.norm.weight", {H});
    if (!tied) add("lm_head.weight", {V, H});
    for (int64_t l = 0; l < layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      add(p + "input_layernorm.weight", {H});
      add(p + "post_attention_layernorm.weight", {H});
      add(p + "self_attn.q_proj.weight", {uint64_t(heads) * HD, H});
      add(p + "self_attn.k_proj.weight", {uint64_t(kv_heads) * HD, H});
      add(p + "self_attn.v_proj.weight", {uint64_t(kv_heads) * HD, H});
      add(p + "self_attn.o_proj.weight", {H, uint64_t(heads) * HD});
      if (qk_norm()) {
        add(p + "self_attn.q_norm.weight", {HD});
        add(p + "self_attn.k_norm.weight", {HD});
      }
      if (moe()) {
        add(p + "mlp.gate.weight", {uint64_t(experts), H});
        for (int64_t e = 0; e < experts; ++e) {
          const std::string q = p + "mlp.experts." + std::to_string(e) + ".";
          add(q + "gate_proj.weight", {uint64_t(expert_ffn), H});
          add(q + "up_proj.weight", {uint64_t(expert_ffn), H});
          add(q + "down_proj.weight", {H, uint64_t(expert_ffn)});
        }
      } else {
        add(p + "mlp.gate_proj.weight", {uint64_t(ffn), H});
        add(p + "mlp.up_proj.weight", {uint64_t(ffn), H});
        add(p + "mlp.down_proj.weight", {H, uint64_t(ffn)});
      }
    }
  }

  json::Object config() const {
    json::Object c;
    c.insert("architectures", json::Array{json::Value(architecture)});
    c.insert("vocab_size", vocab);
    c.insert("hidden_size", hidden);
    c.insert("intermediate_size", ffn);
    c.insert("num_hidden_layers", layers);
    c.insert("num_attention_heads", heads);
    c.insert("num_key_value_heads", kv_heads);
    c.insert("head_dim", head_dim);
    c.insert("max_position_embeddings", 1024);
    c.insert("rope_theta", 1000000.0);
    c.insert("rms_norm_eps", 1e-6);
    c.insert("tie_word_embeddings", tied);
    c.insert("eos_token_id", 8);
    if (moe()) {
      c.insert("num_experts", experts);
      c.insert("num_experts_per_tok", experts_used);
      c.insert("moe_intermediate_size", expert_ffn);
      c.insert("norm_topk_prob", false);
      c.insert("decoder_sparse_step", 1);
      c.insert("mlp_only_layers", json::Array{});
    }
    for (const json::Member& m : extra_config) c.insert(m.key, m.value);
    return c;
  }

  // A minimal byte-level BPE tokenizer.json with the Qwen2 pre-tokenizer: 7
  // regular tokens and 3 special ones (ids 7, 8, 9).
  static std::string tokenizer_json() {
    json::Object vocab_obj;
    const char* toks[] = {"a", "b", "ab", "\xC4\xA0", "\xC4\xA0" "a", "c", "abc"};
    for (int i = 0; i < 7; ++i) vocab_obj.insert(toks[i], i);
    json::Object model;
    model.insert("type", "BPE");
    model.insert("vocab", std::move(vocab_obj));
    model.insert("merges", json::Array{json::Value("a b"), json::Value("\xC4\xA0 a"), json::Value("ab c")});
    json::Object split;
    split.insert("type", "Split");
    json::Object pattern;
    pattern.insert("Regex",
                   "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                   "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
    split.insert("pattern", std::move(pattern));
    split.insert("behavior", "Isolated");
    split.insert("invert", false);
    json::Object byte_level;
    byte_level.insert("type", "ByteLevel");
    byte_level.insert("add_prefix_space", false);
    byte_level.insert("trim_offsets", false);
    byte_level.insert("use_regex", false);
    json::Object pre;
    pre.insert("type", "Sequence");
    pre.insert("pretokenizers", json::Array{json::Value(std::move(split)), json::Value(std::move(byte_level))});
    json::Array added;
    const char* specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    for (int i = 0; i < 3; ++i) {
      json::Object t;
      t.insert("id", 7 + i);
      t.insert("content", specials[i]);
      t.insert("special", true);
      added.push_back(json::Value(std::move(t)));
    }
    json::Object root;
    root.insert("version", "1.0");
    root.insert("added_tokens", std::move(added));
    root.insert("normalizer", json::Value(nullptr));
    root.insert("pre_tokenizer", std::move(pre));
    root.insert("model", std::move(model));
    return json::serialize(json::Value(std::move(root)), 2);
  }

  static void write_text(const std::filesystem::path& p, const std::string& text) {
    std::ofstream f(p, std::ios::binary);
    f << text;
  }

  // Writes the directory; `shards` > 1 splits the tensors over several files.
  void write(const std::filesystem::path& dir, int shards = 1) const {
    write_text(dir / "config.json", json::serialize(json::Value(config()), 2));
    write_text(dir / "tokenizer.json", tokenizer_json());
    std::vector<std::vector<std::byte>> storage;
    std::vector<std::vector<safetensors::TensorToWrite>> per_shard{size_t(shards)};
    size_t i = 0;
    storage.reserve(weights.size());
    for (const auto& [name, sv] : weights) {
      const auto& [shape, values] = sv;
      std::vector<std::byte> bytes;
      if (dtype == safetensors::Dtype::f32) {
        const auto* p = reinterpret_cast<const std::byte*>(values.data());
        bytes.assign(p, p + values.size() * 4);
      } else {
        bytes.resize(values.size() * 2);
        for (size_t k = 0; k < values.size(); ++k) {
          const uint16_t h = dtype == safetensors::Dtype::f16 ? f32_to_f16(values[k]) : f32_to_bf16(values[k]);
          std::memcpy(bytes.data() + 2 * k, &h, 2);
        }
      }
      storage.push_back(std::move(bytes));
      per_shard[i++ % size_t(shards)].push_back({name, dtype, shape, storage.back()});
    }
    for (int s = 0; s < shards; ++s)
      safetensors::write(dir / ("model-0000" + std::to_string(s + 1) + "-of-0000" + std::to_string(shards) + ".safetensors"),
                         per_shard[size_t(s)]);
  }
};

}  // namespace folio::test
