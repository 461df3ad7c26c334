// The CPU backend's KV cache: a kv::PagedCache behind the backend::KvCache interface.
#pragma once

#include "runtime/backend/backend.hpp"
#include "runtime/kv/paged_cache.hpp"

namespace folio::cpu {

class CpuKvCache final : public backend::KvCache {
 public:
  explicit CpuKvCache(const kv::CacheConfig& config) : cache_(config) {}
  const kv::CacheConfig& config() const noexcept override { return cache_.config(); }
  int64_t size() const noexcept override { return cache_.size(); }
  void truncate(int64_t n_tokens) override { cache_.truncate(n_tokens); }

  kv::PagedCache& paged() noexcept { return cache_; }
  const kv::PagedCache& paged() const noexcept { return cache_; }

 private:
  kv::PagedCache cache_;
};

}  // namespace folio::cpu
