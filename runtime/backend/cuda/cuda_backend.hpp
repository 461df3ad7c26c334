// The CUDA backend: the Backend interface on one GPU.
//
//   auto be = folio::cuda::make_cuda_backend();          // throws if no device
//   model::Model m = model::Model::load(file, *be);        // weights to the GPU
//
// Numerics. Weight matrices live on the device in bf16 (F32/F16 converted and
// Q8_0 dequantised at upload); vectors (norm gains) and MoE routers stay f32,
// because they are tiny and the router's top-k is where rounding would change
// which experts run. Activations are f32 (the Act contract); GEMMs take bf16
// inputs with f32 accumulation and f32 outputs (cuBLAS), decode-sized matmuls
// (<= 8 rows) use a bandwidth-bound GEMV kernel on the f32 activations. The KV
// cache is bf16, paged in 64-token blocks with mean-key summaries, and attention
// runs on the block-sparse flash kernels of kernels/attention_kernels.hpp.
//
// Attention plans. With a host attn::Plan, attention reads exactly the listed
// blocks. Without one it is dense (a device plan listing every visible block),
// unless `set_attention_config` chose a sparse SparseConfig: then the GPU planner
// builds the plan from the block summaries on every call (the runtime switch that
// lets an unchanged model forward run sparse).
//
// All work is queued on one stream owned by the backend; to_host synchronises.
// Not thread-safe: one forward pass at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "runtime/attention/config.hpp"
#include "runtime/backend/backend.hpp"

namespace folio::cuda {

struct CudaOptions {
  int device = 0;
  // Bytes this backend may allocate on the device (weights, KV caches, scratch,
  // the cuBLAS workspace); 0: no cap. An allocation past it fails with
  // Errc::out_of_memory naming what was being allocated and how much, exactly as
  // when the device itself is full, so callers can fall back to the CPU.
  size_t max_device_memory = 0;
};

class CudaBackend : public backend::Backend {
 public:
  // Attention used when `attention` gets no plan: preset_dense() (the default) or a sparse config.
  virtual void set_attention_config(const attn::SparseConfig& config) = 0;
  virtual const attn::SparseConfig& attention_config() const noexcept = 0;

  // A weight filled on the device with uniform values in centre +- half_width
  // (benchmarks of full-size models without a 60 GB file). type: bf16 or f32.
  virtual backend::Weight random_weight(const std::string& name, backend::WeightType type, int64_t count,
                                        int64_t rows, int64_t cols, uint64_t seed, float centre,
                                        float half_width) = 0;

  // CUDA graphs for decode steps. Work queued between begin_graph_capture()
  // and end_graph_capture() is recorded instead of run; end_graph_capture()
  // launches the recording as one graph. When the recording has the same shape
  // as the previous one (the next decode step: the same ops, other positions),
  // the instantiated graph is updated in place (cudaGraphExecUpdate) rather
  // than instantiated again, so the GPU runs the step's ~1000 kernels without
  // launch gaps while the host only records. Only ops that need no host
  // synchronisation may be recorded: not embed (token ids come from the host),
  // to_host, from_host, synchronize, nor anything that grows the KV cache or
  // scratch memory (run one step unrecorded first; reserve the cache).
  // A failed recording throws folio::Error and leaves the backend usable.
  virtual void begin_graph_capture() = 0;
  virtual void end_graph_capture() = 0;
  // Launches the last recorded graph again, as it is (same positions and
  // pointers), and returns the GPU time of `times` launches in seconds. For
  // measuring: with the host's recording out of the way this is the step's GPU
  // time, so against the wall time of a recorded step it says how much of a
  // decode step the host's launch work costs.
  virtual double time_graph_relaunch(int times) = 0;

  // Device facts for reports.
  virtual std::string device_name() const = 0;
  virtual size_t device_memory_total() const = 0;
  virtual size_t device_memory_used() const = 0;  // total - free, all users of the device
  // Bytes this backend holds on the device now (what max_device_memory caps).
  virtual size_t device_memory_allocated() const noexcept = 0;
};

// Throws folio::Error(unsupported) when no CUDA device can be used.
std::unique_ptr<CudaBackend> make_cuda_backend(const CudaOptions& options = {});

// True when at least one CUDA device is visible (no exception).
bool cuda_device_available() noexcept;

}  // namespace folio::cuda
