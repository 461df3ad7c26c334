#include "runtime/backend/cpu/cpu_backend.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "runtime/attention/planner.hpp"
#include "runtime/backend/cpu/cpu_attention.hpp"
#include "runtime/backend/cpu/cpu_kv_cache.hpp"
#include "runtime/backend/cpu/gemm.hpp"
#include "runtime/backend/cpu/moe_experts.hpp"
#include "runtime/backend/cpu/simd.hpp"
#include "runtime/backend/cpu/thread_pool.hpp"
#include "runtime/common/error.hpp"

namespace folio::cpu {

using backend::Act;
using backend::Weight;
using backend::WeightType;

namespace {

WeightRows rows_of(const Weight& w, int64_t index) {
  if (index < 0 || index >= w.count)
    fail(Errc::invalid_argument, "matrix " + std::to_string(index) + " of '" + w.name + "' out of range");
  return {w.type, w.matrix(index), w.row_bytes, w.rows, w.cols};
}

std::vector<float> weight_vector(const Weight& w, int64_t expected, const char* what) {
  if (w.count != 1 || w.rows != 1 || w.cols != expected)
    fail(Errc::invalid_argument, std::string(what) + ": '" + w.name + "' has " + std::to_string(w.cols) +
                                     " elements, expected " + std::to_string(expected));
  std::vector<float> out(static_cast<size_t>(expected));
  convert_row(w.type, static_cast<const std::byte*>(w.data), expected, out.data());
  return out;
}

void rms_norm_row(const float* x, const float* gamma, int64_t d, float eps, float* y) {
  // Sum of squares in double: the oracle should not depend on the row length.
  double ss = 0;
  for (int64_t i = 0; i < d; ++i) ss += double(x[i]) * double(x[i]);
  const float inv = float(1.0 / std::sqrt(ss / double(d) + double(eps)));
  for (int64_t i = 0; i < d; ++i) y[i] = x[i] * inv * gamma[i];
}

class CpuBackend final : public backend::Backend {
 public:
  explicit CpuBackend(const CpuOptions& o) : pool_(o.n_threads) {}

  std::string_view name() const noexcept override { return "cpu"; }
  int threads() const noexcept { return pool_.size(); }

  backend::Buffer alloc(int64_t n_floats) override {
    if (n_floats < 0) fail(Errc::invalid_argument, "alloc: negative size");
    std::shared_ptr<float> p(new float[size_t(std::max<int64_t>(n_floats, 1))](), std::default_delete<float[]>());
    return {std::move(p), n_floats};
  }

  Weight upload(const backend::HostWeight& w) override {
    if (w.rows <= 0 || w.cols <= 0 || w.count <= 0)
      fail(Errc::invalid_argument, "weight '" + w.name + "': empty shape");
    if (w.type == WeightType::q8_0 && w.cols % 32 != 0)
      fail(Errc::format, "weight '" + w.name + "': q8_0 rows must be a multiple of 32 elements, got " +
                             std::to_string(w.cols));
    const size_t rb = backend::weight_row_bytes(w.type, w.cols);
    const size_t need = rb * size_t(w.rows) * size_t(w.count);
    if (w.bytes.size() != need)
      fail(Errc::format, "weight '" + w.name + "': " + std::to_string(w.bytes.size()) + " bytes, expected " +
                             std::to_string(need));
    Weight out;
    out.name = w.name;
    out.type = w.type;
    out.count = w.count;
    out.rows = w.rows;
    out.cols = w.cols;
    out.data = w.bytes.data();
    out.row_bytes = rb;
    return out;
  }

  std::unique_ptr<backend::KvCache> make_kv_cache(const kv::CacheConfig& config) override {
    return std::make_unique<CpuKvCache>(config);
  }

  void to_host(const Act& src, std::span<float> dst) override {
    if (dst.size() != size_t(src.rows * src.cols)) fail(Errc::invalid_argument, "to_host: size mismatch");
    for (int64_t r = 0; r < src.rows; ++r)
      std::memcpy(dst.data() + r * src.cols, src.row(r), size_t(src.cols) * 4);
  }
  void from_host(std::span<const float> src, const Act& dst) override {
    if (src.size() != size_t(dst.rows * dst.cols)) fail(Errc::invalid_argument, "from_host: size mismatch");
    for (int64_t r = 0; r < dst.rows; ++r)
      std::memcpy(dst.row(r), src.data() + r * dst.cols, size_t(dst.cols) * 4);
  }

  void embed(const Weight& table, std::span<const int32_t> ids, const Act& out) override {
    if (out.rows != int64_t(ids.size()) || out.cols != table.cols)
      fail(Errc::invalid_argument, "embed: output shape mismatch");
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= table.rows)
        fail(Errc::invalid_argument, "token id " + std::to_string(ids[i]) + " outside the vocabulary of " +
                                         std::to_string(table.rows));
      convert_row(table.type, table.matrix(0) + size_t(ids[i]) * table.row_bytes, table.cols,
                  out.row(int64_t(i)));
    }
  }

  void rms_norm(const Act& x, const Weight& gamma, float eps, const Act& y) override {
    const auto g = weight_vector(gamma, x.cols, "rms_norm");
    pool_.parallel_for(x.rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) rms_norm_row(x.row(r), g.data(), x.cols, eps, y.row(r));
    });
  }

  void head_rms_norm(const Act& x, int head_dim, const Weight& gamma, float eps) override {
    if (head_dim <= 0 || x.cols % head_dim != 0) fail(Errc::invalid_argument, "head_rms_norm: bad head_dim");
    const auto g = weight_vector(gamma, head_dim, "head_rms_norm");
    const int64_t heads = x.cols / head_dim;
    pool_.parallel_for(x.rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        for (int64_t h = 0; h < heads; ++h) {
          float* p = x.row(r) + h * head_dim;
          rms_norm_row(p, g.data(), head_dim, eps, p);
        }
    });
  }

  void rope(const Act& x, int head_dim, int64_t pos0, const backend::RopeParams& p) override {
    const int rot = p.rot_dims > 0 ? p.rot_dims : head_dim;
    if (head_dim <= 0 || x.cols % head_dim != 0 || rot % 2 != 0 || rot > head_dim)
      fail(Errc::invalid_argument, "rope: bad head_dim / rotary dims");
    const int half = rot / 2;
    // inv_freq as transformers computes it, in f32: 1 / theta^(2i/rot)
    std::vector<float> inv(static_cast<size_t>(half));
    for (int i = 0; i < half; ++i) inv[size_t(i)] = 1.0f / std::pow(p.theta, float(2 * i) / float(rot));
    const int64_t heads = x.cols / head_dim;
    pool_.parallel_for(x.rows, 16, [&](int64_t b, int64_t e) {
      std::vector<float> c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
      for (int64_t r = b; r < e; ++r) {
        const float pos = float(pos0 + r);
        for (int i = 0; i < half; ++i) {
          const float a = pos * inv[size_t(i)];
          c[size_t(i)] = std::cos(a);
          s[size_t(i)] = std::sin(a);
        }
        for (int64_t h = 0; h < heads; ++h) {
          float* v = x.row(r) + h * head_dim;
          if (p.style == backend::RopeParams::Style::neox) {
            for (int i = 0; i < half; ++i) {
              const float x1 = v[i], x2 = v[i + half];
              v[i] = x1 * c[size_t(i)] - x2 * s[size_t(i)];
              v[i + half] = x2 * c[size_t(i)] + x1 * s[size_t(i)];
            }
          } else {
            for (int i = 0; i < half; ++i) {
              const float x1 = v[2 * i], x2 = v[2 * i + 1];
              v[2 * i] = x1 * c[size_t(i)] - x2 * s[size_t(i)];
              v[2 * i + 1] = x2 * c[size_t(i)] + x1 * s[size_t(i)];
            }
          }
        }
      }
    });
  }

  void add(const Act& y, const Act& x) override {
    if (x.rows != y.rows || x.cols != y.cols) fail(Errc::invalid_argument, "add: shape mismatch");
    for (int64_t r = 0; r < y.rows; ++r) {
      float* a = y.row(r);
      const float* b = x.row(r);
      for (int64_t i = 0; i < y.cols; ++i) a[i] += b[i];
    }
  }

  void matmul(const Act& x, const Weight& w, const Act& y, int64_t index) override {
    if (x.cols != w.cols || y.cols != w.rows || y.rows != x.rows)
      fail(Errc::invalid_argument, "matmul with '" + w.name + "': x is [" + std::to_string(x.rows) + "][" +
                                       std::to_string(x.cols) + "], weight [" + std::to_string(w.rows) + "][" +
                                       std::to_string(w.cols) + "], y [" + std::to_string(y.rows) + "][" +
                                       std::to_string(y.cols) + "]");
    cpu::matmul(pool_, gemm_scratch_, x.data, x.stride, x.rows, rows_of(w, index), y.data, y.stride);
  }

  void ffn_swiglu(const Act& x, const Weight& gate, const Weight& up, const Weight& down,
                  const Act& out) override {
    const int64_t n = x.rows, ff = gate.rows;
    g_.resize(size_t(n * ff));
    u_.resize(size_t(n * ff));
    cpu::matmul(pool_, gemm_scratch_, x.data, x.stride, n, rows_of(gate, 0), g_.data(), ff);
    cpu::matmul(pool_, gemm_scratch_, x.data, x.stride, n, rows_of(up, 0), u_.data(), ff);
    silu_mul(g_.data(), u_.data(), n * ff);
    if (down.cols != ff || out.cols != down.rows) fail(Errc::invalid_argument, "ffn: down projection shape mismatch");
    cpu::matmul(pool_, gemm_scratch_, g_.data(), ff, n, rows_of(down, 0), out.data, out.stride);
  }

  void moe(const Act& x, const backend::MoeWeights& w, const backend::MoeParams& p, const Act& out,
           backend::MoeStats* stats) override {
    const int64_t n = x.rows, d = x.cols;
    const int64_t E = w.router->rows, ff = w.gate->rows;
    const int K = p.n_used;
    if (K <= 0 || K > E) fail(Errc::invalid_argument, "moe: experts used must be in 1..expert count");
    if (w.gate->count != E || w.up->count != E || w.down->count != E || w.gate->cols != d || w.up->rows != ff ||
        w.up->cols != d || w.down->rows != d || w.down->cols != ff)
      fail(Errc::invalid_argument, "moe: expert tensors disagree with the router on the expert count or shape");
    backend::check_forced_experts(p.forced_experts, n, K, E);
    // Router: probabilities in f32, as transformers computes them.
    logits_.resize(size_t(n * E));
    cpu::matmul(pool_, gemm_scratch_, x.data, x.stride, n, rows_of(*w.router, 0), logits_.data(), E);
    // Top-k per token, in parallel: choice_[t * K + i] = (expert, weight).
    choice_.resize(size_t(n * K));
    pool_.parallel_for(n, 64, [&](int64_t t0, int64_t t1) {
      std::vector<int> order(static_cast<size_t>(E));
      std::vector<float> prob(static_cast<size_t>(E));
      for (int64_t t = t0; t < t1; ++t) {
        const float* l = logits_.data() + t * E;
        const float mx = *std::max_element(l, l + E);
        float sum = 0;
        for (int64_t e = 0; e < E; ++e) sum += (prob[size_t(e)] = std::exp(l[e] - mx));
        for (int64_t e = 0; e < E; ++e) prob[size_t(e)] /= sum;
        if (!p.forced_experts.empty()) {  // routing replay
          std::copy_n(p.forced_experts.begin() + t * K, K, order.begin());
        } else {
          std::iota(order.begin(), order.end(), 0);
          std::partial_sort(order.begin(), order.begin() + K, order.end(), [&](int a, int b) {
            return prob[size_t(a)] > prob[size_t(b)] || (prob[size_t(a)] == prob[size_t(b)] && a < b);
          });
        }
        float wsum = 0;
        for (int i = 0; i < K; ++i) wsum += prob[size_t(order[size_t(i)])];
        // Sorted by expert index: the order transformers adds the experts' outputs in.
        std::sort(order.begin(), order.begin() + K);
        for (int i = 0; i < K; ++i) {
          const int e = order[size_t(i)];
          choice_[size_t(t * K + i)] = {e, p.normalize_topk ? prob[size_t(e)] / wsum : prob[size_t(e)]};
        }
      }
    });
    // Rows of the grouped problem: expert e owns rows [row0[e], row0[e+1]) in
    // token order, one per token routed to it (a counting sort).
    routing_.row0.assign(size_t(E) + 1, 0);
    for (const auto& c : choice_) ++routing_.row0[size_t(c.expert) + 1];
    for (int64_t e = 0; e < E; ++e) {
      if (stats && size_t(e) < stats->tokens_per_expert.size())
        stats->tokens_per_expert[size_t(e)] += routing_.row0[size_t(e) + 1];
      routing_.row0[size_t(e) + 1] += routing_.row0[size_t(e)];
    }
    routing_.token.resize(choice_.size());
    row_of_.resize(choice_.size());
    fill_.assign(routing_.row0.begin(), routing_.row0.end() - 1);
    for (int64_t t = 0; t < n; ++t)
      for (int i = 0; i < K; ++i) {
        const int64_t row = fill_[size_t(choice_[size_t(t * K + i)].expert)]++;
        routing_.token[size_t(row)] = t;
        row_of_[size_t(t * K + i)] = row;
      }
    os_.resize(size_t(routing_.row0[size_t(E)] * d));
    experts_.run(pool_, x, *w.gate, *w.up, *w.down, routing_, os_.data());
    // Weighted sum per token, experts in index order (as transformers adds them).
    pool_.parallel_for(n, 16, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        float* dst = out.row(t);
        std::fill(dst, dst + d, 0.0f);
        for (int i = 0; i < K; ++i) {
          const float wt = choice_[size_t(t * K + i)].weight;
          const float* src = os_.data() + row_of_[size_t(t * K + i)] * d;
          for (int64_t j = 0; j < d; ++j) dst[j] += wt * src[j];
        }
      }
    });
  }

  void kv_write(backend::KvCache& cache, int layer, int64_t pos0, const Act& k, const Act& v) override {
    auto& c = cpu_cache(cache);
    if (k.rows != v.rows || k.cols != int64_t(c.config().n_kv_heads) * c.config().head_dim || v.cols != k.cols)
      fail(Errc::invalid_argument, "kv_write: k/v must be [n][n_kv_heads*head_dim]");
    c.write(layer, pos0, k.rows, k.data, k.stride, v.data, v.stride);
  }

  void attention(const Act& q, backend::KvCache& cache, int layer, int64_t pos0, const backend::AttentionParams& p,
                 const Act& out, const attn::Plan* plan) override {
    cpu::attention(pool_, q, cpu_cache(cache), layer, pos0, p, out, plan);
  }

  attn::Plan plan_attention(const Act& q, backend::KvCache& cache, int layer, int64_t pos0,
                            const backend::AttentionParams& p, std::span<const int32_t> global_positions,
                            const attn::SparseConfig& config) override {
    const kv::PagedCache& c = cpu_cache(cache);
    const int64_t n_keys = c.size(layer);
    if (config.dense) return attn::make_dense_plan(q.rows, pos0, n_keys, config.query_block, p.n_kv_heads);
    // The planner reads plain arrays: queries [n][H][D] and summaries [blocks][HK][D].
    const int64_t qd = int64_t(p.n_heads) * p.head_dim;
    std::vector<float> qh(size_t(q.rows * qd));
    for (int64_t r = 0; r < q.rows; ++r) std::memcpy(qh.data() + r * qd, q.row(r), size_t(qd) * 4);
    attn::BlockSummaries s;
    s.n_blocks = c.n_blocks(layer);
    s.n_kv_heads = p.n_kv_heads;
    s.head_dim = p.head_dim;
    const size_t per = size_t(p.head_dim);
    s.mean.resize(size_t(s.n_blocks) * size_t(p.n_kv_heads) * per);
    if (c.config().minmax_summary) {
      s.min.resize(s.mean.size());
      s.max.resize(s.mean.size());
    }
    for (int64_t b = 0; b < s.n_blocks; ++b)
      for (int h = 0; h < p.n_kv_heads; ++h) {
        const size_t off = (size_t(b) * size_t(p.n_kv_heads) + size_t(h)) * per;
        std::memcpy(s.mean.data() + off, c.key_mean(layer, b, h), per * 4);
        if (c.config().minmax_summary) {
          std::memcpy(s.min.data() + off, c.key_min(layer, b, h), per * 4);
          std::memcpy(s.max.data() + off, c.key_max(layer, b, h), per * 4);
        }
      }
    const attn::Shape shape{p.n_heads, p.n_kv_heads, p.head_dim};
    return attn::plan_attention(qh, q.rows, pos0, n_keys, shape, s, global_positions, config);
  }

  void synchronize() override {}

 private:
  static kv::PagedCache& cpu_cache(backend::KvCache& cache) {
    auto* c = dynamic_cast<CpuKvCache*>(&cache);
    if (c == nullptr) fail(Errc::invalid_argument, "cpu backend: KV cache was made by another backend");
    return c->paged();
  }

  ThreadPool pool_;
  // Scratch reused across calls (the backend runs one forward at a time).
  GemmScratch gemm_scratch_;
  std::vector<float> logits_, g_, u_, os_;
  struct Choice {
    int expert;
    float weight;
  };
  std::vector<Choice> choice_;              // [n][K] chosen experts per token, by expert index
  std::vector<int64_t> row_of_, fill_;      // grouped row of each choice; counting-sort cursors
  ExpertRouting routing_;
  ExpertFfn experts_;
};

}  // namespace

std::unique_ptr<backend::Backend> make_cpu_backend(const CpuOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

int cpu_backend_threads(const backend::Backend& b) {
  const auto* c = dynamic_cast<const CpuBackend*>(&b);
  return c ? c->threads() : 0;
}

}  // namespace folio::cpu
