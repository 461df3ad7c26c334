#include "runtime/tokenizer/pretokenize.hpp"

#include <array>

#include "runtime/common/error.hpp"
#include "runtime/tokenizer/unicode.hpp"

namespace folio::tok {

namespace {

using unicode::kLetter;
using unicode::kNumber;
using unicode::kSpace;

constexpr std::array<uint8_t, 128> kAsciiFlags = [] {
  std::array<uint8_t, 128> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = kLetter;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = kLetter;
  for (int c = '0'; c <= '9'; ++c) t[c] = kNumber;
  for (int c : {'\t', '\n', '\v', '\f', '\r', ' '}) t[c] = kSpace;
  return t;
}();

// One decoded character: its class flags and its length in bytes.
struct Char {
  char32_t cp;
  uint8_t flags;
  uint8_t length;
};

class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  size_t size() const noexcept { return text_.size(); }

  // The character at byte `pos` (< size()). ASCII takes a table-free fast path.
  Char at(size_t pos) const noexcept {
    const unsigned char b = static_cast<unsigned char>(text_[pos]);
    if (b < 0x80) return {b, kAsciiFlags[b], 1};
    const unicode::Decoded d = unicode::decode_utf8(text_, pos);
    if (!d.valid) return {d.cp, 0, 1};
    return {d.cp, unicode::flags(d.cp), d.length};
  }

  // End of the run of characters, starting at pos, whose flags intersect `mask`.
  size_t skip(size_t pos, uint8_t mask) const noexcept {
    while (pos < size()) {
      const Char c = at(pos);
      if (!(c.flags & mask)) break;
      pos += c.length;
    }
    return pos;
  }

  // End of the run of "other" characters (not letter, number or space).
  size_t skip_other(size_t pos) const noexcept {
    while (pos < size()) {
      const Char c = at(pos);
      if (c.flags & (kLetter | kNumber | kSpace)) break;
      pos += c.length;
    }
    return pos;
  }

  size_t skip_newlines(size_t pos) const noexcept {
    while (pos < size() && (text_[pos] == '\r' || text_[pos] == '\n')) ++pos;
    return pos;
  }

  // Length of a contraction ('s 't 're 've 'm 'll 'd) starting at pos, or 0.
  size_t contraction(size_t pos, bool ignore_case) const noexcept {
    if (text_[pos] != '\'' || pos + 1 >= size()) return 0;
    auto lower = [&](size_t i) -> char {
      if (i >= size()) return 0;
      const char c = text_[i];
      return ignore_case && c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c;
    };
    switch (lower(pos + 1)) {
      case 's': case 't': case 'm': case 'd': return 2;
      case 'r': case 'v': return lower(pos + 2) == 'e' ? 3 : 0;
      case 'l': return lower(pos + 2) == 'l' ? 3 : 0;
      default: return 0;
    }
  }

  // Whitespace alternatives shared by all three regexes, at a space character:
  // \s*[\r\n]+ (only when `newline_rule`), then \s+(?!\S), then \s+.
  size_t match_space(size_t pos, bool newline_rule) const noexcept {
    size_t end = pos;
    size_t last_start = pos;     // start of the run's last character
    size_t after_newline = 0;    // end of the run's last \r or \n, 0 if none
    while (end < size()) {
      const Char c = at(end);
      if (!(c.flags & kSpace)) break;
      last_start = end;
      end += c.length;
      if (c.cp == '\r' || c.cp == '\n') after_newline = end;
    }
    // \s*[\r\n]+ : greedy \s* backs off to the last newline of the run.
    if (newline_rule && after_newline != 0) return after_newline;
    // \s+(?!\S) : the whole run at the end of text, else all but its last char.
    if (end == size()) return end;
    if (last_start > pos) return last_start;
    // \s+
    return end;
  }

 private:
  std::string_view text_;
};

// qwen2 / llama3: returns the end of the piece starting at pos.
size_t match_qwen2(const Scanner& s, size_t pos, size_t max_digits) {
  if (const size_t n = s.contraction(pos, /*ignore_case=*/true)) return pos + n;
  const Char c = s.at(pos);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c.flags & kLetter) return s.skip(pos + c.length, kLetter);
  const bool is_newline = c.cp == '\r' || c.cp == '\n';
  if (!(c.flags & kNumber) && !is_newline && pos + c.length < s.size() &&
      (s.at(pos + c.length).flags & kLetter))
    return s.skip(pos + c.length, kLetter);
  // \p{N} or \p{N}{1,3}
  if (c.flags & kNumber) {
    size_t end = pos + c.length;
    for (size_t n = 1; n < max_digits && end < s.size(); ++n) {
      const Char d = s.at(end);
      if (!(d.flags & kNumber)) break;
      end += d.length;
    }
    return end;
  }
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  size_t start = pos;
  if (c.cp == ' ' && pos + 1 < s.size()) start = pos + 1;
  if (start < s.size()) {
    const Char o = s.at(start);
    if (!(o.flags & (kLetter | kNumber | kSpace)))
      return s.skip_newlines(s.skip_other(start + o.length));
  }
  // What is left is whitespace (a letter, number or other character matched above).
  return s.match_space(pos, /*newline_rule=*/true);
}

// gpt2: returns the end of the piece starting at pos.
size_t match_gpt2(const Scanner& s, size_t pos) {
  if (const size_t n = s.contraction(pos, /*ignore_case=*/false)) return pos + n;
  const Char c = s.at(pos);
  // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: the optional space joins the run after it.
  size_t start = pos;
  Char first = c;
  if (c.cp == ' ' && pos + 1 < s.size()) {
    const Char next = s.at(pos + 1);
    if (!(next.flags & kSpace)) {
      start = pos + 1;
      first = next;
    }
  }
  if (first.flags & kLetter) return s.skip(start + first.length, kLetter);
  if (first.flags & kNumber) return s.skip(start + first.length, kNumber);
  if (!(first.flags & kSpace)) return s.skip_other(start + first.length);
  return s.match_space(pos, /*newline_rule=*/false);
}

}  // namespace

size_t piece_end(PreTokenizer kind, std::string_view text, size_t pos) {
  const Scanner s(text);
  size_t end = 0;
  switch (kind) {
    case PreTokenizer::qwen2: end = match_qwen2(s, pos, 1); break;
    case PreTokenizer::llama3: end = match_qwen2(s, pos, 3); break;
    case PreTokenizer::gpt2: end = match_gpt2(s, pos); break;
  }
  if (end <= pos || end > text.size()) fail(Errc::internal, "tokenizer: pre-tokenizer made no progress");
  return end;
}

void pretokenize(PreTokenizer kind, std::string_view text, std::vector<Piece>& out) {
  if (text.size() >= (size_t(1) << 32)) fail(Errc::invalid_argument, "tokenizer: text of 4 GiB or more");
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = piece_end(kind, text, pos);
    out.push_back({uint32_t(pos), uint32_t(end - pos)});
    pos = end;
  }
}

}  // namespace folio::tok
