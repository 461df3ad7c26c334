// A Backend decorator that forwards every call to another backend and adds up
// wall time and floating-point work per kind of operation, so a benchmark can
// say how fast the GEMMs of a real prefill ran (not a synthetic GEMM).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "bench/cpu/peak_flops.hpp"
#include "runtime/backend/backend.hpp"

namespace folio::bench {

enum class OpKind { gemm, moe, attention, other, count };
inline const char* op_kind_name(OpKind k) {
  constexpr const char* names[] = {"dense GEMMs", "MoE (router + expert GEMMs)", "attention", "other"};
  return names[size_t(k)];
}

struct OpTotals {
  double seconds = 0;      // wall time
  double cpu_seconds = 0;  // CPU time of the process (all threads) during the op
  double flops = 0;        // multiply-adds counted as 2
};

class TimingBackend final : public backend::Backend {
 public:
  explicit TimingBackend(backend::Backend& inner) : b_(inner) {}

  const OpTotals& totals(OpKind k) const { return totals_[size_t(k)]; }
  void reset() { totals_ = {}; }
  // MoE FLOPs need the shape of the expert GEMMs.
  void set_moe_shape(int n_used, int64_t d, int64_t ff, int64_t n_expert) {
    moe_used_ = n_used;
    moe_d_ = d;
    moe_ff_ = ff;
    moe_experts_ = n_expert;
  }

  std::string_view name() const noexcept override { return b_.name(); }
  backend::Buffer alloc(int64_t n) override { return b_.alloc(n); }
  backend::Weight upload(const backend::HostWeight& w) override { return b_.upload(w); }
  std::unique_ptr<backend::KvCache> make_kv_cache(const kv::CacheConfig& c) override { return b_.make_kv_cache(c); }
  void to_host(const backend::Act& s, std::span<float> d) override { time(OpKind::other, 0, [&] { b_.to_host(s, d); }); }
  void from_host(std::span<const float> s, const backend::Act& d) override { b_.from_host(s, d); }
  void embed(const backend::Weight& t, std::span<const int32_t> ids, const backend::Act& o) override {
    time(OpKind::other, 0, [&] { b_.embed(t, ids, o); });
  }
  void rms_norm(const backend::Act& x, const backend::Weight& g, float eps, const backend::Act& y) override {
    time(OpKind::other, 0, [&] { b_.rms_norm(x, g, eps, y); });
  }
  void head_rms_norm(const backend::Act& x, int hd, const backend::Weight& g, float eps) override {
    time(OpKind::other, 0, [&] { b_.head_rms_norm(x, hd, g, eps); });
  }
  void rope(const backend::Act& x, int hd, int64_t pos0, const backend::RopeParams& p) override {
    time(OpKind::other, 0, [&] { b_.rope(x, hd, pos0, p); });
  }
  void add(const backend::Act& y, const backend::Act& x) override { time(OpKind::other, 0, [&] { b_.add(y, x); }); }
  void add_rms_norm(const backend::Act& y, const backend::Act& x, const backend::Weight& g, float eps,
                    const backend::Act& out) override {
    time(OpKind::other, 0, [&] { b_.add_rms_norm(y, x, g, eps, out); });
  }
  void head_norm_rope(const backend::Act& x, int hd, const backend::Weight& g, float eps, int64_t pos0,
                      const backend::RopeParams& p) override {
    time(OpKind::other, 0, [&] { b_.head_norm_rope(x, hd, g, eps, pos0, p); });
  }
  void matmul(const backend::Act& x, const backend::Weight& w, const backend::Act& y, int64_t index) override {
    time(OpKind::gemm, 2.0 * double(x.rows) * double(w.rows) * double(w.cols), [&] { b_.matmul(x, w, y, index); });
  }
  void ffn_swiglu(const backend::Act& x, const backend::Weight& g, const backend::Weight& u, const backend::Weight& d,
                  const backend::Act& o) override {
    time(OpKind::gemm, 6.0 * double(x.rows) * double(g.rows) * double(g.cols), [&] { b_.ffn_swiglu(x, g, u, d, o); });
  }
  void moe(const backend::Act& x, const backend::MoeWeights& w, const backend::MoeParams& p, const backend::Act& o,
           backend::MoeStats* s) override {
    const double n = double(x.rows);
    const double flops = 2.0 * n * double(moe_d_) * double(moe_experts_) +
                         6.0 * n * double(moe_used_) * double(moe_d_) * double(moe_ff_);
    time(OpKind::moe, flops, [&] { b_.moe(x, w, p, o, s); });
  }
  void kv_write(backend::KvCache& c, int layer, int64_t pos0, const backend::Act& k, const backend::Act& v) override {
    time(OpKind::other, 0, [&] { b_.kv_write(c, layer, pos0, k, v); });
  }
  void attention(const backend::Act& q, backend::KvCache& c, int layer, int64_t pos0,
                 const backend::AttentionParams& p, const backend::Act& o, const attn::Plan* plan) override {
    // Causal: query at position t reads t + 1 keys; QK^T and PV are 2 MACs per key and dim.
    double keys = 0;
    for (int64_t r = 0; r < q.rows; ++r) keys += double(pos0 + r + 1);
    time(OpKind::attention, 4.0 * keys * double(p.n_heads) * double(p.head_dim),
         [&] { b_.attention(q, c, layer, pos0, p, o, plan); });
  }
  attn::Plan plan_attention(const backend::Act& q, backend::KvCache& c, int layer, int64_t pos0,
                            const backend::AttentionParams& p, std::span<const int32_t> globals,
                            const attn::SparseConfig& config) override {
    attn::Plan plan;
    time(OpKind::attention, 0, [&] { plan = b_.plan_attention(q, c, layer, pos0, p, globals, config); });
    return plan;
  }
  void synchronize() override { b_.synchronize(); }

 private:
  template <class F>
  void time(OpKind k, double flops, F&& f) {
    const double c0 = process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    totals_[size_t(k)].seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    totals_[size_t(k)].cpu_seconds += process_cpu_seconds() - c0;
    totals_[size_t(k)].flops += flops;
  }

  backend::Backend& b_;
  std::array<OpTotals, size_t(OpKind::count)> totals_{};
  int moe_used_ = 0;
  int64_t moe_d_ = 0, moe_ff_ = 0, moe_experts_ = 0;
};

}  // namespace folio::bench
