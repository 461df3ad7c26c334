#include "runtime/model/tiny_model.hpp"

#include <cmath>
#include <cstring>
#include <string>

#include "runtime/common/error.hpp"
#include "runtime/common/half.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/model/synthetic_vocab.hpp"
#include "runtime/tokenizer/hf_tokenizer_json.hpp"

namespace folio::model {

using backend::WeightType;

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// Element i of the tensor's stream: uniform in [center - half_width, center + half_width].
struct Stream {
  uint64_t key;
  float center, half_width;
  float operator()(uint64_t i) const {
    const uint64_t r = splitmix64(key ^ (i * 0xd1342543de82ef95ull));
    const float u = float(r >> 40) * (1.0f / 16777216.0f);  // [0, 1), 24 bits
    return center + half_width * (2.0f * u - 1.0f);
  }
};

gguf::TensorType gguf_type(WeightType t) { return gguf::TensorType(uint32_t(t)); }

void fill_tensor(std::span<std::byte> out, WeightType type, uint64_t n, const Stream& s) {
  switch (type) {
    case WeightType::f32:
      for (uint64_t i = 0; i < n; ++i) {
        const float v = s(i);
        std::memcpy(out.data() + i * 4, &v, 4);
      }
      return;
    case WeightType::f16:
    case WeightType::bf16:
      for (uint64_t i = 0; i < n; ++i) {
        const uint16_t h = type == WeightType::f16 ? f32_to_f16(s(i)) : f32_to_bf16(s(i));
        std::memcpy(out.data() + i * 2, &h, 2);
      }
      return;
    case WeightType::q8_0:
      for (uint64_t b = 0; b < n / 32; ++b) {
        float v[32], amax = 0;
        for (int j = 0; j < 32; ++j) {
          v[j] = s(b * 32 + uint64_t(j));
          amax = std::max(amax, std::fabs(v[j]));
        }
        const float d = amax / 127.0f;
        const uint16_t dh = f32_to_f16(d);
        std::byte* blk = out.data() + b * 34;
        std::memcpy(blk, &dh, 2);
        const float id = d > 0 ? 1.0f / d : 0.0f;
        for (int j = 0; j < 32; ++j) {
          const int8_t q = int8_t(std::lround(v[j] * id));
          std::memcpy(blk + 2 + j, &q, 1);
        }
      }
      return;
  }
}

}  // namespace

TinyConfig tiny_preset(std::string_view arch, std::string_view size) {
  TinyConfig c;
  c.arch = std::string(arch);
  if (size == "tiny") {
    // defaults
  } else if (size == "small") {
    c.n_layers = 4;
    c.d_model = 256;
    c.n_heads = 8;
    c.n_kv_heads = 2;
    c.head_dim = 32;
    c.ff = 768;
    c.n_expert = 16;
    c.n_expert_used = 4;
    c.expert_ff = 128;
  } else if (size == "0.5b") {
    // qwen3moe: 16 x (attention 2.6M + 32 experts x 3 x 1024 x 288) + embeddings
    c.n_layers = 16;
    c.d_model = 1024;
    c.n_heads = 16;
    c.n_kv_heads = 4;
    c.head_dim = 64;
    c.n_expert = 32;
    c.n_expert_used = 4;
    c.expert_ff = 288;
    c.ff = 3072;  // dense archs: 24 layers of attention + 3 x 1024 x 3072
    if (arch != "qwen3moe") c.n_layers = 24;
    c.type = WeightType::bf16;
  } else {
    fail(Errc::invalid_argument, "unknown size '" + std::string(size) + "' (use tiny, small or 0.5b)");
  }
  return c;
}

void validate(const TinyConfig& c) {
  auto bad = [](const std::string& what) { fail(Errc::invalid_argument, "tiny model: " + what); };
  if (c.arch != "qwen3moe" && c.arch != "qwen3" && c.arch != "llama")
    bad("architecture '" + c.arch + "' is not one of qwen3moe, qwen3, llama");
  if (c.n_layers < 1 || c.n_layers > 1024) bad("layers must be in 1..1024");
  if (c.d_model < 1 || c.d_model > 65536) bad("hidden size must be in 1..65536");
  if (c.n_heads < 1 || c.n_kv_heads < 1 || c.n_heads % c.n_kv_heads != 0)
    bad("heads must be a positive multiple of kv-heads");
  if (c.head_dim < 2 || c.head_dim % 2 != 0 || c.head_dim > 1024) bad("head-dim must be even, 2..1024");
  if (c.arch == "qwen3moe") {
    if (c.n_expert < 1 || c.n_expert_used < 1 || c.n_expert_used > c.n_expert)
      bad("experts-used must be in 1..experts");
    if (c.expert_ff < 1) bad("expert-ff must be positive");
  } else if (c.ff < 1) {
    bad("ff must be positive");
  }
  if (c.context_length < 1) bad("context must be positive");
  if (c.type == WeightType::q8_0) {
    const int64_t q = int64_t(c.n_heads) * c.head_dim;
    if (c.d_model % 32 || q % 32 || c.expert_ff % 32 || c.ff % 32)
      bad("q8_0 needs hidden, heads*head-dim and ff sizes that are multiples of 32");
  }
}

void add_tiny_model(gguf::Writer& w, const TinyConfig& c) {
  validate(c);
  const tok::Vocab vocab =
      c.tokenizer_json.empty() ? synthetic_vocab(c.n_merges) : tok::vocab_from_hf_tokenizer_json(c.tokenizer_json);
  const uint64_t V = vocab.tokens.size();
  const std::string a = c.arch + ".";
  const bool moe = c.arch == "qwen3moe";
  w.set_string("general.architecture", c.arch);
  w.set_string("general.name", "folio-tiny-" + c.arch);
  w.set_u64("general.seed", c.seed);
  // Marks the weights as random so tools can say plainly that answers are meaningless.
  w.set_bool("folio.random_weights", true);
  w.set_u32(a + "block_count", uint32_t(c.n_layers));
  w.set_u32(a + "context_length", uint32_t(c.context_length));
  w.set_u32(a + "embedding_length", uint32_t(c.d_model));
  w.set_u32(a + "attention.head_count", uint32_t(c.n_heads));
  w.set_u32(a + "attention.head_count_kv", uint32_t(c.n_kv_heads));
  w.set_u32(a + "attention.key_length", uint32_t(c.head_dim));
  w.set_u32(a + "attention.value_length", uint32_t(c.head_dim));
  w.set_f32(a + "rope.freq_base", c.rope_theta);
  w.set_f32(a + "attention.layer_norm_rms_epsilon", c.rms_eps);
  if (moe) {
    w.set_u32(a + "expert_count", uint32_t(c.n_expert));
    w.set_u32(a + "expert_used_count", uint32_t(c.n_expert_used));
    w.set_u32(a + "expert_feed_forward_length", uint32_t(c.expert_ff));
    w.set_bool(a + "expert_weights_norm", c.norm_topk);
  } else {
    w.set_u32(a + "feed_forward_length", uint32_t(c.ff));
  }
  tok::write_vocab(w, vocab);

  const uint64_t d = uint64_t(c.d_model), q = uint64_t(c.n_heads) * uint64_t(c.head_dim),
                 kv = uint64_t(c.n_kv_heads) * uint64_t(c.head_dim);
  // Scales keep activations O(1): a projection with fan-in f gets std 1/sqrt(f)
  // (uniform half-width sqrt(3/f)); norms are 1 +- 0.1; the output layer is a
  // little sharper so that the logits are not flat.
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, bool is_norm, float std_dev) {
    uint64_t n = 1;
    for (uint64_t s : shape) n *= s;
    const WeightType type = is_norm ? WeightType::f32 : c.type;
    const Stream s{splitmix64(c.seed ^ fnv1a(name)), is_norm ? 1.0f : 0.0f,
                   is_norm ? 0.1f : std_dev * std::sqrt(3.0f)};
    w.add_tensor_generated(name, std::move(shape), gguf_type(type),
                           [type, n, s](std::span<std::byte> out) { fill_tensor(out, type, n, s); });
  };
  auto proj = [&](uint64_t fan_in) { return 1.0f / std::sqrt(float(fan_in)); };
  add("token_embd.weight", {d, V}, false, 1.0f);
  add("output_norm.weight", {d}, true, 0);
  if (!c.tied_output) add("output.weight", {d, V}, false, 2.0f * proj(d));
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", {d}, true, 0);
    add(p + "attn_q.weight", {d, q}, false, proj(d));
    add(p + "attn_k.weight", {d, kv}, false, proj(d));
    add(p + "attn_v.weight", {d, kv}, false, proj(d));
    add(p + "attn_output.weight", {q, d}, false, proj(q));
    if (c.arch != "llama") {
      add(p + "attn_q_norm.weight", {uint64_t(c.head_dim)}, true, 0);
      add(p + "attn_k_norm.weight", {uint64_t(c.head_dim)}, true, 0);
    }
    add(p + "ffn_norm.weight", {d}, true, 0);
    if (moe) {
      const uint64_t E = uint64_t(c.n_expert), ff = uint64_t(c.expert_ff);
      add(p + "ffn_gate_inp.weight", {d, E}, false, proj(d));
      add(p + "ffn_gate_exps.weight", {d, ff, E}, false, proj(d));
      add(p + "ffn_up_exps.weight", {d, ff, E}, false, proj(d));
      add(p + "ffn_down_exps.weight", {ff, d, E}, false, proj(ff));
    } else {
      const uint64_t ff = uint64_t(c.ff);
      add(p + "ffn_gate.weight", {d, ff}, false, proj(d));
      add(p + "ffn_up.weight", {d, ff}, false, proj(d));
      add(p + "ffn_down.weight", {ff, d}, false, proj(ff));
    }
  }
}

void write_tiny_model(const TinyConfig& c, const std::filesystem::path& out) {
  gguf::Writer w;
  add_tiny_model(w, c);
  w.write(out);
}

std::vector<std::byte> tiny_model_bytes(const TinyConfig& c) {
  gguf::Writer w;
  add_tiny_model(w, c);
  return w.to_bytes();
}

}  // namespace folio::model
