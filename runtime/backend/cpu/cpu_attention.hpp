// Exact attention of a batch of queries over a paged KV cache (CPU).
#pragma once

#include <cstdint>
#include <span>

#include "runtime/attention/plan.hpp"
#include "runtime/backend/backend.hpp"
#include "runtime/kv/paged_cache.hpp"

namespace folio::cpu {

class ThreadPool;

// out[r] (n_heads*head_dim) = attention of q[r] at position pos0 + r over the
// cache of `layer`, causal. Online softmax over blocks (flash-attention order).
// Without a plan every visible block is read (dense); with one, query block qb
// and KV head g read only plan->row(qb, g) (keys past the causal limit of each
// query are still masked). The plan must cover exactly these queries.
void attention(ThreadPool& pool, const backend::Act& q, const kv::PagedCache& cache, int layer, int64_t pos0,
               const backend::AttentionParams& p, const backend::Act& out, const attn::Plan* plan = nullptr);

}  // namespace folio::cpu
