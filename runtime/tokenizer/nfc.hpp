// Unicode Normalization Form C, without ICU (tables in unicode_tables.inc).
//
// Qwen2/Qwen3's tokenizer.json normalizes text to NFC before pre-tokenizing.
// Bytes that are not valid UTF-8 are kept as they are (they never compose).
#pragma once

#include <string>
#include <string_view>

namespace folio::tok {

// False when `text` is certainly NFC already (the quick check: no character
// that may change under NFC), which is the case for almost all text.
bool nfc_may_change(std::string_view text) noexcept;

// NFC of `text`.
std::string to_nfc(std::string_view text);

}  // namespace folio::tok
