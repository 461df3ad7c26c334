// Small UTF-8 helpers for source text: validation and repair. Source files are
// hostile; block text must be valid UTF-8, so invalid sequences become U+FFFD
// (and the caller notes how many), while byte ranges keep pointing at the
// original bytes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace folio::ingest::code {

// Length of the valid UTF-8 sequence starting at text[pos] (1-4), or 0 when the
// bytes there are not one (overlong forms, surrogates and > U+10FFFF are invalid).
size_t utf8_sequence_length(std::string_view text, size_t pos) noexcept;

// Number of invalid sequences (each maximal invalid run counts once per byte
// that cannot start a valid sequence).
size_t count_invalid_utf8(std::string_view text) noexcept;

// Appends `text` to `out`, each invalid byte replaced by U+FFFD.
void append_sanitized_utf8(std::string& out, std::string_view text);
std::string sanitized_utf8(std::string_view text);

// The largest n' <= n such that text[0, n') does not end inside a sequence.
size_t utf8_floor(std::string_view text, size_t n) noexcept;

}  // namespace folio::ingest::code
