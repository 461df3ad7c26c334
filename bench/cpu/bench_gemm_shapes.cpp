// The CPU backend's prefill GEMMs in isolation, at the shapes of the 0.5B
// qwen3moe bench model: dense projections through cpu::matmul and a whole MoE
// layer (router + 32 experts top-4) through the backend. Figures are per second
// of CPU time received, against one core's measured f32 peak per CPU-second,
// so they stay meaningful on a shared, oversubscribed machine where wall-clock
// figures swing with the other processes' load.
//
//   folio_bench_gemm_shapes [--threads N] [--tokens 512] [--reps 5] [--only dense|moe]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench/cpu/peak_flops.hpp"
#include "runtime/backend/cpu/cpu_backend.hpp"
#include "runtime/backend/cpu/gemm.hpp"
#include "runtime/backend/cpu/thread_pool.hpp"
#include "runtime/common/half.hpp"

using namespace folio;

namespace {

std::vector<uint16_t> random_bf16(size_t n, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<uint16_t> out(n);
  for (auto& v : out) v = f32_to_bf16(d(rng));
  return out;
}

std::vector<float> random_f32(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> out(n);
  for (auto& v : out) v = d(rng);
  return out;
}

// Best (CPU seconds, wall seconds) of `reps` runs of f.
template <class F>
std::pair<double, double> best_of(int reps, F&& f) {
  double best_cpu = 1e30, best_wall = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double c0 = bench::process_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best_wall = std::min(best_wall, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    best_cpu = std::min(best_cpu, bench::process_cpu_seconds() - c0);
  }
  return {best_cpu, best_wall};
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, reps = 5;
  int64_t n = 512;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--threads") threads = std::stoi(argv[i + 1]);
    else if (a == "--tokens") n = std::stoll(argv[i + 1]);
    else if (a == "--reps") reps = std::stoi(argv[i + 1]);
    else if (a == "--only") only = argv[i + 1];
  }
  const int64_t d = 1024, E = 32, ff = 288;
  const int K = 4;
  const double core_peak = bench::measure_peak_f32(1, 0.5).per_core_cpu;
  std::printf("one core's f32 peak: %.1f GFLOP/s per CPU-second; %d threads, %lld tokens\n", core_peak / 1e9, threads,
              static_cast<long long>(n));
  auto report = [&](const char* what, double flops, std::pair<double, double> t) {
    const double per_cpu = flops / t.first;
    std::printf("  %-28s %7.1f GFLOP/s per CPU-second = %4.0f%% of core peak (wall %.1f ms)\n", what, per_cpu / 1e9,
                100.0 * per_cpu / core_peak, 1e3 * t.second);
  };

  const auto x = random_f32(size_t(n * d), 1);
  cpu::ThreadPool pool(threads);
  for (int64_t m : {int64_t(1024), int64_t(256)}) {
    if (only == "moe") break;
    const auto w = random_bf16(size_t(m * d), 2, 0.03f);
    std::vector<float> y(size_t(n * m));
    const cpu::WeightRows wr{backend::WeightType::bf16, reinterpret_cast<const std::byte*>(w.data()), size_t(d) * 2, m, d};
    const auto t = best_of(reps, [&] { cpu::matmul(pool, x.data(), d, n, wr, y.data(), m); });
    report(m == 1024 ? "dense 1024x1024" : "dense 256x1024", 2.0 * double(n * m * d), t);
  }

  if (only == "dense") return 0;
  auto be = cpu::make_cpu_backend({threads});
  const auto router = random_bf16(size_t(E * d), 3, 0.05f);
  const auto gate = random_bf16(size_t(E * ff * d), 4, 0.03f), up = random_bf16(size_t(E * ff * d), 5, 0.03f);
  const auto down = random_bf16(size_t(E * d * ff), 6, 0.05f);
  auto upload = [&](const char* name, const std::vector<uint16_t>& v, int64_t count, int64_t rows, int64_t cols) {
    return be->upload({name, backend::WeightType::bf16, count, rows, cols,
                       std::span<const std::byte>(reinterpret_cast<const std::byte*>(v.data()), v.size() * 2)});
  };
  const backend::Weight wr = upload("router", router, 1, E, d), wg = upload("gate", gate, E, ff, d),
                        wu = upload("up", up, E, ff, d), wd = upload("down", down, E, d, ff);
  std::vector<float> xin = x, out(size_t(n * d));
  const backend::Act xa{xin.data(), n, d, d}, oa{out.data(), n, d, d};
  const backend::MoeWeights mw{&wr, &wg, &wu, &wd};
  const auto t = best_of(reps, [&] { be->moe(xa, mw, {K, true}, oa, nullptr); });
  report("MoE layer (32 x top-4)", 2.0 * double(n) * double(d) * double(E) + 6.0 * double(n * K * d * ff), t);
  return 0;
}
