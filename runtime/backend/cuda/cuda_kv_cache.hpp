// The CUDA backend's KV cache: per layer, keys and values in bf16 as pages of
// kv::kBlockTokens tokens laid out [position][n_kv_heads][head_dim] (so a page is
// 64 consecutive positions and no block table is needed), plus a mean-key
// summary per (block, KV head) in bf16, refreshed for every block a write
// touches (exact for partially filled blocks). Capacity (config.max_tokens) is
// allocated up front: the cache is the one thing whose memory grows with the
// context, and allocating it at session start fails early rather than mid-prefill.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/attention_kernels.hpp"
#include "runtime/backend/backend.hpp"

namespace folio::cuda {

class CudaKvCache final : public backend::KvCache {
 public:
  CudaKvCache(const kv::CacheConfig& config, cudaStream_t stream);

  const kv::CacheConfig& config() const noexcept override { return config_; }
  int64_t size() const noexcept override { return size_.empty() ? 0 : size_[0]; }
  void truncate(int64_t n_tokens) override;

  int64_t size(int layer) const { return size_.at(size_t(layer)); }
  int64_t max_blocks() const noexcept { return max_blocks_; }
  // Row of one position: n_kv_heads * head_dim elements.
  int64_t row_elems() const noexcept { return int64_t(config_.n_kv_heads) * config_.head_dim; }
  __nv_bfloat16* keys(int layer) const;
  __nv_bfloat16* values(int layer) const;
  __nv_bfloat16* summaries(int layer) const;  // [max_blocks][n_kv_heads][head_dim]
  kernels::PagedKv paged(int layer) const;
  size_t bytes() const noexcept { return bytes_; }

  // Stores k/v rows (f32) at pos0.., refreshes the touched blocks' summaries.
  void write(int layer, int64_t pos0, int64_t n, const float* k, int64_t k_stride, const float* v, int64_t v_stride);

 private:
  void summarize(int layer, int64_t first_block, int64_t end_pos);

  kv::CacheConfig config_;
  cudaStream_t stream_;
  int64_t max_blocks_ = 0;
  size_t layer_elems_ = 0, summary_elems_ = 0, bytes_ = 0;
  std::shared_ptr<void> kv_mem_, summary_mem_;
  std::vector<int64_t> size_;
};

}  // namespace folio::cuda
