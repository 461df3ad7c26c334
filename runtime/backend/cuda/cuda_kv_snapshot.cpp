#include "runtime/backend/cuda/cuda_kv_snapshot.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <vector>

#include "runtime/backend/cuda/device_memory.hpp"
#include "runtime/store/block_key.hpp"
#include "runtime/store/session_snapshot.hpp"
#include "runtime/common/error.hpp"

namespace folio::cuda {

namespace {

constexpr int64_t kB = kv::kBlockTokens;
static_assert(kv::kBlockTokens == int(store::kBlockTokens), "store and KV cache must agree on the block size");

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Bytes of one layer's keys (or values) of one block.
size_t half_bytes(const CudaKvCache& c) { return size_t(kB) * size_t(c.row_elems()) * sizeof(__nv_bfloat16); }

class Event {
 public:
  Event() { check(cudaEventCreateWithFlags(&e_, cudaEventDisableTiming), "event"); }
  ~Event() { cudaEventDestroy(e_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(cudaStream_t s) { check(cudaEventRecord(e_, s), "event record"); }
  void wait() { check(cudaEventSynchronize(e_), "event wait"); }

 private:
  cudaEvent_t e_ = nullptr;
};

}  // namespace

store::Layout cuda_kv_part_layout(const kv::CacheConfig& c) {
  return {1, "kv.bf16;layers=" + std::to_string(c.n_layers) + ";kv_heads=" + std::to_string(c.n_kv_heads) +
                 ";head_dim=" + std::to_string(c.head_dim) + ";block=" + std::to_string(kB) +
                 ";order=per-layer,k[tok][head][dim],v[tok][head][dim]"};
}

store::SaveResult save_cuda_snapshot(store::Store& st, const store::Hash128& model,
                                     std::span<const store::Hash128> keys, const CudaKvCache& cache,
                                     std::string label) {
  const kv::CacheConfig& c = cache.config();
  for (int l = 0; l < c.n_layers; ++l)
    if (cache.size(l) < int64_t(keys.size()) * kB)
      fail(Errc::invalid_argument, "save_cuda_snapshot: layer " + std::to_string(l) + " holds " +
                                       std::to_string(cache.size(l)) + " tokens, fewer than the " +
                                       std::to_string(keys.size()) + " blocks to save");
  const store::Layout layout = cuda_kv_part_layout(c);
  const size_t half = half_bytes(cache), block_bytes = 2 * half * size_t(c.n_layers);
  cudaStream_t stream = cache.stream();
  std::array<PinnedArray<std::byte>, 2> buf;
  std::array<Event, 2> copied;
  std::array<int64_t, 2> block_in{-1, -1};

  store::SaveResult result;
  result.blocks = keys.size();
  auto w = st.write(model, keys, std::move(label));
  auto put = [&](int slot) {
    copied[size_t(slot)].wait();
    const std::span<const std::byte> payload(buf[size_t(slot)].get(block_bytes), block_bytes);
    w.put(size_t(block_in[size_t(slot)]), store::PartId::of(store::PartKind::kv), layout, payload);
    result.bytes_written += block_bytes;
    ++result.blocks_written;
    block_in[size_t(slot)] = -1;
  };
  int slot = 0;
  for (size_t b = 0; b < keys.size(); ++b) {
    if (w.stored(b)) continue;
    if (block_in[size_t(slot)] >= 0) put(slot);  // frees this buffer
    std::byte* dst = buf[size_t(slot)].get(block_bytes);
    for (int l = 0; l < c.n_layers; ++l) {
      const size_t off = size_t(b) * size_t(kB) * size_t(cache.row_elems());
      check(cudaMemcpyAsync(dst + size_t(l) * 2 * half, cache.keys(l) + off, half, cudaMemcpyDeviceToHost, stream),
            "snapshot keys to host");
      check(cudaMemcpyAsync(dst + size_t(l) * 2 * half + half, cache.values(l) + off, half, cudaMemcpyDeviceToHost,
                            stream),
            "snapshot values to host");
    }
    copied[size_t(slot)].record(stream);
    block_in[size_t(slot)] = int64_t(b);
    slot ^= 1;  // the other buffer's block is written while this one copies
  }
  for (int i = 0; i < 2; ++i, slot ^= 1)
    if (block_in[size_t(slot)] >= 0) put(slot);
  w.commit();
  return result;
}

CudaRestoreResult restore_cuda_snapshot(store::Store& st, const store::Hash128& model,
                                        std::span<const store::Hash128> keys, CudaKvCache& cache) {
  if (cache.size() != 0) fail(Errc::invalid_argument, "restore_cuda_snapshot: the cache must be empty");
  const double t0 = now_s();
  const kv::CacheConfig& c = cache.config();
  const store::Layout layout = cuda_kv_part_layout(c);
  const size_t half = half_bytes(cache), block_bytes = 2 * half * size_t(c.n_layers);
  const size_t max_blocks = size_t(c.max_tokens / kB);
  cudaStream_t stream = cache.stream();

  CudaRestoreResult result;
  auto r = st.restore(model, keys.first(std::min(keys.size(), max_blocks)));
  cache.reserve(int64_t(r.n_blocks()) * kB);  // every page in place before any copy
  std::array<PinnedArray<std::byte>, 2> buf;
  std::array<Event, 2> copied;
  std::array<bool, 2> busy{false, false};
  size_t good = 0;
  for (size_t b = 0; b < r.n_blocks(); ++b) {
    const size_t slot = b % 2;
    if (busy[slot]) copied[slot].wait();  // the copies out of this buffer are done
    std::byte* src = buf[slot].get(block_bytes);
    const double tr = now_s();
    const bool ok = r.read(b, store::PartId::of(store::PartKind::kv), layout, std::span<std::byte>(src, block_bytes)) ==
                    store::ReadStatus::ok;
    result.read_seconds += now_s() - tr;
    if (!ok) break;
    for (int l = 0; l < c.n_layers; ++l) {
      const size_t off = b * size_t(kB) * size_t(cache.row_elems());
      check(cudaMemcpyAsync(cache.keys(l) + off, src + size_t(l) * 2 * half, half, cudaMemcpyHostToDevice, stream),
            "snapshot keys to the GPU");
      check(cudaMemcpyAsync(cache.values(l) + off, src + size_t(l) * 2 * half + half, half, cudaMemcpyHostToDevice,
                            stream),
            "snapshot values to the GPU");
    }
    copied[slot].record(stream);
    busy[slot] = true;
    result.bytes += block_bytes;
    good = b + 1;
  }
  r.finish();
  cache.adopt_restored(int64_t(good) * kB);
  check(cudaStreamSynchronize(stream), "snapshot restore");
  result.blocks = good;
  result.total_seconds = now_s() - t0;
  return result;
}

size_t restore_cuda_session(store::Store& st, const store::KeyContext& context, model::Session& session,
                            std::span<const int32_t> tokens, std::span<const uint8_t> global) {
  auto* cache = dynamic_cast<CudaKvCache*>(&session.kv_cache());
  if (!cache) return 0;
  return store::restore_session_with(st, context, session, tokens, global, [&](std::span<const store::Hash128> keys) {
    return restore_cuda_snapshot(st, context.model, keys, *cache).blocks;
  });
}

size_t save_cuda_session(store::Store& st, const store::KeyContext& context, model::Session& session,
                         std::span<const int32_t> tokens, std::span<const uint8_t> global, std::string label) {
  auto* cache = dynamic_cast<CudaKvCache*>(&session.kv_cache());
  if (!cache) return 0;
  return save_cuda_snapshot(st, context.model, store::saved_block_keys(context, session, tokens, global), *cache,
                            std::move(label))
      .blocks_written;
}

}  // namespace folio::cuda
