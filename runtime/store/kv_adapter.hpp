// Snapshots of the host paged KV cache (runtime/kv) in a Store.
//
// Each complete 64-token block of a stream becomes three parts:
//   part (kv, 0)       for each layer: the keys and values exactly as the cache
//                      holds them (f32): for each KV head its transposed keys
//                      [head_dim][64], then for each head its values [64][head_dim]
//   part (summary, 0)  for each layer: mean keys [head][head_dim], then (when
//                      enabled) min and max keys [head][head_dim]
//   part (anchors, 0)  when the caller gives one: opaque anchor-map bytes
// One part per block for all layers, not one per layer: parts of hundreds of
// KiB to MiB fill 64 KiB pages well and read at disk speed (bench/store). The layout descriptors name the dtype, the shape and the order,
// so a cache of another shape never reads them.
//
// Restore writes the K/V back through PagedCache::write, which recomputes the
// summaries from the restored keys: the result is bit-identical to the cache
// that was saved (the stored summaries are verified against it by the tests).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "runtime/kv/paged_cache.hpp"
#include "runtime/store/store.hpp"

namespace folio::store {

Layout kv_part_layout(const kv::CacheConfig& config);
Layout summary_part_layout(const kv::CacheConfig& config);

struct SaveResult {
  size_t blocks = 0;          // blocks in the snapshot
  size_t blocks_written = 0;  // of which new (the rest were already stored)
  uint64_t bytes_written = 0;
};

// Saves blocks [0, keys.size()) of `cache` (all complete, on every layer) as a
// snapshot. `anchors`, when not empty, holds one opaque byte string per block.
SaveResult save_snapshot(Store& store, const Hash128& model, std::span<const Hash128> keys,
                         const kv::PagedCache& cache, std::string label,
                         std::span<const std::vector<std::byte>> anchors = {});

struct RestoreResult {
  size_t blocks = 0;  // restored into the cache; tokens = blocks * 64
  std::vector<std::vector<std::byte>> anchors;  // per restored block (empty strings when none were saved)
};

// Restores the longest usable stored prefix of `keys` into `cache`, which must
// be empty. A part found bad ends the restore at the block before it (the cache
// is truncated there): the caller prefills from blocks * 64 onwards.
RestoreResult restore_snapshot(Store& store, const Hash128& model, std::span<const Hash128> keys,
                               kv::PagedCache& cache);

}  // namespace folio::store
