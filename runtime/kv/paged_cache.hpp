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
//
// Forks share pages. fork() makes a second cache with the same contents in
// which every full block (64 filled tokens) is the same page, reference-counted;
// only the last, partially filled block is copied, since both caches will append
// into it. A shared page is immutable: a write or truncate that would change it
// copies it first (copy-on-write), so neither cache ever sees the other's later
// tokens. A page is freed when the last cache holding it drops it. A cache and
// all caches forked from it (transitively) form a family that counts its
// distinct live pages, so memory can be measured with sharing taken into account.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "runtime/kv/kv_config.hpp"

namespace folio::kv {

class PagedCache {
 public:
  explicit PagedCache(const CacheConfig& config);
  PagedCache(PagedCache&&) noexcept = default;
  PagedCache& operator=(PagedCache&&) noexcept = default;
  PagedCache(const PagedCache&) = delete;  // fork() says what is shared
  PagedCache& operator=(const PagedCache&) = delete;

  // A cache with the same contents: full blocks shared, the partial last block
  // copied (see the header comment). Marks the shared pages copy-on-write in
  // this cache too, hence non-const; the caller serialises it with this
  // cache's writes, as for any other mutation.
  PagedCache fork();

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

  // Bytes of the pages this cache references (shared pages counted in full).
  size_t bytes_allocated() const noexcept;
  // Of those, bytes of pages another cache references too right now.
  size_t bytes_shared() const noexcept;
  // Pages (and bytes) alive in this cache's family (it, the cache it was forked
  // from, and every fork), each shared page counted once.
  int64_t family_pages() const noexcept;
  size_t family_bytes() const noexcept { return size_t(family_pages()) * page_floats() * sizeof(float); }
  size_t page_bytes() const noexcept { return page_floats() * sizeof(float); }

 private:
  // Live pages of a family; each page's deleter decrements it.
  struct PageCount {
    std::atomic<int64_t> live{0};
  };
  struct Page {
    std::shared_ptr<float[]> data;
    bool shared = false;  // handed to a fork: copy before changing it
  };

  size_t page_floats() const noexcept;
  // A page counted in the family: zeros, or a copy of the page at `copy_of`.
  std::shared_ptr<float[]> new_page(const float* copy_of = nullptr) const;
  const float* page(int layer, int64_t block) const;
  // The page for writing: a shared page is replaced by a private copy first.
  float* writable_page(int layer, int64_t block);
  void update_summary(int layer, int64_t block);

  CacheConfig config_;
  size_t head_block_floats_;  // head_dim * kBlockTokens
  std::vector<std::vector<Page>> pages_;  // [layer][block]
  std::vector<int64_t> size_;             // per layer
  std::shared_ptr<PageCount> family_;
};

}  // namespace folio::kv
