// The CPU backend's KV cache: a kv::PagedCache behind the backend::KvCache interface.
#pragma once

#include <memory>
#include <utility>

#include "runtime/backend/backend.hpp"
#include "runtime/kv/paged_cache.hpp"

namespace folio::cpu {

class CpuKvCache final : public backend::KvCache {
 public:
  explicit CpuKvCache(const kv::CacheConfig& config) : cache_(config) {}
  explicit CpuKvCache(kv::PagedCache&& cache) noexcept : cache_(std::move(cache)) {}
  const kv::CacheConfig& config() const noexcept override { return cache_.config(); }
  int64_t size() const noexcept override { return cache_.size(); }
  void truncate(int64_t n_tokens) override { cache_.truncate(n_tokens); }
  // Shares the full blocks (copy-on-write), copies the partial last one.
  std::unique_ptr<backend::KvCache> fork() override {
    return std::make_unique<CpuKvCache>(cache_.fork());
  }
  Memory memory() const noexcept override {
    return {cache_.bytes_allocated(), cache_.bytes_shared(), cache_.family_bytes()};
  }

  kv::PagedCache& paged() noexcept { return cache_; }
  const kv::PagedCache& paged() const noexcept { return cache_; }

 private:
  kv::PagedCache cache_;
};

}  // namespace folio::cpu
