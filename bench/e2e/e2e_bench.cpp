// End-to-end benchmark of the CUDA backend on a random-weight model of the
// Qwen3-30B-A3B shape (48 layers, hidden 2048, 32 query / 4 KV heads of 128,
// 128 experts top-8 of ffn 768, vocab 151936, bf16), weights generated in place
// on the GPU (uniform, never zeros).
//
//   e2e_bench [--layers N] [--prompts 32768,131072] [--decode-steps 16]
//             [--chunk 8192] [--modes dense,sparse] [--json FILE]
//
// For each attention mode (dense = plan of every block; sparse = the GPU
// planner, sink 64 + window 1024 + top-32 blocks) and prompt length: prefill
// tokens/s in chunks (activation memory bounded by the chunk; the KV cache is
// the only thing that grows), then decode tokens/s at that depth (greedy,
// logits to the host each step as a real generation loop does). Then a per-op
// profile of one layer at the end of the longest prefill (a chunk of queries
// over the full cache) and of one decode step, each op repeated between syncs,
// with TFLOP/s of every GEMM-shaped op against the measured cuBLAS bf16 peak and
// bytes/s of every decode op against the measured device copy bandwidth.
// When the model does not fit with the KV cache, fewer layers run and per-token
// times are extrapolated linearly to 48 (stated in the output).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "runtime/backend/cuda/cuda_backend.hpp"
#include "runtime/backend/cuda/cuda_kv_cache.hpp"
#include "runtime/common/error.hpp"
#include "runtime/common/json.hpp"

#if FOLIO_E2E_WITH_STORE
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "runtime/backend/cuda/cuda_kv_snapshot.hpp"
#include "runtime/store/block_key.hpp"
#include "runtime/store/hash.hpp"
#include "runtime/store/store.hpp"
#endif

using namespace folio;
using backend::Act;
using backend::Buffer;
using backend::Weight;
using backend::WeightType;

namespace {

// --- shape -----------------------------------------------------------------------
struct Shape {
  int layers = 48, d = 2048, heads = 32, kv_heads = 4, head_dim = 128, experts = 128, used = 8, ff = 768;
  int64_t vocab = 151936;
  float theta = 1e6f, eps = 1e-6f;
  int64_t qd() const { return int64_t(heads) * head_dim; }
  int64_t kvd() const { return int64_t(kv_heads) * head_dim; }
  // bf16 bytes of one layer's weights (router f32).
  double layer_bytes() const {
    return 2.0 * (double(qd()) * d * 2 + double(kvd()) * d * 2 + 3.0 * experts * ff * d) + 4.0 * experts * d;
  }
  double global_bytes() const { return 2.0 * 2 * double(vocab) * d; }
  double kv_bytes_per_token(int n_layers) const { return 2.0 * n_layers * kvd() * 2; }
};

struct Layer {
  Weight attn_norm, wq, wk, wv, wo, q_norm, k_norm, ffn_norm, router, gate, up, down;
};

struct Net {
  Shape s;
  Weight embd, out_norm, out;
  std::vector<Layer> layers;
};

Net make_net(cuda::CudaBackend& be, const Shape& s) {
  Net n;
  n.s = s;
  uint64_t seed = 1;
  auto mat = [&](const char* name, int64_t count, int64_t rows, int64_t cols) {
    return be.random_weight(name, WeightType::bf16, count, rows, cols, seed++, 0.0f, std::sqrt(3.0f / float(cols)));
  };
  auto gain = [&](const char* name, int64_t cols) {
    return be.random_weight(name, WeightType::f32, 1, 1, cols, seed++, 1.0f, 0.1f);
  };
  n.embd = be.random_weight("token_embd", WeightType::bf16, 1, s.vocab, s.d, seed++, 0.0f, 1.0f);
  n.out_norm = gain("output_norm", s.d);
  n.out = mat("output", 1, s.vocab, s.d);
  for (int l = 0; l < s.layers; ++l) {
    Layer L;
    L.attn_norm = gain("attn_norm", s.d);
    L.wq = mat("attn_q", 1, s.qd(), s.d);
    L.wk = mat("attn_k", 1, s.kvd(), s.d);
    L.wv = mat("attn_v", 1, s.kvd(), s.d);
    L.wo = mat("attn_output", 1, s.d, s.qd());
    L.q_norm = gain("attn_q_norm", s.head_dim);
    L.k_norm = gain("attn_k_norm", s.head_dim);
    L.ffn_norm = gain("ffn_norm", s.d);
    L.router = be.random_weight("ffn_gate_inp", WeightType::f32, 1, s.experts, s.d, seed++, 0.0f,
                                std::sqrt(3.0f / float(s.d)));
    L.gate = mat("ffn_gate_exps", s.experts, s.ff, s.d);
    L.up = mat("ffn_up_exps", s.experts, s.ff, s.d);
    L.down = mat("ffn_down_exps", s.experts, s.d, s.ff);
    n.layers.push_back(std::move(L));
  }
  be.synchronize();
  return n;
}

// Activation buffers for chunks of up to `rows` tokens.
struct Acts {
  Buffer x, h, f, q, k, v, att, logits;
  Acts(backend::Backend& be, const Shape& s, int64_t rows)
      : x(be.alloc(rows * s.d)), h(be.alloc(rows * s.d)), f(be.alloc(rows * s.d)), q(be.alloc(rows * s.qd())),
        k(be.alloc(rows * s.kvd())), v(be.alloc(rows * s.kvd())), att(be.alloc(rows * s.qd())),
        logits(be.alloc(s.vocab)) {}
};

struct Ctx {
  cuda::CudaBackend& be;
  const Net& net;
  backend::KvCache& cache;
  Acts& a;
  backend::RopeParams rope;
  backend::AttentionParams ap;
  backend::MoeParams mp;
};

Ctx make_ctx(cuda::CudaBackend& be, const Net& net, backend::KvCache& cache, Acts& a) {
  Ctx c{be, net, cache, a, {}, {}, {}};
  c.rope.theta = net.s.theta;
  c.ap = {net.s.heads, net.s.kv_heads, net.s.head_dim, 1.0f / std::sqrt(float(net.s.head_dim))};
  c.mp.n_used = net.s.used;
  c.mp.normalize_topk = true;
  return c;
}

// The ops of one layer on n rows at pos0, each as a named closure (for the profile).
struct Op {
  const char* name;
  std::function<void()> run;
  double flops;  // GEMM-shaped work (0: none)
  double bytes;  // bytes the op must read at minimum (weights, KV) for decode analysis
};

std::vector<Op> layer_ops(Ctx& c, int l, int64_t n, int64_t pos0) {
  const Shape& s = c.net.s;
  const Layer* Lp = &c.net.layers[size_t(l)];  // captured by pointer: closures stay small
  const Act x = c.a.x.view(n, s.d), h = c.a.h.view(n, s.d), f = c.a.f.view(n, s.d), q = c.a.q.view(n, s.qd()),
            k = c.a.k.view(n, s.kvd()), v = c.a.v.view(n, s.kvd()), att = c.a.att.view(n, s.qd());
  const double nn = double(n), d = s.d;
  const int64_t keys = pos0 + n;
  // Keys the attention reads per query (average over the chunk), for its FLOP count.
  const attn::SparseConfig& cfg = c.be.attention_config();
  auto attended = [&](int64_t pos) -> double {
    const double visible = double(pos + 1);
    if (cfg.dense) return visible;
    return std::min(visible, double(cfg.budget_tokens()));
  };
  const double att_keys = n == 1 ? attended(pos0) : 0.5 * (attended(pos0) + attended(keys - 1));
  const double kv_bytes = double(n == 1 ? att_keys : double(keys)) * double(s.kvd()) * 2 * 2;
  std::vector<Op> ops;
  // As runtime/model: the first layer's attention norm stands alone, the later
  // ones come with the previous layer's last residual step (add_rms_norm).
  if (l == 0) ops.push_back({"rms_norm", [=, &c] { c.be.rms_norm(x, Lp->attn_norm, s.eps, h); }, 0, 0});
  // The q, k and v projections of one input: one GEMV launch in decode.
  const double qkv_rows = double(s.qd() + 2 * s.kvd());
  ops.push_back({"wqkv", [=, &c] {
                   const backend::Projection qkv[] = {{&Lp->wq, q}, {&Lp->wk, k}, {&Lp->wv, v}};
                   c.be.matmul_shared_input(h, qkv);
                 }, 2 * nn * d * qkv_rows, 2 * d * qkv_rows});
  // q/k norm, RoPE, the K/V store and the block summaries: one launch in decode.
  ops.push_back({"qk_norm_rope_kv", [=, &c] {
                   c.be.qk_norm_rope_kv_write(q, k, v, s.head_dim, Lp->q_norm, Lp->k_norm, s.eps, pos0, c.rope, c.cache,
                                              l);
                 }, 0, 0});
  ops.push_back({"attention", [=, &c] { c.be.attention(q, c.cache, l, pos0, c.ap, att); },
                 4.0 * nn * att_keys * double(s.qd()), kv_bytes});
  ops.push_back({"wo", [=, &c] { c.be.matmul(att, Lp->wo, h); }, 2 * nn * d * double(s.qd()), 2 * d * double(s.qd())});
  ops.push_back({"add_rms_norm", [=, &c] { c.be.add_rms_norm(x, h, Lp->ffn_norm, s.eps, h); }, 0, 0});
  const backend::MoeWeights mw{&Lp->router, &Lp->gate, &Lp->up, &Lp->down};
  // Experts read in decode: at most n*used distinct experts of 3 matrices.
  const double experts_read = std::min(double(s.experts), nn * s.used);
  ops.push_back({"moe", [=, &c] { c.be.moe(h, mw, c.mp, f); },
                 2 * nn * s.used * 3 * d * double(s.ff) + 2 * nn * d * s.experts,
                 experts_read * 3 * d * double(s.ff) * 2 + 4 * d * s.experts});
  if (l + 1 < s.layers) {
    const Layer* next = &c.net.layers[size_t(l + 1)];
    ops.push_back({"add_rms_norm", [=, &c] { c.be.add_rms_norm(x, f, next->attn_norm, s.eps, h); }, 0, 0});
  } else {
    ops.push_back({"add", [=, &c] { c.be.add(x, f); }, 0, 0});
  }
  return ops;
}

// One forward over tokens at pos0 (chunk-sized); logits of the last row when asked.
void forward(Ctx& c, std::span<const int32_t> toks, int64_t pos0, std::vector<float>* logits) {
  const Shape& s = c.net.s;
  const int64_t n = int64_t(toks.size());
  c.be.embed(c.net.embd, toks, c.a.x.view(n, s.d));
  for (int l = 0; l < s.layers; ++l)
    for (Op& op : layer_ops(c, l, n, pos0)) op.run();
  if (logits) {
    const Act xs = c.a.x.view(n, s.d).slice_rows(n - 1, 1), hs = c.a.h.view(n, s.d).slice_rows(n - 1, 1);
    c.be.rms_norm(xs, c.net.out_norm, s.eps, hs);
    const Act lg = c.a.logits.view(1, s.vocab);
    c.be.matmul(hs, c.net.out, lg);
    logits->resize(size_t(s.vocab));
    c.be.to_host(lg, *logits);
  }
}

// One decode step (one token at pos0) with everything after the embedding
// recorded into a CUDA graph and launched as one (CudaBackend::begin_graph_capture).
void decode_step_graph(Ctx& c, int32_t tok, int64_t pos0, std::vector<float>& logits) {
  const Shape& s = c.net.s;
  c.be.embed(c.net.embd, std::span<const int32_t>(&tok, 1), c.a.x.view(1, s.d));
  c.be.begin_graph_capture();
  try {
    for (int l = 0; l < s.layers; ++l)
      for (Op& op : layer_ops(c, l, 1, pos0)) op.run();
    c.be.rms_norm(c.a.x.view(1, s.d), c.net.out_norm, s.eps, c.a.h.view(1, s.d));
    c.be.matmul(c.a.h.view(1, s.d), c.net.out, c.a.logits.view(1, s.vocab));
  } catch (...) {
    try { c.be.end_graph_capture(); } catch (...) {}  // closes the broken capture; the first error is the one to report
    throw;
  }
  c.be.end_graph_capture();
  logits.resize(size_t(s.vocab));
  c.be.to_host(c.a.logits.view(1, s.vocab), logits);
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// --- peers measured in the same run: cuBLAS bf16 GEMM peak and copy bandwidth ---------
double measure_gemm_tflops(cuda::CudaBackend& be) {
  const int N = 8192;
  const Weight a = be.random_weight("peak_a", WeightType::bf16, 1, N, N, 101, 0.0f, 1.0f);
  const Weight b = be.random_weight("peak_b", WeightType::bf16, 1, N, N, 102, 0.0f, 1.0f);
  const Weight c = be.random_weight("peak_c", WeightType::bf16, 1, N, N, 103, 0.0f, 1.0f);
  be.synchronize();
  cublasHandle_t h;
  cublasCreate(&h);
  const float alpha = 1.0f, beta = 0.0f;
  auto gemm = [&] {
    cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, N, N, &alpha, a.data, CUDA_R_16BF, N, b.data, CUDA_R_16BF, N, &beta,
                 const_cast<void*>(c.data), CUDA_R_16BF, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  };
  for (int i = 0; i < 3; ++i) gemm();
  cudaDeviceSynchronize();
  const int reps = 20;
  const double t0 = now_s();
  for (int i = 0; i < reps; ++i) gemm();
  cudaDeviceSynchronize();
  const double t = (now_s() - t0) / reps;
  cublasDestroy(h);
  return 2.0 * N * double(N) * N / t / 1e12;
}

double measure_copy_gbps() {
  const size_t bytes = size_t(2) << 30;
  void *src = nullptr, *dst = nullptr;
  if (cudaMalloc(&src, bytes) != cudaSuccess || cudaMalloc(&dst, bytes) != cudaSuccess) {
    cudaGetLastError();
    if (src) cudaFree(src);
    return 0;
  }
  cudaMemset(src, 1, bytes);
  cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);
  cudaDeviceSynchronize();
  const int reps = 10;
  const double t0 = now_s();
  for (int i = 0; i < reps; ++i) cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);
  cudaDeviceSynchronize();
  const double t = (now_s() - t0) / reps;
  cudaFree(src);
  cudaFree(dst);
  return 2.0 * double(bytes) / t / 1e9;  // read + written
}

// --- the profile: each op of one layer repeated between syncs ------------------------------
struct OpTime {
  std::string name;
  double ms = 0, flops = 0, bytes = 0;
};

std::vector<OpTime> profile(Ctx& c, int64_t n, int64_t pos0, int reps) {
  std::vector<OpTime> out;
  auto ops = layer_ops(c, 0, n, pos0);
  for (Op& op : ops) {
    op.run();  // warm-up (scratch sizes, cuBLAS heuristics)
    c.be.synchronize();
    const double t0 = now_s();
    for (int r = 0; r < reps; ++r) op.run();
    c.be.synchronize();
    const double ms = (now_s() - t0) / reps * 1e3;
    auto it = std::find_if(out.begin(), out.end(), [&](const OpTime& o) { return o.name == op.name; });
    if (it == out.end()) out.push_back({op.name, ms, op.flops, op.bytes});
    else {
      it->ms += ms;
      it->flops += op.flops;
      it->bytes += op.bytes;
    }
  }
  return out;
}

#if FOLIO_E2E_WITH_STORE
// --- time to first token: restored from the SQLite store vs prefilled -------------------

// Drops a file's pages from the OS page cache (after fsync), so the next read
// comes from the disk. Returns false when the kernel refused.
bool evict_from_page_cache(const std::filesystem::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) return false;
  ::fsync(fd);
  const bool ok = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
  ::close(fd);
  return ok;
}

// The disk's sequential read speed: a file of `bytes` random bytes written,
// synced and evicted from the page cache, then read in 8 MiB requests.
double measure_disk_read_gbps(const std::filesystem::path& dir, size_t bytes) {
  const std::filesystem::path p = dir / "disk-speed.bin";
  std::vector<char> chunk(size_t(8) << 20);
  std::mt19937_64 rng(7);
  for (size_t i = 0; i < chunk.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(chunk.data() + i, &v, 8);
  }
  {
    std::ofstream out(p, std::ios::binary);
    for (size_t done = 0; done < bytes; done += chunk.size()) {
      chunk[0] = char(done >> 23);  // no two chunks alike
      out.write(chunk.data(), std::streamsize(chunk.size()));
    }
    if (!out) folio::fail(Errc::io, "cannot write " + p.string());
  }
  evict_from_page_cache(p);
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) folio::fail(Errc::io, "cannot read " + p.string());
  const double t0 = now_s();
  size_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n <= 0) break;
    total += size_t(n);
  }
  const double t = now_s() - t0;
  ::close(fd);
  std::filesystem::remove(p);
  return double(total) / t / 1e9;
}

// For each prompt length P: a corpus of P random tokens and a question of
// `question` tokens after it. From scratch: prefill the corpus (chunks) and then
// the question, logits of its last token (TTFT). Restored: open the store,
// restore the corpus's KV blocks into an empty GPU cache (the database file
// evicted from the page cache first: a cold read from the disk), prefill the
// question, logits (TTFT). The question forward is the same computation on the
// same cache in both, so the logits must be bit-identical.
int run_restore_bench(cuda::CudaBackend& be, const Shape& s, const std::vector<int64_t>& prompts, int64_t chunk,
                      const std::vector<std::string>& modes, const std::filesystem::path& dir,
                      const std::string& json_path) {
  const int64_t question = 100;
  const int64_t max_tokens = prompts.back() + question + 64;
  std::filesystem::create_directories(dir);
  const double disk_gbps = measure_disk_read_gbps(dir, size_t(4) << 30);
  std::printf("disk: sequential read %.2f GB/s (4 GiB file in %s, evicted from the page cache first)\n", disk_gbps,
              dir.c_str());
  const Net net = make_net(be, s);
  const double extrap = 48.0 / s.layers;
  std::printf("model: %d of 48 layers; KV %.1f KiB per token; times below measured, '48L' columns extrapolated per "
              "layer (x%.1f)\n",
              s.layers, s.kv_bytes_per_token(s.layers) / 1024, extrap);
  kv::CacheConfig cc{s.layers, s.kv_heads, s.head_dim, max_tokens, false};
  auto cache_ptr = be.make_kv_cache(cc);
  auto& cache = dynamic_cast<cuda::CudaKvCache&>(*cache_ptr);
  Acts acts(be, s, chunk);
  Ctx ctx = make_ctx(be, net, cache, acts);
  std::mt19937 rng(4242);
  std::vector<int32_t> tokens(static_cast<size_t>(max_tokens));
  for (auto& t : tokens) t = int32_t(rng() % uint32_t(s.vocab));
  const std::filesystem::path db = dir / "snapshots.folio-kv";
  store::KeyContext kc;
  {
    const std::string m = "e2e-random-qwen3moe;layers=" + std::to_string(s.layers) + ";seed=1";
    kc.model = store::hash128(std::as_bytes(std::span(m.data(), m.size())));
  }
  json::Array rows;
  std::printf("%-6s %7s | %9s %9s | %9s %9s %9s %7s | %8s %8s | %s\n", "mode", "prompt", "scratch s", "restore s",
              "restore GB", "cold GB/s", "vs disk", "speedup", "48L scr", "48L rest", "logits");
  for (const int64_t P : prompts) {
    const std::span<const int32_t> corpus(tokens.data(), size_t(P)), q(tokens.data() + P, size_t(question));
    for (const std::string& mode : modes) {
      be.set_attention_config(mode == "dense" ? attn::preset_dense() : attn::preset_balanced());
      // Sparse attention changes the hidden states and so the K/V of later
      // layers: the attention mode is part of what the stored state depends on.
      kc.attention = store::attention_fingerprint("kv=bf16;rope=neox;theta=1000000;head_dim=128;summary=mean;attention=" +
                                                  mode);
      const auto keys = store::block_keys(kc, corpus, {});
      uint64_t file_bytes = 0;
      double save_s = 0;
      std::vector<float> ref, got;
      // From scratch.
      cache.truncate(0);
      be.synchronize();
      const double t0 = now_s();
      for (int64_t p0 = 0; p0 < P; p0 += chunk)
        forward(ctx, corpus.subspan(size_t(p0), size_t(std::min(chunk, P - p0))), p0, nullptr);
      forward(ctx, q, P, &ref);
      const double scratch_s = now_s() - t0;
      {  // the corpus's K/V (the question's blocks are not part of the snapshot)
        std::filesystem::remove(db);
        const double ts = now_s();
        {
          auto st = store::Store::open(db);
          cuda::save_cuda_snapshot(st, kc.model, keys, cache, "corpus " + std::to_string(P));
        }
        save_s = now_s() - ts;
        file_bytes = std::filesystem::file_size(db);
      }
      // Restored, cold: the file out of the page cache.
      cache.truncate(0);
      be.synchronize();
      const bool evicted = evict_from_page_cache(db);
      const double t1 = now_s();
      cuda::CudaRestoreResult rr;
      {
        auto st = store::Store::open(db);
        rr = cuda::restore_cuda_snapshot(st, kc.model, keys, cache);
      }
      forward(ctx, q, P, &got);
      const double restore_s = now_s() - t1;
      if (rr.blocks != keys.size())
        folio::fail(Errc::internal, "restore gave " + std::to_string(rr.blocks) + " of " + std::to_string(keys.size()) +
                                        " blocks");
      double max_diff = 0;
      for (size_t i = 0; i < ref.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(ref[i] - got[i])));
      const bool same_argmax = std::max_element(ref.begin(), ref.end()) - ref.begin() ==
                               std::max_element(got.begin(), got.end()) - got.begin();
      // Restored again with the file in the page cache (a second question soon after).
      cache.truncate(0);
      be.synchronize();
      const double t2 = now_s();
      cuda::CudaRestoreResult rw;
      {
        auto st = store::Store::open(db);
        rw = cuda::restore_cuda_snapshot(st, kc.model, keys, cache);
      }
      forward(ctx, q, P, &got);
      const double warm_s = now_s() - t2;
      const double cold_gbps = double(rr.bytes) / rr.total_seconds / 1e9;
      // Per layer: the restore and the prefill both scale with the layers; the
      // question's logits (embedding, output matrix) do not, a small term.
      std::printf("%-6s %7lld | %9.3f %9.3f | %9.2f %9.2f %8.0f%% %6.1fx | %8.2f %8.2f | %s max|diff| %.3g%s\n",
                  mode.c_str(), (long long)P, scratch_s, restore_s, double(rr.bytes) / 1e9, cold_gbps,
                  100.0 * cold_gbps / disk_gbps, scratch_s / restore_s, scratch_s * extrap, restore_s * extrap,
                  same_argmax ? "argmax equal," : "ARGMAX DIFFERS,", max_diff, evicted ? "" : " (page cache NOT evicted)");
      std::printf("       restore: %.3f s in the store reads, %.3f s total; warm (file cached): TTFT %.3f s, restore "
                  "%.2f GB/s; save %.2f s (%.2f GB/s), file %.2f GB\n",
                  rr.read_seconds, rr.total_seconds, warm_s, double(rw.bytes) / rw.total_seconds / 1e9, save_s,
                  double(rr.bytes) / save_s / 1e9, double(file_bytes) / 1e9);
      json::Object r;
      r.insert("mode", mode);
      r.insert("prompt_tokens", P);
      r.insert("question_tokens", question);
      r.insert("layers", s.layers);
      r.insert("ttft_scratch_s", scratch_s);
      r.insert("ttft_restore_cold_s", restore_s);
      r.insert("ttft_restore_warm_s", warm_s);
      r.insert("ttft_scratch_s_48_layers", scratch_s * extrap);
      r.insert("ttft_restore_cold_s_48_layers", restore_s * extrap);
      r.insert("speedup", scratch_s / restore_s);
      r.insert("restore_bytes", double(rr.bytes));
      r.insert("restore_read_s", rr.read_seconds);
      r.insert("restore_total_s", rr.total_seconds);
      r.insert("restore_cold_gbps", cold_gbps);
      r.insert("restore_warm_gbps", double(rw.bytes) / rw.total_seconds / 1e9);
      r.insert("disk_read_gbps", disk_gbps);
      r.insert("restore_vs_disk", cold_gbps / disk_gbps);
      r.insert("page_cache_evicted", evicted);
      r.insert("save_s", save_s);
      r.insert("db_file_bytes", double(file_bytes));
      r.insert("logits_max_abs_diff", max_diff);
      r.insert("argmax_equal", same_argmax);
      rows.push_back(json::Value(std::move(r)));
    }
  }
  be.set_attention_config(attn::preset_dense());
  std::filesystem::remove(db);
  if (!json_path.empty()) {
    json::Object top;
    top.insert("device", be.device_name());
    top.insert("layers", s.layers);
    top.insert("disk_read_gbps", disk_gbps);
    top.insert("store_dir", dir.string());
    top.insert("restore", json::Value(std::move(rows)));
    std::ofstream(json_path) << json::serialize(json::Value(std::move(top)), 2) << "\n";
  }
  return 0;
}
#endif

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stoll(item));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  Shape s;
  int layers_arg = 0, decode_steps = 16;
  int64_t chunk = 8192;
  std::vector<int64_t> prompts{32768, 131072};
  std::vector<std::string> modes{"dense", "sparse"};
  std::string json_path, restore_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--layers") layers_arg = std::stoi(next());
    else if (a == "--prompts") prompts = parse_list(next());
    else if (a == "--decode-steps") decode_steps = std::stoi(next());
    else if (a == "--chunk") chunk = std::stoll(next());
    else if (a == "--json") json_path = next();
    else if (a == "--restore-dir") restore_dir = next();
    else if (a == "--modes") {
      modes.clear();
      std::stringstream ss(next());
      std::string m;
      while (std::getline(ss, m, ',')) modes.push_back(m);
    } else {
      std::fprintf(stderr,
                   "usage: %s [--layers N] [--prompts a,b] [--decode-steps N] [--chunk N] [--modes dense,sparse] "
                   "[--json FILE] [--restore-dir DIR]\n",
                   argv[0]);
      return 2;
    }
  }
  std::sort(prompts.begin(), prompts.end());
  try {
    auto be = cuda::make_cuda_backend();
    std::printf("== e2e_bench on %s (%.1f GiB)\n", be->device_name().c_str(), double(be->device_memory_total()) / (1 << 30));
    const double peak_tflops = measure_gemm_tflops(*be);
    const double copy_gbps = measure_copy_gbps();
    std::printf("measured: cuBLAS bf16 GEMM 8192^3 %.0f TFLOP/s; device copy %.0f GB/s (read + write)\n", peak_tflops,
                copy_gbps);

    if (!restore_dir.empty()) {
#if FOLIO_E2E_WITH_STORE
      if (layers_arg > 0) s.layers = layers_arg;
      return run_restore_bench(*be, s, prompts, chunk, modes, restore_dir, json_path);
#else
      folio::fail(Errc::unsupported, "--restore-dir: built without the store (FOLIO_WITH_STORE=OFF)");
#endif
    }
    // How many layers fit next to the KV cache of the longest prompt (+ 3 GiB for activations and scratch).
    const int64_t max_tokens = prompts.back() + 2 * decode_steps + 64 + 3;  // eager steps, graph check, graph steps
    const double free_b = double(be->device_memory_total() - be->device_memory_used());
    const double per_layer = s.layer_bytes() + double(max_tokens) * s.kv_bytes_per_token(1);
    const double reserve = s.global_bytes() + 3.5 * double(1 << 30);
    const int fit = int(std::floor((free_b - reserve) / per_layer));
    s.layers = layers_arg > 0 ? layers_arg : std::min(48, fit);
    if (s.layers <= 0) folio::fail(Errc::out_of_memory, "not even one layer fits");
    const double t_gen = now_s();
    const Net net = make_net(*be, s);
    std::printf("model: %d of 48 layers (%s), weights %.1f GiB generated on the GPU in %.1f s\n", s.layers,
                s.layers == 48 ? "all" : "fewer: figures extrapolated per layer below",
                (s.global_bytes() + s.layers * s.layer_bytes()) / (1 << 30), now_s() - t_gen);

    kv::CacheConfig cc{s.layers, s.kv_heads, s.head_dim, max_tokens, false};
    auto cache = be->make_kv_cache(cc);
    // The whole capacity now: timings without growth copies (the cache grows by itself otherwise).
    if (auto* cc_gpu = dynamic_cast<cuda::CudaKvCache*>(cache.get())) cc_gpu->reserve(max_tokens);
    Acts acts(*be, s, chunk);
    Ctx ctx = make_ctx(*be, net, *cache, acts);
    const double extrap = 48.0 / s.layers;  // per-token time scales with the layers (embed/logits aside)

    std::mt19937 rng(12345);
    std::vector<int32_t> prompt(size_t(prompts.back()));
    for (auto& t : prompt) t = int32_t(rng() % uint32_t(s.vocab));

    json::Array runs;
    std::vector<float> logits;
    for (const std::string& mode : modes) {
      be->set_attention_config(mode == "dense" ? attn::preset_dense() : attn::preset_balanced());
      for (const int64_t P : prompts) {
        cache->truncate(0);
        be->synchronize();
        const double t0 = now_s();
        for (int64_t p0 = 0; p0 < P; p0 += chunk) {
          const int64_t n = std::min(chunk, P - p0);
          forward(ctx, std::span<const int32_t>(prompt.data() + p0, size_t(n)), p0, p0 + n == P ? &logits : nullptr);
        }
        const double prefill_s = now_s() - t0;
        // Greedy decode at depth P.
        int32_t tok = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
        forward(ctx, std::span<const int32_t>(&tok, 1), P, &logits);  // warm-up step
        const double t1 = now_s();
        for (int i = 0; i < decode_steps; ++i) {
          tok = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
          forward(ctx, std::span<const int32_t>(&tok, 1), P + 1 + i, &logits);
        }
        const double step_s = (now_s() - t1) / decode_steps;
        // The same steps with each recorded into a CUDA graph. First a check:
        // the graph step at the position of the last eager step must give the
        // same logits (same kernels, same inputs: bit-identical expected).
        const int64_t last = P + decode_steps;
        const std::vector<float> eager_logits = logits;
        const int32_t last_tok = tok;
        double graph_step_s = 0, graph_gpu_s = 0, graph_max_diff = -1;
        std::string graph_error;
        try {
          cache->truncate(last);
          decode_step_graph(ctx, last_tok, last, logits);  // first recording: instantiates the graph
          graph_max_diff = 0;
          for (size_t i = 0; i < logits.size(); ++i)
            graph_max_diff = std::max(graph_max_diff, double(std::fabs(logits[i] - eager_logits[i])));
          const double t2 = now_s();
          for (int i = 0; i < decode_steps; ++i) {
            tok = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
            decode_step_graph(ctx, tok, last + 1 + i, logits);
          }
          graph_step_s = (now_s() - t2) / decode_steps;
          // The last step's graph again, without recording: the GPU's own time.
          graph_gpu_s = be->time_graph_relaunch(decode_steps) / decode_steps;
        } catch (const std::exception& e) {
          graph_error = e.what();
        }
        const double used_gib = double(be->device_memory_used()) / (1 << 30);
        // Bytes a decode step must read: every layer's attention weights, the
        // 8 chosen experts (3 matrices each), the router, the output matrix, and
        // the K/V the attention reads (all of it dense; the budget sparse).
        const double attn_w = 2.0 * (double(s.qd()) * s.d * 2 + double(s.kvd()) * s.d * 2);
        const double expert_w = 2.0 * 3.0 * s.used * double(s.ff) * s.d + 4.0 * s.experts * s.d;
        const double kv_read = (mode == "dense" ? double(P)
                                                : std::min(double(P), double(attn::preset_balanced().budget_tokens()))) *
                               double(s.kvd()) * 2 * 2;
        const double step_bytes = s.layers * (attn_w + expert_w + kv_read) + 2.0 * double(s.vocab) * s.d;
        const double step_gbps = step_bytes / step_s / 1e9;
        const bool finite = std::all_of(logits.begin(), logits.end(), [](float v) { return std::isfinite(v); });
        std::printf("%-6s prompt %7lld: prefill %8.2f s = %8.0f tok/s | decode at depth: %7.2f ms/token = %6.1f tok/s"
                    " | GPU memory used %.1f GiB%s\n",
                    mode.c_str(), (long long)P, prefill_s, double(P) / prefill_s, step_s * 1e3, 1.0 / step_s, used_gib,
                    finite ? "" : " | NON-FINITE LOGITS");
        std::printf("       decode reads %.2f GB per token: %.0f GB/s = %.0f%% of the measured copy bandwidth\n",
                    step_bytes / 1e9, step_gbps, 100.0 * step_gbps / copy_gbps);
        if (graph_error.empty())
          std::printf("       decode as a CUDA graph per step: %7.2f ms/token = %6.1f tok/s (x%.2f), %.0f GB/s = %.0f%% of "
                      "copy bandwidth; logits vs eager step max |diff| %.3g\n",
                      graph_step_s * 1e3, 1.0 / graph_step_s, step_s / graph_step_s, step_bytes / graph_step_s / 1e9,
                      100.0 * step_bytes / graph_step_s / 1e9 / copy_gbps, graph_max_diff);
        if (graph_error.empty())
          std::printf("       the same graph launched again without recording (GPU time of a step): %7.2f ms = %.0f GB/s "
                      "= %.0f%% of copy bandwidth; the host's recording and launch work is the rest of the step\n",
                      graph_gpu_s * 1e3, step_bytes / graph_gpu_s / 1e9, 100.0 * step_bytes / graph_gpu_s / 1e9 / copy_gbps);
        else
          std::printf("       decode as a CUDA graph: FAILED: %s\n", graph_error.c_str());
        if (s.layers != 48)
          std::printf("       extrapolated to 48 layers: prefill %8.0f tok/s, decode %6.1f tok/s\n",
                      double(P) / (prefill_s * extrap), 1.0 / (step_s * extrap));
        json::Object r;
        r.insert("mode", mode);
        r.insert("prompt_tokens", P);
        r.insert("layers", s.layers);
        r.insert("prefill_s", prefill_s);
        r.insert("prefill_tokens_per_s", double(P) / prefill_s);
        r.insert("decode_ms_per_token", step_s * 1e3);
        r.insert("decode_tokens_per_s", 1.0 / step_s);
        r.insert("prefill_tokens_per_s_48_layers", double(P) / (prefill_s * extrap));
        r.insert("decode_tokens_per_s_48_layers", 1.0 / (step_s * extrap));
        r.insert("gpu_memory_used_gib", used_gib);
        r.insert("decode_bytes_per_token", step_bytes);
        r.insert("decode_gbps", step_gbps);
        r.insert("logits_finite", finite);
        if (graph_error.empty()) {
          r.insert("decode_graph_ms_per_token", graph_step_s * 1e3);
          r.insert("decode_graph_tokens_per_s", 1.0 / graph_step_s);
          r.insert("decode_graph_tokens_per_s_48_layers", 1.0 / (graph_step_s * extrap));
          r.insert("decode_graph_gbps", step_bytes / graph_step_s / 1e9);
          r.insert("decode_graph_logits_max_abs_diff", graph_max_diff);
          r.insert("decode_graph_relaunch_gpu_ms_per_step", graph_gpu_s * 1e3);
          r.insert("decode_graph_relaunch_gbps", step_bytes / graph_gpu_s / 1e9);
        } else {
          r.insert("decode_graph_error", graph_error);
        }
        runs.push_back(json::Value(std::move(r)));
      }
    }

    // Per-op profile of one layer at the longest depth, for each mode.
    json::Array profiles;
    const int64_t P = prompts.back();
    for (const std::string& mode : modes) {
      be->set_attention_config(mode == "dense" ? attn::preset_dense() : attn::preset_balanced());
      for (const bool decode : {false, true}) {
        const int64_t n = decode ? 1 : std::min(chunk, P);
        const int64_t pos0 = decode ? P : P - n;
        const auto times = profile(ctx, n, pos0, decode ? 50 : 5);
        double total = 0;
        for (const auto& t : times) total += t.ms;
        std::printf("\n-- profile, %s, one layer, %s (%lld queries at %lld): %.3f ms per layer\n", mode.c_str(),
                    decode ? "decode step" : "prefill chunk", (long long)n, (long long)pos0, total);
        json::Array ops;
        for (const auto& t : times) {
          char extra[160] = "";
          if (!decode && t.flops > 0)
            std::snprintf(extra, sizeof extra, "%7.1f TFLOP/s = %5.1f%% of peak", t.flops / (t.ms * 1e-3) / 1e12,
                          100.0 * t.flops / (t.ms * 1e-3) / 1e12 / peak_tflops);
          if (decode && t.bytes > 0)
            std::snprintf(extra, sizeof extra, "%7.0f GB/s = %5.1f%% of copy bandwidth", t.bytes / (t.ms * 1e-3) / 1e9,
                          100.0 * t.bytes / (t.ms * 1e-3) / 1e9 / copy_gbps);
          std::printf("   %-10s %9.4f ms  %5.1f%%  %s\n", t.name.c_str(), t.ms, 100.0 * t.ms / total, extra);
          json::Object o;
          o.insert("op", t.name);
          o.insert("ms", t.ms);
          o.insert("flops", t.flops);
          o.insert("bytes", t.bytes);
          ops.push_back(json::Value(std::move(o)));
        }
        json::Object pr;
        pr.insert("mode", mode);
        pr.insert("kind", decode ? "decode" : "prefill_chunk");
        pr.insert("queries", n);
        pr.insert("pos0", pos0);
        pr.insert("layer_ms", total);
        pr.insert("ops", json::Value(std::move(ops)));
        profiles.push_back(json::Value(std::move(pr)));
      }
    }
    be->set_attention_config(attn::preset_dense());

    if (!json_path.empty()) {
      json::Object top;
      top.insert("device", be->device_name());
      top.insert("gemm_peak_tflops", peak_tflops);
      top.insert("copy_gbps", copy_gbps);
      top.insert("layers", s.layers);
      top.insert("chunk", chunk);
      top.insert("weights_gib", (s.global_bytes() + s.layers * s.layer_bytes()) / (1 << 30));
      top.insert("kv_cache_gib", double(max_tokens) * s.kv_bytes_per_token(s.layers) / (1 << 30));
      top.insert("runs", json::Value(std::move(runs)));
      top.insert("profiles", json::Value(std::move(profiles)));
      std::ofstream(json_path) << json::serialize(json::Value(std::move(top)), 2) << "\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "e2e_bench: %s\n", e.what());
    return 1;
  }
}
