#include "runtime/store/kv_adapter.hpp"

#include <algorithm>

#include "runtime/common/error.hpp"
#include "runtime/store/block_key.hpp"

namespace folio::store {

namespace {

static_assert(kv::kBlockTokens == int(kBlockTokens), "store and KV cache must agree on the block size");
constexpr int kB = kv::kBlockTokens;

std::string shape(const kv::CacheConfig& c) {
  return "layers=" + std::to_string(c.n_layers) + ";kv_heads=" + std::to_string(c.n_kv_heads) +
         ";head_dim=" + std::to_string(c.head_dim) + ";block=" + std::to_string(kB);
}

template <typename T>
std::span<const std::byte> bytes_of(const T* p, size_t n) {
  return std::as_bytes(std::span(p, n));
}

}  // namespace

Layout kv_part_layout(const kv::CacheConfig& c) {
  return {1, "kv.f32;" + shape(c) + ";order=per-layer,k[head][dim][tok],v[head][tok][dim]"};
}

Layout summary_part_layout(const kv::CacheConfig& c) {
  return {1, "summary.f32;" + shape(c) + (c.minmax_summary ? ";mean,min,max" : ";mean") + "[head][dim]"};
}

SaveResult save_snapshot(Store& store, const Hash128& model, std::span<const Hash128> keys,
                         const kv::PagedCache& cache, std::string label, std::span<const std::vector<std::byte>> anchors) {
  const auto& c = cache.config();
  if (!anchors.empty() && anchors.size() != keys.size())
    fail(Errc::invalid_argument, "save_snapshot: anchors must be given for every block or none");
  for (int l = 0; l < c.n_layers; ++l)
    if (cache.size(l) < int64_t(keys.size()) * kB)
      fail(Errc::invalid_argument, "save_snapshot: layer " + std::to_string(l) + " holds " +
                                       std::to_string(cache.size(l)) + " tokens, fewer than the " +
                                       std::to_string(keys.size()) + " blocks to save");
  const Layout kv_layout = kv_part_layout(c), sum_layout = summary_part_layout(c);
  const Layout anchor_layout{1, "anchors.opaque"};
  const size_t H = size_t(c.n_kv_heads), D = size_t(c.head_dim);

  SaveResult result;
  result.blocks = keys.size();
  auto w = store.write(model, keys, std::move(label));
  std::vector<std::span<const std::byte>> kv_pieces, sum_pieces;
  for (size_t b = 0; b < keys.size(); ++b) {
    if (w.stored(b)) continue;
    ++result.blocks_written;
    // Gathered straight from the cache pages: no staging copy.
    kv_pieces.clear();
    sum_pieces.clear();
    for (int l = 0; l < c.n_layers; ++l) {
      const auto blk = int64_t(b);
      for (size_t h = 0; h < H; ++h) kv_pieces.push_back(bytes_of(cache.keys_t(l, blk, int(h)), D * kB));
      for (size_t h = 0; h < H; ++h) kv_pieces.push_back(bytes_of(cache.values(l, blk, int(h)), D * kB));
      for (size_t h = 0; h < H; ++h) sum_pieces.push_back(bytes_of(cache.key_mean(l, blk, int(h)), D));
      if (c.minmax_summary) {
        for (size_t h = 0; h < H; ++h) sum_pieces.push_back(bytes_of(cache.key_min(l, blk, int(h)), D));
        for (size_t h = 0; h < H; ++h) sum_pieces.push_back(bytes_of(cache.key_max(l, blk, int(h)), D));
      }
    }
    w.put(b, PartId::of(PartKind::kv), kv_layout, kv_pieces);
    w.put(b, PartId::of(PartKind::summary), sum_layout, sum_pieces);
    result.bytes_written +=
        size_t(c.n_layers) * (2 * H * D * kB + H * D * (c.minmax_summary ? 3 : 1)) * sizeof(float);
    if (!anchors.empty()) {
      w.put(b, PartId::of(PartKind::anchors), anchor_layout, anchors[b]);
      result.bytes_written += anchors[b].size();
    }
  }
  w.commit();
  return result;
}

RestoreResult restore_snapshot(Store& store, const Hash128& model, std::span<const Hash128> keys,
                               kv::PagedCache& cache) {
  if (cache.size() != 0) fail(Errc::invalid_argument, "restore_snapshot: the cache must be empty");
  const auto& c = cache.config();
  const Layout kv_layout = kv_part_layout(c), sum_layout = summary_part_layout(c);
  const Layout anchor_layout{1, "anchors.opaque"};
  const size_t H = size_t(c.n_kv_heads), D = size_t(c.head_dim), HD = H * D;
  const size_t max_blocks = size_t(c.max_tokens / kB);

  RestoreResult result;
  auto r = store.restore(model, keys.first(std::min(keys.size(), max_blocks)));
  const size_t layer_floats = 2 * HD * kB;
  std::vector<float> stored(size_t(c.n_layers) * layer_floats);
  std::vector<float> summary(size_t(c.n_layers) * HD * (c.minmax_summary ? 3 : 1));
  std::vector<float> k_rows(size_t(kB) * HD), v_rows(size_t(kB) * HD);
  size_t good = 0;
  for (size_t b = 0; b < r.n_blocks(); ++b) {
    // The summaries are read (and so verified) although the cache recomputes
    // them from the keys: a damaged block is refused as a whole.
    bool ok = r.read(b, PartId::of(PartKind::kv), kv_layout, std::as_writable_bytes(std::span(stored))) ==
                  ReadStatus::ok &&
              r.read(b, PartId::of(PartKind::summary), sum_layout, std::as_writable_bytes(std::span(summary))) ==
                  ReadStatus::ok;
    for (int l = 0; l < c.n_layers && ok; ++l) {
      // Stored keys are [head][dim][tok]; the cache takes token rows [tok][head*dim].
      const float* kt = stored.data() + size_t(l) * layer_floats;
      const float* vs = kt + HD * kB;
      for (size_t h = 0; h < H; ++h)
        for (size_t d = 0; d < D; ++d)
          for (size_t t = 0; t < size_t(kB); ++t) k_rows[t * HD + h * D + d] = kt[(h * D + d) * kB + t];
      for (size_t h = 0; h < H; ++h)
        for (size_t t = 0; t < size_t(kB); ++t)
          std::copy_n(vs + (h * kB + t) * D, D, v_rows.data() + t * HD + h * D);
      cache.write(l, int64_t(b) * kB, kB, k_rows.data(), int64_t(HD), v_rows.data(), int64_t(HD));
    }
    std::vector<std::byte> anchor_bytes;
    if (ok) {
      if (const auto info = r.part_info(b, PartId::of(PartKind::anchors))) {
        anchor_bytes.resize(info->payload_bytes);
        ok = r.read(b, PartId::of(PartKind::anchors), anchor_layout, anchor_bytes) == ReadStatus::ok;
      }
    }
    if (!ok) break;
    result.anchors.push_back(std::move(anchor_bytes));
    good = b + 1;
  }
  r.finish();
  cache.truncate(int64_t(good) * kB);  // drops any layer written for a block that turned out bad
  result.blocks = good;
  result.anchors.resize(good);
  return result;
}

}  // namespace folio::store
