#include "runtime/backend/cuda/cuda_kv_cache.hpp"

#include <algorithm>
#include <string>

#include "kernels/model_ops.hpp"
#include "runtime/backend/cuda/device_memory.hpp"

namespace folio::cuda {

CudaKvCache::CudaKvCache(const kv::CacheConfig& c, cudaStream_t stream) : config_(c), stream_(stream) {
  if (c.n_layers <= 0 || c.n_kv_heads <= 0 || c.head_dim <= 0 || c.max_tokens <= 0)
    fail(Errc::invalid_argument, "cuda kv cache: layers, KV heads, head_dim and capacity must be positive");
  max_blocks_ = kv::blocks_for(c.max_tokens);
  layer_elems_ = size_t(max_blocks_) * kv::kBlockTokens * size_t(row_elems());
  summary_elems_ = size_t(max_blocks_) * size_t(row_elems());
  const size_t kv_bytes = 2 * size_t(c.n_layers) * layer_elems_ * sizeof(__nv_bfloat16);
  const size_t sum_bytes = size_t(c.n_layers) * summary_elems_ * sizeof(__nv_bfloat16);
  kv_mem_ = device_alloc(kv_bytes, "the KV cache (" + std::to_string(c.max_tokens) + " tokens x " +
                                       std::to_string(c.n_layers) + " layers)");
  summary_mem_ = device_alloc(sum_bytes, "KV block summaries");
  bytes_ = kv_bytes + sum_bytes;
  size_.assign(size_t(c.n_layers), 0);
}

__nv_bfloat16* CudaKvCache::keys(int layer) const {
  return static_cast<__nv_bfloat16*>(kv_mem_.get()) + size_t(2 * layer) * layer_elems_;
}
__nv_bfloat16* CudaKvCache::values(int layer) const {
  return static_cast<__nv_bfloat16*>(kv_mem_.get()) + size_t(2 * layer + 1) * layer_elems_;
}
__nv_bfloat16* CudaKvCache::summaries(int layer) const {
  return static_cast<__nv_bfloat16*>(summary_mem_.get()) + size_t(layer) * summary_elems_;
}

kernels::PagedKv CudaKvCache::paged(int layer) const {
  kernels::PagedKv p;
  p.k = keys(layer);
  p.v = values(layer);
  p.block_table = nullptr;
  p.page_stride = int64_t(kv::kBlockTokens) * row_elems();
  p.head_stride = config_.head_dim;
  p.row_stride = row_elems();
  return p;
}

void CudaKvCache::summarize(int layer, int64_t first_block, int64_t end_pos) {
  if (end_pos <= first_block * kv::kBlockTokens) return;
  kernels::PagedKv p = paged(layer);
  p.k += first_block * p.page_stride;
  p.v += first_block * p.page_stride;
  check(kernels::summarize_blocks(p, end_pos - first_block * kv::kBlockTokens, config_.n_kv_heads, config_.head_dim,
                                  summaries(layer) + first_block * row_elems(), stream_),
        "kv block summaries");
}

void CudaKvCache::write(int layer, int64_t pos0, int64_t n, const float* k, int64_t k_stride, const float* v,
                        int64_t v_stride) {
  if (layer < 0 || layer >= config_.n_layers) fail(Errc::invalid_argument, "kv_write: layer out of range");
  int64_t& sz = size_[size_t(layer)];
  if (pos0 < 0 || pos0 > sz)
    fail(Errc::invalid_argument, "kv_write: position " + std::to_string(pos0) + " leaves a hole after " +
                                     std::to_string(sz) + " cached tokens");
  if (pos0 + n > config_.max_tokens)
    fail(Errc::invalid_argument, "kv_write: " + std::to_string(pos0 + n) + " tokens exceed the cache capacity of " +
                                     std::to_string(config_.max_tokens));
  if (n == 0) return;
  check(kernels::ops::kv_store(k, k_stride, v, v_stride, n, pos0, row_elems(), keys(layer), values(layer), stream_),
        "kv store");
  sz = std::max(sz, pos0 + n);
  // Summaries of every touched block, each over its filled tokens.
  summarize(layer, pos0 / kv::kBlockTokens, sz);
}

void CudaKvCache::truncate(int64_t n_tokens) {
  if (n_tokens < 0 || n_tokens > size()) fail(Errc::invalid_argument, "kv truncate: past the end");
  for (int l = 0; l < config_.n_layers; ++l) {
    int64_t& sz = size_[size_t(l)];
    if (sz <= n_tokens) continue;
    sz = n_tokens;
    if (n_tokens % kv::kBlockTokens != 0) summarize(l, n_tokens / kv::kBlockTokens, n_tokens);
  }
}

}  // namespace folio::cuda
