// Host (CPU) paged KV cache with per-block key summaries.
//
// Each layer's keys and values are stored in pages of kv::kBlockTokens tokens,
// allocated as the sequence grows (memory follows the context actually used,
// not the capacity). A page holds, for every KV head:
//   keys   transposed, [head][head_dim][64]: one query's scores over the block
//          are then head_dim broadcast-FMAs over contiguous rows, no reductions;
//   values [head][64][head_dim];
//   summary: the mean key [head][head_dim] over the block's filled tokens and,
//          when enabled, per-channel min and max [head][head_dim].
// The summaries are what the sparse planner scores (mean-query . mean-key, or the
// min/max upper bound); they are recomputed for every block a write touches, so
// they are exact for partially filled blocks too.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "runtime/kv/kv_config.hpp"

namespace folio::kv {

class PagedCache {
 public:
  explicit PagedCache(const CacheConfig& config);

  const CacheConfig& config() const noexcept { return config_; }
  // Tokens stored (layer 0 decides; every layer is written for every token).
  int64_t size() const noexcept { return size_[0]; }
  int64_t size(int layer) const noexcept { return size_[size_t(layer)]; }
  int64_t n_blocks(int layer) const noexcept { return blocks_for(size_[size_t(layer)]); }

  // Writes n tokens of `layer` at positions pos0..pos0+n-1. k and v are rows of
  // n_kv_heads*head_dim floats, `k_stride`/`v_stride` floats apart. pos0 must
  // not be past the layer's current size (no holes); rewriting existing
  // positions is allowed. Updates the summaries of the touched blocks.
  void write(int layer, int64_t pos0, int64_t n, const float* k, int64_t k_stride, const float* v,
             int64_t v_stride);
  // Forgets positions >= n_tokens on every layer; frees whole pages past it.
  void truncate(int64_t n_tokens);

  // Block views (block < n_blocks(layer)). Tokens past the layer size inside the
  // last block hold zeros.
  const float* keys_t(int layer, int64_t block, int head) const;   // [head_dim][64]
  const float* values(int layer, int64_t block, int head) const;   // [64][head_dim]
  const float* key_mean(int layer, int64_t block, int head) const; // [head_dim]
  const float* key_min(int layer, int64_t block, int head) const;  // [head_dim] (minmax only)
  const float* key_max(int layer, int64_t block, int head) const;  // [head_dim] (minmax only)
  // Tokens filled in a block.
  int block_fill(int layer, int64_t block) const;

  // Bytes held by pages now.
  size_t bytes_allocated() const noexcept;

 private:
  size_t page_floats() const noexcept;
  float* page(int layer, int64_t block);
  const float* page(int layer, int64_t block) const;
  void update_summary(int layer, int64_t block);

  CacheConfig config_;
  size_t head_block_floats_;  // head_dim * kBlockTokens
  std::vector<std::vector<std::unique_ptr<float[]>>> pages_;  // [layer][block]
  std::vector<int64_t> size_;                                  // per layer
};

}  // namespace folio::kv
