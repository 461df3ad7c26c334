#include "ingest/heading_patterns.hpp"

#include <algorithm>

#include "ingest/text_util.hpp"

namespace folio::ingest {
namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Takes "1", "1.2", "1.2.3", optionally followed by '.'; returns the number of
// components (0 if none). Components are at most 4 digits, depth at most 8.
size_t take_decimal(std::string_view& s, std::string& number, bool& trailing_dot) {
  size_t i = 0, depth = 0;
  while (true) {
    size_t j = i;
    while (j < s.size() && is_digit(s[j]) && j - i < 5) ++j;
    if (j == i || j - i > 4 || (j < s.size() && is_digit(s[j]))) return depth ? depth : 0;
    ++depth;
    i = j;
    if (i + 1 < s.size() && s[i] == '.' && is_digit(s[i + 1]) && depth < 8) {
      ++i;
      continue;
    }
    break;
  }
  number = std::string(s.substr(0, i));
  trailing_dot = i < s.size() && s[i] == '.';
  s.remove_prefix(i + (trailing_dot ? 1 : 0));
  return depth;
}

// After a number: nothing, or whitespace and/or one separator (':', '-', ')',
// '.', em/en dash) then a title.
bool take_title(std::string_view s, std::string& title, bool require_space) {
  if (s.empty()) {
    title.clear();
    return true;
  }
  const bool spaced = s[0] == ' ' || s[0] == '\t';
  s = trim(s);
  bool separated = false;
  if (!s.empty() && (s[0] == ':' || s[0] == '-' || s[0] == ')' || s[0] == '.')) {
    s.remove_prefix(1);
    separated = true;
  } else if (s.starts_with("\xE2\x80\x94") || s.starts_with("\xE2\x80\x93")) {  // em/en dash
    s.remove_prefix(3);
    separated = true;
  }
  if (require_space && !spaced && !separated) return false;
  title = std::string(trim(s));
  return true;
}

struct Keyword {
  std::string_view word;
  NumberStyle style;
};
constexpr Keyword kKeywords[] = {
    {"article", NumberStyle::article},     {"section", NumberStyle::section_kw}, {"sec.", NumberStyle::section_kw},
    {"clause", NumberStyle::section_kw},   {"schedule", NumberStyle::schedule},  {"exhibit", NumberStyle::schedule},
    {"appendix", NumberStyle::schedule},   {"annex", NumberStyle::schedule},     {"attachment", NumberStyle::schedule},
    {"part", NumberStyle::part},           {"chapter", NumberStyle::part},       {"title", NumberStyle::part},
};

// The designator after a keyword: digits (with dots), a Roman numeral, or one letter.
bool take_designator(std::string_view& s, std::string& out) {
  size_t i = 0;
  if (i < s.size() && is_digit(s[i])) {
    while (i < s.size() && (is_digit(s[i]) || (s[i] == '.' && i + 1 < s.size() && is_digit(s[i + 1])))) ++i;
  } else {
    while (i < s.size() && is_alpha(s[i])) ++i;
    const std::string_view word = s.substr(0, i);
    if (!(i == 1 || is_roman_numeral(word))) return false;
  }
  if (i == 0 || i > 16) return false;
  out = std::string(s.substr(0, i));
  s.remove_prefix(i);
  if (!s.empty() && s[0] == '.') s.remove_prefix(1);
  return true;
}

}  // namespace

bool is_roman_numeral(std::string_view s) noexcept {
  // Parse with the usual subtractive rule, then accept only the canonical
  // spelling of the value (rejects "IIII", "VX", "IC", "MCMC").
  if (s.empty() || s.size() > 15) return false;
  const bool upper = s[0] >= 'A' && s[0] <= 'Z';
  auto value_of = [](char c) {
    switch (c) {
      case 'I': return 1; case 'V': return 5; case 'X': return 10; case 'L': return 50;
      case 'C': return 100; case 'D': return 500; case 'M': return 1000; default: return 0;
    }
  };
  std::string norm(s);
  for (char& c : norm) {
    if ((c >= 'A' && c <= 'Z') != upper) return false;
    if (!upper) c = char(c - 32);
    if (value_of(c) == 0) return false;
  }
  int value = 0;
  for (size_t i = 0; i < norm.size(); ++i) {
    const int v = value_of(norm[i]);
    const int next = i + 1 < norm.size() ? value_of(norm[i + 1]) : 0;
    value += v < next ? -v : v;
  }
  if (value <= 0 || value >= 4000) return false;
  static constexpr std::pair<int, std::string_view> kParts[] = {
      {1000, "M"}, {900, "CM"}, {500, "D"}, {400, "CD"}, {100, "C"}, {90, "XC"}, {50, "L"},
      {40, "XL"}, {10, "X"}, {9, "IX"}, {5, "V"}, {4, "IV"}, {1, "I"}};
  std::string canonical;
  for (auto [v, text] : kParts)
    while (value >= v) { canonical += text; value -= v; }
  return canonical == norm;
}

int NumberedLine::rank() const noexcept {
  switch (style) {
    case NumberStyle::part: return 0;
    case NumberStyle::schedule: return kScheduleRank;
    case NumberStyle::article: return 1;
    case NumberStyle::section_kw: return 2;
    case NumberStyle::decimal: return 10 + std::min<int>(depth, 8);
    case NumberStyle::letter_paren: return 30;
    case NumberStyle::roman_paren: return 31;
  }
  return 40;
}

std::optional<NumberedLine> match_numbered(std::string_view line) {
  std::string_view s = trim(line);
  if (s.empty() || s.size() > 400) return std::nullopt;
  NumberedLine m;
  // (a) / (iv) / a) / iv)
  if (s[0] == '(' || (is_alpha(s[0]) && s.size() > 1 && (s[1] == ')' || (s.find(')') < 8)))) {
    const bool open = s[0] == '(';
    const size_t close = s.find(')');
    if (close != std::string_view::npos && close > size_t(open) && close <= 8) {
      const std::string_view inner = s.substr(open ? 1 : 0, close - (open ? 1 : 0));
      const bool all_alpha = std::all_of(inner.begin(), inner.end(), is_alpha);
      const bool all_digit = std::all_of(inner.begin(), inner.end(), is_digit);
      if (all_alpha || (open && all_digit && inner.size() <= 3)) {
        const bool roman = all_alpha && is_roman_numeral(inner) && (inner.size() > 1 || inner == "i" || inner == "I");
        if (all_digit) m.style = NumberStyle::letter_paren;
        else if (roman) m.style = NumberStyle::roman_paren;
        else if (inner.size() == 1) m.style = NumberStyle::letter_paren;
        else return std::nullopt;
        m.number = std::string(s.substr(0, close + 1));
        std::string_view rest = s.substr(close + 1);
        if (!rest.empty() && rest[0] != ' ' && rest[0] != '\t') return std::nullopt;
        m.title = std::string(trim(rest));
        return m;
      }
    }
  }
  // § 7 / §7.2
  if (s.starts_with("\xC2\xA7")) {
    std::string_view rest = trim(s.substr(2));
    if (rest.starts_with("\xC2\xA7")) rest = trim(rest.substr(2));  // §§
    std::string designator;
    if (!rest.empty() && is_digit(rest[0]) && take_designator(rest, designator)) {
      m.style = NumberStyle::section_kw;
      m.number = "\xC2\xA7 " + designator;
      if (take_title(rest, m.title, true)) return m;
    }
    return std::nullopt;
  }
  // Keywords.
  for (const Keyword& k : kKeywords) {
    std::string_view rest;
    if (!istarts_with(s, k.word, &rest)) continue;
    if (rest.empty() || (rest[0] != ' ' && rest[0] != '\t' && k.word.back() != '.')) continue;
    const std::string_view word_as_written = s.substr(0, s.size() - rest.size());
    rest = trim(rest);
    std::string designator;
    if (!take_designator(rest, designator)) continue;
    if (k.style == NumberStyle::part && k.word == "title" && !is_roman_numeral(designator) &&
        !std::all_of(designator.begin(), designator.end(), is_digit))
      continue;
    m.style = k.style;
    m.number = std::string(word_as_written) + " " + designator;
    if (!take_title(rest, m.title, true)) continue;
    return m;
  }
  // Decimal.
  if (is_digit(s[0])) {
    std::string_view rest = s;
    const size_t depth = take_decimal(rest, m.number, m.trailing_dot);
    if (depth == 0) return std::nullopt;
    if (!rest.empty() && rest[0] != ' ' && rest[0] != '\t') return std::nullopt;
    m.style = NumberStyle::decimal;
    m.depth = uint16_t(depth);
    m.title = std::string(trim(rest));
    if (m.title.empty() && !m.trailing_dot) return std::nullopt;
    // "1.5 million" / "2.0 percent": a number inside prose, not a heading number.
    if (depth == 2 && !m.trailing_dot && !m.title.empty() && !(m.title[0] >= 'A' && m.title[0] <= 'Z') &&
        static_cast<unsigned char>(m.title[0]) < 0x80 && m.title[0] != '"' && m.title[0] != '\'')
      return std::nullopt;
    return m;
  }
  return std::nullopt;
}

std::vector<uint16_t> rank_levels(std::span<const int> input) {
  // Schedules and exhibits are siblings of the top numbered units (ARTICLE,
  // Section, "1."), whichever of those the document uses.
  std::vector<int> ranks(input.begin(), input.end());
  int top_numbered = INT32_MAX;
  for (int r : ranks)
    if (r >= 0 && r < 20 && r != kScheduleRank) top_numbered = std::min(top_numbered, r);
  if (top_numbered != INT32_MAX)
    for (int& r : ranks)
      if (r == kScheduleRank) r = top_numbered;
  std::vector<int> distinct(ranks.begin(), ranks.end());
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::vector<uint16_t> levels;
  levels.reserve(ranks.size());
  for (int r : ranks)
    levels.push_back(uint16_t(1 + (std::lower_bound(distinct.begin(), distinct.end(), r) - distinct.begin())));
  return levels;
}

}  // namespace folio::ingest
