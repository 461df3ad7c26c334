#include "runtime/convert/convert.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <numbers>
#include <set>

#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"
#include "runtime/convert/hf_config.hpp"
#include "runtime/convert/safetensors.hpp"
#include "runtime/tokenizer/hf_tokenizer_json.hpp"
#include "runtime/tokenizer/tokenizer.hpp"

namespace folio::convert {

namespace {

using gguf::TensorType;
using Shape = std::vector<uint64_t>;

std::string shape_text(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// All *.safetensors shards of a directory, indexed by tensor name. Tracks which
// tensors the conversion used so leftovers can be reported.
class Checkpoint {
 public:
  explicit Checkpoint(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> paths;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
      if (entry.path().extension() == ".safetensors") paths.push_back(entry.path());
    if (ec) fail(Errc::io, dir.string() + ": cannot list the directory: " + ec.message());
    if (paths.empty()) fail(Errc::format, dir.string() + ": no *.safetensors files (is this a Hugging Face model directory?)");
    std::sort(paths.begin(), paths.end());
    files_.reserve(paths.size());
    for (const auto& p : paths) {
      files_.push_back(safetensors::File::open(p));
      const safetensors::File& f = files_.back();
      for (const safetensors::Tensor& t : f.tensors()) {
        auto [it, inserted] = index_.emplace(t.name, Entry{&t, &f});
        if (!inserted)
          fail(Errc::format, f.path() + ": tensor '" + t.name + "' also appears in " + it->second.file->path());
      }
    }
  }

  const safetensors::Tensor* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : it->second.tensor;
  }

  // The tensor `name` with the PyTorch shape `expected`; marks it used.
  const safetensors::Tensor& take(const std::string& name, const Shape& expected) {
    const safetensors::Tensor* t = take_optional(name, expected);
    if (!t) fail(Errc::format, dir_name() + ": missing tensor '" + name + "'");
    return *t;
  }

  const safetensors::Tensor* take_optional(const std::string& name, const Shape& expected) {
    auto it = index_.find(name);
    if (it == index_.end()) return nullptr;
    const safetensors::Tensor& t = *it->second.tensor;
    if (t.shape != expected)
      fail(Errc::format, it->second.file->path() + ": tensor '" + name + "' has shape " + shape_text(t.shape) +
                             ", config.json implies " + shape_text(expected));
    if (t.dtype != safetensors::Dtype::f32 && t.dtype != safetensors::Dtype::f16 && t.dtype != safetensors::Dtype::bf16)
      fail(Errc::unsupported, it->second.file->path() + ": tensor '" + name + "': dtype " + t.dtype_text +
                                  " is not supported (F32, F16, BF16)");
    used_.insert(name);
    return &t;
  }

  void ignore(const std::string& name) { used_.insert(name); }

  void check_all_used(const std::string& arch) const {
    for (const auto& [name, e] : index_)
      if (!used_.count(name))
        fail(Errc::format, e.file->path() + ": unexpected tensor '" + name + "' (not part of a " + arch +
                               " checkpoint as config.json describes it)");
  }

  void set_dir_name(std::string d) { dir_ = std::move(d); }
  const std::string& dir_name() const { return dir_; }

 private:
  struct Entry {
    const safetensors::Tensor* tensor;
    const safetensors::File* file;
  };
  std::vector<safetensors::File> files_;  // reserved up front: Entry pointers stay valid
  std::map<std::string, Entry, std::less<>> index_;
  std::set<std::string, std::less<>> used_;
  std::string dir_;
};

// One GGUF tensor to produce: its sources are stacked outermost (experts) and
// each source is copied row by row, optionally with rows permuted.
struct Planned {
  std::string name;
  Shape torch_shape;  // outermost first, after stacking
  TensorType type = TensorType::f32;
  std::vector<const safetensors::Tensor*> sources;
  uint64_t row_len = 0;          // elements per row
  uint64_t rows_per_source = 0;
  uint64_t permute_heads = 0;    // llama q/k: rows permuted within each of this many heads
  std::vector<float> values;     // generated tensors (no sources)
};

Shape gguf_shape(const Shape& torch_shape) { return Shape(torch_shape.rbegin(), torch_shape.rend()); }

// llama.cpp's LlamaModel.permute: within each head, rows (i, j) with i in {0,1}
// (which half) and j < head_dim/2 move to (j, i), so that RoPE can rotate
// adjacent pairs. Returns the source row of output row r.
uint64_t permuted_source_row(uint64_t r, uint64_t rows, uint64_t heads) {
  const uint64_t hd = rows / heads;
  const uint64_t h = r / hd, w = r % hd;
  const uint64_t j = w / 2, i = w % 2;
  return h * hd + i * (hd / 2) + j;
}

bool same_storage(safetensors::Dtype d, TensorType t) {
  return (d == safetensors::Dtype::f32 && t == TensorType::f32) || (d == safetensors::Dtype::f16 && t == TensorType::f16) ||
         (d == safetensors::Dtype::bf16 && t == TensorType::bf16);
}

void fill(const Planned& p, std::span<std::byte> out) {
  if (p.sources.empty()) {
    gguf::quantize_row(p.type, p.values, out);
    return;
  }
  const size_t row_bytes = gguf::tensor_bytes(p.type, p.row_len);
  std::vector<float> row(p.row_len);
  for (size_t s = 0; s < p.sources.size(); ++s) {
    const safetensors::Tensor& src = *p.sources[s];
    std::span<std::byte> dst = out.subspan(s * p.rows_per_source * row_bytes, p.rows_per_source * row_bytes);
    if (p.permute_heads == 0 && same_storage(src.dtype, p.type)) {
      std::copy(src.data.begin(), src.data.end(), dst.begin());
      continue;
    }
    for (uint64_t r = 0; r < p.rows_per_source; ++r) {
      const uint64_t from = p.permute_heads ? permuted_source_row(r, p.rows_per_source, p.permute_heads) : r;
      safetensors::to_f32(src, from * p.row_len, row);
      gguf::quantize_row(p.type, row, dst.subspan(r * row_bytes, row_bytes));
    }
  }
}

uint32_t file_type_of(TensorType t) {
  switch (t) {  // llama.cpp's llama_ftype
    case TensorType::f32: return 0;
    case TensorType::f16: return 1;
    case TensorType::q8_0: return 7;
    case TensorType::bf16: return 32;
  }
  return 0;
}

// Llama 3 frequency factors, as llama.cpp's converter computes rope_freqs.
std::vector<float> llama3_rope_factors(const HfConfig& c) {
  const RopeScaling& s = *c.rope_scaling;
  const double low_wavelen = double(s.original_context) / s.low_freq_factor;
  const double high_wavelen = double(s.original_context) / s.high_freq_factor;
  std::vector<float> out;
  for (int64_t i = 0; i < c.head_dim; i += 2) {
    const double freq = 1.0 / std::pow(c.rope_theta, double(i) / double(c.head_dim));
    const double wavelen = 2 * std::numbers::pi / freq;
    if (wavelen < high_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      out.push_back(float(s.factor));
    } else {
      const double smooth = (double(s.original_context) / wavelen - s.low_freq_factor) /
                            (s.high_freq_factor - s.low_freq_factor);
      out.push_back(float(1.0 / ((1 - smooth) / s.factor + smooth)));
    }
  }
  return out;
}

// bos/eos ids from config.json when tokenizer_config.json did not give them
// (what gguf-py's SpecialVocab falls back to).
std::optional<int32_t> config_token_id(const json::Value& config, std::string_view key) {
  const json::Value* v = config.find(key);
  if (v && v->is_array() && v->size() > 0) v = &(*v)[0];
  if (!v || !v->is_integer() || v->as_int64() < 0 || v->as_int64() > INT32_MAX) return std::nullopt;
  return int32_t(v->as_int64());
}

}  // namespace

std::optional<OutType> parse_out_type(std::string_view text) {
  std::string t(text);
  for (char& c : t) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (t == "auto") return OutType::automatic;
  if (t == "f32") return OutType::f32;
  if (t == "f16") return OutType::f16;
  if (t == "bf16") return OutType::bf16;
  if (t == "q8_0") return OutType::q8_0;
  return std::nullopt;
}

Summary convert_hf_to_gguf(const Options& options) {
  const std::filesystem::path& dir = options.hf_dir;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    fail(Errc::io, dir.string() + ": not a directory (expected a Hugging Face model directory)");
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };

  const std::filesystem::path config_path = dir / "config.json";
  const HfConfig c = read_hf_config(config_path);
  const json::Value config_json = json::parse_file(config_path);
  const std::filesystem::path tokenizer_path = dir / "tokenizer.json";
  if (!std::filesystem::is_regular_file(tokenizer_path, ec))
    fail(Errc::io, tokenizer_path.string() + ": missing (folio convert needs the model's tokenizer.json)");

  Checkpoint ck(dir);
  ck.set_dir_name(dir.string());
  const auto H = uint64_t(c.hidden), V = uint64_t(c.vocab_size), HD = uint64_t(c.head_dim);
  const auto NQ = uint64_t(c.n_heads) * HD, NKV = uint64_t(c.n_kv_heads) * HD;

  // Output type of the weight matrices.
  TensorType weight_type = TensorType::f16;
  switch (options.out_type) {
    case OutType::f32: weight_type = TensorType::f32; break;
    case OutType::f16: weight_type = TensorType::f16; break;
    case OutType::bf16: weight_type = TensorType::bf16; break;
    case OutType::q8_0: weight_type = TensorType::q8_0; break;
    case OutType::automatic: {
      const safetensors::Tensor* e = ck.find("model.embed_tokens.weight");
      weight_type = e && e->dtype == safetensors::Dtype::bf16 ? TensorType::bf16 : TensorType::f16;
      break;
    }
  }

  std::vector<Planned> plan;
  auto add = [&](std::string gguf_name, std::vector<const safetensors::Tensor*> sources, uint64_t permute_heads = 0) {
    Planned p;
    p.name = std::move(gguf_name);
    const Shape& s = sources.front()->shape;
    p.torch_shape = s;
    if (sources.size() > 1 || p.name.find("_exps.") != std::string::npos)
      p.torch_shape.insert(p.torch_shape.begin(), sources.size());
    const bool one_d = s.size() == 1;
    if (one_d && permute_heads) {  // a permuted bias: rows of one element
      p.row_len = 1;
      p.rows_per_source = s[0];
    } else {
      p.row_len = s.back();
      p.rows_per_source = one_d ? 1 : s[0];
    }
    p.permute_heads = permute_heads;
    const bool keep_f32 = one_d || p.name.find("ffn_gate_inp") != std::string::npos;
    p.type = keep_f32 ? TensorType::f32 : weight_type;
    if (p.type == TensorType::q8_0 && p.row_len % gguf::kQ8BlockElems != 0) p.type = TensorType::f16;
    p.sources = std::move(sources);
    plan.push_back(std::move(p));
  };

  add("token_embd.weight", {&ck.take("model.embed_tokens.weight", {V, H})});
  if (c.rope_scaling && c.rope_scaling->type == "llama3") {
    Planned p;
    p.name = "rope_freqs.weight";
    p.values = llama3_rope_factors(c);
    p.torch_shape = {p.values.size()};
    p.type = TensorType::f32;
    plan.push_back(std::move(p));
  }
  const bool llama = c.arch == "llama";
  const bool qk_norm = c.arch == "qwen3" || c.arch == "qwen3moe";
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const std::string hf = "model.layers." + std::to_string(l) + ".";
    const std::string blk = "blk." + std::to_string(l) + ".";
    add(blk + "attn_norm.weight", {&ck.take(hf + "input_layernorm.weight", {H})});
    add(blk + "attn_q.weight", {&ck.take(hf + "self_attn.q_proj.weight", {NQ, H})}, llama ? uint64_t(c.n_heads) : 0);
    add(blk + "attn_k.weight", {&ck.take(hf + "self_attn.k_proj.weight", {NKV, H})}, llama ? uint64_t(c.n_kv_heads) : 0);
    add(blk + "attn_v.weight", {&ck.take(hf + "self_attn.v_proj.weight", {NKV, H})});
    add(blk + "attn_output.weight", {&ck.take(hf + "self_attn.o_proj.weight", {H, NQ})});
    if (c.attention_bias) {
      add(blk + "attn_q.bias", {&ck.take(hf + "self_attn.q_proj.bias", {NQ})}, uint64_t(c.n_heads));
      add(blk + "attn_k.bias", {&ck.take(hf + "self_attn.k_proj.bias", {NKV})}, uint64_t(c.n_kv_heads));
      add(blk + "attn_v.bias", {&ck.take(hf + "self_attn.v_proj.bias", {NKV})});
      if (const auto* o = ck.take_optional(hf + "self_attn.o_proj.bias", {H})) add(blk + "attn_output.bias", {o});
    }
    if (qk_norm) {
      add(blk + "attn_q_norm.weight", {&ck.take(hf + "self_attn.q_norm.weight", {HD})});
      add(blk + "attn_k_norm.weight", {&ck.take(hf + "self_attn.k_norm.weight", {HD})});
    }
    add(blk + "ffn_norm.weight", {&ck.take(hf + "post_attention_layernorm.weight", {H})});
    if (c.is_moe()) {
      const auto E = uint64_t(c.n_experts), F = uint64_t(c.expert_ffn);
      add(blk + "ffn_gate_inp.weight", {&ck.take(hf + "mlp.gate.weight", {E, H})});
      for (const char* proj : {"gate", "up", "down"}) {
        std::vector<const safetensors::Tensor*> experts;
        const bool down = std::string_view(proj) == "down";
        for (uint64_t e = 0; e < E; ++e)
          experts.push_back(&ck.take(hf + "mlp.experts." + std::to_string(e) + "." + proj + "_proj.weight",
                                     down ? Shape{H, F} : Shape{F, H}));
        add(blk + "ffn_" + proj + "_exps.weight", std::move(experts));
      }
    } else {
      const auto F = uint64_t(c.ffn);
      add(blk + "ffn_gate.weight", {&ck.take(hf + "mlp.gate_proj.weight", {F, H})});
      add(blk + "ffn_up.weight", {&ck.take(hf + "mlp.up_proj.weight", {F, H})});
      add(blk + "ffn_down.weight", {&ck.take(hf + "mlp.down_proj.weight", {H, F})});
    }
    ck.ignore(hf + "self_attn.rotary_emb.inv_freq");  // a buffer, not a weight
  }
  add("output_norm.weight", {&ck.take("model.norm.weight", {H})});
  if (c.tie_embeddings) {
    ck.ignore("lm_head.weight");  // some tied checkpoints still store the copy
  } else {
    add("output.weight", {&ck.take("lm_head.weight", {V, H})});
  }
  ck.check_all_used(c.hf_architecture);

  // Tokenizer.
  tok::Vocab vocab = tok::vocab_from_hf_tokenizer_json(tokenizer_path);
  if (vocab.tokens.size() > V)
    fail(Errc::format, tokenizer_path.string() + ": " + std::to_string(vocab.tokens.size()) +
                           " tokens, more than config.json's vocab_size " + std::to_string(V));
  if (vocab.token_types.size() < vocab.tokens.size()) vocab.token_types.resize(vocab.tokens.size(), tok::TokenType::normal);
  while (vocab.tokens.size() < V) {  // embedding rows without a token, as llama.cpp pads them
    vocab.tokens.push_back("[PAD" + std::to_string(vocab.tokens.size()) + "]");
    vocab.token_types.push_back(tok::TokenType::unused);
  }
  if (!vocab.bos) vocab.bos = config_token_id(config_json, "bos_token_id");
  if (!vocab.eos) vocab.eos = config_token_id(config_json, "eos_token_id");
  for (auto* id : {&vocab.bos, &vocab.eos, &vocab.pad})
    if (*id && (**id < 0 || uint64_t(**id) >= V)) *id = std::nullopt;

  // Metadata.
  gguf::Writer w;
  const std::string& a = c.arch;
  w.set_string("general.architecture", a);
  std::string name = dir.filename().string();
  if (name.empty()) name = dir.parent_path().filename().string();
  if (const json::Value* n = config_json.find("_name_or_path"); n && n->is_string() && !n->as_string().empty())
    name = n->as_string();
  w.set_string("general.name", name);
  w.set_u32("general.file_type", file_type_of(weight_type));
  w.set_u32("general.quantization_version", 2);
  w.set_u32(a + ".context_length", uint32_t(c.context_length));
  w.set_u32(a + ".embedding_length", uint32_t(c.hidden));
  w.set_u32(a + ".block_count", uint32_t(c.n_layers));
  w.set_u32(a + ".feed_forward_length", uint32_t(c.ffn));
  w.set_u32(a + ".attention.head_count", uint32_t(c.n_heads));
  w.set_u32(a + ".attention.head_count_kv", uint32_t(c.n_kv_heads));
  w.set_f32(a + ".rope.freq_base", float(c.rope_theta));
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", float(c.rms_eps));
  w.set_u32(a + ".attention.key_length", uint32_t(c.head_dim));
  w.set_u32(a + ".attention.value_length", uint32_t(c.head_dim));
  if (llama) {
    w.set_u32(a + ".vocab_size", uint32_t(c.vocab_size));
    w.set_u32(a + ".rope.dimension_count", uint32_t(c.head_dim));
  }
  if (c.is_moe()) {
    w.set_u32(a + ".expert_count", uint32_t(c.n_experts));
    w.set_u32(a + ".expert_used_count", uint32_t(c.n_experts_used));
    w.set_u32(a + ".expert_feed_forward_length", uint32_t(c.expert_ffn));
    w.set_bool(a + ".expert_weights_norm", c.norm_topk_prob);
  }
  if (c.rope_scaling && c.rope_scaling->type != "llama3") {
    w.set_string(a + ".rope.scaling.type", c.rope_scaling->type);
    w.set_f32(a + ".rope.scaling.factor", float(c.rope_scaling->factor));
    if (c.rope_scaling->original_context > 0)
      w.set_u32(a + ".rope.scaling.original_context_length", uint32_t(c.rope_scaling->original_context));
  }
  tok::write_vocab(w, vocab);

  Summary summary;
  summary.hf_architecture = c.hf_architecture;
  summary.architecture = c.arch;
  summary.weight_type = weight_type;
  summary.vocab_size = vocab.tokens.size();
  for (Planned& p : plan) {
    uint64_t n = 1;
    for (uint64_t d : p.torch_shape) n *= d;
    summary.parameters += n;
    ++summary.tensors;
    const Planned* pp = &p;
    w.add_tensor_generated(p.name, gguf_shape(p.torch_shape), p.type, [pp, &log](std::span<std::byte> out) {
      log("  " + pp->name + " " + shape_text(gguf_shape(pp->torch_shape)) + " " +
          gguf::tensor_type_name(uint32_t(pp->type)));
      fill(*pp, out);
    });
  }
  log("writing " + options.output.string() + " (" + std::to_string(summary.tensors) + " tensors)");
  w.write(options.output);
  summary.file_bytes = std::filesystem::file_size(options.output, ec);
  return summary;
}

}  // namespace folio::convert
