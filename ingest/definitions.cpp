#include "ingest/definitions.hpp"

#include <algorithm>

#include "ingest/text_util.hpp"

namespace folio::ingest {
namespace {

constexpr std::string_view kOpenQuotes[] = {"\"", "\xE2\x80\x9C"};   // " “
constexpr std::string_view kCloseQuotes[] = {"\"", "\xE2\x80\x9D"};  // " ”
constexpr std::string_view kVerbs[] = {"means", "shall mean", "refers to", "has the meaning", "shall have the meaning",
                                       "includes", "shall include", "is defined as", "mean"};

// At text[pos] an opening quote? Returns its length.
size_t open_quote_at(std::string_view text, size_t pos) {
  for (auto q : kOpenQuotes)
    if (text.substr(pos).starts_with(q)) return q.size();
  return 0;
}

bool plausible_term(std::string_view t) {
  if (t.empty() || t.size() > 80) return false;
  const unsigned char c = static_cast<unsigned char>(t[0]);
  if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)) return false;
  const size_t words = size_t(std::count(t.begin(), t.end(), ' ')) + 1;
  if (words > 8) return false;
  return t.find_first_of("\n\"") == std::string_view::npos && t.back() != ' ';
}

}  // namespace

std::vector<DefinedTerm> find_defined_terms(std::string_view text) {
  std::vector<DefinedTerm> out;
  for (size_t pos = 0; pos < text.size();) {
    const size_t open_len = open_quote_at(text, pos);
    if (open_len == 0) {
      ++pos;
      continue;
    }
    // Find the closing quote.
    size_t close = std::string_view::npos, close_len = 0;
    for (auto q : kCloseQuotes) {
      const size_t c = text.find(q, pos + open_len);
      if (c != std::string_view::npos && c < close) {
        close = c;
        close_len = q.size();
      }
    }
    if (close == std::string_view::npos) break;
    std::string_view term = text.substr(pos + open_len, close - pos - open_len);
    // A trailing comma or period inside the quotes ("Work," means) is punctuation.
    while (!term.empty() && (term.back() == ',' || term.back() == '.')) term.remove_suffix(1);
    bool defined = false;
    if (plausible_term(term)) {
      std::string_view after = trim(text.substr(close + close_len));
      if (!after.empty() && (after[0] == ',' || after[0] == ':')) after = trim(after.substr(1));
      // Between the term and the verb: an alias in parentheses ('"You" (or
      // "Your") shall mean') and/or up to two lower-case words ('"Source" form
      // shall mean').
      auto verb_follows = [](std::string_view a) {
        for (auto v : kVerbs) {
          std::string_view rest;
          if (istarts_with(a, v, &rest) && (rest.empty() || rest[0] == ' ' || rest[0] == ',' || rest[0] == ':'))
            return true;
        }
        return false;
      };
      std::string_view probe = after;
      if (probe.starts_with('(')) {
        const size_t end = probe.find(')');
        if (end != std::string_view::npos && end < 48) probe = trim(probe.substr(end + 1));
      }
      defined = verb_follows(after) || verb_follows(probe);
      for (int skip = 0; !defined && skip < 2; ++skip) {
        const size_t sp = probe.find(' ');
        if (sp == std::string_view::npos || sp == 0 || sp > 16 || !(probe[0] >= 'a' && probe[0] <= 'z')) break;
        probe = trim(probe.substr(sp));
        defined = verb_follows(probe);
      }
      // Parenthesised short form: (the "Agreement") / ("Licensee") / (hereinafter "X")
      if (!defined && after.starts_with(')')) {
        // Look back at most 24 bytes for the '(' (bounded: no quadratic scan).
        const size_t from = pos > 24 ? pos - 24 : 0;
        const size_t back = text.substr(from, pos - from).rfind('(');
        const size_t paren = back == std::string_view::npos ? back : from + back;
        if (paren != std::string_view::npos) {
          std::string_view between = trim(text.substr(paren + 1, pos - paren - 1));
          defined = between.empty() || iequals(between, "the") || iequals(between, "a") ||
                    iequals(between, "hereinafter") || iequals(between, "hereinafter the") ||
                    iequals(between, "collectively") || iequals(between, "collectively, the") ||
                    iequals(between, "each a") || iequals(between, "each, a");
        }
      }
    }
    if (defined) {
      const std::string t(term);
      if (std::none_of(out.begin(), out.end(), [&](const DefinedTerm& d) { return d.term == t; }))
        out.push_back({t, pos});
    }
    pos = close + close_len;
  }
  return out;
}

}  // namespace folio::ingest
