// The CUDA backend against the CPU backend (the oracle), on a GPU.
//
//   cuda_backend_check [--json FILE] [--seed N] [--parity-dir DIR]
//
// Op level: every Backend operation on fresh random inputs of odd sizes (the
// seed is printed), every weight type, 1..150-token batches (decode GEMV and
// prefill GEMM paths), attention with GQA ratios 1/2/4/8, head dims 32 (the
// generic kernel), 64 and 128, a chunk at an odd offset, a decode step, a host
// sparse plan (against attn::attend_plan) and the GPU planner with a budget
// covering every block (must equal dense); the fused decode ops
// (matmul_shared_input, qk_norm_rope_kv_write) against the CPU's separate ops,
// and the fused KV write's cache bit for bit against the unfused GPU ops.
// Limits: 1e-3 relative for f32 paths, 1e-2 where bf16 rounding enters.
// Model level: make-tiny models (qwen3moe and qwen3; f32, bf16 and q8_0 weights)
// and the parity fixtures (tests/data/parity/<name>/, converted in-process).
// The GPU runs the prompt and then the CPU's 32 greedy tokens one decode step at
// a time, with the CPU's expert choices replayed (MoeParams::forced_experts):
// logits of every prompt position and every step within 2e-2 relative of the
// CPU's, and at every step the same greedy token unless the CPU's own logits
// of the two tokens differ by less than that step's measured logit error (a
// tie within rounding). Sparse sessions replay the CPU's attention plans the
// same way (a KV block whose score ties another's can be chosen either way).
// Without replay, a near-tied expert choice that bf16
// rounding moves changes that token's K/V and every later token, which says
// nothing about the kernels; the free-running comparison (own routing, own
// greedy tokens) is still run and reported in the note. Weights stored as f32
// or q8_0 are rounded to bf16 when the GPU uploads them while the CPU computes
// with them as stored, so those rows include that rounding: their limit is 5e-2.
// The bf16 rows (same weights on both) hold the backend arithmetic to 2e-2.
// Prints a table; exit status 1 when any check fails, 2 without a GPU.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "runtime/attention/plan.hpp"
#include "runtime/attention/reference.hpp"
#include "runtime/backend/cpu/cpu_backend.hpp"
#include "runtime/backend/cpu/cpu_kv_cache.hpp"
#include "runtime/backend/cuda/cuda_backend.hpp"
#include "runtime/backend/cuda/cuda_kv_cache.hpp"
#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"
#include "runtime/convert/convert.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/model/model.hpp"
#if FOLIO_CHECK_WITH_STORE
#include "runtime/backend/cuda/cuda_kv_snapshot.hpp"
#include "runtime/store/block_key.hpp"
#include "runtime/store/session_snapshot.hpp"
#include "runtime/store/store.hpp"
#endif
#include "runtime/model/tiny_model.hpp"
#include "runtime/sampling/sampler.hpp"
#include "tests/cuda/check_support.hpp"

using namespace folio;
using namespace folio::cudacheck;
namespace fs = std::filesystem;

namespace {

constexpr double kF32Limit = 1e-3, kBf16Limit = 1e-2, kModelLimit = 2e-2, kModelRoundedWeightsLimit = 5e-2;

std::string dims(std::initializer_list<int64_t> d) {
  std::string s;
  for (int64_t x : d) s += (s.empty() ? "" : "x") + std::to_string(x);
  return s;
}

// A Backend that forwards every call to another and, while recording, notes
// each MoE call's routing: the router logits (the same f32 matmul the backend's
// moe runs first) and the top-k experts they give (ties to the lower index, the
// Backend rule), per (layer, absolute token position). Calls arrive layer by
// layer within a forward, so the layer is the call count modulo n_layers and the
// position advances by the rows of a forward after its last layer.
class RoutingRecorder final : public backend::Backend {
 public:
  struct Decision {
    std::vector<int32_t> experts;  // sorted ids of the top-k
    float margin = 0;              // k-th minus (k+1)-th router logit
    std::vector<float> logits;
  };
  RoutingRecorder(backend::Backend& inner, int n_layers) : in_(inner), n_layers_(n_layers) {}
  bool recording = false;
  std::map<std::pair<int, int64_t>, Decision> decisions;  // (layer, position)
  // When set, every MoE call replays these decisions (another backend's).
  const std::map<std::pair<int, int64_t>, Decision>* replay = nullptr;
  // The sparse-attention plans of a recording run, per (layer, first query
  // position), and when set a run's plans to replay: attention_sparse then
  // attends over the other backend's plan instead of planning (a block whose
  // score ties another's within rounding may be chosen differently).
  std::map<std::pair<int, int64_t>, attn::Plan> plans;
  const std::map<std::pair<int, int64_t>, attn::Plan>* plan_replay = nullptr;

  std::string_view name() const noexcept override { return in_.name(); }
  backend::Buffer alloc(int64_t n) override { return in_.alloc(n); }
  backend::Weight upload(const backend::HostWeight& w) override { return in_.upload(w); }
  std::unique_ptr<backend::KvCache> make_kv_cache(const kv::CacheConfig& c) override { return in_.make_kv_cache(c); }
  void to_host(const backend::Act& a, std::span<float> d) override { in_.to_host(a, d); }
  void from_host(std::span<const float> s, const backend::Act& d) override { in_.from_host(s, d); }
  void embed(const backend::Weight& t, std::span<const int32_t> ids, const backend::Act& o) override {
    in_.embed(t, ids, o);
  }
  void rms_norm(const backend::Act& x, const backend::Weight& g, float e, const backend::Act& y) override {
    in_.rms_norm(x, g, e, y);
  }
  void head_rms_norm(const backend::Act& x, int hd, const backend::Weight& g, float e) override {
    in_.head_rms_norm(x, hd, g, e);
  }
  void rope(const backend::Act& x, int hd, int64_t pos0, const backend::RopeParams& p) override {
    in_.rope(x, hd, pos0, p);
  }
  void add(const backend::Act& y, const backend::Act& x) override { in_.add(y, x); }
  void add_rms_norm(const backend::Act& y, const backend::Act& x, const backend::Weight& g, float e,
                    const backend::Act& out) override {
    in_.add_rms_norm(y, x, g, e, out);
  }
  void head_norm_rope(const backend::Act& x, int hd, const backend::Weight& g, float e, int64_t pos0,
                      const backend::RopeParams& p) override {
    in_.head_norm_rope(x, hd, g, e, pos0, p);
  }
  void matmul(const backend::Act& x, const backend::Weight& w, const backend::Act& y, int64_t i) override {
    in_.matmul(x, w, y, i);
  }
  void matmul_shared_input(const backend::Act& x, std::span<const backend::Projection> out) override {
    in_.matmul_shared_input(x, out);
  }
  void ffn_swiglu(const backend::Act& x, const backend::Weight& g, const backend::Weight& u, const backend::Weight& d,
                  const backend::Act& o) override {
    in_.ffn_swiglu(x, g, u, d, o);
  }
  void moe(const backend::Act& x, const backend::MoeWeights& w, const backend::MoeParams& p, const backend::Act& out,
           backend::MoeStats* stats) override {
    const int layer = calls_ % n_layers_;
    std::vector<int32_t> forced;
    if (replay) {
      for (int64_t r = 0; r < x.rows; ++r) {
        const auto it = replay->find({layer, pos_ + r});
        if (it == replay->end())
          fail(Errc::internal, "routing replay: no decision for layer " + std::to_string(layer) + " position " +
                                   std::to_string(pos_ + r));
        forced.insert(forced.end(), it->second.experts.begin(), it->second.experts.end());
      }
    }
    if (recording) {
      const int64_t E = w.router->rows;
      const backend::Buffer lg = in_.alloc(x.rows * E);
      in_.matmul(x, *w.router, lg.view(x.rows, E), 0);
      std::vector<float> h(size_t(x.rows * E));
      in_.to_host(lg.view(x.rows, E), h);
      for (int64_t r = 0; r < x.rows; ++r) {
        Decision d;
        d.logits.assign(h.begin() + r * E, h.begin() + (r + 1) * E);
        std::vector<int32_t> order(static_cast<size_t>(E));
        for (int32_t e = 0; e < int32_t(E); ++e) order[size_t(e)] = e;
        std::stable_sort(order.begin(), order.end(),
                         [&](int32_t a, int32_t b) { return d.logits[size_t(a)] > d.logits[size_t(b)]; });
        d.experts.assign(order.begin(), order.begin() + p.n_used);
        d.margin = p.n_used < E ? d.logits[size_t(order[size_t(p.n_used - 1)])] - d.logits[size_t(order[size_t(p.n_used)])]
                                : INFINITY;
        std::sort(d.experts.begin(), d.experts.end());
        decisions[{layer, pos_ + r}] = std::move(d);
      }
    }
    if (++calls_ % n_layers_ == 0) pos_ += x.rows;
    backend::MoeParams q = p;
    if (replay) q.forced_experts = forced;
    in_.moe(x, w, q, out, stats);
  }
  void kv_write(backend::KvCache& c, int l, int64_t pos0, const backend::Act& k, const backend::Act& v) override {
    in_.kv_write(c, l, pos0, k, v);
  }
  void qk_norm_rope_kv_write(const backend::Act& q, const backend::Act& k, const backend::Act& v, int hd,
                             const backend::Weight& qn, const backend::Weight& kn, float e, int64_t pos0,
                             const backend::RopeParams& p, backend::KvCache& c, int l) override {
    in_.qk_norm_rope_kv_write(q, k, v, hd, qn, kn, e, pos0, p, c, l);
  }
  void attention(const backend::Act& q, backend::KvCache& c, int l, int64_t pos0, const backend::AttentionParams& p,
                 const backend::Act& o, const attn::Plan* plan) override {
    in_.attention(q, c, l, pos0, p, o, plan);
  }
  attn::Plan plan_attention(const backend::Act& q, backend::KvCache& c, int l, int64_t pos0,
                            const backend::AttentionParams& p, std::span<const int32_t> g,
                            const attn::SparseConfig& cfg) override {
    return in_.plan_attention(q, c, l, pos0, p, g, cfg);
  }
  void attention_sparse(const backend::Act& q, backend::KvCache& c, int l, int64_t pos0,
                        const backend::AttentionParams& p, std::span<const int32_t> g, const attn::SparseConfig& cfg,
                        const backend::Act& o) override {
    if (plan_replay) {
      const auto it = plan_replay->find({l, pos0});
      if (it == plan_replay->end())
        fail(Errc::internal, "plan replay: no plan for layer " + std::to_string(l) + " at " + std::to_string(pos0));
      in_.attention(q, c, l, pos0, p, o, &it->second);
      return;
    }
    if (recording) plans[{l, pos0}] = in_.plan_attention(q, c, l, pos0, p, g, cfg);
    in_.attention_sparse(q, c, l, pos0, p, g, cfg, o);
  }
  void synchronize() override { in_.synchronize(); }

 private:
  backend::Backend& in_;
  int n_layers_;
  int64_t calls_ = 0, pos_ = 0;
};

class Checker {
 public:
  explicit Checker(uint64_t seed) : rng_(seed), cpu_(cpu::make_cpu_backend({0})), gpu_(cuda::make_cuda_backend()) {}

  cuda::CudaBackend& gpu() { return *gpu_; }
  const std::vector<Row>& rows() const { return rows_; }

  // A check passes when err < limit and `also` holds (a second criterion, named in the note).
  void record(std::string check, std::string shape, double err, double limit, std::string note = {},
              bool also = true) {
    Row r{std::move(check), std::move(shape), err, limit, err < limit && also, std::move(note)};
    std::printf("%-4s %-34s %-22s rel.err %.2e (limit %.0e) %s\n", r.pass ? "ok" : "FAIL", r.check.c_str(),
                r.shape.c_str(), r.error, r.limit, r.note.c_str());
    std::fflush(stdout);
    rows_.push_back(std::move(r));
  }
  // A check that threw: recorded as failed with the message.
  void guarded(const std::string& name, const std::function<void()>& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      record(name, "-", INFINITY, 0, std::string("error: ") + e.what());
    }
  }

  // --- element-wise and normalisation ---------------------------------------
  void norms() {
    const int64_t rows = 37, cols = 1000;
    const auto x = random_values(rng_, size_t(rows * cols), 2.0f);
    std::vector<float> gv(static_cast<size_t>(cols));
    for (auto& g : gv) g = 0.5f + float(rng_() % 1000) / 1000.0f;
    const auto gh = encode("norm.weight", WeightType::f32, 1, 1, cols, gv);
    {
      auto [c, g] = both(rows, cols, x);
      const Weight wc = cpu_->upload(gh->view), wg = gpu_->upload(gh->view);
      cpu_->rms_norm(c.act, wc, 1e-6f, c.act);
      gpu_->rms_norm(g.act, wg, 1e-6f, g.act);
      record("rms_norm (in place)", dims({rows, cols}), rel_error(download(*gpu_, g.act), download(*cpu_, c.act)),
             kF32Limit);
    }
    {  // odd width and a strided view: the uncached, unvectorised kernels
      const int64_t odd = 999;
      std::vector<float> go(gv.begin(), gv.begin() + odd);
      const auto goh = encode("norm_odd.weight", WeightType::f32, 1, 1, odd, go);
      auto [c, g] = both(rows, cols, x);
      auto yc = upload_act(*cpu_, rows, odd, {});
      auto yg = upload_act(*gpu_, rows, odd, {});
      cpu_->rms_norm(c.act.slice_cols(1, odd), cpu_->upload(goh->view), 1e-6f, yc.act);
      gpu_->rms_norm(g.act.slice_cols(1, odd), gpu_->upload(goh->view), 1e-6f, yg.act);
      cpu_->add(yc.act, c.act.slice_cols(1, odd));
      gpu_->add(yg.act, g.act.slice_cols(1, odd));
      record("rms_norm + add, odd strided", dims({rows, odd}), rel_error(download(*gpu_, yg.act), download(*cpu_, yc.act)),
             kF32Limit);
    }
    for (const int hd : {16, 64, 128}) {
      const int64_t heads = 5;
      const auto xh = random_values(rng_, size_t(rows * heads * hd), 3.0f);
      std::vector<float> hg(gv.begin(), gv.begin() + hd);
      const auto hh = encode("q_norm.weight", WeightType::f32, 1, 1, hd, hg);
      auto [c, g] = both(rows, heads * hd, xh);
      cpu_->head_rms_norm(c.act, hd, cpu_->upload(hh->view), 1e-6f);
      gpu_->head_rms_norm(g.act, hd, gpu_->upload(hh->view), 1e-6f);
      record("head_rms_norm", dims({rows, heads, hd}), rel_error(download(*gpu_, g.act), download(*cpu_, c.act)),
             kF32Limit);
    }
    for (const bool neox : {true, false}) {
      const int hd = neox ? 128 : 64, heads = 3;
      backend::RopeParams p;
      p.style = neox ? backend::RopeParams::Style::neox : backend::RopeParams::Style::interleaved;
      p.theta = 1e6f;
      p.rot_dims = neox ? 0 : 32;
      const auto xr = random_values(rng_, size_t(rows * heads * hd), 1.0f);
      auto [c, g] = both(rows, heads * hd, xr);
      const int64_t pos0 = 100003;  // long-context positions: large angles
      cpu_->rope(c.act, hd, pos0, p);
      gpu_->rope(g.act, hd, pos0, p);
      record(neox ? "rope neox" : "rope interleaved, 32 of 64 dims", dims({rows, heads, hd}) + " @100003",
             rel_error(download(*gpu_, g.act), download(*cpu_, c.act)), kF32Limit);
    }
    {
      const auto y = random_values(rng_, size_t(rows * cols), 1.0f);
      auto [c, g] = both(rows, cols, x);
      auto [cy, gy] = both(rows, cols, y);
      cpu_->add(cy.act, c.act);
      gpu_->add(gy.act, g.act);
      record("add", dims({rows, cols}), rel_error(download(*gpu_, gy.act), download(*cpu_, cy.act)), kF32Limit);
    }
    // The fused residual step + norm: out aliases the added input (as in the
    // model), and the odd strided case takes the unvectorised kernel. Both the
    // updated residual and the norm are compared.
    for (const int64_t width : {cols, int64_t(999)}) {
      const auto y = random_values(rng_, size_t(rows * cols), 1.0f);
      std::vector<float> gw(gv.begin(), gv.begin() + width);
      const auto gwh = encode("ffn_norm.weight", WeightType::f32, 1, 1, width, gw);
      auto [c, g] = both(rows, cols, x);
      auto [cy, gy] = both(rows, cols, y);
      const int64_t first = width == cols ? 0 : 1;
      const backend::Act xc = c.act.slice_cols(first, width), xg = g.act.slice_cols(first, width);
      const backend::Act yc = cy.act.slice_cols(0, width), yg = gy.act.slice_cols(0, width);
      cpu_->add_rms_norm(yc, xc, cpu_->upload(gwh->view), 1e-6f, xc);
      gpu_->add_rms_norm(yg, xg, gpu_->upload(gwh->view), 1e-6f, xg);
      const std::string what = dims({rows, width}) + (width == cols ? "" : " strided");
      record("add_rms_norm: residual", what, rel_error(download(*gpu_, gy.act), download(*cpu_, cy.act)), kF32Limit);
      record("add_rms_norm: norm (into the added input)", what,
             rel_error(download(*gpu_, g.act), download(*cpu_, c.act)), kF32Limit);
    }
    // q/k norm and RoPE in one pass, at long-context positions.
    for (const bool neox : {true, false}) {
      const int hd = neox ? 128 : 64, heads = 5;
      backend::RopeParams p;
      p.style = neox ? backend::RopeParams::Style::neox : backend::RopeParams::Style::interleaved;
      p.theta = 1e6f;
      p.rot_dims = neox ? 0 : 32;
      std::vector<float> hg(gv.begin(), gv.begin() + hd);
      const auto hh = encode("k_norm.weight", WeightType::f32, 1, 1, hd, hg);
      const auto xr = random_values(rng_, size_t(rows * heads * hd), 3.0f);
      auto [c, g] = both(rows, heads * hd, xr);
      cpu_->head_norm_rope(c.act, hd, cpu_->upload(hh->view), 1e-6f, 131071, p);
      gpu_->head_norm_rope(g.act, hd, gpu_->upload(hh->view), 1e-6f, 131071, p);
      record(neox ? "head_norm_rope neox" : "head_norm_rope interleaved, 32 of 64 dims",
             dims({rows, heads, hd}) + " @131071", rel_error(download(*gpu_, g.act), download(*cpu_, c.act)),
             kF32Limit);
    }
    {
      const int64_t vocab = 1001, d = 200;
      const auto tv = random_values(rng_, size_t(vocab * d), 1.0f);
      const auto th = encode("token_embd.weight", WeightType::bf16, 1, vocab, d, tv);
      std::vector<int32_t> ids(53);
      for (auto& i : ids) i = int32_t(rng_() % uint64_t(vocab));
      auto c = upload_act(*cpu_, int64_t(ids.size()), d, {});
      auto g = upload_act(*gpu_, int64_t(ids.size()), d, {});
      cpu_->embed(cpu_->upload(th->view), ids, c.act);
      gpu_->embed(gpu_->upload(th->view), ids, g.act);
      record("embed (bf16 table)", dims({int64_t(ids.size()), d}),
             rel_error(download(*gpu_, g.act), download(*cpu_, c.act)), kF32Limit);
    }
  }

  // --- matmuls -----------------------------------------------------------------
  void matmuls() {
    const int64_t rows = 301, cols = 320;
    const auto wv = random_values(rng_, size_t(rows * cols), 0.1f);
    for (const WeightType t : {WeightType::f32, WeightType::f16, WeightType::bf16, WeightType::q8_0}) {
      const auto wh = encode("blk.0.attn_q.weight", t, 1, rows, cols, wv);
      const Weight wc = cpu_->upload(wh->view), wg = gpu_->upload(wh->view);
      for (const int64_t n : {1, 5, 8, 9, 133}) {
        const auto x = random_values(rng_, size_t(n * cols), 1.0f);
        auto [c, g] = both(n, cols, x);
        auto yc = upload_act(*cpu_, n, rows, {});
        auto yg = upload_act(*gpu_, n, rows, {});
        cpu_->matmul(c.act, wc, yc.act);
        gpu_->matmul(g.act, wg, yg.act);
        record(std::string("matmul ") + backend::weight_type_name(t) + (n <= 8 ? " (gemv)" : " (cublas)"),
               dims({n, cols}) + "->" + std::to_string(rows),
               rel_error(download(*gpu_, yg.act), download(*cpu_, yc.act)), kBf16Limit);
      }
    }
    // Few rows, long columns: the GEMV splits each row over a block.
    {
      const int64_t r = 77, k = 2048;
      const auto sv = random_values(rng_, size_t(r * k), 0.05f);
      const auto sh = encode("blk.0.attn_k.weight", WeightType::bf16, 1, r, k, sv);
      const Weight sc = cpu_->upload(sh->view), sg = gpu_->upload(sh->view);
      for (const int64_t n : {1, 4}) {
        const auto x = random_values(rng_, size_t(n * k), 1.0f);
        auto [c, g] = both(n, k, x);
        auto yc = upload_act(*cpu_, n, r, {});
        auto yg = upload_act(*gpu_, n, r, {});
        cpu_->matmul(c.act, sc, yc.act);
        gpu_->matmul(g.act, sg, yg.act);
        record("matmul bf16 (gemv, row split)", dims({n, k}) + "->" + std::to_string(r),
               rel_error(download(*gpu_, yg.act), download(*cpu_, yc.act)), kBf16Limit);
      }
    }
    // The bf16 copy of an input is reused by consecutive matmuls, and forgotten
    // when an op writes the input in between.
    {
      const int64_t n = 64, k = 256, r = 96;
      const auto wa = encode("a.weight", WeightType::bf16, 1, r, k, random_values(rng_, size_t(r * k), 0.1f));
      const auto wb = encode("b.weight", WeightType::bf16, 1, r, k, random_values(rng_, size_t(r * k), 0.1f));
      const auto x = random_values(rng_, size_t(n * k), 1.0f), x2 = random_values(rng_, size_t(n * k), 1.0f);
      const Weight ac = cpu_->upload(wa->view), bc = cpu_->upload(wb->view);
      const Weight ag = gpu_->upload(wa->view), bg = gpu_->upload(wb->view);
      auto [c, g] = both(n, k, x);
      auto [c2, g2] = both(n, k, x2);
      auto yc = upload_act(*cpu_, n, r, {});
      auto yg = upload_act(*gpu_, n, r, {});
      gpu_->matmul(g.act, ag, yg.act);
      gpu_->add(g.act, g2.act);  // x changes: the next matmul must not reuse the old copy
      gpu_->matmul(g.act, bg, yg.act);
      cpu_->matmul(c.act, ac, yc.act);
      cpu_->add(c.act, c2.act);
      cpu_->matmul(c.act, bc, yc.act);
      record("matmul after the input changed", dims({n, k}) + "->" + std::to_string(r),
             rel_error(download(*gpu_, yg.act), download(*cpu_, yc.act)), kBf16Limit);
    }
    // Routers stay f32 on the device: f32 accuracy.
    const auto rh = encode("blk.0.ffn_gate_inp.weight", WeightType::f32, 1, rows, cols, wv);
    const Weight rc = cpu_->upload(rh->view), rg = gpu_->upload(rh->view);
    for (const int64_t n : {1, 133}) {
      const auto x = random_values(rng_, size_t(n * cols), 1.0f);
      auto [c, g] = both(n, cols, x);
      auto yc = upload_act(*cpu_, n, rows, {});
      auto yg = upload_act(*gpu_, n, rows, {});
      cpu_->matmul(c.act, rc, yc.act);
      gpu_->matmul(g.act, rg, yg.act);
      record("matmul f32 router (kept f32)", dims({n, cols}) + "->" + std::to_string(rows),
             rel_error(download(*gpu_, yg.act), download(*cpu_, yc.act)), kF32Limit);
    }
    // A stacked weight: matrix 2 of 3, through a strided (column-sliced) input.
    {
      const int64_t r = 96, k = 160, n = 40;
      const auto sv = random_values(rng_, size_t(3 * r * k), 0.1f);
      const auto sh = encode("blk.0.stacked.weight", WeightType::bf16, 3, r, k, sv);
      const auto x = random_values(rng_, size_t(n * (k + 32)), 1.0f);
      auto [c, g] = both(n, k + 32, x);
      auto yc = upload_act(*cpu_, n, r, {});
      auto yg = upload_act(*gpu_, n, r, {});
      cpu_->matmul(c.act.slice_cols(32, k), cpu_->upload(sh->view), yc.act, 2);
      gpu_->matmul(g.act.slice_cols(32, k), gpu_->upload(sh->view), yg.act, 2);
      record("matmul stacked[2], strided x", dims({n, k}) + "->" + std::to_string(r),
             rel_error(download(*gpu_, yg.act), download(*cpu_, yc.act)), kBf16Limit);
    }
  }

  void ffn() {
    const int64_t d = 256, ff = 200;
    const auto gh = encode("ffn_gate.weight", WeightType::bf16, 1, ff, d, random_values(rng_, size_t(ff * d), 0.1f));
    const auto uh = encode("ffn_up.weight", WeightType::bf16, 1, ff, d, random_values(rng_, size_t(ff * d), 0.1f));
    const auto dh = encode("ffn_down.weight", WeightType::bf16, 1, d, ff, random_values(rng_, size_t(ff * d), 0.1f));
    const Weight gc = cpu_->upload(gh->view), uc = cpu_->upload(uh->view), dc = cpu_->upload(dh->view);
    const Weight gg = gpu_->upload(gh->view), ug = gpu_->upload(uh->view), dg = gpu_->upload(dh->view);
    for (const int64_t n : {1, 7, 100}) {
      const auto x = random_values(rng_, size_t(n * d), 2.0f);
      auto [c, g] = both(n, d, x);
      auto oc = upload_act(*cpu_, n, d, {});
      auto og = upload_act(*gpu_, n, d, {});
      cpu_->ffn_swiglu(c.act, gc, uc, dc, oc.act);
      gpu_->ffn_swiglu(g.act, gg, ug, dg, og.act);
      record("ffn_swiglu", dims({n, d, ff}), rel_error(download(*gpu_, og.act), download(*cpu_, oc.act)), kBf16Limit);
    }
  }

  // MoE shapes: the small one of the make-tiny models; 128 experts top-8 with an odd
  // number of output rows (the rank-based top-k with four expert blocks, the
  // split down rows with a partial last block); 40 experts (a padded expert
  // block) with ff = 45 (the unaligned down path); d 1024 / ff 256 (the grouped
  // path's 16-byte gather, SwiGLU and combine at a width of several passes per
  // thread). tied: router rows come in equal pairs, so experts 2i and 2i + 1
  // always tie and the lower index must win.
  struct MoeShape {
    int64_t d, ff, E;
    int K;
    WeightType down_type;
    bool tied;
  };

  void moe() {
    for (const MoeShape& s : {MoeShape{256, 96, 16, 4, WeightType::q8_0, false},
                              MoeShape{517, 128, 128, 8, WeightType::q8_0, false},
                              MoeShape{517, 128, 128, 8, WeightType::bf16, true},
                              MoeShape{130, 45, 40, 6, WeightType::bf16, true},
                              MoeShape{1024, 256, 32, 8, WeightType::bf16, false}})
      guarded("moe E" + std::to_string(s.E), [&] { moe_case(s); });
  }

  void moe_case(const MoeShape& s) {
    const int64_t d = s.d, ff = s.ff, E = s.E;
    const int K = s.K;
    auto router = random_values(rng_, size_t(E * d), 0.2f);
    if (s.tied)
      for (int64_t e = 1; e < E; e += 2) std::copy_n(router.begin() + (e - 1) * d, d, router.begin() + e * d);
    const auto rh = encode("blk.0.ffn_gate_inp.weight", WeightType::f32, 1, E, d, router);
    const auto gh = encode("blk.0.ffn_gate_exps.weight", WeightType::bf16, E, ff, d,
                           random_values(rng_, size_t(E * ff * d), 0.1f));
    const auto uh = encode("blk.0.ffn_up_exps.weight", WeightType::bf16, E, ff, d,
                           random_values(rng_, size_t(E * ff * d), 0.1f));
    const auto dh = encode("blk.0.ffn_down_exps.weight", s.down_type, E, d, ff,
                           random_values(rng_, size_t(E * ff * d), 0.1f));
    const Weight w[2][4] = {
        {cpu_->upload(rh->view), cpu_->upload(gh->view), cpu_->upload(uh->view), cpu_->upload(dh->view)},
        {gpu_->upload(rh->view), gpu_->upload(gh->view), gpu_->upload(uh->view), gpu_->upload(dh->view)}};
    const std::string name = "moe top-" + std::to_string(K) + " of " + std::to_string(E) + (s.tied ? " tied" : "");
    for (const bool norm : {true, false})
      for (const int64_t n : {1, 3, 8, 9, 150, 600}) {
        const auto x = random_values(rng_, size_t(n * d), 2.0f);
        auto [c, g] = both(n, d, x);
        auto oc = upload_act(*cpu_, n, d, {});
        auto og = upload_act(*gpu_, n, d, {});
        backend::MoeParams p;
        p.n_used = K;
        p.normalize_topk = norm;
        std::vector<int64_t> sc(size_t(E), 0), sg(size_t(E), 0);
        backend::MoeStats stc{sc}, stg{sg};
        cpu_->moe(c.act, {&w[0][0], &w[0][1], &w[0][2], &w[0][3]}, p, oc.act, &stc);
        gpu_->moe(g.act, {&w[1][0], &w[1][1], &w[1][2], &w[1][3]}, p, og.act, &stg);
        const double err = rel_error(download(*gpu_, og.act), download(*cpu_, oc.act));
        gpu_->synchronize();  // settles decode-path expert counts
        record(name + (norm ? " renorm" : "") + (n <= 8 ? " (fused gemv)" : " (grouped)"), dims({n, d, ff}), err,
               kBf16Limit, sc == sg ? "routing counts equal" : "ROUTING COUNTS DIFFER", sc == sg);
      }
  }

  // --- fused decode ops --------------------------------------------------------------
  // matmul_shared_input (one GEMV launch over several matrices in decode) against
  // the CPU's separate matmuls: a q/k/v-like triple of odd row counts, wide
  // (row-split GEMV) and narrow unaligned inputs, decode row counts and one
  // past them (the separate GEMMs).
  void shared_input_matmuls() {
    for (const int64_t cols : {int64_t(2048), int64_t(333)}) {
      const int64_t rows[3] = {301, 77, 77};
      std::vector<std::unique_ptr<HostTensor>> wh;
      std::vector<Weight> wc, wg;
      for (int i = 0; i < 3; ++i) {
        wh.push_back(encode("blk.0.attn_" + std::string(1, "qkv"[i]) + ".weight", WeightType::bf16, 1, rows[i], cols,
                            random_values(rng_, size_t(rows[i] * cols), 0.05f)));
        wc.push_back(cpu_->upload(wh.back()->view));
        wg.push_back(gpu_->upload(wh.back()->view));
      }
      for (const int64_t n : {1, 3, 8, 9}) {
        const auto x = random_values(rng_, size_t(n * cols), 1.0f);
        auto [c, g] = both(n, cols, x);
        std::vector<Tensor> yc, yg;
        std::vector<backend::Projection> pc, pg;
        for (int i = 0; i < 3; ++i) {
          yc.push_back(upload_act(*cpu_, n, rows[i], {}));
          yg.push_back(upload_act(*gpu_, n, rows[i], {}));
        }
        for (int i = 0; i < 3; ++i) {
          pc.push_back({&wc[size_t(i)], yc[size_t(i)].act});
          pg.push_back({&wg[size_t(i)], yg[size_t(i)].act});
        }
        cpu_->matmul_shared_input(c.act, pc);
        gpu_->matmul_shared_input(g.act, pg);
        double err = 0;
        for (int i = 0; i < 3; ++i)
          err = std::max(err, rel_error(download(*gpu_, yg[size_t(i)].act), download(*cpu_, yc[size_t(i)].act)));
        record(std::string("matmul_shared_input") + (n <= 8 ? " (one gemv)" : " (cublas)"),
               dims({n, cols}) + "->301+77+77", err, kBf16Limit);
      }
    }
  }

  // qk_norm_rope_kv_write (one launch in decode) against the CPU's head_norm_rope,
  // head_norm_rope, kv_write: a cache prefilled to pos0, then `rows` rows written
  // (a row that completes a block, one that starts a block, rows across a block
  // boundary; 9, 130 and 200 rows: the prefill kernel, a block per row, over
  // several KV blocks). q and k against the CPU (f32), the block summaries against the
  // CPU's mean keys, attention of the last written position over the cache
  // (the stored K/V), and the GPU cache (keys, values, summaries) against the
  // unfused GPU sequence on a twin cache: the same bits.
  struct FusedKvCase {
    int head_dim, n_heads, n_kv_heads;
    bool neox;
    int rot_dims;
    int64_t pos0, rows;
  };

  void qk_norm_rope_kv() {
    for (const FusedKvCase& fc : {FusedKvCase{128, 32, 4, true, 0, 63, 1}, FusedKvCase{128, 32, 4, true, 0, 64, 1},
                                  FusedKvCase{128, 32, 4, true, 0, 126, 3}, FusedKvCase{64, 8, 2, false, 32, 61, 3},
                                  FusedKvCase{64, 8, 2, false, 32, 64, 1}, FusedKvCase{48, 6, 3, true, 0, 190, 3},
                                  FusedKvCase{128, 16, 2, true, 0, 1000, 9}, FusedKvCase{64, 8, 2, false, 32, 61, 200},
                                  FusedKvCase{128, 32, 4, true, 0, 5, 130}})
      guarded("qk_norm_rope_kv d" + std::to_string(fc.head_dim), [&] { qk_norm_rope_kv_case(fc); });
  }

  void qk_norm_rope_kv_case(const FusedKvCase& fc) {
    const int D = fc.head_dim, H = fc.n_heads, HK = fc.n_kv_heads;
    const int64_t qd = int64_t(H) * D, kvd = int64_t(HK) * D, n = fc.rows, pos0 = fc.pos0, end = pos0 + n;
    kv::CacheConfig cc{1, HK, D, 4096, false};
    auto cache_c = cpu_->make_kv_cache(cc);
    auto cache_g = gpu_->make_kv_cache(cc), twin_g = gpu_->make_kv_cache(cc);
    {  // the prefix
      const auto kk = random_values(rng_, size_t(pos0 * kvd), 1.0f), vv = random_values(rng_, size_t(pos0 * kvd), 1.0f);
      auto [kc, kg] = both(pos0, kvd, kk);
      auto [vc, vg] = both(pos0, kvd, vv);
      cpu_->kv_write(*cache_c, 0, 0, kc.act, vc.act);
      gpu_->kv_write(*cache_g, 0, 0, kg.act, vg.act);
      gpu_->kv_write(*twin_g, 0, 0, kg.act, vg.act);
    }
    backend::RopeParams rp;
    rp.style = fc.neox ? backend::RopeParams::Style::neox : backend::RopeParams::Style::interleaved;
    rp.theta = 1e6f;
    rp.rot_dims = fc.rot_dims;
    std::vector<float> gains(static_cast<size_t>(2 * D));
    for (auto& g : gains) g = 0.5f + float(rng_() % 1000) / 1000.0f;
    const auto qh = encode("q_norm.weight", WeightType::f32, 1, 1, D, std::vector<float>(gains.begin(), gains.begin() + D));
    const auto kh = encode("k_norm.weight", WeightType::f32, 1, 1, D, std::vector<float>(gains.begin() + D, gains.end()));
    const Weight qnc = cpu_->upload(qh->view), knc = cpu_->upload(kh->view);
    const Weight qng = gpu_->upload(qh->view), kng = gpu_->upload(kh->view);
    const auto q = random_values(rng_, size_t(n * qd), 3.0f), k = random_values(rng_, size_t(n * kvd), 3.0f),
               v = random_values(rng_, size_t(n * kvd), 1.0f);
    auto [qc, qg] = both(n, qd, q);
    auto [kc, kg] = both(n, kvd, k);
    auto [vc, vg] = both(n, kvd, v);
    auto qg2 = upload_act(*gpu_, n, qd, q), kg2 = upload_act(*gpu_, n, kvd, k);  // the twin's inputs
    cpu_->qk_norm_rope_kv_write(qc.act, kc.act, vc.act, D, qnc, knc, 1e-6f, pos0, rp, *cache_c, 0);
    gpu_->qk_norm_rope_kv_write(qg.act, kg.act, vg.act, D, qng, kng, 1e-6f, pos0, rp, *cache_g, 0);
    gpu_->backend::Backend::qk_norm_rope_kv_write(qg2.act, kg2.act, vg.act, D, qng, kng, 1e-6f, pos0, rp, *twin_g, 0);
    const std::string shape = "H" + std::to_string(H) + "/" + std::to_string(HK) + " d" + std::to_string(D) + " " +
                              std::to_string(n) + "@" + std::to_string(pos0);
    const std::string name = std::string("qk_norm_rope_kv ") + (fc.neox ? "neox" : "interleaved") +
                             (fc.rot_dims ? " rot " + std::to_string(fc.rot_dims) : "") + (n > 8 ? " (prefill path)" : "");
    record(name + ": q, k", shape,
           std::max(rel_error(download(*gpu_, qg.act), download(*cpu_, qc.act)),
                    rel_error(download(*gpu_, kg.act), download(*cpu_, kc.act))),
           kF32Limit);
    // Summaries against the CPU's mean keys (f32 there, bf16 here).
    const CacheDump fused = dump(*cache_g, end), twin = dump(*twin_g, end);
    auto& pc = dynamic_cast<cpu::CpuKvCache&>(*cache_c).paged();
    std::vector<float> want;
    for (int64_t b = 0; b < kv::blocks_for(end); ++b)
      for (int h = 0; h < HK; ++h) want.insert(want.end(), pc.key_mean(0, b, h), pc.key_mean(0, b, h) + D);
    record(name + ": block summaries", shape, rel_error(fused.sums, want), kBf16Limit);
    int64_t differ = 0;
    const std::pair<const std::vector<float>*, const std::vector<float>*> pairs[] = {
        {&fused.keys, &twin.keys}, {&fused.values, &twin.values}, {&fused.sums, &twin.sums}};
    for (const auto& [a, b] : pairs)
      for (size_t i = 0; i < a->size(); ++i) differ += (*a)[i] != (*b)[i];
    record(name + ": cache = unfused GPU", shape, double(differ), 0.5,
           std::to_string(differ) + " of " + std::to_string(fused.keys.size() * 2 + fused.sums.size()) +
               " values differ");
    // The stored K/V, through attention of the last written position.
    backend::AttentionParams p{H, HK, D, 1.0f / std::sqrt(float(D))};
    const Act lq_c = qc.act.slice_rows(n - 1, 1), lq_g = qg.act.slice_rows(n - 1, 1);
    auto oc = upload_act(*cpu_, 1, qd, {});
    auto og = upload_act(*gpu_, 1, qd, {});
    cpu_->attention(lq_c, *cache_c, 0, end - 1, p, oc.act);
    gpu_->attention(lq_g, *cache_g, 0, end - 1, p, og.act);
    record(name + ": attention after", shape, rel_error(download(*gpu_, og.act), download(*cpu_, oc.act)), kBf16Limit);
  }

  // Layer 0 of a GPU cache for positions < n: keys, values and block summaries as floats.
  struct CacheDump {
    std::vector<float> keys, values, sums;
  };
  CacheDump dump(backend::KvCache& cache, int64_t n) {
    const auto& c = dynamic_cast<const cuda::CudaKvCache&>(cache);
    gpu_->synchronize();
    auto get = [](const void* src, int64_t count) {
      std::vector<uint16_t> h(static_cast<size_t>(count));
      if (cudaMemcpy(h.data(), src, h.size() * 2, cudaMemcpyDeviceToHost) != cudaSuccess)
        fail(Errc::internal, "cudaMemcpy of the KV cache failed");
      std::vector<float> f(h.size());
      for (size_t i = 0; i < h.size(); ++i) f[i] = bf16_to_f32(h[i]);
      return f;
    };
    return {get(c.keys(0), n * c.row_elems()), get(c.values(0), n * c.row_elems()),
            get(c.summaries(0), kv::blocks_for(n) * c.row_elems())};
  }

  // --- KV cache and attention ------------------------------------------------------
  struct AttnCase {
    int head_dim, n_heads, n_kv_heads;
  };

  void attention() {
    for (const AttnCase& ac : {AttnCase{128, 32, 4}, AttnCase{64, 8, 8}, AttnCase{128, 8, 2}, AttnCase{64, 16, 2},
                               AttnCase{32, 8, 2}})
      guarded("attention d" + std::to_string(ac.head_dim), [&] { attention_case(ac); });
  }

  void attention_case(const AttnCase& ac) {
    const int D = ac.head_dim, H = ac.n_heads, HK = ac.n_kv_heads;
    // 1500 then 601 tokens: the GPU cache grows (1024-token granules, x1.5) between the writes.
    const int64_t prefix = 1500, chunk = 601, total = prefix + chunk + 1;
    const int64_t kvd = int64_t(HK) * D, qd = int64_t(H) * D;
    kv::CacheConfig cc{1, HK, D, 4096, true};
    auto cache_c = cpu_->make_kv_cache(cc);
    auto cache_g = gpu_->make_kv_cache(cc);
    const auto kk = random_values(rng_, size_t(total * kvd), 1.0f);
    const auto vv = random_values(rng_, size_t(total * kvd), 1.0f);
    auto write = [&](int64_t pos0, int64_t n) {
      const std::vector<float> ks(kk.begin() + pos0 * kvd, kk.begin() + (pos0 + n) * kvd);
      const std::vector<float> vs(vv.begin() + pos0 * kvd, vv.begin() + (pos0 + n) * kvd);
      auto [kc, kg] = both(n, kvd, ks);
      auto [vc, vg] = both(n, kvd, vs);
      cpu_->kv_write(*cache_c, 0, pos0, kc.act, vc.act);
      gpu_->kv_write(*cache_g, 0, pos0, kg.act, vg.act);
    };
    backend::AttentionParams p{H, HK, D, 1.0f / std::sqrt(float(D))};
    const std::string shape = "H" + std::to_string(H) + "/" + std::to_string(HK) + " d" + std::to_string(D);
    write(0, prefix);
    write(prefix, chunk);
    // A chunk of queries at an odd offset over the cache.
    const auto q = random_values(rng_, size_t(chunk * qd), 1.0f);
    auto [qc, qg] = both(chunk, qd, q);
    auto oc = upload_act(*cpu_, chunk, qd, {});
    auto og = upload_act(*gpu_, chunk, qd, {});
    cpu_->attention(qc.act, *cache_c, 0, prefix, p, oc.act);
    gpu_->attention(qg.act, *cache_g, 0, prefix, p, og.act);
    const auto want = download(*cpu_, oc.act);
    record("attention dense prefill", shape + " " + std::to_string(chunk) + "@" + std::to_string(prefix),
           rel_error(download(*gpu_, og.act), want), kBf16Limit);
    // GPU planner with a budget covering every block: must equal dense.
    gpu_->set_attention_config(attn::preset_balanced());
    gpu_->attention(qg.act, *cache_g, 0, prefix, p, og.act);
    gpu_->set_attention_config(attn::preset_dense());
    record("attention gpu planner, all blocks", shape, rel_error(download(*gpu_, og.act), want), kBf16Limit,
           D == 64 || D == 128 ? "" : "(generic kernel: dense)");
    // A host sparse plan: drop every third visible block but the diagonal one.
    attn::Plan plan = attn::make_dense_plan(chunk, prefix, prefix + chunk, 64, HK);
    attn::Plan sparse = plan;
    sparse.block_indices.clear();
    sparse.row_offsets.assign(1, 0);
    for (int64_t qb = 0; qb < plan.n_query_blocks(); ++qb)
      for (int h = 0; h < HK; ++h) {
        const auto row = plan.row(qb, h);
        for (size_t i = 0; i < row.size(); ++i)
          if (i + 1 == row.size() || (int64_t(i) + qb + h) % 3 != 0) sparse.block_indices.push_back(row[i]);
        sparse.row_offsets.push_back(int32_t(sparse.block_indices.size()));
      }
    gpu_->attention(qg.act, *cache_g, 0, prefix, p, og.act, &sparse);
    std::vector<float> ref(size_t(chunk * qd));
    const std::vector<float> keys(kk.begin(), kk.begin() + (prefix + chunk) * kvd);
    const std::vector<float> vals(vv.begin(), vv.begin() + (prefix + chunk) * kvd);
    attn::attend_plan(q, {keys, vals, prefix + chunk}, {H, HK, D}, sparse, p.scale, ref, 2);
    record("attention host sparse plan", shape + " (2/3 of blocks)", rel_error(download(*gpu_, og.act), ref),
           kBf16Limit);
    // The GPU planner with a budget that skips blocks (sink + 128-token window + top-2).
    if (D == 64 || D == 128) {
      attn::SparseConfig small;
      small.window_tokens = 128;
      small.topk_blocks = 2;
      const attn::Plan gplan = gpu_->plan_attention(qg.act, *cache_g, 0, prefix, p, {}, small);
      attn::validate(gplan);
      const attn::Plan cplan = cpu_->plan_attention(qc.act, *cache_c, 0, prefix, p, {}, small);
      int64_t same = 0;
      for (int64_t qb = 0; qb < gplan.n_query_blocks(); ++qb)
        for (int h = 0; h < HK; ++h) {
          const auto a = gplan.row(qb, h), b = cplan.row(qb, h);
          same += std::equal(a.begin(), a.end(), b.begin(), b.end());
        }
      gpu_->attention(qg.act, *cache_g, 0, prefix, p, og.act, &gplan);
      const auto with_plan = download(*gpu_, og.act);
      attn::attend_plan(q, {keys, vals, prefix + chunk}, {H, HK, D}, gplan, p.scale, ref, 2);
      record("attention gpu-planned host plan", shape + " sink+128+top2",
             rel_error(with_plan, ref), kBf16Limit,
             "rows equal to CPU planner " + std::to_string(same) + "/" + std::to_string(gplan.n_rows()));
      // The on-device path (no host round trip) must give the same result.
      gpu_->set_attention_config(small);
      gpu_->attention(qg.act, *cache_g, 0, prefix, p, og.act);
      gpu_->set_attention_config(attn::preset_dense());
      record("attention device-planned (no host plan)", shape + " sink+128+top2",
             rel_error(download(*gpu_, og.act), with_plan), 1e-6);
    }
    // One decode step.
    write(prefix + chunk, 1);
    const auto q1 = random_values(rng_, size_t(qd), 1.0f);
    auto [q1c, q1g] = both(1, qd, q1);
    auto o1c = upload_act(*cpu_, 1, qd, {});
    auto o1g = upload_act(*gpu_, 1, qd, {});
    cpu_->attention(q1c.act, *cache_c, 0, total - 1, p, o1c.act);
    gpu_->attention(q1g.act, *cache_g, 0, total - 1, p, o1g.act);
    record("attention dense decode", shape + " @" + std::to_string(total - 1),
           rel_error(download(*gpu_, o1g.act), download(*cpu_, o1c.act)), kBf16Limit);
    // Attention evidence (Backend::attention_mass) for the decode query: every
    // head's exact softmax weight per key, summed, times 0.5, added to a mass
    // row that already holds ones, over positions 100 .. total + 4 (the last 5
    // are past the query: they must stay 1). Reference: double sums on the host
    // over the same (bf16-exact) keys.
    if (H / HK <= 16) {
      const int64_t first = 100, count = total - first + 5;
      const std::vector<float> ones(static_cast<size_t>(count), 1.0f);
      auto mg = upload_act(*gpu_, 1, count, ones);
      const bool measured = gpu_->attention_mass(q1g.act, *cache_g, 0, total - 1, p, first, 0.5f, mg.act);
      const auto got = download(*gpu_, mg.act);
      std::vector<double> want(static_cast<size_t>(count), 1.0);
      std::vector<double> sc(static_cast<size_t>(total));
      for (int h = 0; h < H; ++h) {
        const int g = h / (H / HK);
        double mx = -INFINITY, sum = 0;
        for (int64_t t = 0; t < total; ++t) {
          double dot = 0;
          for (int c = 0; c < D; ++c) dot += double(q1[size_t(h * D + c)]) * double(kk[size_t(t * kvd + g * D + c)]);
          sc[size_t(t)] = dot * double(p.scale);
          mx = std::max(mx, sc[size_t(t)]);
        }
        for (int64_t t = 0; t < total; ++t) sum += std::exp(sc[size_t(t)] - mx);
        for (int64_t t = first; t < total; ++t) want[size_t(t - first)] += 0.5 * std::exp(sc[size_t(t)] - mx) / sum;
      }
      double num = 0, den = 0;
      bool tail_ok = true;
      for (int64_t i = 0; i < count; ++i) {
        num += (double(got[size_t(i)]) - want[size_t(i)]) * (double(got[size_t(i)]) - want[size_t(i)]);
        den += (want[size_t(i)] - 1.0) * (want[size_t(i)] - 1.0);  // the added mass
        if (first + i >= total) tail_ok = tail_ok && got[size_t(i)] == 1.0f;
      }
      record("attention mass (evidence), decode query", shape + " @" + std::to_string(total - 1),
             std::sqrt(num / std::max(den, 1e-300)), kF32Limit,
             "error relative to the added mass; keys past the query untouched: " + std::string(tail_ok ? "yes" : "NO"),
             measured && tail_ok);
    }
    // A sparse decode step on the device: one launch plans and attends
    // (kernels::sparse_decode) where the GPU allows, else planner + decode. It
    // must match exact CPU attention over the GPU planner's plan for the step.
    if (D == 64 || D == 128) {
      attn::SparseConfig small;
      small.window_tokens = 128;
      small.topk_blocks = 2;
      const attn::Plan step_plan = gpu_->plan_attention(q1g.act, *cache_g, 0, total - 1, p, {}, small);
      attn::validate(step_plan);
      std::vector<float> step_ref(static_cast<size_t>(qd));
      attn::attend_plan(q1, {kk, vv, total}, {H, HK, D}, step_plan, p.scale, step_ref, 2);
      gpu_->set_attention_config(small);
      gpu_->attention(q1g.act, *cache_g, 0, total - 1, p, o1g.act);
      gpu_->set_attention_config(attn::preset_dense());
      record("attention sparse decode, device-planned", shape + " sink+128+top2 @" + std::to_string(total - 1),
             rel_error(download(*gpu_, o1g.act), step_ref), kBf16Limit,
             std::to_string(step_plan.block_indices.size()) + " of " +
                 std::to_string(HK * kv::blocks_for(total)) + " blocks");
    }
    // Truncate back into the middle of a block and decode again (summaries and sizes follow).
    cache_c->truncate(prefix + 10);
    cache_g->truncate(prefix + 10);
    if (cache_g->size() != prefix + 10) record("kv truncate size", shape, 1.0, kF32Limit, "wrong size");
    cpu_->attention(q1c.act, *cache_c, 0, prefix + 9, p, o1c.act);
    gpu_->attention(q1g.act, *cache_g, 0, prefix + 9, p, o1g.act);
    record("attention decode after truncate", shape + " @" + std::to_string(prefix + 9),
           rel_error(download(*gpu_, o1g.act), download(*cpu_, o1c.act)), kBf16Limit);
  }

  // --- model level -------------------------------------------------------------------
  struct ModelRun {
    std::vector<float> logits;       // every position of the prompt
    std::vector<int64_t> experts;    // tokens routed to each expert, all layers
    std::vector<int32_t> greedy;     // the argmax of each of the n_greedy steps
    std::vector<float> greedy_gap;   // top-1 minus top-2 logit at each step
    std::vector<std::vector<float>> step_logits;  // the logits each step's token was chosen from
    std::map<std::pair<int, int64_t>, RoutingRecorder::Decision> routing;  // prompt and steps (MoE models)
    std::map<std::pair<int, int64_t>, attn::Plan> plans;                    // prompt and steps (sparse runs)
  };

  // The prompt in one session (all positions' logits), then n_greedy decode
  // steps: each feeds this run's own argmax, or the `forced` token of that step
  // (teacher forcing). `replay`: another run's routing decisions to replay.
  static ModelRun run_model(std::shared_ptr<const gguf::File> file, backend::Backend& be,
                            const std::vector<int32_t>& prompt, int64_t chunk, int n_greedy,
                            const std::optional<attn::SparseConfig>& sparse,
                            const std::map<std::pair<int, int64_t>, RoutingRecorder::Decision>* replay = nullptr,
                            const std::vector<int32_t>* forced = nullptr,
                            const std::map<std::pair<int, int64_t>, attn::Plan>* plan_replay = nullptr) {
    ModelRun r;
    const model::Model probe = model::Model::load(file, be);
    const bool moe = probe.hparams().is_moe();
    RoutingRecorder rec(be, probe.hparams().n_layers);
    rec.recording = true;
    rec.replay = moe ? replay : nullptr;
    rec.plan_replay = plan_replay;
    const model::Model m = model::Model::load(std::move(file), rec);
    model::Session s(m, {int64_t(prompt.size()) + n_greedy + 8, chunk, sparse});
    r.logits = s.prefill_all(prompt);
    const size_t vocab = r.logits.size() / prompt.size();
    std::vector<float> last(r.logits.end() - std::ptrdiff_t(vocab), r.logits.end());
    for (int i = 0; i < n_greedy; ++i) {
      const int32_t t = sampling::argmax(last);
      std::vector<float> sorted = last;
      std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
      r.greedy.push_back(t);
      r.greedy_gap.push_back(sorted[0] - sorted[1]);
      r.step_logits.push_back(last);
      if (i + 1 < n_greedy) {
        const auto next = s.decode_step(forced ? (*forced)[size_t(i)] : t);
        last.assign(next.begin(), next.end());
      }
    }
    r.experts = s.stats().tokens_per_expert;
    r.routing = std::move(rec.decisions);
    r.plans = std::move(rec.plans);
    return r;
  }

  static double max_abs(const std::vector<float>& v) {
    double m = 0;
    for (float x : v) m = std::max(m, double(std::fabs(x)));
    return m;
  }

  // Gated: the GPU with the CPU's routing replayed and the CPU's greedy tokens
  // fed (see the header). Reported: the free-running GPU run against the CPU
  // (greedy divergence and its top-2 gap, routing decisions that differ and the
  // CPU's margin at them, per-position error) to tell a bug from a flip.
  void compare_models(const std::string& name, std::shared_ptr<const gguf::File> file,
                      const std::vector<int32_t>& prompt, int64_t vocab,
                      const std::optional<attn::SparseConfig>& sparse = std::nullopt) {
    const auto t0 = std::chrono::steady_clock::now();
    // The GPU keeps bf16 matrices as they are and rounds others to bf16.
    const gguf::TensorInfo* wq = file->find_tensor("blk.0.attn_q.weight");
    const bool same_weights = wq && wq->type == gguf::TensorType::bf16;
    const double limit = same_weights ? kModelLimit : kModelRoundedWeightsLimit;
    // The GPU prefills in other chunks on purpose; sparse runs chunk alike so
    // that the CPU's plans (one per layer and chunk) can be replayed.
    const int64_t gpu_chunk = sparse ? 512 : 128;
    const ModelRun c = run_model(file, *cpu_, prompt, 512, 32, sparse);
    const ModelRun g = run_model(file, *gpu_, prompt, gpu_chunk, 32, sparse);
    const ModelRun rp =
        run_model(file, *gpu_, prompt, gpu_chunk, 32, sparse, &c.routing, &c.greedy, sparse ? &c.plans : nullptr);
    // Gated figures.
    const double mx = max_abs(c.logits);
    double err = rel_error(rp.logits, c.logits);
    int matched = 0, ties = 0, wrong = 0;
    double worst_step = 0;
    for (size_t i = 0; i < c.greedy.size(); ++i) {
      const auto& cl = c.step_logits[i];
      const auto& gl = rp.step_logits[i];
      double step_abs = 0;
      for (size_t j = 0; j < cl.size(); ++j) step_abs = std::max(step_abs, std::fabs(double(gl[j]) - cl[j]));
      worst_step = std::max(worst_step, step_abs / std::max(mx, max_abs(cl)));
      if (rp.greedy[i] == c.greedy[i]) {
        ++matched;
      } else if (double(cl[size_t(c.greedy[i])]) - cl[size_t(rp.greedy[i])] <= step_abs) {
        ++ties;
      } else {
        ++wrong;
      }
    }
    err = std::max(err, worst_step);
    // Reported figures of the free-running run.
    size_t diverge = 0;
    while (diverge < c.greedy.size() && c.greedy[diverge] == g.greedy[diverge]) ++diverge;
    std::vector<double> pos_err;
    for (size_t p = 0; p + size_t(vocab) <= c.logits.size(); p += size_t(vocab)) {
      double e = 0;
      for (size_t i = p; i < p + size_t(vocab); ++i) e = std::max(e, std::fabs(double(g.logits[i]) - c.logits[i]));
      pos_err.push_back(e / mx);
    }
    std::vector<double> sorted = pos_err;
    std::sort(sorted.begin(), sorted.end());
    const auto over = std::count_if(pos_err.begin(), pos_err.end(), [&](double e) { return e >= limit; });
    char buf[320];
    std::snprintf(buf, sizeof buf,
                  "%s; greedy 32 (cpu tokens fed): %d same, %d ties within the step's error, %d WRONG; "
                  "free-running: logits rel.err %.1e (median position %.1e, %lld/%zu positions over), greedy ",
                  sparse ? (c.routing.empty() ? "cpu plans replayed" : "cpu routing and plans replayed")
                         : (c.routing.empty() ? "dense" : "cpu routing replayed"),
                  matched, ties, wrong, rel_error(g.logits, c.logits),
                  sorted[sorted.size() / 2], (long long)over, pos_err.size());
    std::string note = buf;
    note += diverge == c.greedy.size() ? std::string("identical")
                                       : "diverges at " + std::to_string(diverge) + " (cpu top-2 gap " +
                                             std::to_string(c.greedy_gap[diverge]) + ")";
    if (!c.routing.empty()) {
      int64_t differ = 0, total = 0;
      double max_margin_differ = 0;
      for (const auto& [key, cd] : c.routing) {
        const auto it = g.routing.find(key);
        if (it == g.routing.end()) continue;
        ++total;
        if (it->second.experts != cd.experts) {
          ++differ;
          max_margin_differ = std::max(max_margin_differ, double(cd.margin));
        }
      }
      std::snprintf(buf, sizeof buf, ", %lld/%lld (layer,token) routing decisions differ (largest cpu margin %.2e)",
                    (long long)differ, (long long)total, max_margin_differ);
      note += buf;
    }
    if (!same_weights) note += "; weights rounded to bf16 on the GPU";
    std::snprintf(buf, sizeof buf, " (%.1f s)", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    note += buf;
    record("model " + name, std::to_string(prompt.size()) + " tokens", err, limit, note, wrong == 0);
  }

  // max_device_memory: a cap the model does not fit under fails with
  // out_of_memory naming the allocation and its size; the backend's KV cache
  // hits the cap the same way; the CPU backend then runs the same model.
  void device_memory_cap() {
    auto cfg = model::tiny_preset("qwen3moe", "tiny");
    const auto bytes = std::make_shared<std::vector<std::byte>>(model::tiny_model_bytes(cfg));
    auto file = std::make_shared<const gguf::File>(gguf::File::parse(*bytes, "tiny.gguf"));
    const size_t workspace = size_t(32) << 20;  // the cuBLAS workspace every backend allocates first
    auto expect_oom = [&](const std::string& name, size_t cap, bool with_session, const std::string& what) {
      cuda::CudaOptions o;
      o.max_device_memory = cap;
      auto be = cuda::make_cuda_backend(o);
      std::string msg;
      bool oom = false;
      try {
        const model::Model m = model::Model::load(file, *be);
        if (with_session) {
          model::Session s(m, {4096, 64});
          std::vector<int32_t> prompt(3000, 7);  // grows the KV cache past the cap
          (void)s.prefill(prompt);
        }
      } catch (const Error& e) {
        oom = e.code() == Errc::out_of_memory;
        msg = e.what();
      }
      const bool named = msg.find(what) != std::string::npos && msg.find("max_device_memory") != std::string::npos;
      record(name, "cap " + std::to_string(cap >> 10) + " KiB", oom && named ? 0.0 : 1.0, 0.5,
             msg.empty() ? "no error" : msg);
    };
    expect_oom("max_device_memory: weights", workspace + (size_t(4) << 10), false, "weight '");
    // Room for the weights and a session's buffers (as charged), not for the
    // first 1024-token growth of the KV cache (256 KiB per layer here).
    size_t charged = 0;
    {
      auto be = cuda::make_cuda_backend();
      const model::Model m = model::Model::load(file, *be);
      model::Session s(m, {4096, 64});
      charged = be->device_memory_allocated();
    }
    expect_oom("max_device_memory: kv cache", charged + (size_t(128) << 10), true, "cannot allocate");
    // The CPU path is unaffected.
    const model::Model m = model::Model::load(file, *cpu_);
    model::Session s(m, {256, 64});
    std::vector<int32_t> prompt(40, 5);
    const auto logits = s.prefill(prompt);
    const bool finite = std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); });
    record("max_device_memory: cpu still runs", "40 tokens", finite ? 0.0 : 1.0, 0.5);
  }

  void tiny_models() {
    struct Case {
      std::string name;
      model::TinyConfig cfg;
    };
    std::vector<Case> cases;
    auto moe = model::tiny_preset("qwen3moe", "tiny");
    moe.n_layers = 3;
    moe.d_model = 256;
    moe.n_heads = 8;
    moe.n_kv_heads = 2;
    moe.head_dim = 64;
    moe.n_expert = 16;
    moe.n_expert_used = 4;
    moe.expert_ff = 128;
    for (const WeightType t : {WeightType::f32, WeightType::bf16, WeightType::q8_0}) {
      auto c = moe;
      c.type = t;
      cases.push_back({std::string("qwen3moe d64 ") + backend::weight_type_name(t), c});
    }
    auto dense = model::tiny_preset("qwen3", "tiny");
    dense.n_layers = 2;
    dense.d_model = 256;
    dense.n_heads = 4;
    dense.n_kv_heads = 1;
    dense.head_dim = 128;
    dense.ff = 512;
    dense.type = WeightType::bf16;
    cases.push_back({"qwen3 d128 GQA4 bf16", dense});
    cases.push_back({"qwen3moe tiny preset (d16)", model::tiny_preset("qwen3moe", "tiny")});
    for (auto& c : cases) {
      c.cfg.seed = rng_();
      guarded("model " + c.name, [&] {
        auto bytes = std::make_shared<std::vector<std::byte>>(model::tiny_model_bytes(c.cfg));
        auto file = std::shared_ptr<const gguf::File>(
            new gguf::File(gguf::File::parse(*bytes, "tiny.gguf")),
            [bytes](const gguf::File* f) { delete f; });  // keeps the bytes alive with the file
        const int64_t vocab = file->find_tensor("token_embd.weight")->shape[1];
        std::vector<int32_t> prompt(300);
        for (auto& t : prompt) t = int32_t(rng_() % uint64_t(vocab));
        compare_models(c.name, file, prompt, vocab);
        if (c.cfg.arch == "qwen3" && c.cfg.head_dim == 128) {
          // The Session's sparse path (Backend::attention_sparse): on the GPU the
          // planner's plan stays on the device; against the CPU planner's.
          attn::SparseConfig sc;
          sc.window_tokens = 128;
          sc.topk_blocks = 2;
          std::vector<int32_t> longer(1000);
          for (auto& t : longer) t = int32_t(rng_() % uint64_t(vocab));
          compare_models(c.name + " sparse session (sink+128+top2)", file, longer, vocab, sc);
        }
      });
    }
  }

  // A 3-layer tiny model (d 256, 8 heads over 2 KV heads of 128, bf16) in
  // memory, for the session-level checks (forks, snapshots).
  static std::shared_ptr<const gguf::File> small_session_model(bool moe, uint64_t seed) {
    auto cfg = model::tiny_preset(moe ? "qwen3moe" : "qwen3", "tiny");
    cfg.n_layers = 3;
    cfg.d_model = 256;
    cfg.n_heads = 8;
    cfg.n_kv_heads = 2;
    cfg.head_dim = 128;
    cfg.type = WeightType::bf16;
    cfg.seed = seed;
    auto bytes = std::make_shared<std::vector<std::byte>>(model::tiny_model_bytes(cfg));
    return std::shared_ptr<const gguf::File>(new gguf::File(gguf::File::parse(*bytes, "tiny.gguf")),
                                             [bytes](const gguf::File* f) { delete f; });
  }

  // Forked GPU caches (CudaKvCache::fork, a device copy): a session prefills a
  // corpus, a second forks its cache, each then prefills its own question. Each
  // must give the logits of a fresh session that prefilled corpus + its
  // question in the same pieces, bit for bit (neither sees the other's writes),
  // and the family's memory must count both caches.
  void kv_fork() {
    const auto file = small_session_model(true, rng_());
    const int64_t vocab = file->find_tensor("token_embd.weight")->shape[1];
    const model::Model m = model::Model::load(file, *gpu_);
    const int64_t corpus_n = 600 + int64_t(rng_() % 100), q1_n = 1 + int64_t(rng_() % 80), q2_n = 1 + int64_t(rng_() % 80);
    auto draw = [&](int64_t n) {
      std::vector<int32_t> t(static_cast<size_t>(n));
      for (auto& x : t) x = int32_t(rng_() % uint64_t(vocab));
      return t;
    };
    const auto corpus = draw(corpus_n), q1 = draw(q1_n), q2 = draw(q2_n);
    const model::SessionOptions so{corpus_n + 96, 128};
    auto logits_of = [](std::span<const float> lg) { return std::vector<float>(lg.begin(), lg.end()); };
    model::Session a(m, so), b(m, so);
    a.prefill(corpus);
    const bool forked = b.fork_cache_from(a);
    const auto mem = b.kv_cache().memory();
    const auto la = logits_of(a.prefill(q1)), lb = logits_of(b.prefill(q2));
    std::vector<float> fresh1, fresh2;
    {
      model::Session c(m, so);
      c.prefill(corpus);
      fresh1 = logits_of(c.prefill(q1));
    }
    {
      model::Session c(m, so);
      c.prefill(corpus);
      fresh2 = logits_of(c.prefill(q2));
    }
    auto max_diff = [](const std::vector<float>& x, const std::vector<float>& y) {
      double d = x.size() == y.size() ? 0.0 : INFINITY;
      for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) d = std::max(d, double(std::fabs(x[i] - y[i])));
      return d;
    };
    const double da = max_diff(la, fresh1), db = max_diff(lb, fresh2);
    const std::string shape = std::to_string(corpus_n) + " + " + std::to_string(q1_n) + " / " + std::to_string(q2_n);
    record("kv fork (device copy): origin continues", shape, da, 1e-30,
           "max |logit diff| vs a fresh session (bit-identical required)", forked && da == 0.0);
    record("kv fork (device copy): fork continues", shape, db, 1e-30,
           std::string(forked ? "" : "fork() returned null; ") + "max |logit diff| vs a fresh session",
           forked && db == 0.0);
    const double ratio = double(mem.family_bytes) / double(std::max<size_t>(mem.bytes, 1));
    record("kv fork (device copy): family memory", std::to_string(mem.bytes) + " bytes a cache",
           std::fabs(ratio - 2.0), 0.5,
           "family bytes / one cache's bytes = " + std::to_string(ratio) + " (2 caches alive: must be 2)",
           mem.family_bytes == 2 * mem.bytes);
  }

#if FOLIO_CHECK_WITH_STORE
  // GPU KV snapshots (cuda_kv_snapshot.hpp): a session prefills a corpus, its
  // complete blocks are saved to a fresh SQLite store, a second session restores
  // them and prefills the question. Its logits must equal, bit for bit, those of
  // the first session prefilling the same question: same kernels on the same
  // cache, summaries recomputed by the same kernel. Then a cache of another
  // shape must refuse the snapshot (layout mismatch: nothing restored).
  void snapshots() {
    for (const bool moe : {false, true}) {
      const uint64_t seed = rng_();
      const std::string name = std::string("snapshot save/restore (gpu) ") + (moe ? "qwen3moe" : "qwen3");
      guarded(name, [&] {
        const auto file = small_session_model(moe, seed);
        const int64_t vocab = file->find_tensor("token_embd.weight")->shape[1];
        const model::Model m = model::Model::load(file, *gpu_);
        const int64_t corpus_n = 640 + int64_t(rng_() % 64), question_n = 1 + int64_t(rng_() % 300);
        std::vector<int32_t> toks(size_t(corpus_n + question_n));
        for (auto& t : toks) t = int32_t(rng_() % uint64_t(vocab));
        const std::span<const int32_t> all(toks), corpus = all.first(size_t(corpus_n));
        store::KeyContext kc;
        const std::string mid = "check-model-" + std::to_string(seed);
        kc.model = store::hash128(std::as_bytes(std::span(mid.data(), mid.size())));
        kc.attention = store::attention_fingerprint("kv=bf16");
        const auto keys = store::block_keys(kc, corpus, {});  // complete blocks only
        const int64_t restored_n = int64_t(keys.size()) * 64;
        const fs::path db = fs::temp_directory_path() / ("folio_cuda_snapshot_" + std::to_string(::getpid()) + ".db");
        fs::remove(db);
        std::vector<float> want, got;
        {
          model::Session a(m, {corpus_n + question_n + 8, 128});
          a.prefill(all.first(size_t(restored_n)));
          {
            auto st = store::Store::open(db);
            cuda::save_cuda_snapshot(st, kc.model, keys, dynamic_cast<cuda::CudaKvCache&>(a.kv_cache()), "check");
          }
          const auto lg = a.prefill(all.subspan(size_t(restored_n)));
          want.assign(lg.begin(), lg.end());
        }
        model::Session b(m, {corpus_n + question_n + 8, 128});
        cuda::CudaRestoreResult rr;
        {
          auto st = store::Store::open(db);
          rr = cuda::restore_cuda_snapshot(st, kc.model, keys, dynamic_cast<cuda::CudaKvCache&>(b.kv_cache()));
        }
        b.resume_from_cache();
        const auto lg = b.prefill(all.subspan(size_t(restored_n)));
        got.assign(lg.begin(), lg.end());
        double max_diff = 0;
        for (size_t i = 0; i < want.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(want[i] - got[i])));
        const bool blocks_ok = rr.blocks == keys.size() && b.n_past() == corpus_n + question_n;
        record(name, std::to_string(keys.size()) + " blocks + " + std::to_string(corpus_n + question_n - restored_n) +
                         " tokens",
               max_diff, 1e-30,
               "max |logit diff| vs the uninterrupted session (bit-identical required); blocks restored " +
                   std::to_string(rr.blocks) + "/" + std::to_string(keys.size()),
               blocks_ok && max_diff == 0.0);
        // Another shape (one layer fewer): the layout differs, nothing may be restored.
        kv::CacheConfig other = b.kv_cache().config();
        other.n_layers -= 1;
        auto wrong = gpu_->make_kv_cache(other);
        size_t wrong_blocks = 0;
        {
          store::StoreOptions quiet;
          quiet.report = [](const std::string&) {};
          auto st = store::Store::open(db, quiet);
          wrong_blocks =
              cuda::restore_cuda_snapshot(st, kc.model, keys, dynamic_cast<cuda::CudaKvCache&>(*wrong)).blocks;
        }
        record(name + ", other cache shape refused", std::to_string(other.n_layers) + " layers",
               double(wrong_blocks), 0.5, "blocks restored into the wrong shape (must be 0)", wrong_blocks == 0);
        // The session-level pair the SDK uses (save_cuda_session /
        // restore_cuda_session with the bf16 key context): a session saves the
        // corpus, a fresh one restores it (all but the last token's block when
        // the corpus ends on a block boundary) and prefills the rest; logits as
        // the uninterrupted session's, bit for bit. Keys made for the host
        // format must find nothing.
        {
          const store::KeyContext gkc = store::session_key_context(m, store::FingerprintMode::sampled,
                                                                   store::KvFormat::cuda_bf16);
          const store::KeyContext hkc = store::session_key_context(m, store::FingerprintMode::sampled,
                                                                   store::KvFormat::host_f32);
          const fs::path db2 = db.string() + ".session";
          fs::remove(db2);
          size_t saved = 0, restored = 0, host_restored = 0;
          std::vector<float> want2, got2;
          // What restore_cuda_session can use: every complete block but the one
          // holding the last token (whose logits the caller needs). The
          // uninterrupted session prefills in the same pieces, so that both run
          // the same kernels on the same chunks.
          const size_t expect = size_t(corpus_n - 1) / 64 * 64;
          {
            model::Session a2(m, {corpus_n + question_n + 8, 128});
            a2.prefill(corpus.first(expect));
            a2.prefill(corpus.subspan(expect));
            auto st = store::Store::open(db2);
            saved = cuda::save_cuda_session(st, gkc, a2, corpus, {}, "check");
            const auto lg = a2.prefill(all.subspan(size_t(corpus_n)));
            want2.assign(lg.begin(), lg.end());
          }
          {
            model::Session h(m, {corpus_n + question_n + 8, 128});
            auto st = store::Store::open(db2);
            host_restored = cuda::restore_cuda_session(st, hkc, h, corpus, {});
          }
          model::Session b2(m, {corpus_n + question_n + 8, 128});
          {
            auto st = store::Store::open(db2);
            restored = cuda::restore_cuda_session(st, gkc, b2, corpus, {});
          }
          b2.prefill(corpus.subspan(restored));
          const auto lg = b2.prefill(all.subspan(size_t(corpus_n)));
          got2.assign(lg.begin(), lg.end());
          double diff2 = 0;
          for (size_t i = 0; i < want2.size(); ++i) diff2 = std::max(diff2, double(std::fabs(want2[i] - got2[i])));
          record(name + ", session level (save/restore_cuda_session)",
                 std::to_string(saved) + " blocks saved, " + std::to_string(restored) + " tokens restored", diff2,
                 1e-30, "max |logit diff| vs the uninterrupted session; host-format keys restored " +
                            std::to_string(host_restored) + " tokens (must be 0)",
                 diff2 == 0.0 && restored == expect && saved == size_t(corpus_n) / 64 && host_restored == 0);
          fs::remove(db2);
          fs::remove(db2.string() + "-wal");
          fs::remove(db2.string() + "-shm");
        }
        fs::remove(db);
        fs::remove(db.string() + "-wal");
        fs::remove(db.string() + "-shm");
      });
    }
  }
#endif

  void parity(const fs::path& dir) {
    if (!fs::is_directory(dir)) {
      std::printf("--   parity fixtures: %s not found (skipped; the tiny models above cover the model path)\n",
                  dir.string().c_str());
      return;
    }
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (!fs::exists(entry.path() / "reference.json")) continue;
      const std::string name = entry.path().filename().string();
      // The fixture converted twice: f32 (the CUDA backend rounds weights to
      // bf16 at upload, the CPU does not) and bf16 (both backends read the same
      // weights, so what differs is the backends' arithmetic alone).
      for (const convert::OutType type : {convert::OutType::f32, convert::OutType::bf16}) {
        const std::string tname = type == convert::OutType::f32 ? "f32" : "bf16";
        guarded("parity " + name + " " + tname, [&] {
          const fs::path out = fs::temp_directory_path() / ("folio_cuda_parity_" + name + "_" + tname + "_" +
                                                           std::to_string(::getpid()) + ".gguf");
          convert::Options o;
          o.hf_dir = entry.path();
          o.output = out;
          o.out_type = type;
          convert::convert_hf_to_gguf(o);
          auto file = std::make_shared<const gguf::File>(gguf::File::open(out));
          const int64_t vocab = int64_t(file->find_tensor("token_embd.weight")->shape[1]);
          const json::Value ref = json::parse_file(entry.path() / "reference.json");
          for (const json::Value& p : ref["prompts"].as_array()) {
            std::vector<int32_t> ids;
            for (const json::Value& t : p["ids"].as_array()) ids.push_back(int32_t(t.as_int64()));
            compare_models("parity " + name + " " + tname, file, ids, vocab);
          }
          fs::remove(out);
        });
      }
    }
  }

 private:
  std::pair<Tensor, Tensor> both(int64_t rows, int64_t cols, const std::vector<float>& v) {
    return {upload_act(*cpu_, rows, cols, v), upload_act(*gpu_, rows, cols, v)};
  }

  std::mt19937_64 rng_;
  std::unique_ptr<backend::Backend> cpu_;
  std::unique_ptr<cuda::CudaBackend> gpu_;
  std::vector<Row> rows_;
};

void write_json(const fs::path& path, const std::vector<Row>& rows, uint64_t seed, const std::string& device) {
  json::Array arr;
  for (const Row& r : rows) {
    json::Object o;
    o.insert("check", r.check);
    o.insert("shape", r.shape);
    o.insert("rel_error", std::isfinite(r.error) ? r.error : -1.0);
    o.insert("limit", r.limit);
    o.insert("pass", r.pass);
    o.insert("note", r.note);
    arr.push_back(json::Value(std::move(o)));
  }
  json::Object top;
  top.insert("device", device);
  top.insert("seed", std::to_string(seed));
  top.insert("checks", json::Value(std::move(arr)));
  std::ofstream(path) << json::serialize(json::Value(std::move(top)), 2) << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  fs::path parity_dir = "tests/data/parity";
  uint64_t seed = std::random_device{}() ^ uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--seed" && i + 1 < argc) seed = std::stoull(argv[++i]);
    else if (a == "--parity-dir" && i + 1 < argc) parity_dir = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--json FILE] [--seed N] [--parity-dir DIR]\n", argv[0]);
      return 2;
    }
  }
  if (!cuda::cuda_device_available()) {
    std::fprintf(stderr, "cuda_backend_check: no CUDA device\n");
    return 2;
  }
  try {
    Checker c(seed);
    std::printf("== CUDA backend vs CPU backend on %s, seed %llu\n", c.gpu().device_name().c_str(),
                (unsigned long long)seed);
    c.guarded("norms", [&] { c.norms(); });
    c.guarded("matmuls", [&] { c.matmuls(); });
    c.guarded("ffn", [&] { c.ffn(); });
    c.guarded("moe", [&] { c.moe(); });
    c.guarded("matmul_shared_input", [&] { c.shared_input_matmuls(); });
    c.qk_norm_rope_kv();
    c.attention();
    c.tiny_models();
    c.guarded("max_device_memory", [&] { c.device_memory_cap(); });
    c.guarded("kv fork", [&] { c.kv_fork(); });
#if FOLIO_CHECK_WITH_STORE
    c.snapshots();
#endif
    c.parity(parity_dir);
    const auto& rows = c.rows();
    const auto failed = std::count_if(rows.begin(), rows.end(), [](const Row& r) { return !r.pass; });
    std::printf("== %zu checks, %lld failed\n", rows.size(), (long long)failed);
    if (!json_path.empty()) write_json(json_path, rows, seed, c.gpu().device_name());
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_backend_check: %s\n", e.what());
    return 1;
  }
}
