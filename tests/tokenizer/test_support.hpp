// Small vocabularies built in memory for the tokenizer tests.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "runtime/tokenizer/byte_level.hpp"
#include "runtime/tokenizer/tokenizer.hpp"

namespace folio::tok::testing {

// A byte-level vocab: the 256 single bytes (ids 0..255 in byte order), then
// one token per merge (in merge order, skipping repeats), then `specials`.
// `merges` are pairs of raw byte strings.
inline Vocab make_vocab(const std::vector<std::pair<std::string, std::string>>& merges,
                        const std::vector<std::pair<std::string, TokenType>>& specials = {},
                        PreTokenizer pre = PreTokenizer::qwen2) {
  Vocab v;
  v.pre = pre;
  for (int b = 0; b < 256; ++b) v.tokens.push_back(byte_level_encode(std::string(1, char(b))));
  for (const auto& [a, b] : merges) {
    const std::string joined = byte_level_encode(a + b);
    bool seen = false;
    for (const auto& t : v.tokens) seen = seen || t == joined;
    if (!seen) v.tokens.push_back(joined);
    v.merges.push_back(byte_level_encode(a) + " " + byte_level_encode(b));
  }
  v.token_types.assign(v.tokens.size(), TokenType::normal);
  for (const auto& [text, type] : specials) {
    v.tokens.push_back(text);
    v.token_types.push_back(type);
  }
  return v;
}

}  // namespace folio::tok::testing
