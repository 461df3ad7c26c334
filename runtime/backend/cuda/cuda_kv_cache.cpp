#include "runtime/backend/cuda/cuda_kv_cache.hpp"

#include <algorithm>
#include <string>
#include <utility>

#include "kernels/model_ops.hpp"
#include "runtime/backend/cuda/device_memory.hpp"

namespace folio::cuda {

namespace {
constexpr int64_t kGrowBlocks = 16;  // allocation granule: 1024 tokens
}

CudaKvCache::CudaKvCache(const kv::CacheConfig& c, cudaStream_t stream, DeviceBudgetPtr budget, bool programmatic)
    : config_(c), stream_(stream), budget_(std::move(budget)), programmatic_(programmatic) {
  if (c.n_layers <= 0 || c.n_kv_heads <= 0 || c.head_dim <= 0 || c.max_tokens <= 0)
    fail(Errc::invalid_argument, "cuda kv cache: layers, KV heads, head_dim and capacity must be positive");
  max_blocks_ = kv::blocks_for(c.max_tokens);
  layers_.resize(size_t(c.n_layers));
  size_.assign(size_t(c.n_layers), 0);
}

size_t CudaKvCache::bytes() const noexcept {
  size_t b = 0;
  for (const LayerStore& l : layers_)
    b += size_t(l.blocks) * size_t(row_elems()) * (2 * kv::kBlockTokens + 1) * sizeof(__nv_bfloat16);
  return b;
}

void CudaKvCache::reserve(int layer, int64_t end_pos) {
  LayerStore& L = layers_[size_t(layer)];
  const int64_t need = kv::blocks_for(end_pos);
  if (need <= L.blocks) return;
  int64_t blocks = std::max(need, L.blocks + L.blocks / 2);
  blocks = std::min(max_blocks_, (blocks + kGrowBlocks - 1) / kGrowBlocks * kGrowBlocks);
  const size_t row = size_t(row_elems()) * sizeof(__nv_bfloat16);
  const size_t old_half = size_t(L.blocks) * kv::kBlockTokens * row, half = size_t(blocks) * kv::kBlockTokens * row;
  auto kv = device_alloc(2 * half, "the KV cache of layer " + std::to_string(layer) + " (" +
                                       std::to_string(blocks * kv::kBlockTokens) + " tokens)", budget_);
  auto sums = device_alloc(size_t(blocks) * row, "KV block summaries", budget_);
  if (L.blocks > 0) {
    auto* dst = static_cast<std::byte*>(kv.get());
    const auto* src = static_cast<const std::byte*>(L.kv.get());
    check(cudaMemcpyAsync(dst, src, old_half, cudaMemcpyDeviceToDevice, stream_), "kv grow");
    check(cudaMemcpyAsync(dst + half, src + old_half, old_half, cudaMemcpyDeviceToDevice, stream_), "kv grow");
    check(cudaMemcpyAsync(sums.get(), L.summaries.get(), size_t(L.blocks) * row, cudaMemcpyDeviceToDevice, stream_),
          "kv grow");
    check(cudaStreamSynchronize(stream_), "kv grow");  // the copies finish before the old storage is freed
  }
  const size_t before = bytes();
  L.kv = std::move(kv);
  L.summaries = std::move(sums);
  L.blocks = blocks;
  family_->bytes += bytes() - before;
}

CudaKvCache::~CudaKvCache() { family_->bytes -= bytes(); }

std::unique_ptr<backend::KvCache> CudaKvCache::fork() {
  auto f = std::make_unique<CudaKvCache>(config_, stream_, budget_, programmatic_);
  f->family_ = family_;
  const size_t row = size_t(row_elems()) * sizeof(__nv_bfloat16);
  for (int l = 0; l < config_.n_layers; ++l) {
    const int64_t n = size_[size_t(l)];
    if (n == 0) continue;
    f->reserve(l, n);
    check(cudaMemcpyAsync(f->keys(l), keys(l), size_t(n) * row, cudaMemcpyDeviceToDevice, stream_), "kv fork");
    check(cudaMemcpyAsync(f->values(l), values(l), size_t(n) * row, cudaMemcpyDeviceToDevice, stream_), "kv fork");
    check(cudaMemcpyAsync(f->summaries(l), summaries(l), size_t(kv::blocks_for(n)) * row, cudaMemcpyDeviceToDevice,
                          stream_),
          "kv fork");
    f->size_[size_t(l)] = n;
  }
  return f;
}

__nv_bfloat16* CudaKvCache::keys(int layer) const {
  return static_cast<__nv_bfloat16*>(layers_.at(size_t(layer)).kv.get());
}
__nv_bfloat16* CudaKvCache::values(int layer) const {
  const LayerStore& L = layers_.at(size_t(layer));
  return static_cast<__nv_bfloat16*>(L.kv.get()) + size_t(L.blocks) * kv::kBlockTokens * size_t(row_elems());
}
__nv_bfloat16* CudaKvCache::summaries(int layer) const {
  return static_cast<__nv_bfloat16*>(layers_.at(size_t(layer)).summaries.get());
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
                                  summaries(layer) + first_block * row_elems(), stream_, programmatic_),
        "kv block summaries");
}

int64_t CudaKvCache::begin_write(int layer, int64_t pos0, int64_t n) {
  if (layer < 0 || layer >= config_.n_layers) fail(Errc::invalid_argument, "kv_write: layer out of range");
  int64_t& sz = size_[size_t(layer)];
  if (pos0 < 0 || pos0 > sz)
    fail(Errc::invalid_argument, "kv_write: position " + std::to_string(pos0) + " leaves a hole after " +
                                     std::to_string(sz) + " cached tokens");
  if (pos0 + n > config_.max_tokens)
    fail(Errc::invalid_argument, "kv_write: " + std::to_string(pos0 + n) + " tokens exceed the cache capacity of " +
                                     std::to_string(config_.max_tokens));
  if (n == 0) return sz;
  reserve(layer, pos0 + n);
  sz = std::max(sz, pos0 + n);
  return sz;
}

void CudaKvCache::refresh_summaries(int layer, int64_t pos0) {
  if (layer < 0 || layer >= config_.n_layers) fail(Errc::invalid_argument, "kv summaries: layer out of range");
  summarize(layer, pos0 / kv::kBlockTokens, size_[size_t(layer)]);
}

void CudaKvCache::write(int layer, int64_t pos0, int64_t n, const float* k, int64_t k_stride, const float* v,
                        int64_t v_stride) {
  const int64_t end = begin_write(layer, pos0, n);
  if (n == 0) return;
  check(kernels::ops::kv_store(k, k_stride, v, v_stride, n, pos0, row_elems(), keys(layer), values(layer), stream_,
                               programmatic_),
        "kv store");
  // Summaries of every touched block, each over its filled tokens.
  summarize(layer, pos0 / kv::kBlockTokens, end);
}

void CudaKvCache::adopt_restored(int64_t n_tokens) {
  if (n_tokens < 0 || n_tokens > config_.max_tokens)
    fail(Errc::invalid_argument, "kv restore: " + std::to_string(n_tokens) + " tokens outside the cache capacity");
  for (int l = 0; l < config_.n_layers; ++l) {
    int64_t& sz = size_[size_t(l)];
    if (n_tokens <= sz) continue;
    if (kv::blocks_for(n_tokens) > layers_[size_t(l)].blocks)
      fail(Errc::invalid_argument, "kv restore: layer " + std::to_string(l) + " was not reserved for the tokens");
    const int64_t first_block = sz / kv::kBlockTokens;
    sz = n_tokens;
    summarize(l, first_block, sz);
  }
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
