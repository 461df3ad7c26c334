// A small byte-level BPE vocabulary built from scratch, for random-weight test
// models: the 256 byte tokens, merges learned from a built-in English sample,
// and the ChatML special tokens. Deterministic: the same arguments always give
// the same vocabulary.
#pragma once

#include "runtime/tokenizer/tokenizer.hpp"

namespace folio::model {

// `n_merges` merges are learned (fewer if the sample runs out of pairs).
// Token ids: 0..255 the bytes (id = byte value), then one per merge, then
// <|endoftext|>, <|im_start|>, <|im_end|> (control) and <think>, </think>
// (user-defined). EOS is <|im_end|>, PAD <|endoftext|>; no BOS.
tok::Vocab synthetic_vocab(int n_merges = 400);

// The English text the merges are learned from (also handy as a prompt).
const char* synthetic_vocab_sample() noexcept;

}  // namespace folio::model
