// attention_bench: checks every attention kernel against the exact CPU reference
// on fresh random inputs of odd sizes, then times dense and sparse prefill and
// decode at Qwen3-30B-A3B attention shapes (32 query heads, 4 KV heads, d 128).
//
//   attention_bench [--check] [--check-filter TEXT] [--bench] [--only-decode] [--profile-decode] [--json FILE] [--max-len N] [--threads N]
//   (--profile-decode: only 10 plain sparse decode steps at 128K, for ncu)
//
// Prints one line per check and per timing, a summary table last, and with
// --json writes every figure. Exit status 1 if any check fails.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/attention/cuda_support.hpp"
#include "kernels/attention_kernels.hpp"
#include "runtime/attention/planner.hpp"
#include "runtime/attention/reference.hpp"

using namespace folio;
using folio::bench::DeviceArray;
using bf16 = __nv_bfloat16;

namespace {

struct Options {
  bool check = false, bench = false, only_decode = false, profile_decode = false;
  std::string check_filter;  // --check-filter: only the checks whose name contains it
  std::string json;
  int64_t max_len = 1 << 20;
  int threads = 0;
};

// ---------------------------------------------------------------- inputs ----

// Fresh random values, rounded to bf16 (so CPU and GPU see the same numbers).
std::vector<float> random_bf16_values(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = bf16_to_f32(f32_to_bf16(dist(rng)));
  return v;
}

__global__ void fill_random_kernel(bf16* p, size_t n, uint64_t seed, float scale) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    x ^= x >> 31, x *= 0xBF58476D1CE4E5B9ull, x ^= x >> 29, x *= 0x94D049BB133111EBull, x ^= x >> 32;
    // Sum of two uniforms: a cheap bell-shaped value in [-scale, scale].
    const float u = float(x & 0xffffff) * (1.0f / 16777216.0f) + float((x >> 32) & 0xffffff) * (1.0f / 16777216.0f);
    p[i] = __float2bfloat16((u - 1.0f) * scale);
  }
}
void fill_random(bf16* p, size_t n, uint64_t seed, float scale) {
  fill_random_kernel<<<1024, 256>>>(p, n, seed, scale);
  FOLIO_CUDA(cudaGetLastError());
}

// K/V on the device, paged in 64-token pages. `shuffled` stores page j of the
// sequence at a random physical page with a [page][kv_head][64][d] layout;
// otherwise contiguous [n_keys][n_kv_heads][d] without a block table.
struct DeviceKv {
  DeviceArray<bf16> k, v;
  DeviceArray<int32_t> table;
  kernels::PagedKv view;
};

DeviceKv upload_kv(const std::vector<float>& k, const std::vector<float>& v, int64_t n_keys, int n_kv_heads, int d,
                   bool shuffled, uint32_t seed) {
  DeviceKv out;
  const int64_t n_blocks = (n_keys + 63) / 64;
  if (!shuffled) {
    out.k = DeviceArray<bf16>(bench::to_bf16(k));
    out.v = DeviceArray<bf16>(bench::to_bf16(v));
    out.view = {out.k.get(), out.v.get(), nullptr, 0, 64LL * n_kv_heads * d, d, int64_t(n_kv_heads) * d};
    return out;
  }
  const int64_t n_pages = n_blocks + 3;  // spare pages stay random garbage: never read
  std::vector<int32_t> table(static_cast<size_t>(n_blocks));
  std::vector<int32_t> pages(static_cast<size_t>(n_pages));
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), std::mt19937(seed));
  std::copy_n(pages.begin(), n_blocks, table.begin());
  const size_t page_elems = size_t(64) * n_kv_heads * d;
  std::vector<float> kp = random_bf16_values(size_t(n_pages) * page_elems, seed + 1, 3.0f);
  std::vector<float> vp = random_bf16_values(size_t(n_pages) * page_elems, seed + 2, 3.0f);
  for (int64_t t = 0; t < n_keys; ++t)
    for (int h = 0; h < n_kv_heads; ++h)
      for (int c = 0; c < d; ++c) {
        const size_t dst = size_t(table[size_t(t / 64)]) * page_elems + (size_t(h) * 64 + size_t(t % 64)) * d + c;
        const size_t src = (size_t(t) * n_kv_heads + h) * d + c;
        kp[dst] = k[src];
        vp[dst] = v[src];
      }
  out.k = DeviceArray<bf16>(bench::to_bf16(kp));
  out.v = DeviceArray<bf16>(bench::to_bf16(vp));
  out.table = DeviceArray<int32_t>(std::span<const int32_t>(table));
  out.view = {out.k.get(), out.v.get(), out.table.get(), 0, int64_t(page_elems), 64LL * d, d};
  return out;
}

struct DevicePlanArrays {
  DeviceArray<int32_t> offsets, counts, indices;
  kernels::DevicePlan view(int query_block) const {
    return {offsets.get(), counts.size() ? counts.get() : nullptr, indices.get(), query_block};
  }
};
DevicePlanArrays upload_plan(const attn::Plan& p) {
  DevicePlanArrays d;
  d.offsets = DeviceArray<int32_t>(std::span<const int32_t>(p.row_offsets));
  d.indices = DeviceArray<int32_t>(std::span<const int32_t>(p.block_indices));
  return d;
}

// GPU planner state for one sequence.
struct GpuPlanner {
  DeviceArray<bf16> summaries, query_means;
  DeviceArray<float> scores;
  DeviceArray<int32_t> first_global;
  DevicePlanArrays plan;
  kernels::PlannerArgs args;
  int64_t n_rows = 0;
};

GpuPlanner make_planner(const bf16* q, int64_t q_stride, int64_t n_queries, int64_t q_offset, int64_t n_keys,
                        int n_heads, int n_kv_heads, int d, const attn::SparseConfig& cfg,
                        const std::vector<int32_t>& globals, int64_t score_rows_override = 0) {
  GpuPlanner g;
  const int64_t n_blocks = (n_keys + 63) / 64;
  const int64_t n_qb = (n_queries + cfg.query_block - 1) / cfg.query_block;
  g.n_rows = n_qb * n_kv_heads;
  std::vector<int32_t> first(size_t(n_blocks), INT32_MAX);
  int64_t global_blocks = 0;
  for (int32_t p : globals) {
    global_blocks += first[size_t(p / 64)] == INT32_MAX;
    first[size_t(p / 64)] = std::min(first[size_t(p / 64)], p);
  }
  g.summaries = DeviceArray<bf16>(size_t(n_blocks) * n_kv_heads * d);
  g.query_means = DeviceArray<bf16>(size_t(n_qb) * n_heads * d);
  const int64_t score_rows =
      score_rows_override > 0 ? score_rows_override
                              : std::max<int64_t>(1, std::min<int64_t>(g.n_rows, (int64_t(64) << 20) / n_blocks));
  g.scores = DeviceArray<float>(size_t(score_rows) * n_blocks);
  g.first_global = DeviceArray<int32_t>(std::span<const int32_t>(first));
  const int cap = kernels::planner_row_capacity(n_keys, cfg.sink_blocks, cfg.window_tokens, cfg.topk_blocks,
                                                global_blocks);
  g.plan.offsets = DeviceArray<int32_t>(size_t(g.n_rows));
  g.plan.counts = DeviceArray<int32_t>(size_t(g.n_rows));
  g.plan.indices = DeviceArray<int32_t>(size_t(g.n_rows) * cap);
  kernels::PlannerArgs& a = g.args;
  a.q = q;
  a.q_token_stride = q_stride;
  a.n_queries = n_queries;
  a.q_offset = q_offset;
  a.n_keys = n_keys;
  a.n_heads = n_heads;
  a.n_kv_heads = n_kv_heads;
  a.head_dim = d;
  a.summaries = g.summaries.get();
  a.first_global = globals.empty() ? nullptr : g.first_global.get();
  a.query_block = cfg.query_block;
  a.sink_blocks = cfg.sink_blocks;
  a.window_tokens = cfg.window_tokens;
  a.topk_blocks = cfg.topk_blocks;
  a.row_capacity = cap;
  a.row_offsets = g.plan.offsets.get();
  a.row_counts = g.plan.counts.get();
  a.block_indices = g.plan.indices.get();
  a.query_means = g.query_means.get();
  a.scores = g.scores.get();
  a.score_rows = score_rows;
  return g;
}

// The GPU plan as a host CSR plan (for the CPU reference and validation).
attn::Plan download_plan(const GpuPlanner& g, int64_t n_queries, int64_t q_offset, int64_t n_keys, int query_block,
                         int n_kv_heads, const std::vector<int32_t>& globals) {
  attn::Plan p;
  p.n_queries = n_queries;
  p.q_offset = q_offset;
  p.n_keys = n_keys;
  p.query_block = query_block;
  p.n_kv_heads = n_kv_heads;
  p.global_positions = globals;
  std::sort(p.global_positions.begin(), p.global_positions.end());
  const auto offsets = g.plan.offsets.download(), counts = g.plan.counts.download(), idx = g.plan.indices.download();
  p.row_offsets.push_back(0);
  for (int64_t r = 0; r < g.n_rows; ++r) {
    for (int32_t i = 0; i < counts[size_t(r)]; ++i) p.block_indices.push_back(idx[size_t(offsets[size_t(r)] + i)]);
    p.row_offsets.push_back(int32_t(p.block_indices.size()));
  }
  return p;
}

// ---------------------------------------------------------------- checks ----

struct CheckRow {
  std::string name;
  double rel_err = 0, plan_agreement = -1;
  bool pass = false;
};

double rel_error(const std::vector<float>& out, const std::vector<float>& ref, bool* finite) {
  double num = 0, den = 0;
  *finite = true;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) *finite = false;
    num += double(out[i] - ref[i]) * double(out[i] - ref[i]);
    den += double(ref[i]) * double(ref[i]);
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// Fraction of the CPU planner's entries that the GPU plan also lists.
double plan_agreement(const attn::Plan& gpu, const attn::Plan& cpu) {
  size_t common = 0;
  for (int64_t qb = 0; qb < cpu.n_query_blocks(); ++qb)
    for (int h = 0; h < cpu.n_kv_heads; ++h) {
      const auto a = gpu.row(qb, h), b = cpu.row(qb, h);
      std::vector<int32_t> both;
      std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(both));
      common += both.size();
    }
  return cpu.block_indices.empty() ? 1.0 : double(common) / double(cpu.block_indices.size());
}

struct PrefillCase {
  const char* name;
  int64_t n_queries, q_offset;
  int n_heads, n_kv_heads, d, query_block;
  bool shuffled, sparse;
  int64_t score_rows = 0;  // planner rows scored per pass; 0: as the benchmarks size it
};

// A sparse case passes only if its GPU plan agrees with the CPU planner's on at
// least this share of blocks (bf16 rounding of the means flips near-ties only).
constexpr double kMinPlanAgreement = 0.95;

constexpr kernels::PrefillKernel kPrefillKernels[] = {
    kernels::PrefillKernel::mma_4warps, kernels::PrefillKernel::mma_8warps, kernels::PrefillKernel::wgmma,
    kernels::PrefillKernel::wgmma_1cta, kernels::PrefillKernel::wgmma_qreg, kernels::PrefillKernel::wgmma_256,
    kernels::PrefillKernel::wgmma_ws};

// One row per prefill kernel variant, all against one CPU reference.
std::vector<CheckRow> check_prefill(const PrefillCase& c, int threads, uint32_t seed) {
  const int64_t n_keys = c.q_offset + c.n_queries;
  const attn::Shape shape{c.n_heads, c.n_kv_heads, c.d};
  const auto q = random_bf16_values(size_t(c.n_queries) * c.n_heads * c.d, seed, 1.0f);
  const auto k = random_bf16_values(size_t(n_keys) * c.n_kv_heads * c.d, seed + 1, 1.0f);
  const auto v = random_bf16_values(size_t(n_keys) * c.n_kv_heads * c.d, seed + 2, 1.0f);
  DeviceArray<bf16> dq(bench::to_bf16(q)), dout(q.size());
  DeviceKv kv = upload_kv(k, v, n_keys, c.n_kv_heads, c.d, c.shuffled, seed + 3);

  attn::SparseConfig cfg;
  cfg.query_block = c.query_block;
  cfg.window_tokens = 256;
  cfg.topk_blocks = 6;
  std::vector<int32_t> globals;
  if (c.sparse) globals = {int32_t(n_keys / 3), int32_t(n_keys / 2) + 1, int32_t(n_keys - 2)};

  double agreement = -1;
  attn::Plan plan;
  DevicePlanArrays host_plan;
  GpuPlanner gp;
  kernels::DevicePlan dplan;
  if (c.sparse) {
    gp = make_planner(dq.get(), int64_t(c.n_heads) * c.d, c.n_queries, c.q_offset, n_keys, c.n_heads, c.n_kv_heads,
                      c.d, cfg, globals, c.score_rows);
    FOLIO_CUDA(kernels::summarize_blocks(kv.view, n_keys, c.n_kv_heads, c.d, gp.summaries.get(), nullptr));
    FOLIO_CUDA(kernels::build_plan(gp.args, nullptr));
    FOLIO_CUDA(cudaDeviceSynchronize());
    plan = download_plan(gp, c.n_queries, c.q_offset, n_keys, c.query_block, c.n_kv_heads, globals);
    attn::validate(plan);
    const auto sums = attn::summarize_blocks(k, n_keys, c.n_kv_heads, c.d);
    const attn::Plan cpu = attn::plan_attention(q, c.n_queries, c.q_offset, n_keys, shape, sums, globals, cfg);
    agreement = plan_agreement(plan, cpu);
    dplan = gp.plan.view(c.query_block);
  } else {
    plan = attn::make_dense_plan(c.n_queries, c.q_offset, n_keys, c.query_block, c.n_kv_heads);
    host_plan = upload_plan(plan);
    dplan = host_plan.view(c.query_block);
  }
  kernels::PrefillArgs a;
  a.q = dq.get();
  a.o = dout.get();
  a.q_token_stride = a.o_token_stride = int64_t(c.n_heads) * c.d;
  a.n_queries = c.n_queries;
  a.q_offset = c.q_offset;
  a.n_keys = n_keys;
  a.n_heads = c.n_heads;
  a.n_kv_heads = c.n_kv_heads;
  a.head_dim = c.d;
  a.scale = 1.0f / std::sqrt(float(c.d));
  a.kv = kv.view;
  a.plan = dplan;
  std::vector<float> ref(q.size()), dense;
  attn::attend_plan(q, {k, v, n_keys}, shape, plan, a.scale, ref, threads);
  if (!c.sparse) {  // the dense plan must also match dense attention computed without plans
    dense.resize(q.size());
    attn::attend_dense(q, c.n_queries, c.q_offset, {k, v, n_keys}, shape, a.scale, dense, threads);
  }
  std::vector<CheckRow> rows;
  for (kernels::PrefillKernel kind : kPrefillKernels) {
    a.kernel = kind;
    FOLIO_CUDA(cudaMemset(dout.get(), 0xff, q.size() * 2));  // NaN poison: every element must be written
    FOLIO_CUDA(kernels::attention_prefill(a, nullptr));
    FOLIO_CUDA(cudaDeviceSynchronize());
    const auto out = bench::to_f32(dout.download());
    CheckRow row;
    row.name = std::string(c.name) + " [" + kernels::prefill_kernel_name(kind) + "]";
    row.plan_agreement = agreement;
    bool finite = true;
    row.rel_err = rel_error(out, ref, &finite);
    row.pass = finite && row.rel_err < 1e-2 && (!c.sparse || agreement >= kMinPlanAgreement);
    if (!c.sparse) {
      bool f2 = true;
      const double e2 = rel_error(out, dense, &f2);
      row.rel_err = std::max(row.rel_err, e2);
      row.pass = row.pass && f2 && e2 < 1e-2;
    }
    rows.push_back(row);
  }
  return rows;
}

struct DecodeCase {
  const char* name;
  std::vector<int64_t> seq_lens;
  int n_heads, n_kv_heads, d;
  bool shuffled, sparse;
  int splits;  // 0: automatic
};

// use_counters: the planner's one-launch scatter path and the decode's in-kernel
// split merge (counters zeroed once, run twice: they must come back to zero);
// otherwise the cluster planner and the merge kernel.
CheckRow check_decode(const DecodeCase& c, int threads, int sm_count, uint32_t seed, bool use_counters) {
  const int batch = int(c.seq_lens.size());
  const attn::Shape shape{c.n_heads, c.n_kv_heads, c.d};
  const auto q = random_bf16_values(size_t(batch) * c.n_heads * c.d, seed, 1.0f);
  DeviceArray<bf16> dq(bench::to_bf16(q)), dout(q.size());
  FOLIO_CUDA(cudaMemset(dout.get(), 0xff, q.size() * 2));
  // One K/V pool and block table for the batch: sequence s's pages follow s-1's.
  std::vector<std::vector<float>> ks, vs;
  int64_t total = 0, max_blocks = 0;
  for (int s = 0; s < batch; ++s) {
    const int64_t padded = (c.seq_lens[size_t(s)] + 63) / 64 * 64;
    ks.push_back(random_bf16_values(size_t(c.seq_lens[size_t(s)]) * c.n_kv_heads * c.d, seed + 10 + s, 1.0f));
    vs.push_back(random_bf16_values(size_t(c.seq_lens[size_t(s)]) * c.n_kv_heads * c.d, seed + 20 + s, 1.0f));
    total += padded;
    max_blocks = std::max(max_blocks, padded / 64);
  }
  std::vector<float> kall, vall;
  for (int s = 0; s < batch; ++s) {
    const size_t pad = size_t((c.seq_lens[size_t(s)] + 63) / 64 * 64 - c.seq_lens[size_t(s)]) * c.n_kv_heads * c.d;
    kall.insert(kall.end(), ks[size_t(s)].begin(), ks[size_t(s)].end());
    kall.insert(kall.end(), pad, 7.0f);  // padding keys are never read
    vall.insert(vall.end(), vs[size_t(s)].begin(), vs[size_t(s)].end());
    vall.insert(vall.end(), pad, 7.0f);
  }
  DeviceKv kv = upload_kv(kall, vall, total, c.n_kv_heads, c.d, c.shuffled, seed + 30);
  // Block table: [batch][max_blocks], sequence s starts at the pool block after s-1's.
  std::vector<int32_t> pool_table = kv.table.size() ? kv.table.download() : std::vector<int32_t>();
  std::vector<int32_t> table(size_t(batch) * max_blocks, 0);
  int64_t base = 0;
  for (int s = 0; s < batch; ++s) {
    const int64_t nb = (c.seq_lens[size_t(s)] + 63) / 64;
    for (int64_t j = 0; j < nb; ++j)
      table[size_t(s * max_blocks + j)] = pool_table.empty() ? int32_t(base + j) : pool_table[size_t(base + j)];
    base += nb;
  }
  DeviceArray<int32_t> dtable{std::span<const int32_t>(table)};
  kernels::PagedKv view = kv.view;
  view.block_table = dtable.get();
  view.block_table_stride = max_blocks;
  std::vector<int32_t> lens32(c.seq_lens.begin(), c.seq_lens.end());
  DeviceArray<int32_t> dlens{std::span<const int32_t>(lens32)};

  CheckRow row;
  row.name = c.name;
  attn::SparseConfig cfg;
  cfg.query_block = 1;
  cfg.window_tokens = 300;
  cfg.topk_blocks = 5;
  // Sparse: three anchors, two of them outside sink and window (they take
  // selection slots); dense: none.
  std::vector<int32_t> globals;
  if (c.sparse)
    globals = {int32_t(c.seq_lens[0] / 3), int32_t(c.seq_lens[0] / 2) + 1, int32_t(c.seq_lens[0] - 2)};
  std::vector<attn::Plan> plans;  // per sequence
  DevicePlanArrays dense_plan;
  GpuPlanner gp;
  kernels::DevicePlan dplan;
  int max_row_blocks = int(max_blocks);
  DeviceArray<uint32_t> plan_counters(size_t(c.n_kv_heads)), decode_counters(size_t(batch) * c.n_kv_heads);
  FOLIO_CUDA(cudaMemset(plan_counters.get(), 0, plan_counters.size() * 4));
  FOLIO_CUDA(cudaMemset(decode_counters.get(), 0, decode_counters.size() * 4));
  if (c.sparse) {
    if (batch != 1) throw std::runtime_error("sparse decode check: batch 1 only");
    const int64_t n = c.seq_lens[0];
    gp = make_planner(dq.get(), int64_t(c.n_heads) * c.d, 1, n - 1, n, c.n_heads, c.n_kv_heads, c.d, cfg, globals);
    kernels::PagedKv one = view;
    FOLIO_CUDA(kernels::summarize_blocks(one, n, c.n_kv_heads, c.d, gp.summaries.get(), nullptr));
    if (use_counters) gp.args.counters = plan_counters.get();
    for (int rep = 0; rep < (use_counters ? 2 : 1); ++rep) {
      FOLIO_CUDA(cudaMemset(gp.plan.indices.get(), 0xff, gp.plan.indices.size() * 4));
      FOLIO_CUDA(kernels::build_plan(gp.args, nullptr));
    }
    FOLIO_CUDA(cudaDeviceSynchronize());
    plans.push_back(download_plan(gp, 1, n - 1, n, 1, c.n_kv_heads, globals));
    attn::validate(plans[0]);
    const auto sums = attn::summarize_blocks(ks[0], n, c.n_kv_heads, c.d);
    row.plan_agreement =
        plan_agreement(plans[0], attn::plan_attention(q, 1, n - 1, n, shape, sums, globals, cfg));
    dplan = gp.plan.view(1);
    max_row_blocks = gp.args.row_capacity;
  } else {
    attn::Plan all;  // rows seq * n_kv_heads + h, CSR
    all.row_offsets.push_back(0);
    for (int s = 0; s < batch; ++s) {
      const int64_t n = c.seq_lens[size_t(s)];
      plans.push_back(attn::make_dense_plan(1, n - 1, n, 1, c.n_kv_heads));
      for (int h = 0; h < c.n_kv_heads; ++h) {
        for (int32_t j : plans.back().row(0, h)) all.block_indices.push_back(j);
        all.row_offsets.push_back(int32_t(all.block_indices.size()));
      }
    }
    dense_plan = upload_plan(all);
    dplan = dense_plan.view(1);
  }
  kernels::DecodeArgs a;
  a.q = dq.get();
  a.o = dout.get();
  a.q_token_stride = a.o_token_stride = int64_t(c.n_heads) * c.d;
  a.batch = batch;
  a.seq_lens = dlens.get();
  a.n_heads = c.n_heads;
  a.n_kv_heads = c.n_kv_heads;
  a.head_dim = c.d;
  a.scale = 1.0f / std::sqrt(float(c.d));
  a.kv = view;
  a.plan = dplan;
  a.max_row_blocks = max_row_blocks;
  a.splits = c.splits > 0 ? c.splits : kernels::decode_splits(batch, c.n_kv_heads, max_row_blocks, sm_count, c.d);
  DeviceArray<float> ws(kernels::decode_workspace_floats(batch, c.n_heads, c.d, a.splits));
  a.workspace = ws.get();
  if (use_counters) a.counters = decode_counters.get();
  for (int rep = 0; rep < (use_counters ? 2 : 1); ++rep) {
    FOLIO_CUDA(cudaMemset(dout.get(), 0xff, q.size() * 2));
    FOLIO_CUDA(kernels::attention_decode(a, nullptr));
  }
  FOLIO_CUDA(cudaDeviceSynchronize());
  const auto out = bench::to_f32(dout.download());
  bool counters_zero = true;
  for (uint32_t v : plan_counters.download()) counters_zero = counters_zero && v == 0;
  for (uint32_t v : decode_counters.download()) counters_zero = counters_zero && v == 0;
  std::vector<float> ref(q.size());
  const size_t per = size_t(c.n_heads) * c.d;
  for (int s = 0; s < batch; ++s) {
    const int64_t n = c.seq_lens[size_t(s)];
    std::vector<float> qs(q.begin() + s * per, q.begin() + (s + 1) * per), rs(per);
    attn::attend_plan(qs, {ks[size_t(s)], vs[size_t(s)], n}, shape, plans[size_t(s)], a.scale, rs, threads);
    std::copy(rs.begin(), rs.end(), ref.begin() + s * per);
  }
  bool finite = true;
  row.rel_err = rel_error(out, ref, &finite);
  row.pass = finite && row.rel_err < 1e-2 && counters_zero;
  row.name += " (splits " + std::to_string(a.splits) + (use_counters ? ", counters)" : ")");
  if (!counters_zero) row.name += " COUNTERS NOT RESET";
  return row;
}

struct FusedDecodeCase {
  const char* name;
  int64_t n;
  int n_heads, n_kv_heads, d;
  bool shuffled;
  int window_tokens, topk_blocks;
  int cluster;  // 0: sparse_decode_cluster_size's choice
  bool globals;
};

// The fused sparse decode step (one launch: plan + attention) against the
// planner + decode kernels and the CPU: its plan must equal build_plan's row for
// row, its output must match exact CPU attention over that plan, and two runs
// must give the same bits.
CheckRow check_fused_decode(const FusedDecodeCase& c, int threads, uint32_t seed) {
  const attn::Shape shape{c.n_heads, c.n_kv_heads, c.d};
  const int64_t n = c.n;
  const auto q = random_bf16_values(size_t(c.n_heads) * c.d, seed, 1.0f);
  const auto k = random_bf16_values(size_t(n) * c.n_kv_heads * c.d, seed + 1, 1.0f);
  const auto v = random_bf16_values(size_t(n) * c.n_kv_heads * c.d, seed + 2, 1.0f);
  DeviceArray<bf16> dq(bench::to_bf16(q)), dout(q.size());
  DeviceKv kv = upload_kv(k, v, n, c.n_kv_heads, c.d, c.shuffled, seed + 3);
  attn::SparseConfig cfg;
  cfg.query_block = 1;
  cfg.window_tokens = c.window_tokens;
  cfg.topk_blocks = c.topk_blocks;
  std::vector<int32_t> globals;
  if (c.globals && n > 8) globals = {int32_t(n / 3), int32_t(n / 2) + 1, int32_t(n / 5), int32_t(n - 2)};
  GpuPlanner gp = make_planner(dq.get(), int64_t(c.n_heads) * c.d, 1, n - 1, n, c.n_heads, c.n_kv_heads, c.d, cfg,
                               globals);
  FOLIO_CUDA(kernels::summarize_blocks(kv.view, n, c.n_kv_heads, c.d, gp.summaries.get(), nullptr));
  FOLIO_CUDA(kernels::build_plan(gp.args, nullptr));
  FOLIO_CUDA(cudaDeviceSynchronize());
  const attn::Plan reference_plan = download_plan(gp, 1, n - 1, n, 1, c.n_kv_heads, globals);

  kernels::SparseDecodeArgs a;
  a.q = dq.get();
  a.o = dout.get();
  a.n_keys = n;
  a.n_heads = c.n_heads;
  a.n_kv_heads = c.n_kv_heads;
  a.head_dim = c.d;
  a.scale = 1.0f / std::sqrt(float(c.d));
  a.kv = kv.view;
  a.summaries = gp.summaries.get();
  a.first_global = gp.args.first_global;
  a.sink_blocks = cfg.sink_blocks;
  a.window_tokens = cfg.window_tokens;
  a.topk_blocks = cfg.topk_blocks;
  a.row_capacity = gp.args.row_capacity;
  a.row_offsets = gp.plan.offsets.get();  // overwritten: the fused kernel's plan is downloaded below
  a.row_counts = gp.plan.counts.get();
  a.block_indices = gp.plan.indices.get();
  const int cluster = c.cluster > 0 ? c.cluster : kernels::sparse_decode_cluster_size(a);
  CheckRow row;
  row.name = std::string(c.name) + " (cluster " + std::to_string(cluster) + ")";
  if (cluster == 0) {
    row.name += " NOT RUNNABLE";
    return row;
  }
  std::vector<bf16> first_out;
  for (int rep = 0; rep < 2; ++rep) {
    FOLIO_CUDA(cudaMemset(dout.get(), 0xff, q.size() * 2));  // NaN poison: every element must be written
    FOLIO_CUDA(cudaMemset(gp.plan.indices.get(), 0xff, gp.plan.indices.size() * 4));
    FOLIO_CUDA(cudaMemset(gp.plan.counts.get(), 0xff, gp.plan.counts.size() * 4));
    FOLIO_CUDA(kernels::sparse_decode(a, cluster, nullptr));
    FOLIO_CUDA(cudaDeviceSynchronize());
    if (rep == 0) first_out = dout.download();
  }
  const auto raw = dout.download();
  const bool repeatable = raw.size() == first_out.size() &&
                          std::memcmp(raw.data(), first_out.data(), raw.size() * sizeof(bf16)) == 0;
  const attn::Plan plan = download_plan(gp, 1, n - 1, n, 1, c.n_kv_heads, globals);
  attn::validate(plan);
  const bool same_plan = plan.row_offsets == reference_plan.row_offsets && plan.block_indices == reference_plan.block_indices;
  const auto sums = attn::summarize_blocks(k, n, c.n_kv_heads, c.d);
  row.plan_agreement = plan_agreement(plan, attn::plan_attention(q, 1, n - 1, n, shape, sums, globals, cfg));
  std::vector<float> ref(q.size());
  attn::attend_plan(q, {k, v, n}, shape, plan, a.scale, ref, threads);
  bool finite = true;
  row.rel_err = rel_error(bench::to_f32(raw), ref, &finite);
  row.pass = finite && row.rel_err < 1e-2 && same_plan && repeatable;
  if (!same_plan) row.name += " PLAN DIFFERS FROM build_plan";
  if (!repeatable) row.name += " NOT REPEATABLE";
  return row;
}

// ---------------------------------------------------------------- bench -----

struct Timing {
  std::string kind;
  int64_t n = 0;
  double ms = 0, tflops = 0, plan_ms = 0, attended_tokens = 0, gbps = 0;
  std::string kernel;
};

constexpr int kHeads = 32, kKvHeads = 4, kDim = 128;

double causal_flops(double n) { return 4.0 * n * n / 2.0 * kDim * kHeads; }

struct BigInputs {
  DeviceArray<bf16> q, o, k, v;
  int64_t max_len = 0;
};

kernels::PrefillArgs prefill_args(const BigInputs& in, int64_t n, const kernels::DevicePlan& plan,
                                  kernels::PrefillKernel kernel) {
  kernels::PrefillArgs a;
  a.q = in.q.get();
  a.o = in.o.get();
  a.q_token_stride = a.o_token_stride = kHeads * kDim;
  a.n_queries = n;
  a.q_offset = 0;
  a.n_keys = n;
  a.n_heads = kHeads;
  a.n_kv_heads = kKvHeads;
  a.head_dim = kDim;
  a.scale = 1.0f / std::sqrt(float(kDim));
  a.kv = {in.k.get(), in.v.get(), nullptr, 0, 64LL * kKvHeads * kDim, kDim, kKvHeads * kDim};
  a.plan = plan;
  a.kernel = kernel;
  return a;
}

// Global (anchor) tokens for the benchmarks: 16 spread over the context, as the
// assembler caps them by a budget (each costs its 64-token block: <= 1024 keys).
std::vector<int32_t> spread_globals(int64_t n) {
  std::vector<int32_t> g;
  for (int i = 0; i < 16; ++i) g.push_back(int32_t(n / 16 * i + n / 32));
  return g;
}

int reps_for(double est_ms) { return est_ms > 200 ? 2 : est_ms > 20 ? 4 : 10; }

void bench_dense_prefill(const BigInputs& in, int64_t n, std::vector<Timing>& out) {
  const attn::Plan plan = attn::make_dense_plan(n, 0, n, 128, kKvHeads);
  DevicePlanArrays dp = upload_plan(plan);
  using K = kernels::PrefillKernel;
  for (K kind : {K::wgmma, K::wgmma_256, K::wgmma_ws, K::wgmma_qreg, K::mma_8warps}) {
    const kernels::PrefillArgs a = prefill_args(in, n, dp.view(128), kind);
    const double est = causal_flops(double(n)) / 300e12 * 1e3;
    const double ms = bench::time_ms([&] { FOLIO_CUDA(kernels::attention_prefill(a, nullptr)); }, 1, reps_for(est));
    Timing t;
    t.kind = "dense_prefill";
    t.n = n;
    t.ms = ms;
    t.kernel = kernels::prefill_kernel_name(kind);
    t.tflops = causal_flops(double(n)) / (ms * 1e-3) / 1e12;
    std::printf("dense prefill  n=%-8lld %-26s q_block 128  %9.3f ms  %6.1f TFLOP/s\n", (long long)n,
                t.kernel.c_str(), ms, t.tflops);
    std::fflush(stdout);
    out.push_back(t);
  }
}

void bench_sparse_prefill(const BigInputs& in, int64_t n, int query_block, kernels::PrefillKernel kernel,
                          std::vector<Timing>& out) {
  attn::SparseConfig cfg = attn::preset_balanced();
  cfg.query_block = query_block;
  const std::vector<int32_t> globals = spread_globals(n);
  GpuPlanner g = make_planner(in.q.get(), kHeads * kDim, n, 0, n, kHeads, kKvHeads, kDim, cfg, globals);
  const kernels::PagedKv kv{in.k.get(), in.v.get(), nullptr, 0, 64LL * kKvHeads * kDim, kDim, kKvHeads * kDim};
  auto plan_once = [&] {
    FOLIO_CUDA(kernels::summarize_blocks(kv, n, kKvHeads, kDim, g.summaries.get(), nullptr));
    FOLIO_CUDA(kernels::build_plan(g.args, nullptr));
  };
  const double plan_ms = bench::time_ms(plan_once, 1, 5);
  const kernels::PrefillArgs a = prefill_args(in, n, g.plan.view(query_block), kernel);
  const double ms = bench::time_ms([&] { FOLIO_CUDA(kernels::attention_prefill(a, nullptr)); }, 1, 5);
  const auto counts = g.plan.counts.download();
  const double mean_blocks = std::accumulate(counts.begin(), counts.end(), 0.0) / double(counts.size());
  Timing t;
  t.kind = "sparse_prefill";
  t.n = n;
  t.ms = ms;
  t.plan_ms = plan_ms;
  t.kernel = kernels::prefill_kernel_name(kernel);
  t.attended_tokens = mean_blocks * 64;
  // Work actually done: every listed block is a full 64-key block for every query row.
  t.tflops = 4.0 * double(n) * kHeads * kDim * t.attended_tokens / (ms * 1e-3) / 1e12;
  std::printf("sparse prefill n=%-8lld %-26s q_block %3d  plan %8.3f ms + attention %8.3f ms  (%.0f keys/query, %.1f TFLOP/s)\n",
              (long long)n, t.kernel.c_str(), query_block, plan_ms, ms, t.attended_tokens, t.tflops);
  std::fflush(stdout);
  out.push_back(t);
}

// profile_only: 10 sparse decode steps launched plainly (for ncu), no timings.
void bench_decode(const BigInputs& in, int64_t n, int sm_count, std::vector<Timing>& out, bool profile_only = false) {
  const kernels::PagedKv kv{in.k.get(), in.v.get(), nullptr, 0, 64LL * kKvHeads * kDim, kDim, kKvHeads * kDim};
  const int32_t len = int32_t(n);
  DeviceArray<int32_t> dlens{std::span<const int32_t>(&len, 1)};
  kernels::DecodeArgs a;
  a.q = in.q.get();  // query token = row 0 of the big Q buffer
  a.o = in.o.get();
  a.q_token_stride = a.o_token_stride = kHeads * kDim;
  a.batch = 1;
  a.seq_lens = dlens.get();
  a.n_heads = kHeads;
  a.n_kv_heads = kKvHeads;
  a.head_dim = kDim;
  a.scale = 1.0f / std::sqrt(float(kDim));
  a.kv = kv;
  const double kv_bytes = double(n) * kKvHeads * kDim * 2 * 2;

  cudaStream_t stream;
  FOLIO_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  auto graph_time = [&](auto&& body) {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    FOLIO_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    body();
    FOLIO_CUDA(cudaStreamEndCapture(stream, &graph));
    FOLIO_CUDA(cudaGraphInstantiate(&exec, graph, 0));
    // 20 steps per replay so launch gaps between replays stay out of the figure.
    const double ms = bench::time_ms([&] { FOLIO_CUDA(cudaGraphLaunch(exec, stream)); }, 3, 15, stream) / 20.0;
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    return ms;
  };

  if (profile_only) {
    attn::SparseConfig cfg = attn::preset_balanced();
    cfg.query_block = 1;
    const std::vector<int32_t> globals = spread_globals(n);
    GpuPlanner g = make_planner(in.q.get(), kHeads * kDim, 1, n - 1, n, kHeads, kKvHeads, kDim, cfg, globals);
    FOLIO_CUDA(kernels::summarize_blocks(kv, n, kKvHeads, kDim, g.summaries.get(), nullptr));
    kernels::DecodeArgs s = a;
    s.plan = g.plan.view(1);
    s.max_row_blocks = g.args.row_capacity;
    s.splits = kernels::decode_splits(1, kKvHeads, s.max_row_blocks, sm_count, kDim);
    DeviceArray<float> ws(kernels::decode_workspace_floats(1, kHeads, kDim, s.splits));
    s.workspace = ws.get();
    DeviceArray<uint32_t> ctr(size_t(2 * kKvHeads));
    FOLIO_CUDA(cudaMemset(ctr.get(), 0, ctr.size() * 4));
    g.args.counters = ctr.get();
    s.counters = ctr.get() + kKvHeads;
    for (int i = 0; i < 10; ++i) {
      FOLIO_CUDA(kernels::build_plan(g.args, stream));
      FOLIO_CUDA(kernels::attention_decode(s, stream));
    }
    FOLIO_CUDA(cudaStreamSynchronize(stream));
    cudaStreamDestroy(stream);
    return;
  }
  // Dense: every block.
  const attn::Plan dense = attn::make_dense_plan(1, n - 1, n, 1, kKvHeads);
  DevicePlanArrays dd = upload_plan(dense);
  a.plan = dd.view(1);
  a.max_row_blocks = int((n + 63) / 64);
  a.splits = kernels::decode_splits(1, kKvHeads, a.max_row_blocks, sm_count, kDim);
  DeviceArray<float> ws(kernels::decode_workspace_floats(1, kHeads, kDim, a.splits));
  a.workspace = ws.get();
  const double dense_ms = graph_time([&] {
    for (int i = 0; i < 20; ++i) FOLIO_CUDA(kernels::attention_decode(a, stream));
  });
  Timing td;
  td.kind = "dense_decode";
  td.n = n;
  td.ms = dense_ms;
  td.gbps = kv_bytes / (dense_ms * 1e-3) / 1e9;
  std::printf("dense decode   n=%-8lld splits=%d  %8.2f us  %7.0f GB/s of K/V\n", (long long)n, a.splits, dense_ms * 1e3,
              td.gbps);

  // Sparse: the plan is rebuilt every step (scores of the new query); block
  // summaries are kept by the cache and not recomputed. One step = the fused
  // decode planner (1 launch) + split decode + split merge, launched
  // programmatically (each kernel scheduled while the previous one finishes).
  attn::SparseConfig cfg = attn::preset_balanced();
  cfg.query_block = 1;
  const std::vector<int32_t> globals = spread_globals(n);
  GpuPlanner g = make_planner(in.q.get(), kHeads * kDim, 1, n - 1, n, kHeads, kKvHeads, kDim, cfg, globals);
  FOLIO_CUDA(kernels::summarize_blocks(kv, n, kKvHeads, kDim, g.summaries.get(), nullptr));
  FOLIO_CUDA(cudaDeviceSynchronize());
  kernels::DecodeArgs s = a;
  s.plan = g.plan.view(1);
  s.max_row_blocks = g.args.row_capacity;
  s.splits = kernels::decode_splits(1, kKvHeads, s.max_row_blocks, sm_count, kDim);
  DeviceArray<float> ws2(kernels::decode_workspace_floats(1, kHeads, kDim, s.splits));
  s.workspace = ws2.get();
  // Counters (zeroed once): the one-launch scatter planner and the in-kernel split merge.
  DeviceArray<uint32_t> plan_ctr{size_t(kKvHeads)}, dec_ctr{size_t(kKvHeads)};
  FOLIO_CUDA(cudaMemset(plan_ctr.get(), 0, kKvHeads * 4));
  FOLIO_CUDA(cudaMemset(dec_ctr.get(), 0, kKvHeads * 4));
  const kernels::PlannerArgs cluster_plan = g.args;  // without counters: one cluster per row
  const kernels::DecodeArgs merge_kernel = s;        // without counters: the merge kernel
  g.args.counters = plan_ctr.get();
  s.counters = dec_ctr.get();
  const double plan_ms = graph_time([&] {
    for (int i = 0; i < 20; ++i) FOLIO_CUDA(kernels::build_plan(g.args, stream));
  });
  const double attn_ms = graph_time([&] {
    for (int i = 0; i < 20; ++i) FOLIO_CUDA(kernels::attention_decode(s, stream));
  });
  auto step_graph = [&](bool programmatic) {
    kernels::PlannerArgs pa = g.args;
    kernels::DecodeArgs da = s;
    pa.programmatic_launch = da.programmatic_launch = programmatic;
    return graph_time([&] {
      for (int i = 0; i < 20; ++i) {
        FOLIO_CUDA(kernels::build_plan(pa, stream));
        FOLIO_CUDA(kernels::attention_decode(da, stream));
      }
    });
  };
  const double step_ms = step_graph(true);
  const double step_plain_ms = step_graph(false);
  const double step_nocnt_ms = graph_time([&] {
    for (int i = 0; i < 20; ++i) {
      FOLIO_CUDA(kernels::build_plan(cluster_plan, stream));
      FOLIO_CUDA(kernels::attention_decode(merge_kernel, stream));
    }
  });
  // Without a graph: 20 steps launched from the host onto the stream (what a
  // backend that does not capture graphs sees).
  const double step_stream_ms = bench::time_ms([&] {
    for (int i = 0; i < 20; ++i) {
      FOLIO_CUDA(kernels::build_plan(g.args, stream));
      FOLIO_CUDA(kernels::attention_decode(s, stream));
    }
  }, 3, 15, stream) / 20.0;
  const auto counts = g.plan.counts.download();
  const double attended = std::accumulate(counts.begin(), counts.end(), 0.0) / double(counts.size()) * 64;

  // Cold caches: the step above re-reads the same ~9 MB every time, which the
  // 50 MB L2 keeps. Here 8 independent 128K caches (other K/V, other queries)
  // are stepped in turn, 8 x 9 MB > L2, as consecutive layers of a model would.
  constexpr int kCaches = 8;
  DeviceArray<bf16> rk(size_t(kCaches) * n * kKvHeads * kDim), rv(size_t(kCaches) * n * kKvHeads * kDim);
  fill_random(rk.get(), rk.size(), 7, 2.0f);
  fill_random(rv.get(), rv.size(), 8, 1.0f);
  std::vector<GpuPlanner> planners;
  std::vector<kernels::DecodeArgs> steps;
  for (int c = 0; c < kCaches; ++c) {
    const bf16* qc = in.q.get() + size_t(c + 1) * kHeads * kDim;
    planners.push_back(make_planner(qc, kHeads * kDim, 1, n - 1, n, kHeads, kKvHeads, kDim, cfg, globals));
    planners.back().args.counters = plan_ctr.get();  // steps run one after another: shared counters
    const kernels::PagedKv kc{rk.get() + size_t(c) * n * kKvHeads * kDim, rv.get() + size_t(c) * n * kKvHeads * kDim,
                              nullptr, 0, 64LL * kKvHeads * kDim, kDim, kKvHeads * kDim};
    FOLIO_CUDA(kernels::summarize_blocks(kc, n, kKvHeads, kDim, planners.back().summaries.get(), nullptr));
    kernels::DecodeArgs d = s;
    d.q = qc;
    d.kv = kc;
    d.plan = planners.back().plan.view(1);
    steps.push_back(d);
  }
  FOLIO_CUDA(cudaDeviceSynchronize());
  const double cold_ms = graph_time([&] {
    for (int i = 0; i < 20; ++i) {
      const int c = i % kCaches;
      FOLIO_CUDA(kernels::build_plan(planners[size_t(c)].args, stream));
      FOLIO_CUDA(kernels::attention_decode(steps[size_t(c)], stream));
    }
  });
  // The fused step (plan + attention in one launch, sparse_decode.cu): warm,
  // then the 8 caches in turn. No plan is written (a decode step needs none).
  auto fused_args = [&](const GpuPlanner& gpl, const bf16* qc, const kernels::PagedKv& kc) {
    kernels::SparseDecodeArgs f;
    f.q = qc;
    f.o = in.o.get();
    f.n_keys = n;
    f.n_heads = kHeads;
    f.n_kv_heads = kKvHeads;
    f.head_dim = kDim;
    f.scale = a.scale;
    f.kv = kc;
    f.summaries = gpl.summaries.get();
    f.first_global = gpl.args.first_global;
    f.sink_blocks = cfg.sink_blocks;
    f.window_tokens = cfg.window_tokens;
    f.topk_blocks = cfg.topk_blocks;
    f.row_capacity = gpl.args.row_capacity;
    return f;
  };
  const kernels::SparseDecodeArgs fused = fused_args(g, in.q.get(), kv);
  const int cluster = kernels::sparse_decode_cluster_size(fused);
  double fused_ms = 0, fused_cold_ms = 0, fused_plain_ms = 0;
  if (cluster > 0) {
    fused_ms = graph_time([&] {
      for (int i = 0; i < 20; ++i) FOLIO_CUDA(kernels::sparse_decode(fused, cluster, stream));
    });
    kernels::SparseDecodeArgs plain = fused;
    plain.programmatic_launch = false;
    fused_plain_ms = graph_time([&] {
      for (int i = 0; i < 20; ++i) FOLIO_CUDA(kernels::sparse_decode(plain, cluster, stream));
    });
    std::vector<kernels::SparseDecodeArgs> fused_steps;
    for (int c = 0; c < kCaches; ++c)
      fused_steps.push_back(fused_args(planners[size_t(c)], steps[size_t(c)].q, steps[size_t(c)].kv));
    fused_cold_ms = graph_time([&] {
      for (int i = 0; i < 20; ++i) FOLIO_CUDA(kernels::sparse_decode(fused_steps[size_t(i % kCaches)], cluster, stream));
    });
    std::printf("sparse decode  n=%-8lld fused step (cluster %d): %7.2f us; without PDL %7.2f us; 8 caches in turn (cold L2) %7.2f us\n",
                (long long)n, cluster, fused_ms * 1e3, fused_plain_ms * 1e3, fused_cold_ms * 1e3);
  }
  // The floor: bytes one step must read (summaries of every block, the listed
  // K/V blocks) over the measured copy bandwidth (passed in via gbps later).
  const double floor_bytes = double((n + 63) / 64) * kKvHeads * kDim * 2 + attended * kKvHeads * kDim * 2 * 2;

  Timing ts;
  ts.kind = "sparse_decode";
  ts.n = n;
  ts.ms = step_ms;
  ts.plan_ms = plan_ms;
  ts.attended_tokens = attended;
  ts.gbps = floor_bytes / (step_ms * 1e-3) / 1e9;
  std::printf("sparse decode  n=%-8lld splits=%d  step %7.2f us (plan %6.2f us, attention %6.2f us), %.0f keys\n",
              (long long)n, s.splits, step_ms * 1e3, plan_ms * 1e3, attn_ms * 1e3, attended);
  std::printf("sparse decode  n=%-8lld step without programmatic launch %7.2f us; launched from the host (no graph) "
              "%7.2f us; 8 caches in turn (cold L2) %7.2f us; cluster planner + merge kernel %7.2f us; "
              "floor %.1f MB read per step\n",
              (long long)n, step_plain_ms * 1e3, step_stream_ms * 1e3, cold_ms * 1e3, step_nocnt_ms * 1e3,
              floor_bytes / 1e6);
  Timing ta = ts;
  ta.kind = "sparse_decode_attention_only";
  ta.ms = attn_ms;
  Timing tp = ts;
  tp.kind = "sparse_decode_no_pdl";
  tp.ms = step_plain_ms;
  Timing th = ts;
  th.kind = "sparse_decode_no_graph";
  th.ms = step_stream_ms;
  Timing tn = ts;
  tn.kind = "sparse_decode_cluster_planner";
  tn.ms = step_nocnt_ms;
  out.push_back(tn);
  Timing tc = ts;
  tc.kind = "sparse_decode_cold";
  tc.ms = cold_ms;
  tc.gbps = floor_bytes / (cold_ms * 1e-3) / 1e9;
  if (cluster > 0) {
    Timing tf = ts;
    tf.kind = "sparse_decode_fused";
    tf.ms = fused_ms;
    tf.gbps = floor_bytes / (fused_ms * 1e-3) / 1e9;
    tf.kernel = "cluster " + std::to_string(cluster);
    Timing tfc = tf;
    tfc.kind = "sparse_decode_fused_cold";
    tfc.ms = fused_cold_ms;
    tfc.gbps = floor_bytes / (fused_cold_ms * 1e-3) / 1e9;
    Timing tfp = tf;
    tfp.kind = "sparse_decode_fused_no_pdl";
    tfp.ms = fused_plain_ms;
    out.push_back(tf);
    out.push_back(tfc);
    out.push_back(tfp);
  }
  out.push_back(td);
  out.push_back(ts);
  out.push_back(ta);
  out.push_back(tp);
  out.push_back(th);
  out.push_back(tc);
  cudaStreamDestroy(stream);
}

double copy_bandwidth_gbps() {
  const size_t bytes = size_t(2) << 30;
  DeviceArray<unsigned char> a(bytes), b(bytes);
  FOLIO_CUDA(cudaMemset(a.get(), 1, bytes));
  const double ms =
      bench::time_ms([&] { FOLIO_CUDA(cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice)); }, 2, 10);
  return 2.0 * double(bytes) / (ms * 1e-3) / 1e9;  // bytes read + written
}

// ---------------------------------------------------------------- main ------

void write_json(const std::string& path, const cudaDeviceProp& prop, const std::vector<CheckRow>& checks,
                const std::vector<Timing>& timings, double copy_gbps) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + path);
  std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"sm_count\": %d,\n  \"copy_gbps\": %.1f,\n  \"checks\": [\n", prop.name,
               prop.multiProcessorCount, copy_gbps);
  for (size_t i = 0; i < checks.size(); ++i)
    std::fprintf(f, "    {\"name\": \"%s\", \"rel_err\": %.3e, \"plan_agreement\": %.4f, \"pass\": %s}%s\n",
                 checks[i].name.c_str(), checks[i].rel_err, checks[i].plan_agreement, checks[i].pass ? "true" : "false",
                 i + 1 < checks.size() ? "," : "");
  std::fprintf(f, "  ],\n  \"timings\": [\n");
  for (size_t i = 0; i < timings.size(); ++i) {
    const Timing& t = timings[i];
    std::fprintf(f,
                 "    {\"kind\": \"%s\", \"n\": %lld, \"ms\": %.6f, \"plan_ms\": %.6f, \"tflops\": %.2f, "
                 "\"attended_tokens\": %.1f, \"gbps\": %.1f, \"kernel\": \"%s\"}%s\n",
                 t.kind.c_str(), (long long)t.n, t.ms, t.plan_ms, t.tflops, t.attended_tokens, t.gbps, t.kernel.c_str(),
                 i + 1 < timings.size() ? "," : "");
  }
  std::fprintf(f, "  ]\n}\n");
  std::fclose(f);
}

int run(const Options& opt) {
  cudaDeviceProp prop;
  FOLIO_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs, %.0f GiB\n", prop.name, prop.multiProcessorCount,
              double(prop.totalGlobalMem) / (1 << 30));
  const int threads = opt.threads > 0 ? opt.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<CheckRow> checks;
  if (opt.check) {
    const PrefillCase prefill[] = {
        {"prefill dense d64 G1 n1000", 1000, 0, 4, 4, 64, 64, false, false},
        {"prefill dense d128 G4 n777 paged", 777, 0, 16, 4, 128, 64, true, false},
        {"prefill dense d128 G8 n515+300 qb128", 515, 300, 16, 2, 128, 128, true, false},
        {"prefill dense d64 G8 n130", 130, 0, 32, 4, 64, 64, false, false},
        {"prefill dense d128 G1 n1 at 1200", 1, 1200, 8, 8, 128, 64, true, false},
        {"prefill dense d64 G4 n3 at 61 qb128", 3, 61, 8, 2, 64, 128, false, false},
        {"prefill sparse d128 G8 n2500", 2500, 0, 16, 2, 128, 64, true, true},
        {"prefill sparse d64 G4 n333+2900 qb128", 333, 2900, 8, 2, 64, 128, false, true},
        {"prefill sparse d128 G1 n1999", 1999, 0, 4, 4, 128, 64, false, true},
        // >= 512 plan rows: the planner's tiled scoring; 700 rows a pass splits query blocks' heads.
        {"prefill sparse d64 G8 n4100 qb32 (tiled scores)", 4100, 0, 32, 4, 64, 32, true, true},
        {"prefill sparse d128 G2 n4100 qb8 (tiled scores, 3 passes)", 4100, 0, 8, 4, 128, 8, false, true, 700},
        {"prefill sparse d128 G8 n1100+9000 qb8 (tiled scores, context split over CTAs)", 1100, 9000, 32, 4, 128, 8,
         false, true},
    };
    uint32_t seed = uint32_t(std::chrono::steady_clock::now().time_since_epoch().count());
    std::printf("checks (seed %u): relative error ||out-ref||/||ref|| vs exact CPU attention over the same plan\n", seed);
    for (const PrefillCase& c : prefill) {
      if (std::string(c.name).find(opt.check_filter) == std::string::npos) continue;
      for (const CheckRow& r : check_prefill(c, threads, seed += 100)) {
        checks.push_back(r);
        std::printf("  %-64s rel_err %.2e %s%s\n", r.name.c_str(), r.rel_err, r.pass ? "ok" : "FAIL",
                    r.plan_agreement >= 0 ? (" (GPU/CPU plan agreement " + std::to_string(r.plan_agreement) + ")").c_str() : "");
      }
      std::fflush(stdout);
    }
    const DecodeCase decode[] = {
        {"decode dense d128 G8 n5000", {5000}, 32, 4, 128, false, false, 0},
        {"decode dense d64 G1 n333", {333}, 4, 4, 64, true, false, 0},
        {"decode dense d128 G4 batch3 paged", {1, 700, 4097}, 16, 4, 128, true, false, 0},
        {"decode dense d64 G8 n2049 one split", {2049}, 16, 2, 64, false, false, 1},
        // > 128 blocks a row: the split kernel and the merge kernel (shorter rows: one cluster a row).
        {"decode dense d128 G8 n9000 split+merge", {9000}, 32, 4, 128, true, false, 0},
        {"decode sparse d128 G8 n7001", {7001}, 32, 4, 128, true, true, 0},
        {"decode sparse d64 G4 n3333", {3333}, 8, 2, 64, false, true, 0},
        // 2344 blocks: the fused planner's CTAs score their share in two passes.
        {"decode sparse d128 G4 n150001", {150001}, 8, 2, 128, false, true, 0},
    };
    for (const DecodeCase& c : decode) {
      if (std::string(c.name).find(opt.check_filter) == std::string::npos) continue;
      for (bool use_counters : {false, true}) {
        checks.push_back(check_decode(c, threads, prop.multiProcessorCount, seed += 100, use_counters));
        const CheckRow& r = checks.back();
        std::printf("  %-64s rel_err %.2e %s%s\n", r.name.c_str(), r.rel_err, r.pass ? "ok" : "FAIL",
                    r.plan_agreement >= 0 ? (" (GPU/CPU plan agreement " + std::to_string(r.plan_agreement) + ")").c_str() : "");
        std::fflush(stdout);
      }
    }
    const FusedDecodeCase fused[] = {
        {"fused sparse decode d128 G8 n131072", 131072, 32, 4, 128, false, 1024, 32, 0, true},
        {"fused sparse decode d128 G8 n7001 paged", 7001, 32, 4, 128, true, 300, 5, 0, true},
        {"fused sparse decode d64 G4 n3333", 3333, 8, 2, 64, false, 300, 5, 0, true},
        {"fused sparse decode d128 G1 n150001 cluster 8", 150001, 4, 4, 128, false, 1024, 32, 8, true},
        {"fused sparse decode d128 G4 n150001 cluster 2", 150001, 8, 2, 128, true, 1024, 32, 2, false},
        // a window of 313 blocks: more W blocks per CTA than K/V stages
        {"fused sparse decode d128 G8 n150001 window 20000", 150001, 32, 4, 128, false, 20000, 64, 0, true},
        {"fused sparse decode d64 G16 n70 (everything listed)", 70, 16, 1, 64, false, 1024, 32, 0, false},
        {"fused sparse decode d128 G8 n1 (one key)", 1, 32, 4, 128, false, 1024, 32, 0, false},
        // 20 blocks over 16 CTAs: ranks 10-15 score nothing but attend W blocks
        {"fused sparse decode d128 G8 n1250 (CTAs without a share)", 1250, 32, 4, 128, false, 1024, 32, 16, false},
        {"fused sparse decode d128 G8 n600000", 600000, 32, 4, 128, false, 1024, 32, 0, true},
    };
    for (const FusedDecodeCase& c : fused) {
      if (std::string(c.name).find(opt.check_filter) == std::string::npos) continue;
      checks.push_back(check_fused_decode(c, threads, seed += 100));
      const CheckRow& r = checks.back();
      std::printf("  %-64s rel_err %.2e %s (GPU/CPU plan agreement %.4f)\n", r.name.c_str(), r.rel_err,
                  r.pass ? "ok" : "FAIL", r.plan_agreement);
      std::fflush(stdout);
    }
  }

  std::vector<Timing> timings;
  double copy_gbps = 0;
  if (opt.bench) {
    copy_gbps = copy_bandwidth_gbps();
    std::printf("device-to-device copy: %.0f GB/s (read + write)\n", copy_gbps);
    int64_t max_len = opt.max_len;
    size_t free_bytes = 0, total_bytes = 0;
    FOLIO_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    // Q and O: 2 * 8 KiB per token; K and V: 2 * 1 KiB; plus planner workspace.
    while (max_len > 8192 && double(max_len) * 18.5 * 1024 > 0.85 * double(free_bytes)) max_len /= 2;
    BigInputs in;
    in.max_len = max_len;
    in.q = DeviceArray<bf16>(size_t(max_len) * kHeads * kDim);
    in.o = DeviceArray<bf16>(size_t(max_len) * kHeads * kDim);
    in.k = DeviceArray<bf16>(size_t(max_len) * kKvHeads * kDim);
    in.v = DeviceArray<bf16>(size_t(max_len) * kKvHeads * kDim);
    fill_random(in.q.get(), in.q.size(), 1, 2.0f);
    fill_random(in.k.get(), in.k.size(), 2, 2.0f);
    fill_random(in.v.get(), in.v.size(), 3, 1.0f);
    FOLIO_CUDA(cudaDeviceSynchronize());
    for (int64_t n : {8192LL, 32768LL, 131072LL})
      if (n <= max_len && !opt.only_decode) bench_dense_prefill(in, n, timings);
    for (int64_t n = 32768; n <= max_len && !opt.only_decode; n *= 2) {
      bench_sparse_prefill(in, n, 128, kernels::PrefillKernel::wgmma, timings);
      bench_sparse_prefill(in, n, 128, kernels::PrefillKernel::wgmma_256, timings);
      bench_sparse_prefill(in, n, 128, kernels::PrefillKernel::wgmma_ws, timings);
      if (n == 131072) bench_sparse_prefill(in, n, 64, kernels::PrefillKernel::wgmma_256, timings);
      if (n == 131072) bench_sparse_prefill(in, n, 64, kernels::PrefillKernel::wgmma_ws, timings);
      if (n <= 131072) bench_sparse_prefill(in, n, 128, kernels::PrefillKernel::mma_8warps, timings);
    }
    if (131072 <= max_len) bench_decode(in, 131072, prop.multiProcessorCount, timings, opt.profile_decode);
    std::printf("longest context measured: %lld tokens (limit from %.0f GiB free)\n", (long long)max_len,
                double(free_bytes) / (1 << 30));
  }
  if (!opt.json.empty()) write_json(opt.json, prop, checks, timings, copy_gbps);

  int failed = 0;
  for (const CheckRow& r : checks) failed += !r.pass;
  if (opt.check) std::printf("checks: %zu run, %d failed\n", checks.size(), failed);
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--check") opt.check = true;
    else if (a == "--bench") opt.bench = true;
    else if (a == "--only-decode") opt.bench = opt.only_decode = true;
    else if (a == "--check-filter" && i + 1 < argc) opt.check_filter = argv[++i];
    else if (a == "--profile-decode") opt.bench = opt.only_decode = opt.profile_decode = true;
    else if (a == "--json" && i + 1 < argc) opt.json = argv[++i];
    else if (a == "--max-len" && i + 1 < argc) opt.max_len = std::stoll(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) opt.threads = std::stoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--check] [--check-filter TEXT] [--bench] [--only-decode] [--profile-decode] [--json FILE] [--max-len N] [--threads N]\n", argv[0]);
      return 2;
    }
  }
  if (!opt.check && !opt.bench) opt.check = opt.bench = true;
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attention_bench: %s\n", e.what());
    return 1;
  }
}
