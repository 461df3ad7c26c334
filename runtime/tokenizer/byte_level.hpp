// GPT-2's byte-level alphabet: every byte maps to one printable code point so
// that BPE vocabularies are valid text. Printable Latin-1 bytes ('!'..'~',
// U+00A1..U+00AC, U+00AE..U+00FF) map to themselves; the other 68 bytes map,
// in byte order, to U+0100, U+0101, ... (so ' ' is 'Ġ' U+0120, '\n' is 'Ċ').
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace folio::tok {

// The code point byte `b` is written as.
char32_t byte_to_char(unsigned char b) noexcept;
// The byte a code point stands for, or -1 when it is not in the alphabet.
int char_to_byte(char32_t cp) noexcept;

// Raw bytes -> byte-level text (UTF-8).
std::string byte_level_encode(std::string_view bytes);
// Byte-level text -> raw bytes; nullopt when `text` is not valid UTF-8 or holds
// a character outside the alphabet.
std::optional<std::string> byte_level_decode(std::string_view text);

}  // namespace folio::tok
