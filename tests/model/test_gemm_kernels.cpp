// The CPU GEMM building blocks (register transpose, panel packing, row-block
// kernels with their prefetch and half-panel paths) and the MoE expert runner
// against plain loops in double, on fresh random inputs whose sizes are not
// multiples of the 14-row block, the 16-lane half panel or the 32-token panel.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/backend/cpu/gemm.hpp"
#include "runtime/backend/cpu/moe_experts.hpp"
#include "runtime/backend/cpu/simd.hpp"
#include "runtime/backend/cpu/thread_pool.hpp"
#include "runtime/common/half.hpp"

using namespace folio;
using backend::WeightType;

namespace {

std::vector<float> random_values(size_t n, std::mt19937_64& rng, float scale = 1.0f) {
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

// bf16 weights (the bench model's type) and the exact f32 values they hold.
struct Bf16Matrix {
  std::vector<uint16_t> bits;
  std::vector<float> values;
  Bf16Matrix(size_t n, std::mt19937_64& rng, float scale) : bits(n), values(n) {
    const auto v = random_values(n, rng, scale);
    for (size_t i = 0; i < n; ++i) {
      bits[i] = f32_to_bf16(v[i]);
      values[i] = bf16_to_f32(bits[i]);
    }
  }
  cpu::WeightRows rows(int64_t count_offset, int64_t rows, int64_t cols) const {
    return {WeightType::bf16, reinterpret_cast<const std::byte*>(bits.data() + count_offset * rows * cols),
            size_t(cols) * 2, rows, cols};
  }
};

// Largest |got - want| over the largest |want|.
double rel_err(const std::vector<float>& got, const std::vector<double>& want) {
  double mx = 1e-30, err = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    mx = std::max(mx, std::fabs(want[i]));
    err = std::max(err, std::fabs(double(got[i]) - want[i]));
  }
  return err / mx;
}

}  // namespace

TEST_CASE("transpose16 swaps rows and columns of random values") {
  std::mt19937_64 rng(std::random_device{}());
  const auto a = random_values(256, rng);
  cpu::v16 r[16];
  for (int i = 0; i < 16; ++i) r[i] = cpu::load16(a.data() + i * 16);
  cpu::transpose16(r);
  float t[16][16];
  std::memcpy(t, r, sizeof t);
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) CHECK(t[i][j] == a[size_t(j * 16 + i)]);
}

TEST_CASE("pack_x and pack_x_rows lay tokens out in zero-padded panels of 32") {
  std::mt19937_64 rng(std::random_device{}());
  for (int64_t n : {1, 15, 16, 17, 32, 47, 70})
    for (int64_t k : {1, 15, 16, 33, 77}) {
      const int64_t ldx = k + 3, n_src = n + 5;
      const auto x = random_values(size_t(n_src * ldx), rng);
      std::vector<int64_t> rows(static_cast<size_t>(n));
      for (auto& r : rows) r = int64_t(rng() % uint64_t(n_src));
      const size_t size = size_t(cpu::packed_x_floats(n, k));
      std::vector<float> plain(size, -7.0f), gathered(size, -7.0f);
      cpu::pack_x(x.data(), ldx, n, k, plain.data());
      cpu::pack_x_rows(x.data(), ldx, rows.data(), n, k, gathered.data());
      bool plain_ok = true, gathered_ok = true;
      for (int64_t t = 0; t < (n + 31) / 32 * 32; ++t)
        for (int64_t p = 0; p < k; ++p) {
          const size_t at = size_t(((t / 32) * k + p) * 32 + t % 32);
          plain_ok &= plain[at] == (t < n ? x[size_t(t * ldx + p)] : 0.0f);
          gathered_ok &= gathered[at] == (t < n ? x[size_t(rows[size_t(t)] * ldx + p)] : 0.0f);
        }
      INFO("n " << n << " k " << k);
      CHECK(plain_ok);
      CHECK(gathered_ok);
    }
}

TEST_CASE("row-block GEMMs match a triple loop on odd sizes, with and without prefetch") {
  std::mt19937_64 rng(std::random_device{}());
  // k = 1024 is the 4 KiB row stride that used to alias in L1; 7 and 77 are
  // not multiples of 16.
  for (int64_t k : {7, 77, 1024})
    for (int64_t n : {8, 16, 17, 31, 33, 50})
      for (int64_t m : {1, 13, 14, 15, 29}) {
        const auto x = random_values(size_t(n * k), rng);
        const Bf16Matrix w(size_t(m * k), rng, 0.1f);
        const cpu::WeightRows wr = w.rows(0, m, k);
        std::vector<float> xt(size_t(cpu::packed_x_floats(n, k)));
        cpu::pack_x(x.data(), k, n, k, xt.data());
        std::vector<float> wbuf(size_t(cpu::gemm_wbuf_floats(k)));
        const int64_t ldy = m + 2;
        std::vector<float> y(size_t(n * ldy), -3.0f), yt(size_t(cpu::packed_x_floats(n, m)), -3.0f);
        for (int64_t j0 = 0; j0 < m; j0 += cpu::kGemmRowBlock) {
          // Alternate between prefetching the next block and none.
          const cpu::Prefetch next = (j0 / cpu::kGemmRowBlock) % 2 ? cpu::Prefetch{} : cpu::row_block_bytes(wr, j0 + cpu::kGemmRowBlock);
          cpu::gemm_row_block(wr, j0, xt.data(), n, y.data(), ldy, wbuf.data(), next);
          cpu::gemm_row_block_packed(wr, j0, xt.data(), n, yt.data(), wbuf.data(), next);
        }
        std::vector<double> ref(size_t(n * m));
        std::vector<float> got(ref.size()), got_packed(ref.size());
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < m; ++j) {
            double s = 0;
            for (int64_t p = 0; p < k; ++p) s += double(x[size_t(i * k + p)]) * double(w.values[size_t(j * k + p)]);
            ref[size_t(i * m + j)] = s;
            got[size_t(i * m + j)] = y[size_t(i * ldy + j)];
            got_packed[size_t(i * m + j)] = yt[size_t(((i / 32) * m + j) * 32 + i % 32)];
          }
        bool padding_kept = true;  // columns past m of each output row are not written
        for (int64_t i = 0; i < n; ++i) padding_kept &= y[size_t(i * ldy + m)] == -3.0f && y[size_t(i * ldy + m + 1)] == -3.0f;
        INFO("n " << n << " k " << k << " m " << m);
        CHECK(rel_err(got, ref) < 2e-6);
        CHECK(rel_err(got_packed, ref) < 2e-6);
        CHECK(padding_kept);
      }
}

TEST_CASE("expert FFNs match a plain loop for every token count path, whatever the thread count") {
  std::mt19937_64 rng(std::random_device{}());
  // Tokens per expert: none, the dot-product path (< 8), half panels, full
  // panels, and more than one 128-token task.
  const std::vector<int64_t> counts{0, 1, 7, 8, 16, 17, 33, 130, 257};
  const int64_t E = int64_t(counts.size()), d = 40, ff = 23, n = 300;
  const auto x = random_values(size_t(n * d), rng);
  const Bf16Matrix gate(size_t(E * ff * d), rng, 0.2f), up(size_t(E * ff * d), rng, 0.2f),
      down(size_t(E * d * ff), rng, 0.2f);
  auto weight = [&](const Bf16Matrix& m, int64_t rows, int64_t cols) {
    backend::Weight w;
    w.type = WeightType::bf16;
    w.count = E;
    w.rows = rows;
    w.cols = cols;
    w.data = m.bits.data();
    w.row_bytes = size_t(cols) * 2;
    return w;
  };
  const backend::Weight wg = weight(gate, ff, d), wu = weight(up, ff, d), wd = weight(down, d, ff);
  cpu::ExpertRouting routing;
  routing.row0.push_back(0);
  for (int64_t c : counts) {
    routing.row0.push_back(routing.row0.back() + c);
    for (int64_t i = 0; i < c; ++i) routing.token.push_back(int64_t(rng() % uint64_t(n)));
  }
  const int64_t total = routing.row0.back();
  const backend::Act xa{const_cast<float*>(x.data()), n, d, d};

  std::vector<double> ref(size_t(total * d));
  for (int64_t e = 0; e < E; ++e)
    for (int64_t r = routing.row0[size_t(e)]; r < routing.row0[size_t(e) + 1]; ++r) {
      const float* xr = x.data() + routing.token[size_t(r)] * d;
      std::vector<double> h(static_cast<size_t>(ff));
      for (int64_t j = 0; j < ff; ++j) {
        double g = 0, u = 0;
        for (int64_t c = 0; c < d; ++c) {
          g += double(xr[c]) * gate.values[size_t((e * ff + j) * d + c)];
          u += double(xr[c]) * up.values[size_t((e * ff + j) * d + c)];
        }
        h[size_t(j)] = g / (1 + std::exp(-g)) * u;
      }
      for (int64_t c = 0; c < d; ++c) {
        double o = 0;
        for (int64_t j = 0; j < ff; ++j) o += h[size_t(j)] * down.values[size_t((e * d + c) * ff + j)];
        ref[size_t(r * d + c)] = o;
      }
    }

  std::vector<std::vector<float>> outs;
  for (int threads : {1, 3}) {
    cpu::ThreadPool pool(threads);
    cpu::ExpertFfn ffn;
    std::vector<float> out(size_t(total * d), -5.0f);
    ffn.run(pool, xa, wg, wu, wd, routing, out.data());
    // A second call reuses the scratch of the first.
    ffn.run(pool, xa, wg, wu, wd, routing, out.data());
    INFO("threads " << threads);
    CHECK(rel_err(out, ref) < 1e-5);
    outs.push_back(std::move(out));
  }
  CHECK(std::memcmp(outs[0].data(), outs[1].data(), outs[0].size() * 4) == 0);
}
