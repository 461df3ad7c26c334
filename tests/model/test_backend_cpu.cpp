// CPU backend kernels against plain double-precision references, on fresh
// random inputs of odd sizes.
#include <doctest/doctest.h>

#include <cmath>
#include <atomic>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/backend/cpu/cpu_attention.hpp"
#include "runtime/backend/cpu/cpu_backend.hpp"
#include "runtime/backend/cpu/gemm.hpp"
#include "runtime/backend/cpu/thread_pool.hpp"
#include "runtime/common/error.hpp"
#include "runtime/common/half.hpp"
#include "runtime/kv/paged_cache.hpp"

using namespace folio;
using backend::WeightType;

namespace {

std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

// Encodes f32 values in `type`; `decoded` receives the values the encoding represents.
std::vector<std::byte> encode(const std::vector<float>& v, int64_t cols, WeightType type, std::vector<float>& decoded) {
  const size_t rows = v.size() / size_t(cols);
  std::vector<std::byte> out(rows * backend::weight_row_bytes(type, cols));
  decoded.resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (type == WeightType::f32) {
      std::memcpy(out.data() + 4 * i, &v[i], 4);
      decoded[i] = v[i];
    } else if (type == WeightType::f16 || type == WeightType::bf16) {
      const uint16_t h = type == WeightType::f16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
      decoded[i] = type == WeightType::f16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
  }
  if (type == WeightType::q8_0) {
    for (size_t b = 0; b < v.size() / 32; ++b) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(v[b * 32 + size_t(j)]));
      const uint16_t dh = f32_to_f16(amax / 127.0f);
      const float d = f16_to_f32(dh);
      std::memcpy(out.data() + b * 34, &dh, 2);
      for (int j = 0; j < 32; ++j) {
        const int8_t q = int8_t(std::lround(d > 0 ? v[b * 32 + size_t(j)] / d : 0.0f));
        std::memcpy(out.data() + b * 34 + 2 + size_t(j), &q, 1);
        decoded[b * 32 + size_t(j)] = float(q) * d;
      }
    }
  }
  return out;
}

double max_rel_err(const std::vector<float>& got, const std::vector<double>& want) {
  double mx = 0, err = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    mx = std::max(mx, std::fabs(want[i]));
    err = std::max(err, std::fabs(double(got[i]) - want[i]));
  }
  return err / std::max(mx, 1e-30);
}

}  // namespace

TEST_CASE("matmul matches a double reference for every weight type and odd sizes") {
  cpu::ThreadPool pool(2);
  const WeightType types[] = {WeightType::f32, WeightType::f16, WeightType::bf16, WeightType::q8_0};
  const int64_t ns[] = {1, 3, 7, 8, 17, 33, 70, 300};
  uint64_t seed = 11;
  for (WeightType type : types) {
    for (int64_t n : ns) {
      const int64_t k = type == WeightType::q8_0 ? 96 : 77, m = 45;
      const auto x = randn(size_t(n * k), ++seed);
      const auto wf = randn(size_t(m * k), ++seed, 0.1f);
      std::vector<float> wd;
      const auto wb = encode(wf, k, type, wd);
      std::vector<float> y(size_t(n * m), -1.0f);
      cpu::matmul(pool, x.data(), k, n, {type, wb.data(), backend::weight_row_bytes(type, k), m, k}, y.data(), m);
      std::vector<double> ref(size_t(n * m));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) {
          double s = 0;
          for (int64_t p = 0; p < k; ++p) s += double(x[size_t(i * k + p)]) * double(wd[size_t(j * k + p)]);
          ref[size_t(i * m + j)] = s;
        }
      INFO("type " << backend::weight_type_name(type) << " n " << n);
      CHECK(max_rel_err(y, ref) < 2e-6);
    }
  }
}

TEST_CASE("matmul results do not depend on the thread count") {
  const int64_t n = 150, k = 256, m = 97;
  const auto x = randn(size_t(n * k), 5);
  const auto w = randn(size_t(m * k), 6, 0.1f);
  std::vector<float> y1(size_t(n * m)), y3(size_t(n * m));
  cpu::ThreadPool p1(1), p3(3);
  const cpu::WeightRows wr{WeightType::f32, reinterpret_cast<const std::byte*>(w.data()), size_t(k) * 4, m, k};
  cpu::matmul(p1, x.data(), k, n, wr, y1.data(), m);
  cpu::matmul(p3, x.data(), k, n, wr, y3.data(), m);
  CHECK(std::memcmp(y1.data(), y3.data(), y1.size() * 4) == 0);
}

TEST_CASE("thread pool runs every index once and propagates exceptions") {
  cpu::ThreadPool pool(3);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::atomic<int>> hits(1000);
    pool.parallel_for(1000, 7, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1);
    });
    for (const auto& h : hits) REQUIRE(h.load() == 1);
  }
  // An exception from any chunk (whichever thread ran it) reaches the caller.
  CHECK_THROWS_AS(pool.parallel_for(100, 1, [](int64_t b, int64_t) {
    if (b == 57) throw std::runtime_error("boom");
  }),
                  std::runtime_error);
  int calls = 0;
  pool.parallel_for(5, 100, [&](int64_t b, int64_t e) { calls += int(e - b); });
  CHECK(calls == 5);
}

TEST_CASE("paged cache stores keys transposed and keeps exact block summaries") {
  kv::CacheConfig cc{2, 3, 8, 500, true};
  kv::PagedCache cache(cc);
  const int64_t n = 150;
  const int64_t w = 3 * 8;
  const auto k = randn(size_t(n * w), 1), v = randn(size_t(n * w), 2);
  // Write in uneven pieces on layer 1 and all at once on layer 0.
  cache.write(0, 0, n, k.data(), w, v.data(), w);
  cache.write(1, 0, 40, k.data(), w, v.data(), w);
  cache.write(1, 40, 110, k.data() + 40 * w, w, v.data() + 40 * w, w);
  REQUIRE(cache.size() == n);
  CHECK(cache.n_blocks(0) == 3);
  CHECK(cache.block_fill(0, 2) == 150 - 128);
  for (int layer = 0; layer < 2; ++layer)
    for (int64_t b = 0; b < 3; ++b)
      for (int h = 0; h < 3; ++h) {
        const int fill = cache.block_fill(layer, b);
        for (int d = 0; d < 8; ++d) {
          double sum = 0;
          float lo = 1e30f, hi = -1e30f;
          for (int s = 0; s < fill; ++s) {
            const float key = k[size_t((b * 64 + s) * w + h * 8 + d)];
            REQUIRE(cache.keys_t(layer, b, h)[d * 64 + s] == key);
            REQUIRE(cache.values(layer, b, h)[s * 8 + d] == v[size_t((b * 64 + s) * w + h * 8 + d)]);
            sum += key;
            lo = std::min(lo, key);
            hi = std::max(hi, key);
          }
          CHECK(cache.key_mean(layer, b, h)[d] == doctest::Approx(sum / fill).epsilon(1e-5));
          CHECK(cache.key_min(layer, b, h)[d] == lo);
          CHECK(cache.key_max(layer, b, h)[d] == hi);
        }
      }
  cache.truncate(70);
  CHECK(cache.size() == 70);
  CHECK(cache.n_blocks(1) == 2);
  CHECK(cache.block_fill(1, 1) == 6);
  double sum = 0;
  for (int s = 64; s < 70; ++s) sum += k[size_t(s * w + 1 * 8 + 2)];
  CHECK(cache.key_mean(1, 1, 1)[2] == doctest::Approx(sum / 6).epsilon(1e-5));
  CHECK_THROWS(cache.write(0, 90, 1, k.data(), w, v.data(), w));   // hole
  CHECK_THROWS(cache.write(0, 70, 431, k.data(), w, v.data(), w)); // past capacity
}

namespace {

// Causal GQA attention in double straight from row-major q, k, v.
std::vector<double> reference_attention(const std::vector<float>& q, const std::vector<float>& k,
                                        const std::vector<float>& v, int64_t n_q, int64_t pos0, int H, int HK, int D,
                                        float scale) {
  std::vector<double> out(size_t(n_q * H * D));
  for (int64_t r = 0; r < n_q; ++r)
    for (int h = 0; h < H; ++h) {
      const int g = h / (H / HK);
      const int64_t pos = pos0 + r;
      std::vector<double> s(size_t(pos + 1));
      double mx = -1e300;
      for (int64_t t = 0; t <= pos; ++t) {
        double dot = 0;
        for (int d = 0; d < D; ++d) dot += double(q[size_t((r * H + h) * D + d)]) * double(k[size_t((t * HK + g) * D + d)]);
        s[size_t(t)] = dot * scale;
        mx = std::max(mx, s[size_t(t)]);
      }
      double l = 0;
      for (auto& x : s) l += (x = std::exp(x - mx));
      for (int d = 0; d < D; ++d) {
        double acc = 0;
        for (int64_t t = 0; t <= pos; ++t) acc += s[size_t(t)] * double(v[size_t((t * HK + g) * D + d)]);
        out[size_t((r * H + h) * D + d)] = acc / l;
      }
    }
  return out;
}

}  // namespace

TEST_CASE("attention over the paged cache equals exact causal attention") {
  cpu::ThreadPool pool(2);
  struct Case { int H, HK, D; int64_t past, n; };
  const Case cases[] = {{4, 4, 16, 0, 70}, {8, 2, 64, 0, 130}, {8, 1, 24, 37, 1}, {4, 2, 32, 100, 29}, {8, 2, 128, 200, 1}};
  uint64_t seed = 100;
  for (const Case& c : cases) {
    const int64_t total = c.past + c.n;
    const auto k = randn(size_t(total * c.HK * c.D), ++seed), v = randn(size_t(total * c.HK * c.D), ++seed);
    const auto q = randn(size_t(c.n * c.H * c.D), ++seed);
    kv::PagedCache cache({1, c.HK, c.D, total, true});
    cache.write(0, 0, total, k.data(), c.HK * c.D, v.data(), c.HK * c.D);
    std::vector<float> out(size_t(c.n * c.H * c.D));
    backend::Act qa{const_cast<float*>(q.data()), c.n, c.H * c.D, c.H * c.D};
    backend::Act oa{out.data(), c.n, c.H * c.D, c.H * c.D};
    const float scale = 1.0f / std::sqrt(float(c.D));
    cpu::attention(pool, qa, cache, 0, c.past, {c.H, c.HK, c.D, scale}, oa);
    const auto ref = reference_attention(q, k, v, c.n, c.past, c.H, c.HK, c.D, scale);
    INFO("H " << c.H << " HK " << c.HK << " D " << c.D << " past " << c.past << " n " << c.n);
    CHECK(max_rel_err(out, ref) < 1e-5);
  }
}

TEST_CASE("moe routes top-k with renormalisation and sums SwiGLU experts") {
  auto be = cpu::make_cpu_backend({2});
  const int64_t n = 37, d = 32, E = 6, ff = 24;
  const int K = 2;
  const auto x = randn(size_t(n * d), 1);
  const auto router = randn(size_t(E * d), 2, 0.3f);
  const auto gate = randn(size_t(E * ff * d), 3, 0.2f), up = randn(size_t(E * ff * d), 4, 0.2f),
             down = randn(size_t(E * d * ff), 5, 0.2f);
  auto upload = [&](const std::vector<float>& w, int64_t count, int64_t rows, int64_t cols, const char* name) {
    backend::HostWeight hw{name, WeightType::f32, count, rows, cols,
                           std::span<const std::byte>(reinterpret_cast<const std::byte*>(w.data()), w.size() * 4)};
    return be->upload(hw);
  };
  const auto wr = upload(router, 1, E, d, "router"), wg = upload(gate, E, ff, d, "gate"),
             wu = upload(up, E, ff, d, "up"), wd = upload(down, E, d, ff, "down");
  // Router probabilities in double, and each token's experts: the top-k, or
  // for a routing replay the k LEAST likely (ids no top-k would pick).
  std::vector<std::vector<double>> probs(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) {
    auto& p = probs[size_t(t)];
    p.resize(size_t(E));
    double mx = -1e300, sum = 0;
    for (int64_t e = 0; e < E; ++e) {
      double s = 0;
      for (int64_t i = 0; i < d; ++i) s += double(x[size_t(t * d + i)]) * router[size_t(e * d + i)];
      p[size_t(e)] = s;
      mx = std::max(mx, s);
    }
    for (auto& v : p) sum += (v = std::exp(v - mx));
    for (auto& v : p) v /= sum;
  }
  for (bool replay : {false, true})
    for (bool norm : {true, false}) {
      std::vector<int32_t> chosen;  // n x K
      for (int64_t t = 0; t < n; ++t) {
        const auto& p = probs[size_t(t)];
        std::vector<int> idx(E);
        for (int e = 0; e < E; ++e) idx[size_t(e)] = e;
        std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return p[size_t(a)] > p[size_t(b)]; });
        if (replay) std::reverse(idx.begin(), idx.end());
        chosen.insert(chosen.end(), idx.begin(), idx.begin() + K);
      }
      auto xb = be->alloc(n * d), ob = be->alloc(n * d);
      be->from_host(x, xb.view(n, d));
      std::vector<int64_t> counts(E, 0);
      backend::MoeStats stats{counts};
      backend::MoeParams mp{K, norm};
      if (replay) mp.forced_experts = chosen;
      be->moe(xb.view(n, d), {&wr, &wg, &wu, &wd}, mp, ob.view(n, d), &stats);
      std::vector<float> out(size_t(n * d));
      be->to_host(ob.view(n, d), out);
      std::vector<double> ref(size_t(n * d), 0.0);
      std::vector<int64_t> ref_counts(E, 0);
      for (int64_t t = 0; t < n; ++t) {
        const auto& p = probs[size_t(t)];
        double wsum = 0;
        for (int i = 0; i < K; ++i) wsum += p[size_t(chosen[size_t(t * K + i)])];
        for (int i = 0; i < K; ++i) {
          const int e = chosen[size_t(t * K + i)];
          ++ref_counts[size_t(e)];
          const double wt = norm ? p[size_t(e)] / wsum : p[size_t(e)];
          std::vector<double> h(static_cast<size_t>(ff));
          for (int64_t j = 0; j < ff; ++j) {
            double g = 0, u = 0;
            for (int64_t c = 0; c < d; ++c) {
              g += double(x[size_t(t * d + c)]) * gate[size_t((e * ff + j) * d + c)];
              u += double(x[size_t(t * d + c)]) * up[size_t((e * ff + j) * d + c)];
            }
            h[size_t(j)] = g / (1 + std::exp(-g)) * u;
          }
          for (int64_t c = 0; c < d; ++c) {
            double o = 0;
            for (int64_t j = 0; j < ff; ++j) o += h[size_t(j)] * down[size_t((e * d + c) * ff + j)];
            ref[size_t(t * d + c)] += wt * o;
          }
        }
      }
      INFO("norm_topk " << norm << " replay " << replay);
      CHECK(max_rel_err(out, ref) < 1e-5);
      CHECK(counts == ref_counts);
    }
  // A replay of the wrong size or with a repeated or unknown expert is refused.
  auto xb = be->alloc(n * d), ob = be->alloc(n * d);
  std::vector<int32_t> bad(size_t(n * K), 0);
  for (int64_t t = 0; t < n; ++t) bad[size_t(t * K + 1)] = 1;
  backend::MoeParams mp{K, true};
  mp.forced_experts = std::span<const int32_t>(bad).first(bad.size() - 1);
  CHECK_THROWS(be->moe(xb.view(n, d), {&wr, &wg, &wu, &wd}, mp, ob.view(n, d), nullptr));
  bad[5] = bad[4];  // token 2 names expert 0 twice
  mp.forced_experts = bad;
  CHECK_THROWS(be->moe(xb.view(n, d), {&wr, &wg, &wu, &wd}, mp, ob.view(n, d), nullptr));
  bad[5] = int32_t(E);
  CHECK_THROWS(be->moe(xb.view(n, d), {&wr, &wg, &wu, &wd}, mp, ob.view(n, d), nullptr));
}

TEST_CASE("norms, rope and embedding") {
  auto be = cpu::make_cpu_backend({2});
  const int64_t n = 5, heads = 3, D = 8;
  const auto x = randn(size_t(n * heads * D), 9);
  const auto g = randn(size_t(D), 10);
  backend::HostWeight hw{"g", WeightType::f32, 1, 1, D,
                         std::span<const std::byte>(reinterpret_cast<const std::byte*>(g.data()), g.size() * 4)};
  const auto gw = be->upload(hw);
  auto buf = be->alloc(n * heads * D);
  const auto a = buf.view(n, heads * D);
  be->from_host(x, a);
  be->head_rms_norm(a, int(D), gw, 1e-6f);
  backend::RopeParams rp;
  rp.theta = 10000.0f;
  be->rope(a, int(D), 7, rp);
  std::vector<float> got(x.size());
  be->to_host(a, got);
  std::vector<double> ref(x.size());
  for (int64_t r = 0; r < n; ++r)
    for (int64_t h = 0; h < heads; ++h) {
      const float* src = x.data() + (r * heads + h) * D;
      double ss = 0;
      for (int d = 0; d < D; ++d) ss += double(src[d]) * src[d];
      const double inv = 1.0 / std::sqrt(ss / D + 1e-6);
      std::vector<double> y(D);
      for (int d = 0; d < D; ++d) y[size_t(d)] = src[d] * inv * g[size_t(d)];
      for (int i = 0; i < D / 2; ++i) {
        const double ang = double(7 + r) / std::pow(10000.0, 2.0 * i / D);
        const double x1 = y[size_t(i)], x2 = y[size_t(i + D / 2)];
        ref[size_t((r * heads + h) * D + i)] = x1 * std::cos(ang) - x2 * std::sin(ang);
        ref[size_t((r * heads + h) * D + i + D / 2)] = x2 * std::cos(ang) + x1 * std::sin(ang);
      }
    }
  CHECK(max_rel_err(got, ref) < 1e-5);
  const int32_t bad[] = {3, 99};
  auto tb = be->alloc(2 * D);
  CHECK_THROWS_WITH_AS(be->embed(gw, bad, tb.view(2, D)), doctest::Contains("outside the vocabulary"), folio::Error);
}
