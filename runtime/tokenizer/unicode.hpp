// Unicode character classes and UTF-8 decoding for the pre-tokenizers.
//
// The classes are the ones the published pre-tokenizer regexes use: \p{L},
// \p{N} and \s (Unicode White_Space). They come from a generated table
// (unicode_tables.inc, see gen_unicode_tables.mjs), so no ICU is needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace folio::tok::unicode {

// Bit flags of a code point. Bytes that are not valid UTF-8 decode to a
// "character" with no flags (they behave like punctuation in the regexes).
enum : uint8_t {
  kLetter = 1,   // \p{L}
  kNumber = 2,   // \p{N}
  kSpace = 4,    // \s  (White_Space)
};

// Flags of a code point (0 for anything above U+10FFFF).
uint8_t flags(char32_t cp) noexcept;

// Unicode version of the tables ("17.0").
std::string_view tables_version() noexcept;

struct Decoded {
  char32_t cp;     // the code point, or the byte value when !valid
  uint8_t length;  // bytes consumed: 1..4 (1 for an invalid byte)
  bool valid;
};

// Decodes the character starting at text[pos] (pos < text.size()). A byte
// that does not start a well-formed UTF-8 sequence (RFC 3629: no overlongs,
// no surrogates, nothing above U+10FFFF, no truncation) is returned alone as
// an invalid character of length 1.
inline Decoded decode_utf8(std::string_view text, size_t pos) noexcept {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  const unsigned char b0 = s[pos];
  if (b0 < 0x80) return {b0, 1, true};
  const Decoded bad{b0, 1, false};
  auto cont = [&](size_t i) { return pos + i < n && (s[pos + i] & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!cont(1)) return bad;
    return {char32_t((b0 & 0x1F) << 6 | (s[pos + 1] & 0x3F)), 2, true};
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return bad;
    const char32_t cp = char32_t((b0 & 0x0F) << 12 | (s[pos + 1] & 0x3F) << 6 | (s[pos + 2] & 0x3F));
    if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return bad;
    return {cp, 3, true};
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return bad;
    const char32_t cp = char32_t((b0 & 0x07) << 18 | (s[pos + 1] & 0x3F) << 12 |
                                 (s[pos + 2] & 0x3F) << 6 | (s[pos + 3] & 0x3F));
    if (cp < 0x10000 || cp > 0x10FFFF) return bad;
    return {cp, 4, true};
  }
  return bad;
}

// Appends the UTF-8 encoding of cp (cp <= U+10FFFF, not a surrogate).
void append_utf8(std::string& out, char32_t cp);

}  // namespace folio::tok::unicode
