#include "bench/cpu/peak_flops.hpp"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "runtime/backend/cpu/simd.hpp"

namespace folio::bench {

namespace {

using cpu::v16;

// 24 independent accumulators x 16 lanes: 24 FMAs in flight covers 2 ports x 4
// cycles latency with room to spare. x*a + b with a slightly below 1 keeps the
// values bounded forever (fixed point b / (1 - a)).
double fma_loop(long iterations, float seed) {
  constexpr int kAcc = 24;
  v16 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = cpu::splat16(seed + float(i));
  const v16 a = cpu::splat16(0.999999f), b = cpu::splat16(1e-3f);
  for (long it = 0; it < iterations; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < kAcc; ++i) acc[i] = acc[i] * a + b;
  }
  v16 s{};
  for (int i = 0; i < kAcc; ++i) s += acc[i];
  return double(cpu::hsum16(s));
}

}  // namespace

PeakResult measure_peak_f32(int threads, double seconds) {
  // Calibrate iterations for ~seconds on one thread.
  long iters = 1 << 16;
  double t = 0;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    volatile double sink = fma_loop(iters, 1.0f);
    (void)sink;
    t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (t > 0.05) break;
    iters *= 2;
  }
  iters = long(double(iters) * seconds / t);
  std::vector<double> rate(static_cast<size_t>(threads)), cpu_rate(static_cast<size_t>(threads));
  std::atomic<int> ready{0};
  std::vector<std::thread> pool;
  for (int th = 0; th < threads; ++th)
    pool.emplace_back([&, th] {
      ready.fetch_add(1);
      while (ready.load() < threads) {
      }
      timespec c0{}, c1{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
      const auto t0 = std::chrono::steady_clock::now();
      volatile double sink = fma_loop(iters, float(th + 1));
      (void)sink;
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
      const double cpu = double(c1.tv_sec - c0.tv_sec) + 1e-9 * double(c1.tv_nsec - c0.tv_nsec);
      rate[size_t(th)] = double(iters) * 24 * 16 * 2 / dt;
      cpu_rate[size_t(th)] = double(iters) * 24 * 16 * 2 / cpu;
    });
  for (auto& th : pool) th.join();
  PeakResult r;
  r.threads = threads;
  for (double x : rate) r.flops_per_s += x;
  r.per_thread = r.flops_per_s / threads;
  r.per_core_cpu = *std::max_element(cpu_rate.begin(), cpu_rate.end());
  return r;
}

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

}  // namespace folio::bench
