// Text helpers shared by the parsers: reading files under limits, splitting
// lines (LF, CRLF, CR; BOM), UTF-8 repair, ICU NFC normalisation and
// case-insensitive comparison, and errors that name "file:line".
// Internal to ingest (ICU never leaks into the runtime).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "ingest/document.hpp"

namespace folio::ingest {

// Throws folio::Error(Errc::format, "source:line: message").
[[noreturn]] void fail_at(std::string_view source, uint32_t line, std::string_view message);

// Reads a whole file; refuses (Errc::unsupported) files above limits.max_source_bytes
// and names the file in every error.
std::string read_file_limited(const std::filesystem::path& path, const Limits& limits);

// Heuristic used to skip binary inputs: a NUL byte in the first 8 KiB.
bool looks_binary(std::string_view bytes) noexcept;

struct Line {
  std::string_view text;  // without the line terminator
  uint32_t number = 0;    // 1-based
  uint64_t begin = 0;     // byte offset of the first byte of `text` in the input
  uint64_t end = 0;       // byte offset one past `text` (before the terminator)
};

// Iterates the lines of a buffer. A UTF-8 BOM at the start is skipped (offsets
// still count it). Lines longer than max_line_bytes are an error naming the line.
class LineReader {
 public:
  LineReader(std::string_view data, std::string_view source, size_t max_line_bytes);
  bool next(Line& line);
  // Looks at the next line without consuming it.
  bool peek(Line& line) const;
  uint32_t line_number() const noexcept { return line_; }

 private:
  bool scan(size_t& pos, uint32_t& lineno, Line& line) const;
  std::string_view data_;
  std::string_view source_;
  size_t max_line_;
  size_t pos_ = 0;
  uint32_t line_ = 0;
};

std::string_view trim(std::string_view s) noexcept;
bool is_blank(std::string_view s) noexcept;

// Valid UTF-8 in NFC with C0 controls (except \n and \t) and DEL removed.
// Invalid UTF-8 sequences become U+FFFD; `replaced` (optional) counts them.
std::string clean_text(std::string_view s, size_t* replaced = nullptr);
// UTF-16 code units (host order, as Poppler's ustring holds them) to UTF-8; an
// unpaired surrogate becomes U+FFFD. Written out by hand because Poppler's
// ustring::to_utf8 opens an iconv converter per call, which cost more than the
// rest of our per-word work on text-heavy PDFs.
std::string utf16_to_utf8(std::span<const uint16_t> units);
// NFC of valid UTF-8 (ICU); ASCII is returned as is without calling ICU.
std::string to_nfc(std::string_view utf8);
// Unicode case-insensitive equality (ICU full case folding).
bool iequals(std::string_view a, std::string_view b);
// Whether `s` starts with `prefix`, case-insensitively (ICU case folding);
// on success sets `rest` to what follows the prefix in `s`.
bool istarts_with(std::string_view s, std::string_view prefix, std::string_view* rest = nullptr);

// Collapses runs of spaces/tabs into one space and trims.
std::string collapse_spaces(std::string_view s);

}  // namespace folio::ingest
