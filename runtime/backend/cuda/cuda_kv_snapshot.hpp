// Snapshots of the CUDA KV cache in a Store (runtime/store): the GPU side of
// "prefill a corpus once, restore it for every later question".
//
// Each complete 64-token block is one part (kv, 0) holding, for each layer, the
// block's 64 key rows then its 64 value rows exactly as the cache pages hold
// them (bf16, [token][kv_head][head_dim]): saving is a device-to-host copy of
// contiguous page ranges, restoring the reverse, with no conversion. Summaries
// are not stored: the restore recomputes them from the keys with the kernel a
// prefill uses, so a restored cache equals the prefilled one bit for bit.
//
// The layout descriptor says bf16 and the page order, so a CPU snapshot (f32,
// kv_adapter.hpp) is never read as a GPU one or the reverse. Callers should
// also put the cache dtype into the attention fingerprint of their block keys
// (block_key.hpp) so the two kinds of snapshot do not share keys: a reader that
// finds a part in the other layout reports and removes it.
//
// I/O: blocks are read (SQLite incremental BLOB I/O, checksum verified) into
// two pinned host buffers in turn; while one block's pages are copied to the
// GPU (cudaMemcpyAsync on the cache's stream), the next block is read into the
// other buffer. Saving overlaps the same way in the other direction.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "runtime/backend/cuda/cuda_kv_cache.hpp"
#include "runtime/model/model.hpp"
#include "runtime/store/block_key.hpp"
#include "runtime/store/kv_adapter.hpp"
#include "runtime/store/store.hpp"

namespace folio::cuda {

store::Layout cuda_kv_part_layout(const kv::CacheConfig& config);

// Saves blocks [0, keys.size()) of `cache` (complete on every layer) as a
// snapshot; blocks already stored are skipped. Throws folio::Error on store
// failures (disk full, read-only).
store::SaveResult save_cuda_snapshot(store::Store& store, const store::Hash128& model,
                                     std::span<const store::Hash128> keys, const CudaKvCache& cache,
                                     std::string label);

struct CudaRestoreResult {
  size_t blocks = 0;          // restored; the cache now holds blocks * 64 tokens
  uint64_t bytes = 0;         // payload bytes read from the store
  double read_seconds = 0;    // host time inside RestoreReader::read (SQLite + checksum)
  double total_seconds = 0;   // the whole restore, summaries included, device idle at the end
};

// Restores the longest usable stored prefix of `keys` into `cache`, which must
// be empty. A part found bad ends the restore at the block before it.
CudaRestoreResult restore_cuda_snapshot(store::Store& store, const store::Hash128& model,
                                        std::span<const store::Hash128> keys, CudaKvCache& cache);

// Session level, as store::restore_session and store::save_session for CPU
// sessions (same contracts), for a model::Session whose cache is a CudaKvCache;
// a session on another backend restores and saves nothing. The key context
// should be store::session_key_context(model, mode, store::KvFormat::cuda_bf16).
size_t restore_cuda_session(store::Store& store, const store::KeyContext& context, model::Session& session,
                            std::span<const int32_t> tokens, std::span<const uint8_t> global);
size_t save_cuda_session(store::Store& store, const store::KeyContext& context, model::Session& session,
                         std::span<const int32_t> tokens, std::span<const uint8_t> global, std::string label);

}  // namespace folio::cuda
