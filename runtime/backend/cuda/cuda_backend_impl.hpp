// The CUDA backend's implementation class, shared by the files that define its
// parts: cuda_backend.cpp (memory, element-wise ops, matmuls), cuda_moe.cpp,
// cuda_attention.cpp and weight_upload.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/attention_kernels.hpp"
#include "runtime/attention/config.hpp"
#include "runtime/attention/plan.hpp"
#include "runtime/backend/cuda/cuda_backend.hpp"
#include "runtime/backend/cuda/cuda_kv_cache.hpp"
#include "runtime/backend/cuda/device_memory.hpp"

namespace folio::cuda {

using bf16 = __nv_bfloat16;

void check_cublas(cublasStatus_t st, const char* what);

// Host-side conversion of an uploaded weight to the device type (bf16 or f32).
// Returns device memory holding count*rows*cols elements.
std::shared_ptr<void> upload_converted(const backend::HostWeight& w, backend::WeightType device_type,
                                       cudaStream_t stream, const DeviceBudgetPtr& budget);

class CudaBackendImpl final : public CudaBackend {
 public:
  explicit CudaBackendImpl(const CudaOptions& options);
  ~CudaBackendImpl() override;
  CudaBackendImpl(const CudaBackendImpl&) = delete;
  CudaBackendImpl& operator=(const CudaBackendImpl&) = delete;

  std::string_view name() const noexcept override { return "cuda"; }

  backend::Buffer alloc(int64_t n_floats) override;
  backend::Weight upload(const backend::HostWeight& w) override;
  std::unique_ptr<backend::KvCache> make_kv_cache(const kv::CacheConfig& config) override;
  void to_host(const backend::Act& src, std::span<float> dst) override;
  void from_host(std::span<const float> src, const backend::Act& dst) override;

  void embed(const backend::Weight& table, std::span<const int32_t> ids, const backend::Act& out) override;
  void rms_norm(const backend::Act& x, const backend::Weight& gamma, float eps, const backend::Act& y) override;
  void head_rms_norm(const backend::Act& x, int head_dim, const backend::Weight& gamma, float eps) override;
  void rope(const backend::Act& x, int head_dim, int64_t pos0, const backend::RopeParams& p) override;
  void add(const backend::Act& y, const backend::Act& x) override;
  bool attention_mass(const backend::Act& q, backend::KvCache& cache, int layer, int64_t pos,
                      const backend::AttentionParams& p, int64_t first, float weight, const backend::Act& mass) override;
  void add_rms_norm(const backend::Act& y, const backend::Act& x, const backend::Weight& gamma, float eps,
                    const backend::Act& out) override;
  void head_norm_rope(const backend::Act& x, int head_dim, const backend::Weight& gamma, float eps, int64_t pos0,
                      const backend::RopeParams& p) override;

  void matmul(const backend::Act& x, const backend::Weight& w, const backend::Act& y, int64_t index) override;
  void matmul_shared_input(const backend::Act& x, std::span<const backend::Projection> out) override;
  void ffn_swiglu(const backend::Act& x, const backend::Weight& gate, const backend::Weight& up,
                  const backend::Weight& down, const backend::Act& out) override;
  void moe(const backend::Act& x, const backend::MoeWeights& w, const backend::MoeParams& p, const backend::Act& out,
           backend::MoeStats* stats) override;

  void kv_write(backend::KvCache& cache, int layer, int64_t pos0, const backend::Act& k,
                const backend::Act& v) override;
  void qk_norm_rope_kv_write(const backend::Act& q, const backend::Act& k, const backend::Act& v, int head_dim,
                             const backend::Weight& q_norm, const backend::Weight& k_norm, float eps, int64_t pos0,
                             const backend::RopeParams& p, backend::KvCache& cache, int layer) override;
  void attention(const backend::Act& q, backend::KvCache& cache, int layer, int64_t pos0,
                 const backend::AttentionParams& p, const backend::Act& out, const attn::Plan* plan) override;
  void attention_sparse(const backend::Act& q, backend::KvCache& cache, int layer, int64_t pos0,
                        const backend::AttentionParams& p, std::span<const int32_t> global_positions,
                        const attn::SparseConfig& config, const backend::Act& out) override;
  attn::Plan plan_attention(const backend::Act& q, backend::KvCache& cache, int layer, int64_t pos0,
                            const backend::AttentionParams& p, std::span<const int32_t> global_positions,
                            const attn::SparseConfig& config) override;
  void synchronize() override;

  void set_attention_config(const attn::SparseConfig& config) override;
  const attn::SparseConfig& attention_config() const noexcept override { return attn_config_; }
  backend::Weight random_weight(const std::string& name, backend::WeightType type, int64_t count, int64_t rows,
                                int64_t cols, uint64_t seed, float centre, float half_width) override;
  void begin_graph_capture() override;
  void end_graph_capture() override;
  double time_graph_relaunch(int times) override;
  std::string device_name() const override { return device_name_; }
  size_t device_memory_total() const override;
  size_t device_memory_used() const override;
  size_t device_memory_allocated() const noexcept override { return budget_->used(); }

 private:
  // y[n][rows] = x[n][cols] W^T, W = matrix `index` of w; x f32 with row stride.
  void gemm_f32_in(const float* x, int64_t xs, int64_t n, const backend::Weight& w, int64_t index, float* y,
                   int64_t ys);
  // Same with x already bf16 (the weight must be bf16); y f32 or bf16 (out_type).
  void gemm_bf16_in(const bf16* x, int64_t xs, int64_t n, const bf16* w, int64_t rows, int64_t cols, void* y,
                    int64_t ys, cudaDataType_t out_type = CUDA_R_32F);
  // The routing replay of `p` (checked by moe()) on the device; nullptr when there is none.
  const int32_t* upload_forced_experts(const backend::MoeParams& p, int64_t rows);
  void moe_decode(const backend::Act& x, const backend::MoeWeights& w, const backend::MoeParams& p,
                  const backend::Act& out, backend::MoeStats* stats);
  void moe_prefill(const backend::Act& x, const backend::MoeWeights& w, const backend::MoeParams& p,
                   const backend::Act& out, backend::MoeStats* stats);
  // Runs the GPU planner for n queries (bf16) at pos0 over n_keys keys; the
  // plan's fixed-capacity rows stay in scratch until the next call.
  kernels::DevicePlan device_sparse_plan(const bf16* q, CudaKvCache& c, int layer, int64_t pos0, int64_t n,
                                         int64_t n_keys, const backend::AttentionParams& p,
                                         std::span<const int32_t> globals, const attn::SparseConfig& config,
                                         int* capacity);
  // The first global position of each block of n_keys keys on the device (null
  // when the config takes no globals); *global_blocks gets the blocks holding one.
  const int32_t* upload_first_global(int64_t n_keys, std::span<const int32_t> globals,
                                     const attn::SparseConfig& config, int64_t* global_blocks);
  // One query's sparse plan and attention in one launch (kernels::sparse_decode)
  // into out (f32, the bf16-rounded values; ob when out is null); false when the
  // fused step cannot run here (the caller plans and decodes in separate launches).
  bool fused_sparse_decode(const bf16* q, bf16* ob, float* out, CudaKvCache& c, int layer, int64_t n_keys,
                           const backend::AttentionParams& p, std::span<const int32_t> globals,
                           const attn::SparseConfig& config);
  void flush_stats();
  static CudaKvCache& cuda_cache(backend::KvCache& cache);
  // The bf16 copy of a matmul input in xb_ is reused by the next matmuls of the
  // same input (q/k/v projections of one normalised x, gate/up of one FFN input,
  // and the output projection of a prefill attention, whose kernels wrote the
  // bf16 output there). Likewise qb_ holds the attention's bf16 queries when
  // qk_norm_rope_kv_write wrote them. Any op other than matmul may write
  // activations, so every other entry point forgets both (attention reads qb_key_
  // first); so does a matmul whose output overlaps its input.
  void forget_converted_input() noexcept {
    xb_key_ = {};
    qb_key_ = {};
  }
  struct ConvertedInput {
    const float* data = nullptr;
    int64_t rows = 0, cols = 0, stride = 0;
    bool operator==(const ConvertedInput&) const = default;
  };
  ConvertedInput xb_key_, qb_key_;

  int device_ = 0, sm_count_ = 0;
  // Programmatic dependent launch for the decode-path kernels (sm_90+ only;
  // kernels/launch.cuh): each is scheduled while the kernel before it finishes.
  bool pdl_ = false;
  DeviceBudgetPtr budget_;  // every device allocation of this backend (max_device_memory)
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::shared_ptr<void> cublas_workspace_;
  attn::SparseConfig attn_config_ = attn::preset_dense();
  // sparse_decode_cluster_size's answer for a shape, computed for contexts up
  // to `visible_limit` blocks (a shorter context needs less shared memory, so
  // the answer holds for it too): occupancy queries once, not per layer.
  struct FusedDecodeShape {
    int n_heads = 0, n_kv_heads = 0, head_dim = 0, topk_blocks = 0, visible_limit = 0, cluster = 0;
  };
  FusedDecodeShape fused_decode_shape_;
  // The instantiated decode-step graph, reused while recordings keep its shape.
  cudaGraphExec_t graph_exec_ = nullptr;
  bool capturing_ = false;

  // Scratch reused across calls (one forward at a time; stream order protects reuse).
  // All charged to budget_ (declared above them, so initialised first).
  Scratch<bf16> xb_{budget_}, hb_{budget_}, qb_{budget_}, ob_{budget_}, gb_{budget_}, ub_{budget_}, yb_{budget_},
      xt_{budget_};
  Scratch<float> g_{budget_}, u_{budget_}, logits_{budget_}, wts_{budget_}, decode_ws_{budget_}, scores_{budget_};
  Scratch<int32_t> ids_{budget_}, counts_{budget_}, offsets_{budget_}, row_token_{budget_}, slot_row_{budget_},
      tokens_{budget_}, forced_{budget_};
  Scratch<int32_t> plan_offsets_{budget_}, plan_counts_{budget_}, plan_indices_{budget_}, seq_len_{budget_},
      first_global_{budget_};
  Scratch<bf16> query_means_{budget_};
  Scratch<float> mass_scratch_{budget_};  // attention_mass: scores of every head and key
  // Global positions for the planner while attention_sparse runs (else empty),
  // and the per-block table last uploaded to first_global_ (reused while equal:
  // every layer of a forward has the same globals, so one upload per forward).
  std::span<const int32_t> sparse_globals_;
  std::vector<int32_t> first_global_host_;
  PinnedArray<int32_t> host_counts_;
  // The MoE prefill's batched-GEMM operand pointers (cuda_moe.cpp): staged on the host, then on the device.
  PinnedArray<const void*> host_ptrs_;
  Scratch<const void*> gemm_ptrs_{budget_};
  // Expert counts of decode-sized MoE calls, kept on the device until the next sync.
  Scratch<int32_t> pending_counts_{budget_};
  std::span<int64_t> pending_stats_;
  bool pending_dirty_ = false;
};

}  // namespace folio::cuda
