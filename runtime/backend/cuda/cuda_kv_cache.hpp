// The CUDA backend's KV cache: per layer, keys and values in bf16 as pages of
// kv::kBlockTokens tokens laid out [position][n_kv_heads][head_dim] (so a page is
// 64 consecutive positions and no block table is needed), plus a mean-key
// summary per (block, KV head) in bf16, refreshed for every block a write
// touches (exact for partially filled blocks). Memory follows the context: each
// layer's storage grows (by half again, in steps of 1024 tokens, never past
// config.max_tokens) when a write needs more, copying what it holds, so a
// session opened with a 256K capacity and used for 8K tokens holds ~8K tokens of
// cache, and the cache is the only thing that grows with the context.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/attention_kernels.hpp"
#include "runtime/backend/backend.hpp"
#include "runtime/backend/cuda/device_memory.hpp"

namespace folio::cuda {

class CudaKvCache final : public backend::KvCache {
 public:
  // Allocations are charged to `budget` when given (the backend's max_device_memory).
  // programmatic: the store and summary kernels use programmatic dependent
  // launch (kernels/launch.cuh; sm_90+ only).
  CudaKvCache(const kv::CacheConfig& config, cudaStream_t stream, DeviceBudgetPtr budget = nullptr,
              bool programmatic = false);

  const kv::CacheConfig& config() const noexcept override { return config_; }
  int64_t size() const noexcept override { return size_.empty() ? 0 : size_[0]; }
  void truncate(int64_t n_tokens) override;

  int64_t size(int layer) const { return size_.at(size_t(layer)); }
  int64_t max_blocks() const noexcept { return max_blocks_; }
  int64_t allocated_blocks(int layer) const { return layers_.at(size_t(layer)).blocks; }
  // Row of one position: n_kv_heads * head_dim elements.
  int64_t row_elems() const noexcept { return int64_t(config_.n_kv_heads) * config_.head_dim; }
  __nv_bfloat16* keys(int layer) const;
  __nv_bfloat16* values(int layer) const;
  __nv_bfloat16* summaries(int layer) const;  // [max_blocks][n_kv_heads][head_dim]
  kernels::PagedKv paged(int layer) const;
  size_t bytes() const noexcept;
  // A copy of every layer's positions, pages and summaries on the device (the
  // pages are contiguous per layer, with no block table to share them through):
  // milliseconds where recomputing the corpus takes seconds, at the price of the
  // memory. Both caches share the stream, so the copy is ordered before either's
  // next write.
  std::unique_ptr<backend::KvCache> fork() override;
  // Nothing is shared between forks; family_bytes sums this cache, its origin
  // and all forks alive.
  Memory memory() const noexcept override { return {bytes(), 0, family_->bytes.load()}; }
  ~CudaKvCache() override;
  CudaKvCache(const CudaKvCache&) = delete;
  CudaKvCache& operator=(const CudaKvCache&) = delete;

  // Allocates every layer's storage for `tokens` positions now (benchmarks and
  // callers that know the context size: no growth copies, no fragmentation).
  void reserve(int64_t tokens) {
    for (int l = 0; l < config_.n_layers; ++l) reserve(l, std::min<int64_t>(tokens, config_.max_tokens));
  }

  // Snapshot restore (cuda_kv_snapshot.hpp): after reserve(n_tokens) the caller
  // copied positions [size(), n_tokens) of every layer straight into keys() /
  // values() on stream(); this makes them count as cached (every layer) and
  // recomputes their block summaries from the keys, as a prefill would.
  void adopt_restored(int64_t n_tokens);
  cudaStream_t stream() const noexcept { return stream_; }

  // Stores k/v rows (f32) at pos0.., refreshes the touched blocks' summaries.
  void write(int layer, int64_t pos0, int64_t n, const float* k, int64_t k_stride, const float* v, int64_t v_stride);
  // The host side of a write of n rows at pos0: checks it, grows the storage
  // and counts the rows as cached. Returns the keys of `layer` cached once the
  // rows are stored; the caller then stores them and refreshes the summaries
  // of blocks pos0 / kBlockTokens .. as write() does (the fused decode step).
  int64_t begin_write(int layer, int64_t pos0, int64_t n);
  // The summaries of `layer`'s blocks from the one holding pos0 to the end of
  // the cached keys, recomputed from the keys (after a begin_write whose rows
  // the caller stored itself).
  void refresh_summaries(int layer, int64_t pos0);

 private:
  void summarize(int layer, int64_t first_block, int64_t end_pos);
  // Makes room for positions < end_pos in `layer`.
  void reserve(int layer, int64_t end_pos);

  // One layer's storage: keys [blocks*64][row], then values, and summaries [blocks][row].
  struct LayerStore {
    std::shared_ptr<void> kv, summaries;
    int64_t blocks = 0;
  };

  // Device bytes of a cache and its forks, kept up to date as they grow and go.
  struct Family {
    std::atomic<size_t> bytes{0};
  };

  kv::CacheConfig config_;
  cudaStream_t stream_;
  DeviceBudgetPtr budget_;
  bool programmatic_ = false;
  std::shared_ptr<Family> family_ = std::make_shared<Family>();
  int64_t max_blocks_ = 0;
  std::vector<LayerStore> layers_;
  std::vector<int64_t> size_;
};

}  // namespace folio::cuda
