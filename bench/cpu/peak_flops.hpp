// Measures the machine's peak f32 FLOP/s with a calibrated FMA loop: every
// thread runs independent multiply-add chains (enough of them to cover the FMA
// latency on every FMA port) on values that stay bounded, for a fixed time.
#pragma once

namespace folio::bench {

struct PeakResult {
  double flops_per_s = 0;      // all threads together, per second of wall time
  double per_thread = 0;
  // Per second of CPU time each thread actually received: the core's peak even
  // when other processes time-share the cores (no SMT siblings here).
  double per_core_cpu = 0;
  int threads = 0;
};

// CPU time of the calling process (all threads), seconds.
double process_cpu_seconds();

// Runs on `threads` threads for about `seconds`.
PeakResult measure_peak_f32(int threads, double seconds);

}  // namespace folio::bench
