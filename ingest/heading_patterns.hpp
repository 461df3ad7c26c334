// Numbering patterns of headings and clauses, shared by the text/Markdown and
// PDF parsers: "1.", "1.2.3", "Section 5", "§ 7", "ARTICLE IV", "Schedule B",
// "Part 2", "Chapter 3", "(a)", "(iv)". Keywords match case-insensitively (ICU
// case folding), so "Article iv" and "ARTICLE IV" are the same style.
//
// Levels are not fixed per pattern: a document's heading styles are ranked
// (part/chapter > article > section keyword > 1 > 1.1 > 1.1.1 > (a) > (i)) and
// the ranks present in the document are compressed to levels 1, 2, 3...
// (rank_levels), so a contract with "ARTICLE IV" and "4.1" gets levels 1 and 2,
// and a licence with "1." and "1.1." gets 1 and 2.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace folio::ingest {

enum class NumberStyle : uint8_t {
  part,         // "Part 2", "Chapter 3", "Title IV"
  article,      // "ARTICLE IV", "Article 5"
  schedule,     // "Schedule B", "Exhibit A", "Appendix 1", "Annex C" (top level)
  section_kw,   // "Section 5", "Section 5.2", "§ 7", "Clause 4"
  decimal,      // "1", "1.", "1.2", "1.2.3." (depth = number of components)
  letter_paren, // "(a)", "a)"
  roman_paren,  // "(iv)", "iv)"
};

// Rank of schedule/exhibit/appendix headings before rank_levels places them
// beside the document's top numbered level.
inline constexpr int kScheduleRank = 5;

struct NumberedLine {
  NumberStyle style = NumberStyle::decimal;
  std::string number;  // as written, without a trailing '.' or ':' ("1.2", "ARTICLE IV", "(a)")
  std::string title;   // the rest of the line, trimmed ("Termination for Convenience")
  uint16_t depth = 1;  // decimal: number of components; others 1
  bool trailing_dot = false;  // "1." / "1.2." form
  // A sort key where smaller means higher in the hierarchy.
  int rank() const noexcept;
};

// Matches a numbering prefix at the start of `line` (leading spaces allowed).
// A decimal number needs a title or a trailing dot ("7" alone is not a heading);
// keyword styles may stand alone ("ARTICLE IV").
std::optional<NumberedLine> match_numbered(std::string_view line);

// Levels (1-based) for a sequence of heading ranks, compressing the ranks that
// occur: {article, decimal depth 2, decimal depth 2} -> {1, 2, 2}. Schedule
// ranks take the rank of the shallowest numbered style present.
std::vector<uint16_t> rank_levels(std::span<const int> ranks);

// Whether `s` is a Roman numeral (I..MMMCMXCIX), either case but not mixed.
bool is_roman_numeral(std::string_view s) noexcept;

}  // namespace folio::ingest
