#include "ingest/code/utf8.hpp"

namespace folio::ingest::code {

size_t utf8_sequence_length(std::string_view text, size_t pos) noexcept {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  if (pos >= text.size()) return 0;
  unsigned char b0 = byte(pos);
  if (b0 < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;       // no overlong 3-byte forms
    if (b0 == 0xED) hi = 0x9F;       // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;       // no overlong 4-byte forms
    if (b0 == 0xF4) hi = 0x8F;       // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() - pos < need) return 0;
  if (byte(pos + 1) < lo || byte(pos + 1) > hi) return 0;
  for (size_t i = 2; i < need; ++i)
    if ((byte(pos + i) & 0xC0) != 0x80) return 0;
  return need;
}

size_t count_invalid_utf8(std::string_view text) noexcept {
  size_t invalid = 0;
  for (size_t pos = 0; pos < text.size();) {
    // ASCII fast path: most source text is ASCII.
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    size_t n = utf8_sequence_length(text, pos);
    if (n == 0) {
      ++invalid;
      n = 1;
    }
    pos += n;
  }
  return invalid;
}

void append_sanitized_utf8(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size());
  size_t run = 0;  // start of the pending valid run
  for (size_t pos = 0; pos < text.size();) {
    if (static_cast<unsigned char>(text[pos]) < 0x80) {
      ++pos;
      continue;
    }
    size_t n = utf8_sequence_length(text, pos);
    if (n == 0) {
      out.append(text.substr(run, pos - run));
      out.append("\xEF\xBF\xBD");
      ++pos;
      run = pos;
    } else {
      pos += n;
    }
  }
  out.append(text.substr(run));
}

std::string sanitized_utf8(std::string_view text) {
  std::string out;
  append_sanitized_utf8(out, text);
  return out;
}

size_t utf8_floor(std::string_view text, size_t n) noexcept {
  if (n >= text.size()) return text.size();
  // Step back over continuation bytes (at most 3) to the start of the sequence
  // that straddles n, and keep it only when it ends at or before n.
  size_t start = n;
  for (int i = 0; i < 3 && start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80; ++i) --start;
  if (start == n) return n;
  size_t len = utf8_sequence_length(text, start);
  return (len != 0 && start + len <= n) ? start + len : start;
}

}  // namespace folio::ingest::code
