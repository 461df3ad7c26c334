#include "runtime/tokenizer/byte_level.hpp"

#include <array>
#include <cstdint>

#include "runtime/tokenizer/unicode.hpp"

namespace folio::tok {

namespace {

constexpr bool printable_byte(unsigned b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

constexpr std::array<char16_t, 256> kByteToChar = [] {
  std::array<char16_t, 256> map{};
  unsigned next = 0x100;
  for (unsigned b = 0; b < 256; ++b) map[b] = char16_t(printable_byte(b) ? b : next++);
  return map;
}();

// The inverse map: code points U+0000..U+0143 -> byte, -1 outside the alphabet.
constexpr char32_t kAlphabetEnd = 0x100 + 68;
constexpr std::array<int16_t, kAlphabetEnd> kCharToByte = [] {
  std::array<int16_t, kAlphabetEnd> inv{};
  inv.fill(-1);
  for (unsigned b = 0; b < 256; ++b) inv[kByteToChar[b]] = int16_t(b);
  return inv;
}();

}  // namespace

char32_t byte_to_char(unsigned char b) noexcept { return kByteToChar[b]; }

int char_to_byte(char32_t cp) noexcept { return cp < kAlphabetEnd ? kCharToByte[cp] : -1; }

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) unicode::append_utf8(out, kByteToChar[static_cast<unsigned char>(c)]);
  return out;
}

std::optional<std::string> byte_level_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const unicode::Decoded d = unicode::decode_utf8(text, pos);
    if (!d.valid) return std::nullopt;
    const int b = char_to_byte(d.cp);
    if (b < 0) return std::nullopt;
    out.push_back(char(b));
    pos += d.length;
  }
  return out;
}

}  // namespace folio::tok
