#include "runtime/kv/paged_cache.hpp"

#include <algorithm>
#include <string>

#include "runtime/common/error.hpp"

namespace folio::kv {

namespace {
constexpr int kB = kBlockTokens;
}

PagedCache::PagedCache(const CacheConfig& config) : config_(config), family_(std::make_shared<PageCount>()) {
  if (config.n_layers <= 0 || config.n_kv_heads <= 0 || config.head_dim <= 0 || config.max_tokens <= 0)
    fail(Errc::invalid_argument, "kv cache: layers, kv heads, head_dim and max_tokens must be positive");
  head_block_floats_ = size_t(config.head_dim) * kB;
  pages_.resize(size_t(config.n_layers));
  size_.assign(size_t(config.n_layers), 0);
}

// Page layout: keys_t [H][D][64], values [H][64][D], mean [H][D], (min [H][D], max [H][D]).
size_t PagedCache::page_floats() const noexcept {
  const size_t h = size_t(config_.n_kv_heads), d = size_t(config_.head_dim);
  return 2 * h * head_block_floats_ + h * d * (config_.minmax_summary ? 3 : 1);
}

std::shared_ptr<float[]> PagedCache::new_page(const float* copy_of) const {
  // The deleter keeps the family's count alive and exact whichever cache of the
  // family drops the page last.
  struct Release {
    std::shared_ptr<PageCount> family;
    void operator()(float* p) const noexcept {
      family->live.fetch_sub(1, std::memory_order_relaxed);
      delete[] p;
    }
  };
  // A copy is not zeroed first (a page is a quarter MiB in large models).
  std::shared_ptr<float[]> p(copy_of ? new float[page_floats()] : new float[page_floats()](), Release{family_});
  family_->live.fetch_add(1, std::memory_order_relaxed);
  if (copy_of) std::copy_n(copy_of, page_floats(), p.get());
  return p;
}

const float* PagedCache::page(int layer, int64_t block) const {
  return pages_[size_t(layer)][size_t(block)].data.get();
}

float* PagedCache::writable_page(int layer, int64_t block) {
  Page& pg = pages_[size_t(layer)][size_t(block)];
  if (pg.shared) {
    pg.data = new_page(pg.data.get());
    pg.shared = false;
  }
  return pg.data.get();
}

PagedCache PagedCache::fork() {
  PagedCache f(config_);
  f.family_ = family_;
  f.size_ = size_;
  for (int layer = 0; layer < config_.n_layers; ++layer) {
    auto& mine = pages_[size_t(layer)];
    auto& theirs = f.pages_[size_t(layer)];
    theirs.reserve(mine.size());
    for (size_t b = 0; b < mine.size(); ++b) {
      if (block_fill(layer, int64_t(b)) == kB) {
        // Full: immutable from now on in both caches.
        mine[b].shared = true;
        theirs.push_back(mine[b]);
      } else {
        // The partial last block: both will append into it, so each gets its own.
        theirs.push_back(Page{new_page(mine[b].data.get()), false});
      }
    }
  }
  return f;
}

const float* PagedCache::keys_t(int layer, int64_t block, int head) const {
  return page(layer, block) + size_t(head) * head_block_floats_;
}
const float* PagedCache::values(int layer, int64_t block, int head) const {
  return page(layer, block) + size_t(config_.n_kv_heads + head) * head_block_floats_;
}
const float* PagedCache::key_mean(int layer, int64_t block, int head) const {
  return page(layer, block) + 2 * size_t(config_.n_kv_heads) * head_block_floats_ +
         size_t(head) * size_t(config_.head_dim);
}
const float* PagedCache::key_min(int layer, int64_t block, int head) const {
  if (!config_.minmax_summary) fail(Errc::invalid_argument, "kv cache: min/max summaries are disabled");
  return key_mean(layer, block, head) + size_t(config_.n_kv_heads) * size_t(config_.head_dim);
}
const float* PagedCache::key_max(int layer, int64_t block, int head) const {
  return key_min(layer, block, head) + size_t(config_.n_kv_heads) * size_t(config_.head_dim);
}

int PagedCache::block_fill(int layer, int64_t block) const {
  const int64_t rest = size_[size_t(layer)] - block * kB;
  return int(std::clamp<int64_t>(rest, 0, kB));
}

size_t PagedCache::bytes_allocated() const noexcept {
  size_t n = 0;
  for (const auto& layer : pages_) n += layer.size();
  return n * page_bytes();
}

size_t PagedCache::bytes_shared() const noexcept {
  size_t n = 0;
  for (const auto& layer : pages_)
    for (const Page& p : layer) n += p.data.use_count() > 1 ? 1 : 0;
  return n * page_bytes();
}

int64_t PagedCache::family_pages() const noexcept { return family_->live.load(std::memory_order_relaxed); }

void PagedCache::write(int layer, int64_t pos0, int64_t n, const float* k, int64_t k_stride, const float* v,
                       int64_t v_stride) {
  if (layer < 0 || layer >= config_.n_layers)
    fail(Errc::invalid_argument, "kv cache: layer " + std::to_string(layer) + " out of range");
  if (n <= 0) return;
  int64_t& size = size_[size_t(layer)];
  if (pos0 < 0 || pos0 > size)
    fail(Errc::invalid_argument, "kv cache: write at position " + std::to_string(pos0) +
                                     " would leave a hole (layer holds " + std::to_string(size) + " tokens)");
  if (pos0 + n > config_.max_tokens)
    fail(Errc::invalid_argument, "kv cache: " + std::to_string(pos0 + n) + " tokens exceed the capacity of " +
                                     std::to_string(config_.max_tokens) + "; use a larger context");
  auto& pages = pages_[size_t(layer)];
  const int64_t need_blocks = blocks_for(pos0 + n);
  while (int64_t(pages.size()) < need_blocks) pages.push_back(Page{new_page(), false});
  const int H = config_.n_kv_heads, D = config_.head_dim;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t pos = pos0 + t;
    float* pg = writable_page(layer, pos / kB);
    const int slot = int(pos % kB);
    const float* krow = k + t * k_stride;
    const float* vrow = v + t * v_stride;
    for (int h = 0; h < H; ++h) {
      float* kt = pg + size_t(h) * head_block_floats_;
      float* vv = pg + size_t(H + h) * head_block_floats_ + size_t(slot) * size_t(D);
      for (int d = 0; d < D; ++d) {
        kt[size_t(d) * kB + size_t(slot)] = krow[h * D + d];
        vv[d] = vrow[h * D + d];
      }
    }
  }
  size = std::max(size, pos0 + n);
  for (int64_t b = pos0 / kB; b < need_blocks; ++b) update_summary(layer, b);
}

void PagedCache::update_summary(int layer, int64_t block) {
  const int fill = block_fill(layer, block);
  const int H = config_.n_kv_heads, D = config_.head_dim;
  float* pg = writable_page(layer, block);
  float* mean = pg + 2 * size_t(H) * head_block_floats_;
  float* mn = mean + size_t(H) * size_t(D);
  float* mx = mn + size_t(H) * size_t(D);
  for (int h = 0; h < H; ++h) {
    const float* kt = pg + size_t(h) * head_block_floats_;
    for (int d = 0; d < D; ++d) {
      const float* row = kt + size_t(d) * kB;
      float sum = 0, lo = 0, hi = 0;
      if (fill > 0) lo = hi = row[0];
      for (int s = 0; s < fill; ++s) {
        sum += row[s];
        lo = std::min(lo, row[s]);
        hi = std::max(hi, row[s]);
      }
      mean[h * D + d] = fill > 0 ? sum / float(fill) : 0.0f;
      if (config_.minmax_summary) {
        mn[h * D + d] = lo;
        mx[h * D + d] = hi;
      }
    }
  }
}

void PagedCache::truncate(int64_t n_tokens) {
  if (n_tokens < 0) fail(Errc::invalid_argument, "kv cache: negative truncate length");
  const int H = config_.n_kv_heads;
  for (int layer = 0; layer < config_.n_layers; ++layer) {
    int64_t& size = size_[size_t(layer)];
    if (n_tokens >= size) continue;
    size = n_tokens;
    auto& pages = pages_[size_t(layer)];
    pages.resize(size_t(blocks_for(n_tokens)));
    if (n_tokens % kB != 0) {
      // zero the forgotten tail of the last block so reads past the fill stay zero
      const int64_t b = n_tokens / kB;
      const int fill = int(n_tokens % kB);
      float* pg = writable_page(layer, b);
      for (int h = 0; h < H; ++h) {
        float* kt = pg + size_t(h) * head_block_floats_;
        float* vv = pg + size_t(H + h) * head_block_floats_;
        for (int d = 0; d < config_.head_dim; ++d)
          std::fill(kt + size_t(d) * kB + size_t(fill), kt + size_t(d + 1) * kB, 0.0f);
        std::fill(vv + size_t(fill) * size_t(config_.head_dim), vv + head_block_floats_, 0.0f);
      }
      update_summary(layer, b);
    }
  }
}

}  // namespace folio::kv
