// The BPE merge loop over token ids.
//
// A piece starts as one token per byte; the adjacent pair with the lowest merge
// rank (leftmost on ties) is replaced by its merged token until no adjacent pair
// has a merge. Pair ranks live in an open-addressing hash table keyed by the two
// token ids. Short pieces (almost all) keep a rank per adjacent pair in a small
// array; long ones (runs of spaces, minified code) use a heap over a linked list,
// so a piece of n bytes costs O(n log n).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "runtime/tokenizer/tokenizer.hpp"

namespace folio::tok {

class MergeTable {
 public:
  struct Merge {
    int32_t rank;
    TokenId merged;
  };

  explicit MergeTable(size_t expected = 0);
  // Adds (left, right) -> merged at `rank`; an existing pair keeps its better rank.
  void insert(TokenId left, TokenId right, int32_t rank, TokenId merged);
  const Merge* find(TokenId left, TokenId right) const noexcept {
    const uint64_t key = pack(left, right);
    for (size_t i = slot_of(key);; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }
  size_t size() const noexcept { return size_; }

 private:
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  static uint64_t pack(TokenId l, TokenId r) noexcept {
    return uint64_t(uint32_t(l)) << 32 | uint32_t(r);
  }
  size_t slot_of(uint64_t key) const noexcept {
    return size_t((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  void grow();

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t size_ = 0;
};

// Appends the BPE tokens of `piece` to `out`. `byte_tokens[b]` is the token of
// the single byte b (negative when the vocabulary has none: encoding such a
// byte throws folio::Error(invalid_argument)).
void bpe_merge(std::string_view piece, const std::array<TokenId, 256>& byte_tokens,
               const MergeTable& merges, std::vector<TokenId>& out);

}  // namespace folio::tok
