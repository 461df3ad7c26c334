// The expert GEMMs of one MoE prefill chunk through each cuBLAS entry point the
// CUDA backend could use, so the backend's choice rests on a measurement:
//
//   moe_gemm_bench [--tokens 8192] [--experts 128] [--used 8] [--d 2048] [--ff 768] [--reps 20]
//                  [--skew S]
//
// One routing: each token picks `used` distinct experts at random, expert i of
// a shuffled order with weight 1 / (i + 1)^S (S = 0, the default: uniformly,
// as a random-weight router's first layer does; S = 0.5 to 1: the skew of
// deeper layers and of trained routers). bf16 operands from a uniform random fill, f32
// accumulation, bf16 outputs. For each way it prints the time of the gate, up
// and down projections of every expert and their rate counted on the routed
// work only (2 * slots * d * ff per projection: padding is waste, not work),
// against cuBLAS's bf16 8192^3 GEMM measured in the same run.
//   padded   one strided-batched GEMM per projection, every expert padded to
//            the busiest one's rows (the backend's path for even routings)
//   stacked  the same with gate and up as one [2 ff x d] matrix per expert
//   grouped  cublasGemmGroupedBatchedEx, each expert its exact rows
//   looped   one cublasGemmEx per expert and projection
//   bucketed cublasGemmBatchedEx per bucket of experts with similar counts
//            (plan_moe_buckets, the backend's path)
#include <algorithm>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/model_ops.hpp"
#include "runtime/backend/moe_buckets.hpp"

namespace {

using bf16 = __nv_bfloat16;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "moe_gemm_bench: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "moe_gemm_bench: %s: cuBLAS status %d\n", what, int(s));
    std::exit(1);
  }
}

template <class T>
T* device(size_t n, const char* what) {
  void* p = nullptr;
  check(cudaMalloc(&p, n * sizeof(T)), what);
  return static_cast<T*>(p);
}

// Milliseconds of one call of f, the median of `reps` timed after two warm-ups.
template <class F>
double time_ms(cudaStream_t s, int reps, F&& f) {
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "event");
  check(cudaEventCreate(&b), "event");
  f();
  f();
  std::vector<float> ms;
  for (int r = 0; r < reps; ++r) {
    check(cudaEventRecord(a, s), "event");
    f();
    check(cudaEventRecord(b, s), "event");
    check(cudaEventSynchronize(b), "event");
    float t = 0;
    check(cudaEventElapsedTime(&t, a, b), "event");
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t tokens = 8192, E = 128, used = 8, d = 2048, ff = 768;
  int reps = 20;
  double skew = 0.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const int64_t v = std::atoll(argv[i + 1]);
    if (a == "--skew") skew = std::atof(argv[i + 1]);
    else if (a == "--tokens") tokens = v;
    else if (a == "--experts") E = v;
    else if (a == "--used") used = v;
    else if (a == "--d") d = v;
    else if (a == "--ff") ff = v;
    else if (a == "--reps") reps = int(v);
    else {
      std::fprintf(stderr, "usage: moe_gemm_bench [--tokens N] [--experts E] [--used K] [--d D] [--ff F] [--reps R] "
                           "[--skew S]\n");
      return 2;
    }
  }
  if (tokens < 1 || E < 1 || used < 1 || used > E || d < 8 || ff < 8 || reps < 1) {
    std::fprintf(stderr, "moe_gemm_bench: bad sizes\n");
    return 2;
  }
  cudaStream_t s;
  check(cudaStreamCreate(&s), "stream");
  cublasHandle_t h;
  check(cublasCreate(&h), "cublas");
  check(cublasSetStream(h, s), "cublas");
  void* ws = device<char>(size_t(64) << 20, "workspace");
  check(cublasSetWorkspace(h, ws, size_t(64) << 20), "workspace");
  const float one = 1.0f, zero = 0.0f;

  // The routing: counts per expert.
  std::mt19937_64 rng(0x5eed);
  std::vector<double> weight(static_cast<size_t>(E));
  for (int64_t i = 0; i < E; ++i) weight[size_t(i)] = 1.0 / std::pow(double(i + 1), skew);
  std::shuffle(weight.begin(), weight.end(), rng);
  std::discrete_distribution<int64_t> pick_expert(weight.begin(), weight.end());
  std::vector<int64_t> count(static_cast<size_t>(E), 0);
  std::vector<int64_t> chosen;
  for (int64_t t = 0; t < tokens; ++t) {
    chosen.clear();
    while (int64_t(chosen.size()) < used) {
      const int64_t e = pick_expert(rng);
      if (std::find(chosen.begin(), chosen.end(), e) == chosen.end()) chosen.push_back(e);
    }
    for (int64_t e : chosen) ++count[size_t(e)];
  }
  const int64_t slots = tokens * used;
  const int64_t max_count = *std::max_element(count.begin(), count.end());
  const int64_t cap = (max_count + 7) / 8 * 8;
  std::vector<int64_t> offset(static_cast<size_t>(E));
  for (int64_t e = 0, run = 0; e < E; ++e) offset[size_t(e)] = run, run += count[size_t(e)];

  // Operands: rows padded to cap per expert (the padded layout; the exact one uses the prefix of each).
  const int64_t rows = E * cap;
  bf16* gate_up = device<bf16>(size_t(E * 2 * ff * d), "weights");  // [E][2 ff][d]: gate rows, then up rows
  bf16* gate = device<bf16>(size_t(E * ff * d), "weights");
  bf16* up = device<bf16>(size_t(E * ff * d), "weights");
  bf16* down = device<bf16>(size_t(E * d * ff), "weights");
  bf16* x = device<bf16>(size_t(rows * d), "input");
  bf16* hbuf = device<bf16>(size_t(rows * ff), "hidden");
  bf16* g = device<bf16>(size_t(rows * 2 * ff), "gate out");
  bf16* u = device<bf16>(size_t(rows * ff), "up out");
  bf16* y = device<bf16>(size_t(rows * d), "output");
  check(folio::kernels::ops::random_fill_bf16(gate_up, E * 2 * ff * d, 1, 0.0f, 0.05f, s), "fill");
  check(folio::kernels::ops::random_fill_bf16(gate, E * ff * d, 2, 0.0f, 0.05f, s), "fill");
  check(folio::kernels::ops::random_fill_bf16(up, E * ff * d, 3, 0.0f, 0.05f, s), "fill");
  check(folio::kernels::ops::random_fill_bf16(down, E * d * ff, 4, 0.0f, 0.05f, s), "fill");
  check(folio::kernels::ops::random_fill_bf16(x, rows * d, 5, 0.0f, 1.0f, s), "fill");
  check(folio::kernels::ops::random_fill_bf16(hbuf, rows * ff, 6, 0.0f, 1.0f, s), "fill");

  // Peak: the bf16 8192^3 GEMM.
  const int P = 8192;
  bf16* pa = device<bf16>(size_t(P) * P, "peak");
  bf16* pb = device<bf16>(size_t(P) * P, "peak");
  bf16* pc = device<bf16>(size_t(P) * P, "peak");
  check(folio::kernels::ops::random_fill_bf16(pa, int64_t(P) * P, 7, 0.0f, 1.0f, s), "fill");
  check(folio::kernels::ops::random_fill_bf16(pb, int64_t(P) * P, 8, 0.0f, 1.0f, s), "fill");
  const double peak_ms = time_ms(s, reps, [&] {
    check(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, P, P, P, &one, pa, CUDA_R_16BF, P, pb, CUDA_R_16BF, P, &zero, pc,
                       CUDA_R_16BF, P, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "peak");
  });
  const double peak = 2.0 * P * double(P) * P / (peak_ms * 1e-3) / 1e12;
  std::printf("moe_gemm_bench: %lld tokens, %lld experts, top-%lld, skew %.2f, d %lld, ff %lld; rows per expert "
              "%lld..%lld (mean %.0f, padded to %lld: %.1f%% extra)\n",
              (long long)tokens, (long long)E, (long long)used, skew, (long long)d, (long long)ff,
              (long long)*std::min_element(count.begin(), count.end()), (long long)max_count,
              double(slots) / double(E), (long long)cap, 100.0 * (double(rows) / double(slots) - 1.0));
  std::printf("bf16 matmul peak (cuBLAS 8192^3): %.0f TFLOP/s\n", peak);

  const double flop_proj = 2.0 * double(slots) * double(d) * double(ff);
  auto report = [&](const char* way, const char* what, double ms, double projections) {
    const double tf = projections * flop_proj / (ms * 1e-3) / 1e12;
    std::printf("  %-8s %-22s %8.3f ms  %6.0f TFLOP/s  %3.0f%% of peak\n", way, what, ms, tf, 100.0 * tf / peak);
  };

  // padded: strided batched, cap rows per expert.
  auto batched = [&](const bf16* w, int64_t m, int64_t k, int64_t w_stride, const bf16* in, bf16* o) {
    check(cublasGemmStridedBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(cap), int(k), &one, w, CUDA_R_16BF,
                                     int(k), w_stride, in, CUDA_R_16BF, int(k), cap * k, &zero, o, CUDA_R_16BF, int(m),
                                     cap * m, int(E), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "strided batched");
  };
  const double pg = time_ms(s, reps, [&] { batched(gate, ff, d, ff * d, x, g); });
  const double pu = time_ms(s, reps, [&] { batched(up, ff, d, ff * d, x, u); });
  const double pd = time_ms(s, reps, [&] { batched(down, d, ff, d * ff, hbuf, y); });
  report("padded", "gate", pg, 1);
  report("padded", "up", pu, 1);
  report("padded", "down", pd, 1);
  report("padded", "all three", pg + pu + pd, 3);

  const double sgu = time_ms(s, reps, [&] { batched(gate_up, 2 * ff, d, 2 * ff * d, x, g); });
  report("stacked", "gate + up (2ff rows)", sgu, 2);
  report("stacked", "all three", sgu + pd, 3);

  // grouped: one group per expert with rows, exact counts.
  std::vector<int> m_gu, n_rows, k_d, m_d, k_ff, lda_d, lda_ff, ldc_ff, ldc_d, group_size;
  std::vector<cublasOperation_t> ta, tb;
  std::vector<float> alphas, betas;
  std::vector<const void*> a_gate, a_up, a_down, b_x, b_h;
  std::vector<void*> c_g, c_u, c_y;
  for (int64_t e = 0; e < E; ++e) {
    if (count[size_t(e)] == 0) continue;
    const int64_t off = offset[size_t(e)];
    m_gu.push_back(int(ff));
    n_rows.push_back(int(count[size_t(e)]));
    k_d.push_back(int(d));
    m_d.push_back(int(d));
    k_ff.push_back(int(ff));
    ta.push_back(CUBLAS_OP_T);
    tb.push_back(CUBLAS_OP_N);
    alphas.push_back(1.0f);
    betas.push_back(0.0f);
    group_size.push_back(1);
    a_gate.push_back(gate + e * ff * d);
    a_up.push_back(up + e * ff * d);
    a_down.push_back(down + e * d * ff);
    b_x.push_back(x + off * d);
    b_h.push_back(hbuf + off * ff);
    c_g.push_back(g + off * ff);
    c_u.push_back(u + off * ff);
    c_y.push_back(y + off * d);
  }
  const int groups = int(m_gu.size());
  auto upload = [&](const auto& v) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    T* p = device<T>(v.size(), "pointer arrays");
    check(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), "pointer arrays");
    return p;
  };
  const void** d_gate = upload(a_gate);
  const void** d_up = upload(a_up);
  const void** d_down = upload(a_down);
  const void** d_x = upload(b_x);
  const void** d_h = upload(b_h);
  void** d_g = upload(c_g);
  void** d_u = upload(c_u);
  void** d_y = upload(c_y);
  auto grouped = [&](const std::vector<int>& m, const std::vector<int>& k, const void** A, const void** B, void** C,
                     const char* what) {
    check(cublasGemmGroupedBatchedEx(h, ta.data(), tb.data(), m.data(), n_rows.data(), k.data(), alphas.data(), A,
                                     CUDA_R_16BF, k.data(), B, CUDA_R_16BF, k.data(), betas.data(), C, CUDA_R_16BF,
                                     m.data(), groups, group_size.data(), CUBLAS_COMPUTE_32F),
          what);
  };
  const double gg = time_ms(s, reps, [&] { grouped(m_gu, k_d, d_gate, d_x, d_g, "grouped gate"); });
  const double gu = time_ms(s, reps, [&] { grouped(m_gu, k_d, d_up, d_x, d_u, "grouped up"); });
  const double gd = time_ms(s, reps, [&] { grouped(m_d, k_ff, d_down, d_h, d_y, "grouped down"); });
  report("grouped", "gate", gg, 1);
  report("grouped", "up", gu, 1);
  report("grouped", "down", gd, 1);
  report("grouped", "all three", gg + gu + gd, 3);

  auto looped = [&](const bf16* w, int64_t m, int64_t k, const bf16* in, int64_t in_cols, bf16* o) {
    for (int64_t e = 0; e < E; ++e) {
      const int64_t n = count[size_t(e)], off = offset[size_t(e)];
      if (n == 0) continue;
      check(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(n), int(k), &one, w + e * m * k, CUDA_R_16BF, int(k),
                         in + off * in_cols, CUDA_R_16BF, int(k), &zero, o + off * m, CUDA_R_16BF, int(m),
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "gemm");
    }
  };
  const double lg = time_ms(s, reps, [&] { looped(gate, ff, d, x, d, g); });
  const double ld = time_ms(s, reps, [&] { looped(down, d, ff, hbuf, ff, y); });
  report("looped", "gate", lg, 1);
  report("looped", "down", ld, 1);
  report("looped", "all three (gate x2)", 2 * lg + ld, 3);

  // bucketed: the backend's layout (buckets packed in order, each expert its bucket's rows).
  namespace fb = folio::backend;
  const fb::MoeBuckets plan = fb::plan_moe_buckets(count, fb::kMoeMaxBuckets, fb::moe_bucket_cost_rows(slots));
  if (plan.rows_total > rows) {
    std::fprintf(stderr, "moe_gemm_bench: buckets need %lld rows, more than the padded layout's %lld\n",
                 (long long)plan.rows_total, (long long)rows);
    return 1;
  }
  const size_t m = plan.order.size();
  std::vector<const void*> ptr_host(8 * m);
  for (size_t i = 0; i < m; ++i) {
    const int64_t e = plan.order[i], off = plan.offset[size_t(e)];
    const void* at[8] = {gate + e * ff * d, up + e * ff * d, down + e * d * ff, x + off * d,
                         g + off * ff,      u + off * ff,    hbuf + off * ff,   y + off * d};
    for (int o = 0; o < 8; ++o) ptr_host[size_t(o) * m + i] = at[o];
  }
  const void** ptr_dev = upload(ptr_host);
  auto bucketed = [&](int wt, int in, int o, int64_t mm, int64_t k) {
    for (const auto& bk : plan.buckets) {
      const void* const* base = ptr_dev + bk.first;
      check(cublasGemmBatchedEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(mm), int(bk.rows), int(k), &one, base + size_t(wt) * m,
                                CUDA_R_16BF, int(k), base + size_t(in) * m, CUDA_R_16BF, int(k), &zero,
                                const_cast<void* const*>(base + size_t(o) * m), CUDA_R_16BF, int(mm), bk.count,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "batched");
    }
  };
  std::printf("  bucketed: %zu buckets, %lld rows (%.1f%% extra)\n", plan.buckets.size(), (long long)plan.rows_total,
              100.0 * (double(plan.rows_total) / double(slots) - 1.0));
  const double bg = time_ms(s, reps, [&] { bucketed(0, 3, 4, ff, d); });
  const double bu = time_ms(s, reps, [&] { bucketed(1, 3, 5, ff, d); });
  const double bd = time_ms(s, reps, [&] { bucketed(2, 6, 7, d, ff); });
  report("bucketed", "gate", bg, 1);
  report("bucketed", "up", bu, 1);
  report("bucketed", "down", bd, 1);
  report("bucketed", "all three", bg + bu + bd, 3);
  check(cudaStreamSynchronize(s), "sync");
  return 0;
}
