// Content addresses of KV blocks, as in prefix caching.
//
// A token stream is cut into blocks of kBlockTokens tokens. Block i's key hashes
// the key of block i-1 (its parent), the model fingerprint, the attention
// configuration, and block i's token ids and `global` flags. A key therefore
// names the exact prefix that produced the block's K/V: two streams share block
// i's key only if they agree on every token and flag up to the end of block i,
// on the model and on the attention settings. Only complete blocks get keys; a
// trailing partial block is always recomputed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "runtime/store/hash.hpp"

namespace folio::store {

// Equal to kv::kBlockTokens; the store does not depend on the KV cache, so the
// adapter asserts the two agree.
inline constexpr size_t kBlockTokens = 64;

struct KeyContext {
  Hash128 model;      // model_fingerprint(...): architecture, hyper-parameters, weights
  Hash128 attention;  // attention_fingerprint(...): settings that change stored state
};

// Hash of the attention settings that change what a block's stored state is
// (for example RoPE base and scaling, the K/V dtype, the summary kind). Pass a
// canonical "key=value;..." text; settings that only change which blocks are
// read (top-k, window) must not be part of it, or nothing would be shared.
Hash128 attention_fingerprint(std::string_view canonical_settings);

// Keys of the complete blocks of `tokens`. `global` is empty (no global tokens)
// or has one flag per token (non-zero = global). Throws
// folio::Error(invalid_argument) on a length mismatch.
std::vector<Hash128> block_keys(const KeyContext& context, std::span<const int32_t> tokens,
                                std::span<const uint8_t> global);

// The key of one block given its parent (nullptr for the first block).
Hash128 block_key(const KeyContext& context, const Hash128* parent, std::span<const int32_t> block_tokens,
                  std::span<const uint8_t> block_global);

}  // namespace folio::store
