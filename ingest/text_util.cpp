#include "ingest/text_util.hpp"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>

#include "runtime/common/error.hpp"

namespace folio::ingest {

void fail_at(std::string_view source, uint32_t line, std::string_view message) {
  std::string m(source);
  m += ':';
  m += std::to_string(line);
  m += ": ";
  m += message;
  fail(Errc::format, m);
}

std::string read_file_limited(const std::filesystem::path& path, const Limits& limits) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) fail(Errc::io, path.string() + ": " + ec.message());
  if (size > limits.max_source_bytes)
    fail(Errc::unsupported, path.string() + ": " + std::to_string(size) + " bytes is more than the limit of " +
                                std::to_string(limits.max_source_bytes) + " (Limits::max_source_bytes)");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(Errc::io, path.string() + ": cannot open for reading");
  std::string data(size, '\0');
  in.read(data.data(), std::streamsize(size));
  if (size_t(in.gcount()) != size) fail(Errc::io, path.string() + ": short read (file changed while reading?)");
  return data;
}

bool looks_binary(std::string_view bytes) noexcept {
  return bytes.substr(0, 8192).find('\0') != std::string_view::npos;
}

// --- lines ----------------------------------------------------------------------

LineReader::LineReader(std::string_view data, std::string_view source, size_t max_line_bytes)
    : data_(data), source_(source), max_line_(max_line_bytes) {
  if (data_.starts_with("\xEF\xBB\xBF")) pos_ = 3;
}

bool LineReader::scan(size_t& pos, uint32_t& lineno, Line& line) const {
  if (pos >= data_.size()) return false;
  size_t e = pos;
  while (e < data_.size() && data_[e] != '\n' && data_[e] != '\r') ++e;
  if (lineno == UINT32_MAX) fail_at(source_, lineno, "too many lines");
  ++lineno;
  if (e - pos > max_line_)
    fail_at(source_, lineno, "line of " + std::to_string(e - pos) + " bytes exceeds the limit of " +
                                 std::to_string(max_line_) + " (Limits::max_line_bytes)");
  line.text = data_.substr(pos, e - pos);
  line.number = lineno;
  line.begin = pos;
  line.end = e;
  if (e < data_.size()) {
    if (data_[e] == '\r' && e + 1 < data_.size() && data_[e + 1] == '\n') ++e;
    ++e;
  }
  pos = e;
  return true;
}

bool LineReader::next(Line& line) { return scan(pos_, line_, line); }

bool LineReader::peek(Line& line) const {
  size_t pos = pos_;
  uint32_t lineno = line_;
  return scan(pos, lineno, line);
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\f' || s.front() == '\v')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\f' || s.back() == '\v')) s.remove_suffix(1);
  return s;
}

bool is_blank(std::string_view s) noexcept { return trim(s).empty(); }

std::string collapse_spaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : trim(s)) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// --- UTF-8 and ICU ------------------------------------------------------------------

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 when invalid (overlongs,
// surrogates and code points above U+10FFFF are invalid).
size_t utf8_sequence(std::string_view s, size_t i) noexcept {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

const icu::Normalizer2& nfc_normalizer() {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status) || !n) fail(Errc::internal, std::string("ICU NFC normalizer unavailable: ") + u_errorName(status));
  return *n;
}

char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; }

bool is_ascii(std::string_view s) noexcept {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

std::string fold(std::string_view s) {
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), int32_t(s.size())));
  u.foldCase();
  std::string out;
  u.toUTF8String(out);
  return out;
}

}  // namespace

std::string utf16_to_utf8(std::span<const uint16_t> units) {
  std::string out;
  out.reserve(units.size());
  for (size_t i = 0; i < units.size(); ++i) {
    uint32_t cp = units[i];
    if (cp >= 0xD800 && cp <= 0xDFFF) {
      const bool pair = cp <= 0xDBFF && i + 1 < units.size() && units[i + 1] >= 0xDC00 && units[i + 1] <= 0xDFFF;
      if (pair) cp = 0x10000 + ((cp - 0xD800) << 10) + (units[++i] - 0xDC00);
      else cp = 0xFFFD;
    }
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

std::string to_nfc(std::string_view utf8) {
  if (is_ascii(utf8)) return std::string(utf8);
  const icu::Normalizer2& n = nfc_normalizer();
  UErrorCode status = U_ZERO_ERROR;
  const icu::StringPiece piece(utf8.data(), int32_t(utf8.size()));
  if (n.isNormalizedUTF8(piece, status) && U_SUCCESS(status)) return std::string(utf8);
  status = U_ZERO_ERROR;
  std::string out;
  icu::StringByteSink<std::string> sink(&out);
  n.normalizeUTF8(0, piece, sink, nullptr, status);
  if (U_FAILURE(status)) fail(Errc::internal, std::string("ICU NFC normalisation failed: ") + u_errorName(status));
  return out;
}

std::string clean_text(std::string_view s, size_t* replaced) {
  if (s.size() > size_t(INT32_MAX)) fail(Errc::unsupported, "text block larger than 2 GiB");
  std::string valid;
  valid.reserve(s.size());
  size_t bad = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence(s, i);
    if (n == 0) {
      valid += "\xEF\xBF\xBD";
      ++bad;
      ++i;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (n == 1 && ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F)) {
      ++i;
      continue;
    }
    valid.append(s.substr(i, n));
    i += n;
  }
  if (replaced) *replaced += bad;
  return to_nfc(valid);
}

bool iequals(std::string_view a, std::string_view b) {
  if (is_ascii(a) && is_ascii(b)) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
  }
  return fold(a) == fold(b);
}

bool istarts_with(std::string_view s, std::string_view prefix, std::string_view* rest) {
  if (prefix.empty()) {
    if (rest) *rest = s;
    return true;
  }
  if (is_ascii(prefix)) {
    // ASCII folds to one ASCII byte, so while `s` is ASCII the comparison is
    // exact byte by byte: a mismatch there rules out every match, and an ASCII
    // run covering the prefix is the (shortest) match. Only a non-ASCII
    // character inside the prefix's span needs ICU (many keywords are tried
    // against every line, and lines with curly quotes used to all go to ICU).
    for (size_t i = 0; i < prefix.size(); ++i) {
      if (i == s.size()) return false;
      const unsigned char c = static_cast<unsigned char>(s[i]);
      if (c >= 0x80) break;
      if (ascii_lower(char(c)) != ascii_lower(prefix[i])) return false;
      if (i + 1 == prefix.size()) {
        if (rest) *rest = s.substr(prefix.size());
        return true;
      }
    }
  }
  const std::string_view window = s.substr(0, std::min(s.size(), prefix.size() * 3 + 4));
  // Case folding can change lengths (ß -> ss), so try each code-point boundary
  // of s within a few times the prefix length.
  const std::string target = fold(prefix);
  for (size_t i = 1; i <= window.size(); ++i) {
    if (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (fold(s.substr(0, i)) == target) {
      if (rest) *rest = s.substr(i);
      return true;
    }
  }
  return false;
}

}  // namespace folio::ingest
