// Tokenizer: special-token splitting, pre-tokenization and BPE; decoding.
#include "runtime/tokenizer/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <string>
#include <unordered_map>

#include "runtime/common/error.hpp"
#include "runtime/tokenizer/bpe.hpp"
#include "runtime/tokenizer/byte_level.hpp"
#include "runtime/tokenizer/nfc.hpp"
#include "runtime/tokenizer/pretokenize.hpp"

namespace folio::tok {

namespace {

[[noreturn]] void fail_vocab(const std::string& msg) { fail(Errc::format, "tokenizer: " + msg); }

bool is_special_type(TokenType t) { return t == TokenType::control || t == TokenType::user_defined; }

// Tokens written as plain text in the vocabulary (not in the byte-level alphabet).
bool is_verbatim_type(TokenType t) {
  return t == TokenType::control || t == TokenType::user_defined || t == TokenType::unused;
}

}  // namespace

struct Tokenizer::Impl {
  Vocab vocab;
  std::vector<std::string> bytes;                     // raw bytes of each token
  std::unordered_map<std::string_view, TokenId> ids;  // vocab text -> id (first wins); views into vocab.tokens
  std::array<TokenId, 256> byte_tokens{};
  MergeTable merges;
  // ignore_merges: raw bytes of each normal token -> id (views into `bytes`).
  std::unordered_map<std::string_view, TokenId> whole_pieces;

  // Tokens recognised in text, grouped by first byte, longest first.
  struct Special {
    std::string_view text;
    TokenId id;
    bool control;
  };
  std::array<std::vector<Special>, 256> specials_by_byte;
  bool has_specials = false;

  explicit Impl(Vocab v) : vocab(std::move(v)), merges(vocab.merges.size()) {
    const size_t n = vocab.tokens.size();
    if (n == 0) fail_vocab("the vocabulary is empty");
    if (n > size_t(INT32_MAX)) fail_vocab("the vocabulary has more than 2^31 tokens");
    if (!vocab.token_types.empty() && vocab.token_types.size() != n)
      fail_vocab("token_type has " + std::to_string(vocab.token_types.size()) + " entries but there are " +
                 std::to_string(n) + " tokens");
    for (const auto& [name, id] : {std::pair{"bos", vocab.bos}, {"eos", vocab.eos}, {"pad", vocab.pad}})
      if (id && (*id < 0 || size_t(*id) >= n))
        fail_vocab(std::string(name) + " token id " + std::to_string(*id) + " is out of range (vocabulary of " +
                   std::to_string(n) + ")");

    bytes.resize(n);
    ids.reserve(n);
    byte_tokens.fill(-1);
    for (size_t i = 0; i < n; ++i) {
      const std::string& text = vocab.tokens[i];
      const TokenType type = type_of(TokenId(i));
      ids.emplace(text, TokenId(i));
      std::optional<std::string> raw;
      if (!is_verbatim_type(type)) raw = byte_level_decode(text);
      bytes[i] = raw ? std::move(*raw) : text;
      if (raw && bytes[i].size() == 1 && type != TokenType::unused) {
        TokenId& slot = byte_tokens[static_cast<unsigned char>(bytes[i][0])];
        if (slot < 0) slot = TokenId(i);
      }
      if (is_special_type(type)) {
        if (text.empty()) fail_vocab("special token " + std::to_string(i) + " is empty");
        specials_by_byte[static_cast<unsigned char>(text[0])].push_back(
            {text, TokenId(i), type == TokenType::control});
        has_specials = true;
      }
    }
    if (vocab.ignore_merges) {
      whole_pieces.reserve(n);
      for (size_t i = 0; i < n; ++i)
        if (type_of(TokenId(i)) == TokenType::normal) whole_pieces.emplace(bytes[i], TokenId(i));
    }
    for (auto& list : specials_by_byte)
      std::stable_sort(list.begin(), list.end(),
                       [](const Special& a, const Special& b) { return a.text.size() > b.text.size(); });

    for (size_t rank = 0; rank < vocab.merges.size(); ++rank) {
      const std::string& m = vocab.merges[rank];
      const size_t space = m.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == m.size() ||
          m.find(' ', space + 1) != std::string::npos)
        fail_vocab("merge " + std::to_string(rank) + " (\"" + m + "\") is not two tokens separated by one space");
      const std::string_view left(m.data(), space), right(m.data() + space + 1, m.size() - space - 1);
      std::string joined;
      joined.reserve(m.size() - 1);
      joined.append(left).append(right);
      const auto l = ids.find(left), r = ids.find(right), j = ids.find(joined);
      if (l == ids.end() || r == ids.end() || j == ids.end())
        fail_vocab("merge " + std::to_string(rank) + " (\"" + m + "\") names a token that is not in the vocabulary");
      merges.insert(l->second, r->second, int32_t(rank), j->second);
    }
  }

  TokenType type_of(TokenId id) const noexcept {
    return vocab.token_types.empty() ? TokenType::normal : vocab.token_types[size_t(id)];
  }

  // Encodes text outside special tokens. With `offsets`, appends the start of
  // each new token, in bytes of the original text, plus `base`.
  void encode_plain(std::string_view text, std::vector<TokenId>& out, std::vector<uint32_t>* offsets = nullptr,
                    size_t base = 0) const {
    const size_t first = out.size();
    std::vector<NfcSpan> spans;
    if (vocab.normalizer == Normalizer::nfc && nfc_may_change(text)) {
      const std::string normalized = to_nfc(text, spans);
      encode_pieces(normalized, out);
    } else {
      encode_pieces(text, out);
    }
    if (!offsets) return;
    // Walk the tokens' bytes through the (normalized) text and map each start
    // back to the original: shifted outside rewritten spans, the span's start inside.
    size_t at = 0, span = 0;
    for (size_t i = first; i < out.size(); ++i) {
      while (span < spans.size() && spans[span].out_end <= at) ++span;
      size_t original = at;
      if (span > 0) original = at - spans[span - 1].out_end + spans[span - 1].in_end;
      if (span < spans.size() && spans[span].out_begin <= at) original = spans[span].in_begin;
      offsets->push_back(uint32_t(base + original));
      at += bytes[size_t(out[i])].size();
    }
  }

  void encode_piece(std::string_view piece, std::vector<TokenId>& out) const {
    if (vocab.ignore_merges) {
      if (const auto it = whole_pieces.find(piece); it != whole_pieces.end()) {
        out.push_back(it->second);
        return;
      }
    }
    bpe_merge(piece, byte_tokens, merges, out);
  }

  void encode_pieces(std::string_view text, std::vector<TokenId>& out) const {
    // Long texts repeat their words: a cache local to this call (so encode
    // stays const and thread-safe) skips the merge loop for repeated pieces.
    if (text.size() >= kCacheMinText) return encode_pieces_cached(text, out);
    for (size_t pos = 0; pos < text.size();) {
      const size_t end = piece_end(vocab.pre, text, pos);
      encode_piece(text.substr(pos, end - pos), out);
      pos = end;
    }
  }

  static constexpr size_t kCacheMinText = 4096;
  static constexpr size_t kCacheMaxPiece = 64;

  void encode_pieces_cached(std::string_view text, std::vector<TokenId>& out) const {
    // Open addressing over (piece bytes -> ids in `out`); fixed size, and no
    // inserts once half full, so memory stays bounded whatever the text.
    struct Slot {
      uint64_t hash = 0;
      uint32_t piece_offset = 0, ids_offset = 0;  // piece in `text`, ids in `out`
      uint16_t piece_length = 0, ids_count = 0;   // piece_length 0 = empty slot
    };
    const size_t capacity = std::min<size_t>(size_t(1) << 16, std::bit_ceil(text.size() / 8 + 64));
    std::vector<Slot> slots(capacity);
    size_t used = 0;
    const size_t base = out.size();  // ids offsets are relative to where this call started
    for (size_t pos = 0; pos < text.size();) {
      const size_t end = piece_end(vocab.pre, text, pos);
      const std::string_view piece = text.substr(pos, end - pos);
      if (piece.size() > kCacheMaxPiece || out.size() - base >= UINT32_MAX - kCacheMaxPiece) {
        encode_piece(piece, out);
        pos = end;
        continue;
      }
      uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
      for (const char c : piece) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
      size_t i = size_t(h) & (capacity - 1);
      bool hit = false;
      for (; slots[i].piece_length != 0; i = (i + 1) & (capacity - 1)) {
        const Slot& s = slots[i];
        if (s.hash == h && s.piece_length == piece.size() &&
            std::memcmp(text.data() + s.piece_offset, piece.data(), piece.size()) == 0) {
          const size_t from = base + s.ids_offset;
          for (size_t k = 0; k < s.ids_count; ++k) out.push_back(out[from + k]);
          hit = true;
          break;
        }
      }
      if (!hit) {
        const size_t before = out.size();
        encode_piece(piece, out);
        if (used * 2 < capacity) {
          slots[i] = {h, uint32_t(pos), uint32_t(before - base), uint16_t(piece.size()), uint16_t(out.size() - before)};
          ++used;
        }
      }
      pos = end;
    }
  }

  // The special token that starts at text[pos], if any (longest match).
  const Special* special_at(std::string_view text, size_t pos, bool parse_special) const noexcept {
    for (const Special& s : specials_by_byte[static_cast<unsigned char>(text[pos])]) {
      if (s.control && !parse_special) continue;
      if (text.size() - pos >= s.text.size() && std::memcmp(text.data() + pos, s.text.data(), s.text.size()) == 0)
        return &s;
    }
    return nullptr;
  }

  void encode(std::string_view text, bool parse_special, std::vector<TokenId>& out,
              std::vector<uint32_t>* offsets = nullptr) const {
    if (text.size() >= (size_t(1) << 32) - 1) fail(Errc::invalid_argument, "tokenizer: text of 4 GiB or more");
    if (!has_specials) return encode_plain(text, out, offsets, 0);
    size_t plain_start = 0;
    for (size_t pos = 0; pos < text.size();) {
      if (const Special* s = specials_by_byte[static_cast<unsigned char>(text[pos])].empty()
                                 ? nullptr
                                 : special_at(text, pos, parse_special)) {
        encode_plain(text.substr(plain_start, pos - plain_start), out, offsets, plain_start);
        out.push_back(s->id);
        if (offsets) offsets->push_back(uint32_t(pos));
        pos += s->text.size();
        plain_start = pos;
      } else {
        ++pos;
      }
    }
    encode_plain(text.substr(plain_start), out, offsets, plain_start);
  }

  void check_id(TokenId id) const {
    if (id < 0 || size_t(id) >= bytes.size())
      fail(Errc::invalid_argument, "tokenizer: token id " + std::to_string(id) + " is out of range (vocabulary of " +
                                       std::to_string(bytes.size()) + " tokens)");
  }
};

Tokenizer::Tokenizer(Vocab vocab) : impl_(std::make_unique<Impl>(std::move(vocab))) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool parse_special) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 1);
  impl_->encode(text, parse_special, out);
  return out;
}

std::vector<TokenId> Tokenizer::encode_with_bos(std::string_view text, bool parse_special) const {
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 2);
  if (impl_->vocab.add_bos && impl_->vocab.bos) out.push_back(*impl_->vocab.bos);
  impl_->encode(text, parse_special, out);
  return out;
}

Tokenizer::Encoding Tokenizer::encode_with_offsets(std::string_view text, bool parse_special) const {
  Encoding e;
  e.ids.reserve(text.size() / 3 + 1);
  e.offsets.reserve(text.size() / 3 + 2);
  impl_->encode(text, parse_special, e.ids, &e.offsets);
  e.offsets.push_back(uint32_t(text.size()));
  return e;
}

std::string Tokenizer::decode(std::span<const TokenId> ids) const {
  std::string out;
  for (const TokenId id : ids) {
    impl_->check_id(id);
    out += impl_->bytes[size_t(id)];
  }
  return out;
}

std::string Tokenizer::token_bytes(TokenId id) const {
  impl_->check_id(id);
  return impl_->bytes[size_t(id)];
}

size_t Tokenizer::vocab_size() const noexcept { return impl_->bytes.size(); }
const Vocab& Tokenizer::vocab() const noexcept { return impl_->vocab; }

std::optional<TokenId> Tokenizer::find(std::string_view token_text) const {
  const auto it = impl_->ids.find(token_text);
  if (it == impl_->ids.end()) return std::nullopt;
  return it->second;
}

bool Tokenizer::is_control(TokenId id) const noexcept {
  return id >= 0 && size_t(id) < impl_->bytes.size() && impl_->type_of(id) == TokenType::control;
}

TokenType Tokenizer::token_type(TokenId id) const {
  impl_->check_id(id);
  return impl_->type_of(id);
}

// ---- StreamDecoder ------------------------------------------------------------

namespace {

// Length of the tail of `s` that is an unfinished (but so far well-formed)
// UTF-8 character, 0 if none.
size_t incomplete_utf8_tail(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto b = static_cast<unsigned char>(s[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = 0;
    if (b >= 0xC2 && b <= 0xDF) need = 2;
    else if (b >= 0xE0 && b <= 0xEF) need = 3;
    else if (b >= 0xF0 && b <= 0xF4) need = 4;
    if (need <= back) return 0;  // ASCII, invalid lead, or complete
    if (back >= 2) {             // the second byte narrows the range for some leads
      const auto b1 = static_cast<unsigned char>(s[n - back + 1]);
      if ((b == 0xE0 && b1 < 0xA0) || (b == 0xED && b1 > 0x9F) || (b == 0xF0 && b1 < 0x90) ||
          (b == 0xF4 && b1 > 0x8F))
        return 0;
    }
    return back;
  }
  return 0;
}

}  // namespace

std::string StreamDecoder::push(TokenId id) {
  pending_ += tokenizer_->token_bytes(id);
  const size_t hold = incomplete_utf8_tail(pending_);
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = std::move(pending_);
  pending_.clear();
  return out;
}

}  // namespace folio::tok
