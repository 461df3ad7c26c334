// CPU benchmark of a whole model: prefill and decode tokens/s at given context
// lengths, the FLOP/s the prefill GEMMs reach against the machine's measured
// f32 peak (same threads, same run), and peak resident memory.
//
//   folio_bench_cpu [--model M.gguf] [--threads N] [--contexts 512,4096]
//                   [--decode 32] [--json OUT.json]
// Without --model, a qwen3moe of ~0.5B parameters is made with make-tiny's
// "0.5b" preset (seed 1, bf16) at /tmp/folio-bench-qwen3moe-0.5b.gguf.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/cpu/peak_flops.hpp"
#include "bench/cpu/timing_backend.hpp"
#include "runtime/backend/cpu/cpu_backend.hpp"
#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"
#include "runtime/gguf/gguf.hpp"
#include "runtime/model/model.hpp"
#include "runtime/model/tiny_model.hpp"
#include "runtime/sampling/sampler.hpp"

using namespace folio;

namespace {

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoll(item));
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model_path, json_path, cmdline;
  int threads = int(std::thread::hardware_concurrency());
  std::vector<int64_t> contexts{512, 4096};
  int decode_tokens = 32;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) cmdline += ' ';
    cmdline += argv[i];
  }
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) fail(Errc::invalid_argument, a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") model_path = next();
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--contexts") contexts = parse_list(next());
    else if (a == "--decode") decode_tokens = std::stoi(next());
    else if (a == "--json") json_path = next();
    else if (a == "--help") {
      std::puts("usage: folio_bench_cpu [--model M.gguf] [--threads N] [--contexts 512,4096] [--decode 32] [--json OUT]");
      return 0;
    } else {
      fail(Errc::invalid_argument, "unknown option " + a + " (see --help)");
    }
  }
  std::string made_with;
  if (model_path.empty()) {
    model_path = "/tmp/folio-bench-qwen3moe-0.5b.gguf";
    made_with = "folio make-tiny --arch qwen3moe --size 0.5b --seed 1 -o " + model_path;
    if (!std::filesystem::exists(model_path)) {
      std::fprintf(stderr, "making %s ...\n", model_path.c_str());
      model::TinyConfig c = model::tiny_preset("qwen3moe", "0.5b");
      c.seed = 1;
      model::write_tiny_model(c, model_path);
    }
  }
  const std::string load_before = load_average();
  std::fprintf(stderr, "measuring peak f32 FLOP/s (%d threads)...\n", threads);
  const bench::PeakResult peak1 = bench::measure_peak_f32(1, 1.0);
  bench::PeakResult peak = bench::measure_peak_f32(threads, 1.5);

  auto file = std::make_shared<const gguf::File>(gguf::File::open(model_path));
  auto cpu_be = cpu::make_cpu_backend({threads});
  bench::TimingBackend be(*cpu_be);
  const model::Model m = model::Model::load(file, be);
  const model::HParams& hp = m.hparams();
  be.set_moe_shape(hp.n_expert_used, hp.d_model, hp.expert_ff, hp.n_expert);
  std::fprintf(stderr, "model: %s, %d layers, hidden %d, %d experts top-%d ff %d, %.1fM params (%.1fM active), %s\n",
               arch_name(hp.arch), hp.n_layers, hp.d_model, hp.n_expert, hp.n_expert_used, hp.expert_ff,
               double(hp.n_params(m.tied_output())) / 1e6, double(hp.n_active_params(m.tied_output())) / 1e6,
               backend::weight_type_name(m.weight_type()));

  std::mt19937_64 rng(2024);
  auto random_tokens = [&](int64_t n) {
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& x : t) x = int32_t(rng() % uint64_t(hp.n_vocab));
    return t;
  };
  {  // warm-up: page the weights in, grow the allocator. One whole prefill
     // chunk (512 rows), so the buffers the measured prefills use have their
     // final size: a 256-token warm-up left the first measured context to
     // grow (and fault in) the GEMM and MoE scratch inside its timing.
    model::Session warm(m, {1024, 512});
    warm.prefill(random_tokens(512));
  }

  json::Array runs;
  double best_peak = peak.flops_per_s, best_core = std::max(peak.per_core_cpu, peak1.per_core_cpu);
  for (int64_t ctx : contexts) {
    model::Session s(m, {ctx + decode_tokens + 8, 512});
    const auto toks = random_tokens(ctx);
    // The machine is shared: measure the peak right before and right after
    // the prefill and compare against their mean (same contention).
    const bench::PeakResult pk0 = bench::measure_peak_f32(threads, 0.5);
    be.reset();
    const double cpu0 = bench::process_cpu_seconds();
    auto t0 = std::chrono::steady_clock::now();
    std::span<const float> logits = s.prefill(toks);
    const double prefill_s = seconds_since(t0);
    const double prefill_cpu = bench::process_cpu_seconds() - cpu0;
    const bench::PeakResult pk1 = bench::measure_peak_f32(threads, 0.5);
    const double peak_here = 0.5 * (pk0.flops_per_s + pk1.flops_per_s);
    const double core_peak = std::max({pk0.per_core_cpu, pk1.per_core_cpu, best_core});
    best_peak = std::max({best_peak, pk0.flops_per_s, pk1.flops_per_s});
    best_core = core_peak;
    const bench::OpTotals gemm = be.totals(bench::OpKind::gemm), moe = be.totals(bench::OpKind::moe),
                          att = be.totals(bench::OpKind::attention), other = be.totals(bench::OpKind::other);
    const double gemm_flops = gemm.flops + moe.flops, gemm_s = gemm.seconds + moe.seconds,
                 gemm_cpu = gemm.cpu_seconds + moe.cpu_seconds;
    be.reset();
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < decode_tokens; ++i) logits = s.decode_step(sampling::argmax(logits));
    const double decode_s = seconds_since(t0);
    const double prefill_tps = double(ctx) / prefill_s, decode_tps = double(decode_tokens) / decode_s;
    const double wall_fraction = gemm_flops / gemm_s / peak_here;
    const double cpu_fraction = gemm_flops / gemm_cpu / core_peak;
    std::printf("context %6lld: prefill %8.1f tok/s (%.2f s) | decode %6.2f tok/s at depth %lld\n",
                static_cast<long long>(ctx), prefill_tps, prefill_s, decode_tps, static_cast<long long>(ctx));
    std::printf("   prefill GEMMs (dense + MoE experts): %.1f GFLOP/s = %.0f%% of the peak measured around it (%.1f GFLOP/s, %d threads)\n",
                gemm_flops / gemm_s / 1e9, 100.0 * wall_fraction, peak_here / 1e9, threads);
    std::printf("   per CPU-second received: %.1f GFLOP/s = %.0f%% of one core's peak %.1f GFLOP/s (CPU share received %.0f%% of %d cores)\n",
                gemm_flops / gemm_cpu / 1e9, 100.0 * cpu_fraction, core_peak / 1e9,
                100.0 * prefill_cpu / (prefill_s * threads), threads);
    std::printf("   time split: dense GEMM %.2f s (%.1f GFLOP/s), MoE %.2f s (%.1f GFLOP/s), attention %.2f s (%.1f GFLOP/s), other %.2f s\n",
                gemm.seconds, gemm.flops / gemm.seconds / 1e9, moe.seconds, moe.flops / moe.seconds / 1e9,
                att.seconds, att.flops / att.seconds / 1e9, other.seconds);
    json::Object r;
    r.insert("context", ctx);
    r.insert("prefill_tokens_per_s", prefill_tps);
    r.insert("prefill_seconds", prefill_s);
    r.insert("prefill_cpu_seconds", prefill_cpu);
    r.insert("prefill_cpu_share", prefill_cpu / (prefill_s * threads));
    r.insert("decode_tokens", decode_tokens);
    r.insert("decode_tokens_per_s", decode_tps);
    r.insert("peak_f32_gflops_around_prefill", peak_here / 1e9);
    r.insert("prefill_gemm_gflops", gemm_flops / gemm_s / 1e9);
    r.insert("prefill_gemm_fraction_of_peak", wall_fraction);
    r.insert("prefill_gemm_gflops_per_cpu_second", gemm_flops / gemm_cpu / 1e9);
    r.insert("core_peak_f32_gflops_per_cpu_second", core_peak / 1e9);
    r.insert("prefill_gemm_fraction_of_core_peak_cpu_time", cpu_fraction);
    r.insert("prefill_dense_gemm_seconds", gemm.seconds);
    r.insert("prefill_dense_gemm_gflops", gemm.flops / gemm.seconds / 1e9);
    r.insert("prefill_moe_seconds", moe.seconds);
    r.insert("prefill_moe_gflops", moe.flops / moe.seconds / 1e9);
    r.insert("prefill_attention_seconds", att.seconds);
    r.insert("prefill_attention_gflops", att.flops / att.seconds / 1e9);
    r.insert("prefill_other_seconds", other.seconds);
    r.insert("prefill_total_gflops", (gemm_flops + att.flops) / prefill_s / 1e9);
    runs.push_back(json::Value(std::move(r)));
  }
  // Peak again after the runs: the machine is shared, take the better figure.
  const bench::PeakResult peak_after = bench::measure_peak_f32(threads, 1.5);
  const double rss = peak_rss_mib();
  best_peak = std::max(best_peak, peak_after.flops_per_s);
  std::printf("peak f32: best %.1f GFLOP/s with %d threads (start %.1f, end %.1f; 1 thread %.1f); one core per CPU-second %.1f; peak RSS %.0f MiB\n",
              best_peak / 1e9, threads, peak.flops_per_s / 1e9, peak_after.flops_per_s / 1e9,
              peak1.flops_per_s / 1e9, best_core / 1e9, rss);
  std::printf("load average before: %s, after: %s\n", load_before.c_str(), load_average().c_str());
  if (!json_path.empty()) {
    json::Object o;
    o.insert("benchmark", "cpu-qwen3moe-0.5b");
    o.insert("command", cmdline);
    if (!made_with.empty()) o.insert("model_made_with", made_with);
    o.insert("model_path", model_path);
    json::Object mo;
    mo.insert("arch", arch_name(hp.arch));
    mo.insert("layers", hp.n_layers);
    mo.insert("hidden", hp.d_model);
    mo.insert("heads", hp.n_heads);
    mo.insert("kv_heads", hp.n_kv_heads);
    mo.insert("head_dim", hp.head_dim);
    mo.insert("experts", hp.n_expert);
    mo.insert("experts_used", hp.n_expert_used);
    mo.insert("expert_ff", hp.expert_ff);
    mo.insert("vocab", hp.n_vocab);
    mo.insert("weight_type", backend::weight_type_name(m.weight_type()));
    mo.insert("params", hp.n_params(m.tied_output()));
    mo.insert("active_params", hp.n_active_params(m.tied_output()));
    o.insert("model", json::Value(std::move(mo)));
    json::Object mach;
    mach.insert("cpu", cpu_model_name());
    mach.insert("threads", threads);
    mach.insert("load_average_before", load_before);
    mach.insert("load_average_after", load_average());
    mach.insert("peak_f32_gflops_before", peak.flops_per_s / 1e9);
    mach.insert("peak_f32_gflops_after", peak_after.flops_per_s / 1e9);
    mach.insert("peak_f32_gflops_one_thread", peak1.flops_per_s / 1e9);
    o.insert("machine", json::Value(std::move(mach)));
    o.insert("peak_f32_gflops_best_seen", best_peak / 1e9);
    o.insert("core_peak_f32_gflops_per_cpu_second", best_core / 1e9);
    o.insert("peak_rss_mib", rss);
    o.insert("runs", json::Value(std::move(runs)));
    std::ofstream out(json_path);
    out << json::serialize(json::Value(std::move(o)), 2) << "\n";
    std::fprintf(stderr, "wrote %s\n", json_path.c_str());
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "folio_bench_cpu: %s\n", e.what());
  return 1;
}
