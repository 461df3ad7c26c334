// CUDA backend: construction, memory, element-wise ops, matmuls, dense FFN and
// the KV-cache write (MoE in cuda_moe.cpp, attention in cuda_attention.cpp).
#include <algorithm>
#include <memory>
#include <string>

#include "kernels/model_ops.hpp"
#include "runtime/backend/cuda/cuda_backend_impl.hpp"

namespace folio::cuda {

using backend::Act;
using backend::Weight;
using backend::WeightType;
namespace ops = kernels::ops;

void check_cublas(cublasStatus_t st, const char* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  fail(Errc::internal, std::string("cublas: ") + what + ": " + cublasGetStatusName(st) + " (" +
                           cublasGetStatusString(st) + ")");
}

namespace {

std::string shape(const Act& a) { return "[" + std::to_string(a.rows) + "][" + std::to_string(a.cols) + "]"; }

const float* gamma_of(const Weight& g, int64_t n, const char* what) {
  if (g.type != WeightType::f32 || g.count != 1 || g.rows != 1 || g.cols != n)
    fail(Errc::invalid_argument, std::string(what) + ": '" + g.name + "' must be a vector of " + std::to_string(n) +
                                     " values uploaded to this backend");
  return static_cast<const float*>(g.data);
}

void check_matmul_shapes(const Act& x, const Weight& w, const Act& y) {
  if (x.cols != w.cols || y.cols != w.rows || y.rows != x.rows)
    fail(Errc::invalid_argument, "matmul with '" + w.name + "': x is " + shape(x) + ", weight [" +
                                     std::to_string(w.rows) + "][" + std::to_string(w.cols) + "], y " + shape(y));
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

CudaBackendImpl::CudaBackendImpl(const CudaOptions& o)
    : device_(o.device), budget_(std::make_shared<DeviceBudget>(o.max_device_memory)) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n <= device_ || device_ < 0) {
    cudaGetLastError();
    fail(Errc::unsupported, "cuda: device " + std::to_string(device_) + " not available (" + std::to_string(n) +
                                " devices)");
  }
  check(cudaSetDevice(device_), "set device");
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device_), "device properties");
  sm_count_ = prop.multiProcessorCount;
  pdl_ = prop.major >= 9;
  device_name_ = prop.name;
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream");
  check_cublas(cublasCreate(&cublas_), "create");
  check_cublas(cublasSetStream(cublas_, stream_), "set stream");
  // Hopper kernels want a workspace; 32 MiB is what NVIDIA recommends for sm_90.
  constexpr size_t kWorkspace = size_t(32) << 20;
  try {
    cublas_workspace_ = device_alloc(kWorkspace, "cuBLAS workspace", budget_);
    check_cublas(cublasSetWorkspace(cublas_, cublas_workspace_.get(), kWorkspace), "set workspace");
  } catch (...) {
    // No destructor runs for a half-built backend: release the handles here
    // (a max_device_memory below 32 MiB fails right here, and "auto" goes on).
    cublasDestroy(cublas_);
    cudaStreamDestroy(stream_);
    throw;
  }
}

CudaBackendImpl::~CudaBackendImpl() {
  if (capturing_) {
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(stream_, &g);
    if (g) cudaGraphDestroy(g);
  }
  if (stream_) cudaStreamSynchronize(stream_);
  if (graph_exec_) cudaGraphExecDestroy(graph_exec_);
  if (cublas_) cublasDestroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
}

// --- memory -------------------------------------------------------------------

backend::Buffer CudaBackendImpl::alloc(int64_t n_floats) {
  forget_converted_input();
  if (n_floats < 0) fail(Errc::invalid_argument, "alloc: negative size");
  auto mem = device_alloc(size_t(std::max<int64_t>(n_floats, 1)) * 4, "an activation buffer", budget_);
  check(cudaMemsetAsync(mem.get(), 0, size_t(std::max<int64_t>(n_floats, 1)) * 4, stream_), "memset");
  return {std::shared_ptr<float>(mem, static_cast<float*>(mem.get())), n_floats};
}

Weight CudaBackendImpl::upload(const backend::HostWeight& w) {
  forget_converted_input();
  if (w.rows <= 0 || w.cols <= 0 || w.count <= 0) fail(Errc::invalid_argument, "weight '" + w.name + "': empty shape");
  if (w.type == WeightType::q8_0 && w.cols % 32 != 0)
    fail(Errc::format, "weight '" + w.name + "': q8_0 rows must be a multiple of 32 elements, got " +
                           std::to_string(w.cols));
  const size_t need = backend::weight_row_bytes(w.type, w.cols) * size_t(w.rows) * size_t(w.count);
  if (w.bytes.size() != need)
    fail(Errc::format, "weight '" + w.name + "': " + std::to_string(w.bytes.size()) + " bytes, expected " +
                           std::to_string(need));
  // Vectors and MoE routers stay f32 (see cuda_backend.hpp); everything else is bf16.
  const bool keep_f32 = (w.rows == 1 && w.count == 1) || ends_with(w.name, "ffn_gate_inp.weight");
  const WeightType t = keep_f32 ? WeightType::f32 : WeightType::bf16;
  Weight out;
  out.name = w.name;
  out.type = t;
  out.count = w.count;
  out.rows = w.rows;
  out.cols = w.cols;
  out.row_bytes = backend::weight_row_bytes(t, w.cols);
  out.keep = upload_converted(w, t, stream_, budget_);
  out.data = out.keep.get();
  return out;
}

Weight CudaBackendImpl::random_weight(const std::string& name, WeightType type, int64_t count, int64_t rows,
                                      int64_t cols, uint64_t seed, float centre, float half_width) {
  forget_converted_input();
  if (type != WeightType::bf16 && type != WeightType::f32)
    fail(Errc::invalid_argument, "random_weight: type must be bf16 or f32");
  if (rows <= 0 || cols <= 0 || count <= 0) fail(Errc::invalid_argument, "random_weight: empty shape");
  Weight out;
  out.name = name;
  out.type = type;
  out.count = count;
  out.rows = rows;
  out.cols = cols;
  out.row_bytes = backend::weight_row_bytes(type, cols);
  const int64_t n = count * rows * cols;
  auto mem = device_alloc(size_t(n) * (type == WeightType::f32 ? 4 : 2), "weight '" + name + "'", budget_);
  if (type == WeightType::f32)
    check(ops::random_fill_f32(static_cast<float*>(mem.get()), n, seed, centre, half_width, stream_), "fill");
  else
    check(ops::random_fill_bf16(static_cast<bf16*>(mem.get()), n, seed, centre, half_width, stream_), "fill");
  out.data = mem.get();
  out.keep = std::move(mem);
  return out;
}

std::unique_ptr<backend::KvCache> CudaBackendImpl::make_kv_cache(const kv::CacheConfig& config) {
  return std::make_unique<CudaKvCache>(config, stream_, budget_, pdl_);
}

void CudaBackendImpl::to_host(const Act& src, std::span<float> dst) {
  if (dst.size() != size_t(src.rows * src.cols)) fail(Errc::invalid_argument, "to_host: size mismatch");
  if (!dst.empty())
    check(cudaMemcpy2DAsync(dst.data(), size_t(src.cols) * 4, src.data, size_t(src.stride) * 4, size_t(src.cols) * 4,
                            size_t(src.rows), cudaMemcpyDeviceToHost, stream_),
          "to_host");
  synchronize();
}

void CudaBackendImpl::from_host(std::span<const float> src, const Act& dst) {
  forget_converted_input();
  if (src.size() != size_t(dst.rows * dst.cols)) fail(Errc::invalid_argument, "from_host: size mismatch");
  if (!src.empty())
    check(cudaMemcpy2DAsync(dst.data, size_t(dst.stride) * 4, src.data(), size_t(dst.cols) * 4, size_t(dst.cols) * 4,
                            size_t(dst.rows), cudaMemcpyHostToDevice, stream_),
          "from_host");
  check(cudaStreamSynchronize(stream_), "from_host");  // the caller may free src on return
}

void CudaBackendImpl::synchronize() {
  check(cudaStreamSynchronize(stream_), "synchronize");
  flush_stats();
}

size_t CudaBackendImpl::device_memory_total() const {
  size_t f = 0, t = 0;
  check(cudaMemGetInfo(&f, &t), "memory info");
  return t;
}

size_t CudaBackendImpl::device_memory_used() const {
  size_t f = 0, t = 0;
  check(cudaMemGetInfo(&f, &t), "memory info");
  return t - f;
}

void CudaBackendImpl::begin_graph_capture() {
  if (capturing_) fail(Errc::invalid_argument, "cuda: a graph capture is already open");
  forget_converted_input();
  // Relaxed: the recorded ops may query device attributes; anything that
  // would synchronise still invalidates the capture (reported at the end).
  check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed), "begin graph capture");
  capturing_ = true;
}

void CudaBackendImpl::end_graph_capture() {
  if (!capturing_) fail(Errc::invalid_argument, "cuda: no graph capture is open");
  capturing_ = false;
  forget_converted_input();
  cudaGraph_t graph = nullptr;
  const cudaError_t err = cudaStreamEndCapture(stream_, &graph);
  std::unique_ptr<CUgraph_st, decltype(&cudaGraphDestroy)> owned(graph, &cudaGraphDestroy);
  if (err != cudaSuccess) {
    cudaGetLastError();
    check(err, "end graph capture (an op that synchronises was recorded)");
  }
  if (graph_exec_ != nullptr) {
    cudaGraphExecUpdateResultInfo info{};
    if (cudaGraphExecUpdate(graph_exec_, graph, &info) != cudaSuccess) {
      cudaGetLastError();  // another shape: instantiate afresh below
      cudaGraphExecDestroy(graph_exec_);
      graph_exec_ = nullptr;
    }
  }
  if (graph_exec_ == nullptr) check(cudaGraphInstantiate(&graph_exec_, graph, 0), "instantiate graph");
  check(cudaGraphLaunch(graph_exec_, stream_), "launch graph");
}

double CudaBackendImpl::time_graph_relaunch(int times) {
  if (graph_exec_ == nullptr || capturing_) fail(Errc::invalid_argument, "cuda: no recorded graph to launch again");
  cudaEvent_t ev[2] = {nullptr, nullptr};
  check(cudaEventCreate(&ev[0]), "event");
  std::unique_ptr<CUevent_st, decltype(&cudaEventDestroy)> e0(ev[0], &cudaEventDestroy);
  check(cudaEventCreate(&ev[1]), "event");
  std::unique_ptr<CUevent_st, decltype(&cudaEventDestroy)> e1(ev[1], &cudaEventDestroy);
  check(cudaEventRecord(ev[0], stream_), "event");
  for (int i = 0; i < times; ++i) check(cudaGraphLaunch(graph_exec_, stream_), "launch graph");
  check(cudaEventRecord(ev[1], stream_), "event");
  check(cudaEventSynchronize(ev[1]), "event");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, ev[0], ev[1]), "event");
  return double(ms) / 1e3;
}

void CudaBackendImpl::set_attention_config(const attn::SparseConfig& config) {
  attn::validate(config);
  attn_config_ = config;
}

// --- element-wise ---------------------------------------------------------------

void CudaBackendImpl::embed(const Weight& table, std::span<const int32_t> ids, const Act& out) {
  forget_converted_input();
  if (out.rows != int64_t(ids.size()) || out.cols != table.cols)
    fail(Errc::invalid_argument, "embed: output shape mismatch");
  if (table.type != WeightType::bf16) fail(Errc::invalid_argument, "embed: '" + table.name + "' is not a bf16 matrix");
  for (const int32_t id : ids)
    if (id < 0 || id >= table.rows)
      fail(Errc::invalid_argument, "token id " + std::to_string(id) + " outside the vocabulary of " +
                                       std::to_string(table.rows));
  if (ids.empty()) return;
  int32_t* d_ids = tokens_.get(ids.size(), "token ids");
  check(cudaMemcpyAsync(d_ids, ids.data(), ids.size_bytes(), cudaMemcpyHostToDevice, stream_), "token ids");
  check(ops::embed(static_cast<const bf16*>(table.data), table.cols, d_ids, int64_t(ids.size()), out.data,
                   out.stride, stream_),
        "embed");
}

void CudaBackendImpl::rms_norm(const Act& x, const Weight& gamma, float eps, const Act& y) {
  forget_converted_input();
  if (x.rows != y.rows || x.cols != y.cols) fail(Errc::invalid_argument, "rms_norm: shape mismatch");
  check(ops::rms_norm(x.data, x.stride, x.rows, x.cols, gamma_of(gamma, x.cols, "rms_norm"), eps, y.data, y.stride,
                      stream_, pdl_),
        "rms_norm");
}

void CudaBackendImpl::head_rms_norm(const Act& x, int head_dim, const Weight& gamma, float eps) {
  forget_converted_input();
  if (head_dim <= 0 || x.cols % head_dim != 0) fail(Errc::invalid_argument, "head_rms_norm: bad head_dim");
  check(ops::head_rms_norm(x.data, x.stride, x.rows, int(x.cols / head_dim), head_dim,
                           gamma_of(gamma, head_dim, "head_rms_norm"), eps, stream_),
        "head_rms_norm");
}

void CudaBackendImpl::rope(const Act& x, int head_dim, int64_t pos0, const backend::RopeParams& p) {
  forget_converted_input();
  const int rot = p.rot_dims > 0 ? p.rot_dims : head_dim;
  if (head_dim <= 0 || x.cols % head_dim != 0 || rot % 2 != 0 || rot > head_dim)
    fail(Errc::invalid_argument, "rope: bad head_dim / rotary dims");
  check(ops::rope(x.data, x.stride, x.rows, int(x.cols / head_dim), head_dim, pos0, p.theta, rot,
                  p.style == backend::RopeParams::Style::neox, stream_),
        "rope");
}

void CudaBackendImpl::add(const Act& y, const Act& x) {
  forget_converted_input();
  if (x.rows != y.rows || x.cols != y.cols) fail(Errc::invalid_argument, "add: shape mismatch");
  check(ops::add(y.data, y.stride, x.data, x.stride, y.rows, y.cols, stream_), "add");
}

void CudaBackendImpl::add_rms_norm(const Act& y, const Act& x, const Weight& gamma, float eps, const Act& out) {
  forget_converted_input();
  if (x.rows != y.rows || x.cols != y.cols || out.rows != y.rows || out.cols != y.cols)
    fail(Errc::invalid_argument, "add_rms_norm: shape mismatch");
  check(ops::add_rms_norm(y.data, y.stride, x.data, x.stride, y.rows, y.cols, gamma_of(gamma, y.cols, "add_rms_norm"),
                          eps, out.data, out.stride, stream_, pdl_),
        "add_rms_norm");
}

void CudaBackendImpl::head_norm_rope(const Act& x, int head_dim, const Weight& gamma, float eps, int64_t pos0,
                                     const backend::RopeParams& p) {
  forget_converted_input();
  const int rot = p.rot_dims > 0 ? p.rot_dims : head_dim;
  if (head_dim <= 0 || x.cols % head_dim != 0 || rot % 2 != 0 || rot > head_dim)
    fail(Errc::invalid_argument, "head_norm_rope: bad head_dim / rotary dims");
  if (head_dim > 256) {  // past the fused kernel's shared-memory slice: the two kernels
    backend::Backend::head_norm_rope(x, head_dim, gamma, eps, pos0, p);
    return;
  }
  check(ops::head_norm_rope(x.data, x.stride, x.rows, int(x.cols / head_dim), head_dim,
                            gamma_of(gamma, head_dim, "head_norm_rope"), eps, pos0, p.theta, rot,
                            p.style == backend::RopeParams::Style::neox, stream_, pdl_),
        "head_norm_rope");
}

// --- matmuls --------------------------------------------------------------------

void CudaBackendImpl::gemm_bf16_in(const bf16* x, int64_t xs, int64_t n, const bf16* w, int64_t rows, int64_t cols,
                                   void* y, int64_t ys, cudaDataType_t out_type) {
  // Row-major y[n][rows] is column-major Y (rows x n) = W (rows x cols) * X^T,
  // W row-major = column-major (cols x rows) transposed.
  const float alpha = 1.0f, beta = 0.0f;
  check_cublas(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), int(n), int(cols), &alpha, w, CUDA_R_16BF,
                            int(cols), x, CUDA_R_16BF, int(xs), &beta, y, out_type, int(ys), CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT),
               "bf16 GEMM");
}

void CudaBackendImpl::gemm_f32_in(const float* x, int64_t xs, int64_t n, const Weight& w, int64_t index, float* y,
                                  int64_t ys) {
  if (n == 0) return;
  if (index < 0 || index >= w.count) fail(Errc::invalid_argument, "matmul: matrix index out of range");
  const void* wm = w.matrix(index);
  if (w.type == WeightType::f32) {
    if (n <= ops::kGemvMaxRows) {
      check(ops::gemv_f32(x, xs, int(n), static_cast<const float*>(wm), w.rows, w.cols, y, ys, stream_, pdl_), "gemv");
      return;
    }
    const float alpha = 1.0f, beta = 0.0f;
    check_cublas(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(w.rows), int(n), int(w.cols), &alpha,
                             static_cast<const float*>(wm), int(w.cols), x, int(xs), &beta, y, int(ys)),
                 "f32 GEMM");
    return;
  }
  if (w.type != WeightType::bf16) fail(Errc::invalid_argument, "matmul: '" + w.name + "' was not uploaded here");
  if (n <= ops::kGemvMaxRows) {
    check(ops::gemv_bf16(x, xs, int(n), static_cast<const bf16*>(wm), w.rows, w.cols, y, ys, stream_, pdl_), "gemv");
    return;
  }
  const ConvertedInput key{x, n, w.cols, xs};
  if (!(xb_key_ == key) || xb_key_.data == nullptr) {
    bf16* xb = xb_.get(size_t(n * w.cols), "matmul input");
    check(ops::f32_to_bf16(x, xs, n, w.cols, xb, w.cols, stream_), "to bf16");
    xb_key_ = key;
  }
  gemm_bf16_in(xb_.get(size_t(n * w.cols), "matmul input"), w.cols, n, static_cast<const bf16*>(wm), w.rows, w.cols,
               y, ys);
  // An output written over the input makes the converted copy stale.
  const float* x_end = x + (n - 1) * xs + w.cols;
  const float* y_end = y + (n - 1) * ys + w.rows;
  if (y < x_end && x < y_end) forget_converted_input();
}

void CudaBackendImpl::matmul(const Act& x, const Weight& w, const Act& y, int64_t index) {
  check_matmul_shapes(x, w, y);
  gemm_f32_in(x.data, x.stride, x.rows, w, index, y.data, y.stride);
}

void CudaBackendImpl::matmul_shared_input(const Act& x, std::span<const backend::Projection> out) {
  // Decode-sized, bf16 weights: one GEMV launch over all the matrices.
  bool fused = x.rows >= 1 && x.rows <= ops::kGemvMaxRows && !out.empty() &&
               out.size() <= size_t(ops::kGemvMaxMatrices);
  for (const backend::Projection& p : out) {
    check_matmul_shapes(x, *p.w, p.y);
    fused = fused && p.w->type == WeightType::bf16;
  }
  if (!fused) {
    Backend::matmul_shared_input(x, out);
    return;
  }
  ops::GemvMatrix m[ops::kGemvMaxMatrices];
  for (size_t i = 0; i < out.size(); ++i)
    m[i] = {static_cast<const bf16*>(out[i].w->data), out[i].w->rows, out[i].y.data, out[i].y.stride};
  check(ops::gemv_bf16_multi(x.data, x.stride, int(x.rows), std::span(m, out.size()), x.cols, stream_, pdl_),
        "gemv (shared input)");
}

void CudaBackendImpl::ffn_swiglu(const Act& x, const Weight& gate, const Weight& up, const Weight& down,
                                 const Act& out) {
  const int64_t n = x.rows, ff = gate.rows;
  if (up.rows != ff || gate.cols != x.cols || up.cols != x.cols || down.cols != ff || out.cols != down.rows ||
      out.rows != n)
    fail(Errc::invalid_argument, "ffn: gate/up/down shapes disagree with x " + shape(x) + " / out " + shape(out));
  if (n == 0) return;
  forget_converted_input();
  float* g = g_.get(size_t(n * ff), "ffn gate");
  float* u = u_.get(size_t(n * ff), "ffn up");
  gemm_f32_in(x.data, x.stride, n, gate, 0, g, ff);
  gemm_f32_in(x.data, x.stride, n, up, 0, u, ff);
  bf16* h = hb_.get(size_t(n * ff), "ffn hidden");
  check(ops::silu_mul_bf16(g, u, n * ff, h, stream_), "silu");
  if (n <= ops::kGemvMaxRows || down.type != WeightType::bf16) {
    // GEMV / f32 paths read f32 activations: widen the (bf16-rounded) hidden.
    check(ops::bf16_to_f32(h, ff, n, ff, g, ff, stream_), "to f32");
    gemm_f32_in(g, ff, n, down, 0, out.data, out.stride);
  } else {
    gemm_bf16_in(h, ff, n, static_cast<const bf16*>(down.data), down.rows, ff, out.data, out.stride);
  }
  forget_converted_input();
}

// --- KV cache ---------------------------------------------------------------------

CudaKvCache& CudaBackendImpl::cuda_cache(backend::KvCache& cache) {
  auto* c = dynamic_cast<CudaKvCache*>(&cache);
  if (c == nullptr) fail(Errc::invalid_argument, "cuda backend: KV cache was made by another backend");
  return *c;
}

void CudaBackendImpl::kv_write(backend::KvCache& cache, int layer, int64_t pos0, const Act& k, const Act& v) {
  forget_converted_input();
  CudaKvCache& c = cuda_cache(cache);
  if (k.rows != v.rows || k.cols != c.row_elems() || v.cols != k.cols)
    fail(Errc::invalid_argument, "kv_write: k/v must be [n][n_kv_heads*head_dim]");
  c.write(layer, pos0, k.rows, k.data, k.stride, v.data, v.stride);
}

void CudaBackendImpl::qk_norm_rope_kv_write(const Act& q, const Act& k, const Act& v, int head_dim,
                                            const Weight& q_norm, const Weight& k_norm, float eps, int64_t pos0,
                                            const backend::RopeParams& p, backend::KvCache& cache, int layer) {
  forget_converted_input();
  CudaKvCache& c = cuda_cache(cache);
  // Heads past the fused kernels' shared-memory slice: the separate ops.
  if (head_dim > 256) {
    Backend::qk_norm_rope_kv_write(q, k, v, head_dim, q_norm, k_norm, eps, pos0, p, cache, layer);
    return;
  }
  const int rot = p.rot_dims > 0 ? p.rot_dims : head_dim;
  if (head_dim <= 0 || q.cols % head_dim != 0 || rot % 2 != 0 || rot > head_dim)
    fail(Errc::invalid_argument, "qk_norm_rope_kv_write: bad head_dim / rotary dims");
  if (head_dim != c.config().head_dim || k.rows != q.rows || v.rows != q.rows || k.cols != c.row_elems() ||
      v.cols != k.cols)
    fail(Errc::invalid_argument, "qk_norm_rope_kv_write: k/v must be [n][n_kv_heads*head_dim] of the cache's heads");
  ops::QkNormRopeKvArgs a;
  a.q_gamma = gamma_of(q_norm, head_dim, "qk_norm_rope_kv_write");
  a.k_gamma = gamma_of(k_norm, head_dim, "qk_norm_rope_kv_write");
  a.n_cached = c.begin_write(layer, pos0, q.rows);
  if (q.rows == 0) return;
  a.q = q.data;
  a.q_stride = q.stride;
  a.k = k.data;
  a.k_stride = k.stride;
  a.v = v.data;
  a.v_stride = v.stride;
  a.rows = q.rows;
  a.n_heads = int(q.cols / head_dim);
  a.n_kv_heads = c.config().n_kv_heads;
  a.head_dim = head_dim;
  a.eps = eps;
  a.pos0 = pos0;
  a.theta = p.theta;
  a.rot_dims = rot;
  a.neox = p.style == backend::RopeParams::Style::neox;
  a.k_cache = c.keys(layer);
  a.v_cache = c.values(layer);
  a.summaries = c.summaries(layer);
  // The attention that follows takes its queries in bf16: written here too.
  a.q_bf16 = qb_.get(size_t(q.rows * q.cols), "attention queries");
  a.q_bf16_stride = q.cols;
  check(ops::qk_norm_rope_kv(a, stream_, pdl_), "q/k norm, rope and kv write");
  qb_key_ = {q.data, q.rows, q.cols, q.stride};
  // Past decode sizes the kernel stores rows only (model_ops.hpp): the blocks'
  // summaries come from the stored keys, as kv_write computes them.
  if (q.rows > ops::kGemvMaxRows) c.refresh_summaries(layer, pos0);
}

// --- factory ---------------------------------------------------------------------

std::unique_ptr<CudaBackend> make_cuda_backend(const CudaOptions& options) {
  return std::make_unique<CudaBackendImpl>(options);
}

bool cuda_device_available() noexcept {
  int n = 0;
  const bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
  if (!ok) cudaGetLastError();
  return ok;
}

}  // namespace folio::cuda
