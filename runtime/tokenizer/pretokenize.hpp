// Pre-tokenizers: split text into the pieces BPE runs on, exactly as the
// published regexes do, with hand-written matchers (no regex engine):
//
//   qwen2  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
//          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   llama3 the same with \p{N}{1,3} in place of \p{N}
//   gpt2   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// The case-insensitive contractions match ASCII letters only ('S, 'Ll, ...), as
// transformers.js and llama.cpp implement the group. Bytes that are not valid
// UTF-8 count as one character each that is neither letter, number nor space,
// so every input splits into pieces that concatenate back to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/tokenizer.hpp"

namespace folio::tok {

struct Piece {
  uint32_t offset;
  uint32_t length;
};

// End of the piece that starts at byte `pos` (< text.size()) of `text`. Piece
// boundaries depend only on the text from `pos` on, so callers can walk a text
// piece by piece without storing the split.
size_t piece_end(PreTokenizer kind, std::string_view text, size_t pos);

// Appends the pieces of `text` (byte ranges, in order, covering all of it) to
// `out`. `text` must be shorter than 4 GiB.
void pretokenize(PreTokenizer kind, std::string_view text, std::vector<Piece>& out);

}  // namespace folio::tok
