#include "runtime/convert/hf_config.hpp"

#include <fstream>
#include <sstream>

#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"

namespace folio::convert {

namespace {

constexpr std::string_view kSupported = "Qwen3MoeForCausalLM, Qwen3ForCausalLM, LlamaForCausalLM";

class Fields {
 public:
  Fields(const json::Value& root, const std::string& name) : root_(root), name_(name) {}

  [[noreturn]] void bad(std::string_view key, const std::string& what, Errc code = Errc::format) const {
    fail(code, name_ + ": '" + std::string(key) + "': " + what);
  }

  // A positive integer (counts and sizes), required or with a fallback.
  int64_t count(std::string_view key, std::optional<int64_t> fallback = std::nullopt) const {
    const json::Value* v = root_.find(key);
    if (!v || v->is_null()) {
      if (fallback) return *fallback;
      fail(Errc::format, name_ + ": missing '" + std::string(key) + "'");
    }
    if (!v->is_integer()) bad(key, std::string("expected an integer, found ") + json::kind_name(v->kind()));
    const int64_t i = v->as_int64();
    if (i <= 0 || i > (int64_t(1) << 31)) bad(key, "value " + std::to_string(i) + " out of range");
    return i;
  }

  double number(std::string_view key, double fallback) const {
    const json::Value* v = root_.find(key);
    if (!v || v->is_null()) return fallback;
    if (!v->is_number()) bad(key, std::string("expected a number, found ") + json::kind_name(v->kind()));
    return v->as_double();
  }

  bool flag(std::string_view key, bool fallback) const {
    const json::Value* v = root_.find(key);
    if (!v || v->is_null()) return fallback;
    if (!v->is_bool()) bad(key, std::string("expected true or false, found ") + json::kind_name(v->kind()));
    return v->as_bool();
  }

 private:
  const json::Value& root_;
  const std::string& name_;
};

}  // namespace

HfConfig parse_hf_config(std::string_view text, const std::string& name) {
  const json::Value root = json::parse(text, name);
  if (!root.is_object()) fail(Errc::format, name + ": expected a JSON object");
  const Fields f(root, name);
  HfConfig c;

  const json::Value* archs = root.find("architectures");
  if (!archs || !archs->is_array() || archs->size() == 0 || !(*archs)[0].is_string())
    fail(Errc::format, name + ": missing 'architectures' (e.g. [\"Qwen3MoeForCausalLM\"])");
  c.hf_architecture = (*archs)[0].as_string();
  if (c.hf_architecture == "Qwen3MoeForCausalLM") c.arch = "qwen3moe";
  else if (c.hf_architecture == "Qwen3ForCausalLM") c.arch = "qwen3";
  else if (c.hf_architecture == "LlamaForCausalLM") c.arch = "llama";
  else
    fail(Errc::unsupported, name + ": architecture '" + c.hf_architecture + "' is not supported (supported: " +
                                std::string(kSupported) + ")");

  c.vocab_size = f.count("vocab_size");
  c.hidden = f.count("hidden_size");
  c.n_layers = f.count("num_hidden_layers");
  c.ffn = f.count("intermediate_size");
  c.n_heads = f.count("num_attention_heads");
  c.n_kv_heads = f.count("num_key_value_heads", c.n_heads);
  if (c.n_heads % c.n_kv_heads != 0)
    f.bad("num_key_value_heads", std::to_string(c.n_kv_heads) + " does not divide num_attention_heads " +
                                     std::to_string(c.n_heads));
  if (c.hidden % c.n_heads != 0 && !root.find("head_dim"))
    f.bad("hidden_size", "not a multiple of num_attention_heads and no head_dim given");
  c.head_dim = f.count("head_dim", c.hidden / c.n_heads);
  if (c.arch == "llama" && c.head_dim % 2 != 0) f.bad("head_dim", "must be even for RoPE");
  c.context_length = f.count("max_position_embeddings");
  c.rope_theta = f.number("rope_theta", 10000.0);
  // Configs saved by transformers 5 move RoPE settings into "rope_parameters".
  const json::Value* rope_parameters = root.find("rope_parameters");
  if (rope_parameters && rope_parameters->is_object()) {
    const Fields rp(*rope_parameters, name);
    c.rope_theta = rp.number("rope_theta", c.rope_theta);
  }
  if (!(c.rope_theta > 0)) f.bad("rope_theta", "must be positive");
  c.rms_eps = f.number("rms_norm_eps", 1e-6);
  if (!(c.rms_eps > 0)) f.bad("rms_norm_eps", "must be positive");
  c.tie_embeddings = f.flag("tie_word_embeddings", false);
  c.attention_bias = f.flag("attention_bias", false);
  if (c.attention_bias && c.arch != "llama")
    f.bad("attention_bias", "true is not supported for " + c.hf_architecture, Errc::unsupported);

  if (c.arch == "qwen3moe") {
    c.n_experts = f.count("num_experts");
    c.n_experts_used = f.count("num_experts_per_tok");
    if (c.n_experts_used > c.n_experts)
      f.bad("num_experts_per_tok", "exceeds num_experts (" + std::to_string(c.n_experts) + ")");
    c.expert_ffn = f.count("moe_intermediate_size");
    c.norm_topk_prob = f.flag("norm_topk_prob", true);
    if (f.count("decoder_sparse_step", 1) != 1)
      f.bad("decoder_sparse_step", "only 1 (every layer is MoE) is supported", Errc::unsupported);
    if (const json::Value* dense = root.find("mlp_only_layers"); dense && dense->is_array() && dense->size() > 0)
      f.bad("mlp_only_layers", "dense layers inside a MoE model are not supported", Errc::unsupported);
  }

  const json::Value* rs = root.find("rope_scaling");
  if ((!rs || rs->is_null()) && rope_parameters && rope_parameters->is_object()) rs = rope_parameters;
  if (rs && !rs->is_null()) {
    if (!rs->is_object()) f.bad("rope_scaling", "expected an object");
    const Fields r(*rs, name);
    RopeScaling s;
    const json::Value* type = rs->find("rope_type");
    if (!type) type = rs->find("type");
    if (!type && rs == rope_parameters) return c;  // only rope_theta: no scaling
    if (!type || !type->is_string()) f.bad("rope_scaling", "missing 'rope_type'");
    s.type = type->as_string();
    if (s.type != "default") {
      if (s.type != "linear" && s.type != "yarn" && s.type != "llama3")
        f.bad("rope_scaling", "type '" + s.type + "' is not supported (linear, yarn, llama3)", Errc::unsupported);
      if (s.type == "llama3" && c.arch != "llama")
        f.bad("rope_scaling", "llama3 scaling is only supported for LlamaForCausalLM", Errc::unsupported);
      s.factor = r.number("factor", 0.0);
      if (!(s.factor > 0)) f.bad("rope_scaling", "'factor' must be a positive number");
      s.original_context = r.count("original_max_position_embeddings", int64_t(0));
      s.low_freq_factor = r.number("low_freq_factor", 1.0);
      s.high_freq_factor = r.number("high_freq_factor", 4.0);
      if (s.type == "llama3" && (s.original_context == 0 || !(s.high_freq_factor > s.low_freq_factor)))
        f.bad("rope_scaling", "llama3 scaling needs original_max_position_embeddings and high_freq_factor > low_freq_factor");
      c.rope_scaling = s;
    }
  }
  return c;
}

HfConfig read_hf_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(Errc::io, path.string() + ": cannot open (a Hugging Face model directory needs config.json)");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(Errc::io, path.string() + ": read failed");
  return parse_hf_config(ss.str(), path.string());
}

}  // namespace folio::convert
