#include "runtime/tokenizer/unicode.hpp"

#include <string>

namespace folio::tok::unicode {

namespace {
#include "runtime/tokenizer/unicode_tables.inc"
static_assert(sizeof(kUnicodeStage1) == 0x110000 / 256);
}  // namespace

uint8_t flags(char32_t cp) noexcept {
  if (cp >= 0x110000) return 0;
  return kUnicodeStage2[size_t(kUnicodeStage1[cp >> 8]) * 256 + (cp & 255)];
}

std::string_view tables_version() noexcept { return kUnicodeVersion; }

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

}  // namespace folio::tok::unicode
