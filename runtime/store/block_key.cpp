#include "runtime/store/block_key.hpp"

#include <array>
#include <string>

#include "runtime/common/error.hpp"

namespace folio::store {

Hash128 attention_fingerprint(std::string_view canonical_settings) {
  return Hasher().update("folio.attention.v1").field(canonical_settings).digest();
}

Hash128 block_key(const KeyContext& context, const Hash128* parent, std::span<const int32_t> block_tokens,
                  std::span<const uint8_t> block_global) {
  if (block_tokens.size() != kBlockTokens)
    fail(Errc::invalid_argument, "block_key: a block has " + std::to_string(kBlockTokens) + " tokens, got " +
                                     std::to_string(block_tokens.size()));
  if (!block_global.empty() && block_global.size() != block_tokens.size())
    fail(Errc::invalid_argument, "block_key: global flags do not match the tokens");
  Hasher h;
  h.update("folio.block.v1");
  h.u32(parent ? 1 : 0);
  if (parent) h.hash(*parent);
  h.hash(context.model).hash(context.attention).u32(uint32_t(kBlockTokens));
  // Token ids little-endian, then the flags packed as a 64-bit mask: the key
  // does not depend on the host's byte order.
  std::array<std::byte, kBlockTokens * 4> ids;
  uint64_t mask = 0;
  for (size_t i = 0; i < kBlockTokens; ++i) {
    const auto v = uint32_t(block_tokens[i]);
    for (size_t b = 0; b < 4; ++b) ids[4 * i + b] = std::byte((v >> (8 * b)) & 0xff);
    if (!block_global.empty() && block_global[i] != 0) mask |= uint64_t(1) << i;
  }
  h.update(ids).u64(mask);
  return h.digest();
}

std::vector<Hash128> block_keys(const KeyContext& context, std::span<const int32_t> tokens,
                                std::span<const uint8_t> global) {
  if (!global.empty() && global.size() != tokens.size())
    fail(Errc::invalid_argument, "block_keys: " + std::to_string(global.size()) + " global flags for " +
                                     std::to_string(tokens.size()) + " tokens");
  const size_t n_blocks = tokens.size() / kBlockTokens;
  std::vector<Hash128> keys;
  keys.reserve(n_blocks);
  for (size_t b = 0; b < n_blocks; ++b) {
    const auto block_tokens = tokens.subspan(b * kBlockTokens, kBlockTokens);
    const auto block_global = global.empty() ? global : global.subspan(b * kBlockTokens, kBlockTokens);
    keys.push_back(block_key(context, b == 0 ? nullptr : &keys.back(), block_tokens, block_global));
  }
  return keys;
}

}  // namespace folio::store
