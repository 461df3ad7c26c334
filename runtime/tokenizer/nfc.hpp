// Unicode Normalization Form C, without ICU (tables in unicode_tables.inc).
//
// Qwen2/Qwen3's tokenizer.json normalizes text to NFC before pre-tokenizing.
// Bytes that are not valid UTF-8 are kept as they are (they never compose).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace folio::tok {

// False when `text` is certainly NFC already (the quick check: no character
// that may change under NFC), which is the case for almost all text.
bool nfc_may_change(std::string_view text) noexcept;

// NFC of `text`.
std::string to_nfc(std::string_view text);

// A stretch of the input that normalization rewrote: input bytes
// [in_begin, in_end) became output bytes [out_begin, out_end). Outside these
// spans input and output bytes correspond one to one.
struct NfcSpan {
  size_t in_begin, in_end, out_begin, out_end;
};
// NFC of `text`, appending the rewritten spans (in order) to `spans`.
std::string to_nfc(std::string_view text, std::vector<NfcSpan>& spans);

}  // namespace folio::tok
