#include "runtime/tokenizer/bpe.hpp"

#include <algorithm>
#include <bit>
#include <climits>
#include <cstdio>
#include <queue>

#include "runtime/common/error.hpp"

namespace folio::tok {

MergeTable::MergeTable(size_t expected) {
  size_t capacity = 16;
  while (capacity < expected * 2) capacity *= 2;
  slots_.assign(capacity, Slot{kEmpty, {0, 0}});
  mask_ = capacity - 1;
  shift_ = 64 - std::countr_zero(capacity);
}

void MergeTable::grow() {
  std::vector<Slot> old = std::move(slots_);
  const size_t capacity = old.size() * 2;
  slots_.assign(capacity, Slot{kEmpty, {0, 0}});
  mask_ = capacity - 1;
  shift_ = 64 - std::countr_zero(capacity);
  for (const Slot& s : old) {
    if (s.key == kEmpty) continue;
    size_t i = slot_of(s.key);
    while (slots_[i].key != kEmpty) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

void MergeTable::insert(TokenId left, TokenId right, int32_t rank, TokenId merged) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const uint64_t key = pack(left, right);
  size_t i = slot_of(key);
  for (; slots_[i].key != kEmpty; i = (i + 1) & mask_) {
    if (slots_[i].key == key) {
      if (rank < slots_[i].merge.rank) slots_[i].merge = {rank, merged};
      return;
    }
  }
  slots_[i] = {key, {rank, merged}};
  ++size_;
}

namespace {

[[noreturn]] void fail_missing_byte(unsigned char b) {
  char msg[96];
  std::snprintf(msg, sizeof msg, "tokenizer: the vocabulary has no token for byte 0x%02X", b);
  fail(Errc::invalid_argument, msg);
}

constexpr size_t kArrayLimit = 96;  // longer pieces take the heap path

// Pieces up to kArrayLimit bytes: ids and the rank of each adjacent pair in
// fixed arrays; each step scans the ranks (no hashing) and looks up only the
// two pairs the merge created.
void merge_short(std::span<TokenId> ids_in, const MergeTable& merges, std::vector<TokenId>& out) {
  TokenId ids[kArrayLimit];
  const MergeTable::Merge* pair[kArrayLimit];
  size_t n = ids_in.size();
  std::copy(ids_in.begin(), ids_in.end(), ids);
  for (size_t i = 0; i + 1 < n; ++i) pair[i] = merges.find(ids[i], ids[i + 1]);
  while (n > 1) {
    size_t best = n;
    int32_t best_rank = INT32_MAX;
    for (size_t i = 0; i + 1 < n; ++i)
      if (pair[i] && pair[i]->rank < best_rank) best_rank = pair[i]->rank, best = i;
    if (best == n) break;
    ids[best] = pair[best]->merged;
    for (size_t i = best + 1; i + 1 < n; ++i) ids[i] = ids[i + 1];
    for (size_t i = best + 1; i + 2 < n; ++i) pair[i] = pair[i + 1];
    --n;
    if (best > 0) pair[best - 1] = merges.find(ids[best - 1], ids[best]);
    if (best + 1 < n) pair[best] = merges.find(ids[best], ids[best + 1]);
  }
  out.insert(out.end(), ids, ids + n);
}

void merge_long(std::span<TokenId> ids, const MergeTable& merges, std::vector<TokenId>& out) {
  const size_t n = ids.size();
  struct Node {
    TokenId id;
    int32_t prev, next;  // -1 at the ends
  };
  std::vector<Node> nodes(n);
  for (size_t i = 0; i < n; ++i) nodes[i] = {ids[i], int32_t(i) - 1, i + 1 < n ? int32_t(i + 1) : -1};
  struct Candidate {
    int32_t rank, pos;
    TokenId left, right;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto push = [&](int32_t pos) {
    const int32_t next = nodes[pos].next;
    if (next < 0) return;
    if (const auto* m = merges.find(nodes[pos].id, nodes[next].id))
      heap.push({m->rank, pos, nodes[pos].id, nodes[next].id});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(int32_t(i));
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Node& left = nodes[c.pos];
    // Stale entries: a side merged since the pair was pushed (ids changed).
    if (left.id != c.left || left.next < 0 || nodes[left.next].id != c.right) continue;
    const int32_t gone = left.next;
    left.id = merges.find(c.left, c.right)->merged;
    left.next = nodes[gone].next;
    if (left.next >= 0) nodes[left.next].prev = c.pos;
    nodes[gone].id = -1;
    if (left.prev >= 0) push(left.prev);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = nodes[i].next) out.push_back(nodes[i].id);
}

}  // namespace

void bpe_merge(std::string_view piece, const std::array<TokenId, 256>& byte_tokens,
               const MergeTable& merges, std::vector<TokenId>& out) {
  if (piece.empty()) return;
  TokenId small[kArrayLimit];
  std::vector<TokenId> large;
  std::span<TokenId> ids;
  if (piece.size() <= kArrayLimit) {
    ids = std::span<TokenId>(small, piece.size());
  } else {
    large.resize(piece.size());
    ids = large;
  }
  for (size_t i = 0; i < piece.size(); ++i) {
    const auto b = static_cast<unsigned char>(piece[i]);
    if (byte_tokens[b] < 0) fail_missing_byte(b);
    ids[i] = byte_tokens[b];
  }
  if (ids.size() == 1) {
    out.push_back(ids[0]);
  } else if (ids.size() <= kArrayLimit) {
    merge_short(ids, merges, out);
  } else {
    merge_long(ids, merges, out);
  }
}

}  // namespace folio::tok
