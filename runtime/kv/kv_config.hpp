// Shape of a sequence's KV cache, shared by every backend.
#pragma once

#include <cstdint>

namespace folio::kv {

// Tokens per KV block: the unit of paging, of block summaries and of the
// sparse-attention plan (a plan lists KV blocks by index).
inline constexpr int kBlockTokens = 64;

struct CacheConfig {
  int n_layers = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int64_t max_tokens = 0;     // capacity; writing past it is an error
  bool minmax_summary = true; // keep per-channel min/max keys per block (upper-bound scoring)
};

inline int64_t blocks_for(int64_t n_tokens) { return (n_tokens + kBlockTokens - 1) / kBlockTokens; }

}  // namespace folio::kv
