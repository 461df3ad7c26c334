#include "runtime/model/model.hpp"

#include <cmath>
#include <string>

#include "runtime/common/error.hpp"
#include "runtime/gguf/gguf.hpp"

namespace folio::model {

using backend::Act;
using backend::Weight;
using backend::WeightType;

namespace {

std::string shape_text(const std::vector<uint64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

class Loader {
 public:
  Loader(const gguf::File& f, backend::Backend& be, const HParams& hp) : f_(f), be_(be), hp_(hp) {}

  // Tensor `name` with exactly `shape` (innermost first), uploaded.
  Weight get(const std::string& name, std::vector<uint64_t> shape) const {
    const gguf::TensorInfo* t = f_.find_tensor(name);
    if (t == nullptr)
      fail(Errc::format, f_.name() + ": tensor '" + name + "' is missing (a " + arch_name(hp_.arch) +
                             " model needs it)");
    return upload(*t, std::move(shape));
  }
  const gguf::TensorInfo* find(const std::string& name) const { return f_.find_tensor(name); }

  Weight upload(const gguf::TensorInfo& t, std::vector<uint64_t> shape) const {
    if (t.shape != shape)
      fail(Errc::format, f_.name() + ": tensor '" + t.name + "' has shape " + shape_text(t.shape) + ", but this " +
                             arch_name(hp_.arch) + " model (embedding " + std::to_string(hp_.d_model) + ", " +
                             std::to_string(hp_.n_heads) + " heads / " + std::to_string(hp_.n_kv_heads) +
                             " KV heads of " + std::to_string(hp_.head_dim) + ") needs " + shape_text(shape));
    WeightType type;
    switch (t.type) {
      case gguf::TensorType::f32: type = WeightType::f32; break;
      case gguf::TensorType::f16: type = WeightType::f16; break;
      case gguf::TensorType::bf16: type = WeightType::bf16; break;
      case gguf::TensorType::q8_0: type = WeightType::q8_0; break;
      default:
        fail(Errc::unsupported, f_.name() + ": tensor '" + t.name + "' has type " +
                                    gguf::tensor_type_name(uint32_t(t.type)) + ", not F32/F16/BF16/Q8_0");
    }
    backend::HostWeight hw;
    hw.name = t.name;
    hw.type = type;
    hw.cols = int64_t(shape[0]);
    hw.rows = shape.size() > 1 ? int64_t(shape[1]) : 1;
    hw.count = shape.size() > 2 ? int64_t(shape[2]) : 1;
    hw.bytes = t.data;
    return be_.upload(hw);
  }

 private:
  const gguf::File& f_;
  backend::Backend& be_;
  const HParams& hp_;
};

}  // namespace

Model Model::load(std::shared_ptr<const gguf::File> file, backend::Backend& be) {
  if (!file) fail(Errc::invalid_argument, "Model::load: no file");
  Model m;
  m.file_ = std::move(file);
  m.backend_ = &be;
  m.hp_ = read_hparams(*m.file_);
  const HParams& hp = m.hp_;
  const Loader ld(*m.file_, be, hp);
  const uint64_t d = uint64_t(hp.d_model), q = uint64_t(hp.n_heads) * uint64_t(hp.head_dim),
                 kv = uint64_t(hp.n_kv_heads) * uint64_t(hp.head_dim), V = uint64_t(hp.n_vocab);
  m.token_embd_ = ld.get("token_embd.weight", {d, V});
  m.output_norm_ = ld.get("output_norm.weight", {d});
  if (ld.find("output.weight")) m.output_ = ld.get("output.weight", {d, V});
  else m.tied_output_ = true;
  m.layers_.resize(size_t(hp.n_layers));
  for (int i = 0; i < hp.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& L = m.layers_[size_t(i)];
    L.attn_norm = ld.get(p + "attn_norm.weight", {d});
    L.wq = ld.get(p + "attn_q.weight", {d, q});
    L.wk = ld.get(p + "attn_k.weight", {d, kv});
    L.wv = ld.get(p + "attn_v.weight", {d, kv});
    L.wo = ld.get(p + "attn_output.weight", {q, d});
    if (hp.qk_norm) {
      L.q_norm = ld.get(p + "attn_q_norm.weight", {uint64_t(hp.head_dim)});
      L.k_norm = ld.get(p + "attn_k_norm.weight", {uint64_t(hp.head_dim)});
    }
    L.ffn_norm = ld.get(p + "ffn_norm.weight", {d});
    if (hp.is_moe()) {
      const uint64_t E = uint64_t(hp.n_expert), ff = uint64_t(hp.expert_ff);
      L.router = ld.get(p + "ffn_gate_inp.weight", {d, E});
      L.gate_exps = ld.get(p + "ffn_gate_exps.weight", {d, ff, E});
      L.up_exps = ld.get(p + "ffn_up_exps.weight", {d, ff, E});
      L.down_exps = ld.get(p + "ffn_down_exps.weight", {ff, d, E});
    } else {
      const uint64_t ff = uint64_t(hp.ff);
      L.ffn_gate = ld.get(p + "ffn_gate.weight", {d, ff});
      L.ffn_up = ld.get(p + "ffn_up.weight", {d, ff});
      L.ffn_down = ld.get(p + "ffn_down.weight", {ff, d});
    }
  }
  return m;
}

// --- Session -------------------------------------------------------------------

Session::Session(const Model& model, const SessionOptions& options) : model_(&model) {
  const HParams& hp = model.hparams();
  max_tokens_ = options.max_tokens > 0 ? options.max_tokens : hp.context_length;
  if (max_tokens_ <= 0) fail(Errc::invalid_argument, "session: context length must be positive");
  chunk_ = std::max<int64_t>(1, std::min(options.prefill_chunk > 0 ? options.prefill_chunk : 512, max_tokens_));
  backend::Backend& be = model.backend();
  kv::CacheConfig cc;
  cc.n_layers = hp.n_layers;
  cc.n_kv_heads = hp.n_kv_heads;
  cc.head_dim = hp.head_dim;
  cc.max_tokens = max_tokens_;
  cache_ = be.make_kv_cache(cc);
  const int64_t d = hp.d_model, q = int64_t(hp.n_heads) * hp.head_dim, kv = int64_t(hp.n_kv_heads) * hp.head_dim;
  x_ = be.alloc(chunk_ * d);
  h_ = be.alloc(chunk_ * d);
  f_ = be.alloc(chunk_ * d);
  q_ = be.alloc(chunk_ * q);
  att_ = be.alloc(chunk_ * q);
  k_ = be.alloc(chunk_ * kv);
  v_ = be.alloc(chunk_ * kv);
  logits_ = be.alloc(hp.n_vocab);  // grown on demand when every position's logits are asked for
  if (hp.is_moe()) stats_.tokens_per_expert.assign(size_t(hp.n_expert), 0);
  if (options.sparse) {
    attn::validate(*options.sparse);
    sparse_ = options.sparse;
  }
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;

bool Session::fork_cache_from(Session& origin) {
  if (origin.model_ != model_) fail(Errc::invalid_argument, "session: fork from a session of another model");
  if (origin.max_tokens_ != max_tokens_)
    fail(Errc::invalid_argument, "session: fork between sessions of different capacities");
  auto cache = origin.cache_->fork();
  if (!cache) return false;
  cache_ = std::move(cache);
  n_past_ = origin.n_past_;
  return true;
}

void Session::truncate(int64_t n) {
  if (n < 0 || n > n_past_) fail(Errc::invalid_argument, "session: truncate past the end");
  cache_->truncate(n);
  n_past_ = n;
}

void Session::forward(std::span<const TokenId> tokens, std::vector<float>* all) {
  const Model& m = *model_;
  const HParams& hp = m.hparams();
  backend::Backend& be = m.backend();
  const int64_t n = int64_t(tokens.size());
  if (n_past_ + n > max_tokens_)
    fail(Errc::invalid_argument, "context full: " + std::to_string(n_past_ + n) + " tokens exceed the session's " +
                                     std::to_string(max_tokens_) + " (start a new session or raise the context size)");
  const int64_t d = hp.d_model, qd = int64_t(hp.n_heads) * hp.head_dim, kvd = int64_t(hp.n_kv_heads) * hp.head_dim;
  const Act x = x_.view(n, d), h = h_.view(n, d), f = f_.view(n, d), q = q_.view(n, qd), att = att_.view(n, qd),
            k = k_.view(n, kvd), v = v_.view(n, kvd);
  const int64_t pos0 = n_past_;
  backend::RopeParams rope;
  rope.theta = hp.rope_theta;
  rope.style = hp.arch == Arch::llama ? backend::RopeParams::Style::interleaved : backend::RopeParams::Style::neox;
  backend::AttentionParams ap;
  ap.n_heads = hp.n_heads;
  ap.n_kv_heads = hp.n_kv_heads;
  ap.head_dim = hp.head_dim;
  ap.scale = 1.0f / std::sqrt(float(hp.head_dim));
  backend::MoeParams mp;
  mp.n_used = hp.n_expert_used;
  mp.normalize_topk = hp.norm_topk;
  backend::MoeStats ms{stats_.tokens_per_expert};

  be.embed(m.token_embd(), tokens, x);
  // h = the attention norm of x; later layers get it from the previous layer's
  // last residual step (add_rms_norm: one pass on backends that fuse it).
  if (hp.n_layers > 0) be.rms_norm(x, m.layer(0).attn_norm, hp.rms_eps, h);
  for (int l = 0; l < hp.n_layers; ++l) {
    const LayerWeights& L = m.layer(l);
    const backend::Projection qkv[] = {{&L.wq, q}, {&L.wk, k}, {&L.wv, v}};
    be.matmul_shared_input(h, qkv);
    if (hp.qk_norm) {
      be.qk_norm_rope_kv_write(q, k, v, hp.head_dim, L.q_norm, L.k_norm, hp.rms_eps, pos0, rope, *cache_, l);
    } else {
      be.rope(q, hp.head_dim, pos0, rope);
      be.rope(k, hp.head_dim, pos0, rope);
      be.kv_write(*cache_, l, pos0, k, v);
    }
    if (observer_) observer_(l, q, pos0);
    if (sparse_ && !sparse_->dense) {
      // Global positions the planner may use: those already in the cache.
      std::vector<int32_t> globals;
      for (int32_t g : globals_)
        if (g >= 0 && g < pos0 + n) globals.push_back(g);
      be.attention_sparse(q, *cache_, l, pos0, ap, globals, *sparse_, att);
    } else {
      be.attention(q, *cache_, l, pos0, ap, att);
    }
    be.matmul(att, L.wo, h);
    be.add_rms_norm(x, h, L.ffn_norm, hp.rms_eps, h);
    if (hp.is_moe()) {
      const backend::MoeWeights mw{&L.router, &L.gate_exps, &L.up_exps, &L.down_exps};
      be.moe(h, mw, mp, f, &ms);
    } else {
      be.ffn_swiglu(h, L.ffn_gate, L.ffn_up, L.ffn_down, f);
    }
    if (l + 1 < hp.n_layers)
      be.add_rms_norm(x, f, m.layer(l + 1).attn_norm, hp.rms_eps, h);
    else
      be.add(x, f);
  }
  n_past_ += n;
  // Logits only for the rows asked for: the output matrix is the largest GEMM.
  const int64_t first = all ? 0 : n - 1, rows = n - first;
  const Act xs = x.slice_rows(first, rows), hs = h.slice_rows(first, rows);
  be.rms_norm(xs, m.output_norm(), hp.rms_eps, hs);
  if (logits_.n_floats < rows * hp.n_vocab) logits_ = be.alloc(rows * hp.n_vocab);
  const Act lg = logits_.view(rows, hp.n_vocab);
  be.matmul(hs, m.output(), lg);
  if (all) {
    const size_t off = all->size();
    all->resize(off + size_t(rows * hp.n_vocab));
    be.to_host(lg, std::span<float>(all->data() + off, size_t(rows * hp.n_vocab)));
  } else {
    last_logits_.resize(size_t(hp.n_vocab));
    be.to_host(lg, last_logits_);
  }
}

std::span<const float> Session::prefill(std::span<const TokenId> tokens) {
  if (tokens.empty()) fail(Errc::invalid_argument, "prefill: no tokens");
  for (size_t i = 0; i < tokens.size(); i += size_t(chunk_)) {
    const size_t len = std::min(tokens.size() - i, size_t(chunk_));
    forward(tokens.subspan(i, len), nullptr);
  }
  return last_logits_;
}

std::vector<float> Session::prefill_all(std::span<const TokenId> tokens) {
  std::vector<float> out;
  out.reserve(tokens.size() * size_t(model_->hparams().n_vocab));
  for (size_t i = 0; i < tokens.size(); i += size_t(chunk_)) {
    const size_t len = std::min(tokens.size() - i, size_t(chunk_));
    forward(tokens.subspan(i, len), &out);
  }
  return out;
}

std::span<const float> Session::decode_step(TokenId token) {
  forward(std::span<const TokenId>(&token, 1), nullptr);
  return last_logits_;
}

}  // namespace folio::model
