// A plain double-precision forward pass written straight from the architecture
// description, independent of the Backend: the check that the backend ops are
// composed correctly (weights dequantised with gguf::dequantize_row).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "runtime/gguf/gguf.hpp"
#include "runtime/model/hparams.hpp"

namespace folio::test {

class ReferenceForward {
 public:
  explicit ReferenceForward(const gguf::File& f) : f_(f), hp_(model::read_hparams(f)) {}

  // Logits [n][n_vocab] for every position of `tokens` (starting at position 0).
  std::vector<double> logits(const std::vector<int32_t>& tokens) const {
    const int64_t n = int64_t(tokens.size()), d = hp_.d_model, H = hp_.n_heads, HK = hp_.n_kv_heads,
                  D = hp_.head_dim, V = hp_.n_vocab;
    const auto emb = weights("token_embd.weight");
    std::vector<std::vector<double>> x(static_cast<size_t>(n));
    for (int64_t t = 0; t < n; ++t) x[size_t(t)].assign(emb.begin() + tokens[size_t(t)] * d, emb.begin() + (tokens[size_t(t)] + 1) * d);
    for (int l = 0; l < hp_.n_layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      const auto an = weights(p + "attn_norm.weight"), wq = weights(p + "attn_q.weight"),
                 wk = weights(p + "attn_k.weight"), wv = weights(p + "attn_v.weight"),
                 wo = weights(p + "attn_output.weight"), fn = weights(p + "ffn_norm.weight");
      std::vector<std::vector<double>> q(static_cast<size_t>(n)), k(static_cast<size_t>(n)), v(static_cast<size_t>(n));
      for (int64_t t = 0; t < n; ++t) {
        const auto h = rms(x[size_t(t)], an);
        q[size_t(t)] = matvec(wq, h, H * D);
        k[size_t(t)] = matvec(wk, h, HK * D);
        v[size_t(t)] = matvec(wv, h, HK * D);
        if (hp_.qk_norm) {
          const auto qn = weights(p + "attn_q_norm.weight"), kn = weights(p + "attn_k_norm.weight");
          head_norm(q[size_t(t)], qn, D);
          head_norm(k[size_t(t)], kn, D);
        }
        rope(q[size_t(t)], D, t);
        rope(k[size_t(t)], D, t);
      }
      for (int64_t t = 0; t < n; ++t) {
        std::vector<double> att(size_t(H * D), 0.0);
        for (int64_t h = 0; h < H; ++h) {
          const int64_t g = h / (H / HK);
          std::vector<double> s(size_t(t + 1));
          double mx = -1e300, sum = 0;
          for (int64_t u = 0; u <= t; ++u) {
            double dot = 0;
            for (int64_t c = 0; c < D; ++c) dot += q[size_t(t)][size_t(h * D + c)] * k[size_t(u)][size_t(g * D + c)];
            s[size_t(u)] = dot / std::sqrt(double(D));
            mx = std::max(mx, s[size_t(u)]);
          }
          for (auto& e : s) sum += (e = std::exp(e - mx));
          for (int64_t u = 0; u <= t; ++u)
            for (int64_t c = 0; c < D; ++c) att[size_t(h * D + c)] += s[size_t(u)] / sum * v[size_t(u)][size_t(g * D + c)];
        }
        const auto o = matvec(wo, att, d);
        for (int64_t c = 0; c < d; ++c) x[size_t(t)][size_t(c)] += o[size_t(c)];
      }
      for (int64_t t = 0; t < n; ++t) {
        const auto h = rms(x[size_t(t)], fn);
        const auto f = hp_.is_moe() ? moe(p, h) : swiglu(weights(p + "ffn_gate.weight"), weights(p + "ffn_up.weight"),
                                                         weights(p + "ffn_down.weight"), h, hp_.ff, 0);
        for (int64_t c = 0; c < d; ++c) x[size_t(t)][size_t(c)] += f[size_t(c)];
      }
    }
    const auto on = weights("output_norm.weight");
    const auto out = f_.find_tensor("output.weight") ? weights("output.weight") : emb;
    std::vector<double> logits;
    for (int64_t t = 0; t < n; ++t) {
      const auto lg = matvec(out, rms(x[size_t(t)], on), V);
      logits.insert(logits.end(), lg.begin(), lg.end());
    }
    return logits;
  }

 private:
  std::vector<double> weights(const std::string& name) const {
    const gguf::TensorInfo& t = f_.tensor(name);
    std::vector<float> tmp(t.n_elements);
    gguf::dequantize_row(t, 0, tmp);
    return {tmp.begin(), tmp.end()};
  }
  std::vector<double> rms(const std::vector<double>& x, const std::vector<double>& g) const {
    double ss = 0;
    for (double e : x) ss += e * e;
    const double inv = 1.0 / std::sqrt(ss / double(x.size()) + hp_.rms_eps);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * g[i];
    return y;
  }
  void head_norm(std::vector<double>& x, const std::vector<double>& g, int64_t D) const {
    for (size_t h = 0; h < x.size() / size_t(D); ++h) {
      std::vector<double> part(x.begin() + ptrdiff_t(h) * D, x.begin() + ptrdiff_t(h + 1) * D);
      part = rms(part, g);
      std::copy(part.begin(), part.end(), x.begin() + ptrdiff_t(h) * D);
    }
  }
  void rope(std::vector<double>& x, int64_t D, int64_t pos) const {
    for (size_t h = 0; h < x.size() / size_t(D); ++h) {
      double* v = x.data() + h * size_t(D);
      for (int64_t i = 0; i < D / 2; ++i) {
        const double a = double(pos) / std::pow(double(hp_.rope_theta), 2.0 * double(i) / double(D));
        const bool neox = hp_.arch != model::Arch::llama;
        double& x1 = neox ? v[i] : v[2 * i];
        double& x2 = neox ? v[i + D / 2] : v[2 * i + 1];
        const double a1 = x1, a2 = x2;
        x1 = a1 * std::cos(a) - a2 * std::sin(a);
        x2 = a2 * std::cos(a) + a1 * std::sin(a);
      }
    }
  }
  // W is [rows][cols] row-major (rows = output features).
  static std::vector<double> matvec(const std::vector<double>& w, const std::vector<double>& x, int64_t rows,
                                    int64_t offset = 0) {
    const int64_t cols = int64_t(x.size());
    std::vector<double> y(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t c = 0; c < cols; ++c) s += w[size_t(offset + r * cols + c)] * x[size_t(c)];
      y[size_t(r)] = s;
    }
    return y;
  }
  std::vector<double> swiglu(const std::vector<double>& g, const std::vector<double>& u, const std::vector<double>& dn,
                             const std::vector<double>& x, int64_t ff, int64_t expert) const {
    const int64_t d = int64_t(x.size());
    const auto gv = matvec(g, x, ff, expert * ff * d), uv = matvec(u, x, ff, expert * ff * d);
    std::vector<double> h(static_cast<size_t>(ff));
    for (int64_t i = 0; i < ff; ++i) h[size_t(i)] = gv[size_t(i)] / (1 + std::exp(-gv[size_t(i)])) * uv[size_t(i)];
    return matvec(dn, h, d, expert * d * ff);
  }
  std::vector<double> moe(const std::string& p, const std::vector<double>& x) const {
    const int64_t E = hp_.n_expert, K = hp_.n_expert_used;
    const auto router = weights(p + "ffn_gate_inp.weight");
    auto pr = matvec(router, x, E);
    const double mx = *std::max_element(pr.begin(), pr.end());
    double sum = 0;
    for (auto& e : pr) sum += (e = std::exp(e - mx));
    for (auto& e : pr) e /= sum;
    std::vector<int64_t> idx(static_cast<size_t>(E));
    for (int64_t e = 0; e < E; ++e) idx[size_t(e)] = e;
    std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return pr[size_t(a)] > pr[size_t(b)]; });
    double wsum = 0;
    for (int64_t i = 0; i < K; ++i) wsum += pr[size_t(idx[size_t(i)])];
    const auto g = weights(p + "ffn_gate_exps.weight"), u = weights(p + "ffn_up_exps.weight"),
               dn = weights(p + "ffn_down_exps.weight");
    // Experts summed in index order, as transformers does.
    std::vector<int64_t> chosen(idx.begin(), idx.begin() + K);
    std::sort(chosen.begin(), chosen.end());
    std::vector<double> out(x.size(), 0.0);
    for (int64_t e : chosen) {
      const double w = hp_.norm_topk ? pr[size_t(e)] / wsum : pr[size_t(e)];
      const auto o = swiglu(g, u, dn, x, hp_.expert_ff, e);
      for (size_t c = 0; c < out.size(); ++c) out[c] += w * o[c];
    }
    return out;
  }

  const gguf::File& f_;
  model::HParams hp_;
};

}  // namespace folio::test
