// The cross-reference preflight: three views of the raw bytes, each a superset
// of what Poppler reads (see pdf_preflight.hpp).
//
//  1. Names. Every '/' starts a name; /Size takes the integer after it, /Index
//     the integer pairs of the array after it. Poppler's lexer skips comments
//     between tokens, so the walk to the value does too.
//  2. Table headers. After every "xref" keyword: subsection headers
//     ("first count") and their entries ("offset gen n|f"), until a token that
//     is neither, as Poppler's table reader stops.
//  3. Object headers. Every "num gen obj" with whitespace between, the pattern
//     Poppler's repair looks for line by line.
#include "ingest/pdf_preflight.hpp"

#include <algorithm>
#include <optional>
#include <string>

#include "runtime/common/error.hpp"

namespace folio::ingest {
namespace {

constexpr uint64_t kSaturate = uint64_t(1) << 40;
constexpr uint64_t kFloorEntries = 65536;

// PDF whitespace (ISO 32000 7.2.2) and, for the repair view, C's isspace (\v).
bool is_white(unsigned char c) { return c == 0 || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == ' '; }
bool is_delimiter(unsigned char c) {
  return c == '(' || c == ')' || c == '<' || c == '>' || c == '[' || c == ']' || c == '{' || c == '}' || c == '/' ||
         c == '%';
}
bool is_regular(unsigned char c) { return !is_white(c) && !is_delimiter(c); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Scanner {
 public:
  explicit Scanner(std::string_view bytes)
      : bytes_(bytes), budget_(uint64_t(bytes.size()) * 4 + (uint64_t(1) << 20)) {}

  PdfXrefClaim run() {
    for (size_t i = 0; i < bytes_.size() && claim_.complete; ++i) {
      const unsigned char c = at(i);
      if (c == '/') {
        name_at(i);
      } else if (c == 'x' && xref_keyword_at(i)) {
        xref_table_at(i);
      } else if (is_digit(c) && (i == 0 || !is_digit(at(i - 1)))) {
        object_header_at(i);
      }
    }
    return claim_;
  }

 private:
  unsigned char at(size_t i) const { return static_cast<unsigned char>(bytes_[i]); }

  void claim(uint64_t entries, size_t offset, std::string_view what) {
    entries = std::min(entries, kSaturate);
    if (entries > claim_.entries) claim_ = {entries, offset, what, claim_.complete};
  }

  // Charges `n` bytes of walking; false (and the scan ends incomplete) once
  // the budget is gone.
  bool charge(uint64_t n) {
    if (n > budget_) {
      budget_ = 0;
      claim_.complete = false;
      return false;
    }
    budget_ -= n;
    return true;
  }

  // True when a token of `length` bytes starting at i ends there.
  bool token_ends(size_t i, size_t length) const { return i + length >= bytes_.size() || !is_regular(at(i + length)); }

  // "xref" ending a token. No left boundary: a startxref offset may point
  // into the middle of a word ("startxref" itself), and Poppler's lexer
  // starts wherever it points.
  bool xref_keyword_at(size_t i) const { return bytes_.substr(i, 4) == "xref" && token_ends(i, 4); }

  // Skips whitespace and comments (to the end of line) from p, charging the walk.
  size_t skip_blank(size_t p) {
    const size_t start = p;
    while (p < bytes_.size()) {
      if (is_white(at(p))) {
        ++p;
      } else if (at(p) == '%') {
        while (p < bytes_.size() && at(p) != '\n' && at(p) != '\r') ++p;
      } else {
        break;
      }
    }
    return charge(p - start) ? p : bytes_.size();
  }

  // An integer token at p, signed as Poppler's lexer allows; advances p past
  // it. Negative values read as 0 (Poppler refuses them as counts, and as
  // entry fields they only need to be walked over). Digits saturate.
  std::optional<uint64_t> integer(size_t& p) {
    size_t q = p;
    bool negative = false;
    if (q < bytes_.size() && (at(q) == '+' || at(q) == '-')) negative = at(q++) == '-';
    if (q >= bytes_.size() || !is_digit(at(q))) return std::nullopt;
    uint64_t value = 0;
    while (q < bytes_.size() && is_digit(at(q))) {
      value = std::min(kSaturate, value * 10 + uint64_t(at(q) - '0'));
      ++q;
    }
    if (!charge(q - p)) return std::nullopt;
    p = q;
    return negative ? 0 : value;
  }

  // "first count" after blanks at p: claims first + count as `what` and
  // returns count, p past the pair; nullopt when either is not an integer.
  std::optional<uint64_t> first_count_pair(size_t& p, std::string_view what) {
    p = skip_blank(p);
    const size_t pair_at = p;
    const auto first = integer(p);
    if (!first) return std::nullopt;
    p = skip_blank(p);
    const auto count = integer(p);
    if (!count) return std::nullopt;
    claim(*first + *count, pair_at, what);
    return count;
  }

  void name_at(size_t i) {
    // Decode at most a few characters: only "Size" and "Index" matter.
    std::string name;
    size_t p = i + 1;
    while (p < bytes_.size() && is_regular(at(p)) && name.size() <= 6) {
      if (at(p) == '#' && p + 2 < bytes_.size() && hex_value(at(p + 1)) >= 0 && hex_value(at(p + 2)) >= 0) {
        name.push_back(char(hex_value(at(p + 1)) * 16 + hex_value(at(p + 2))));
        p += 3;
      } else {
        name.push_back(char(at(p)));
        ++p;
      }
    }
    if (p < bytes_.size() && is_regular(at(p))) return;  // longer than any name we want
    if (name == "Size") {
      p = skip_blank(p);
      const size_t value_at = p;
      if (auto size = integer(p)) claim(*size, value_at, "/Size");
    } else if (name == "Index") {
      p = skip_blank(p);
      if (p >= bytes_.size() || at(p) != '[') return;
      ++p;
      while (first_count_pair(p, "/Index")) continue;  // each pair claims as it is read
    }
  }

  // One entry "offset gen n|f"; false at the first token that is not.
  bool xref_entry(size_t& p) {
    p = skip_blank(p);
    if (!integer(p)) return false;
    p = skip_blank(p);
    if (!integer(p)) return false;
    p = skip_blank(p);
    // The lexer ends a number at a letter, so "65535f" is two tokens.
    if (p >= bytes_.size() || (at(p) != 'n' && at(p) != 'f') || !token_ends(p, 1)) return false;
    ++p;
    return charge(1);
  }

  void xref_table_at(size_t i) {
    size_t p = i + 4;
    while (auto count = first_count_pair(p, "xref subsection")) {
      // A count past the bound has already decided the answer; the entries
      // are walked only to reach the next subsection header.
      for (uint64_t k = 0; k < *count; ++k)
        if (!xref_entry(p)) return;
    }
  }

  void object_header_at(size_t i) {
    size_t p = i;
    uint64_t num = 0;
    while (p < bytes_.size() && is_digit(at(p))) num = std::min(kSaturate, num * 10 + uint64_t(at(p++) - '0'));
    if (p >= bytes_.size() || !is_white(at(p))) return;
    while (p < bytes_.size() && is_white(at(p))) ++p;
    if (p >= bytes_.size() || !is_digit(at(p))) return;
    while (p < bytes_.size() && is_digit(at(p))) ++p;
    if (p >= bytes_.size() || !is_white(at(p))) return;
    while (p < bytes_.size() && is_white(at(p))) ++p;
    if (bytes_.substr(p, 3) == "obj") claim(num + 1, i, "object header");
  }

  std::string_view bytes_;
  uint64_t budget_;
  PdfXrefClaim claim_;
};

}  // namespace

PdfXrefClaim largest_xref_claim(std::string_view bytes) { return Scanner(bytes).run(); }

uint64_t allowed_xref_entries(size_t file_bytes, uint64_t ceiling) {
  return std::min<uint64_t>(ceiling, uint64_t(file_bytes) + kFloorEntries);
}

void check_pdf_xref_claims(std::string_view bytes, std::string_view source, uint64_t ceiling) {
  const PdfXrefClaim claim = largest_xref_claim(bytes);
  if (!claim.complete)
    fail(Errc::unsupported, std::string(source) +
                                ": cross-reference keywords nested too deeply to check (an \"xref\", /Size or /Index "
                                "inside comments, over and over); refused rather than handed to Poppler");
  const uint64_t allowed = allowed_xref_entries(bytes.size(), ceiling);
  if (claim.entries > allowed)
    fail(Errc::unsupported,
         std::string(source) + ": " + std::string(claim.what) + " at byte " + std::to_string(claim.offset) +
             " claims " + std::to_string(claim.entries) + " objects; a " + std::to_string(bytes.size()) +
             "-byte file may claim at most " + std::to_string(allowed) +
             " (one per byte plus 65536, capped by Limits::max_pdf_objects). Poppler would allocate its "
             "cross-reference table for all of them up front.");
}

}  // namespace folio::ingest
