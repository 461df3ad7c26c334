#include "ingest/code/macro_blanking.hpp"

#include <vector>

namespace folio::ingest::code {
namespace {

bool ident_start(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'; }
bool ident_char(char ch) { return ident_start(ch) || (ch >= '0' && ch <= '9'); }
bool space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

bool macro_like(std::string_view word) {
  if (word.size() < 2) return false;
  for (char ch : word)
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
  return true;
}

struct Span {
  size_t begin, end;
};

}  // namespace

std::optional<std::string> blank_type_export_macros(std::string_view source) {
  std::vector<Span> blanks;
  for (std::string_view keyword : {"class", "struct", "union"}) {
    for (size_t at = source.find(keyword); at != std::string_view::npos; at = source.find(keyword, at + 1)) {
      if ((at > 0 && ident_char(source[at - 1])) || at + keyword.size() >= source.size() ||
          !space(source[at + keyword.size()]))
        continue;
      // Identifiers after the keyword, each followed by whitespace.
      std::vector<Span> words;
      size_t pos = at + keyword.size();
      for (int guard = 0; guard < 8; ++guard) {
        while (pos < source.size() && space(source[pos])) ++pos;
        if (pos >= source.size() || !ident_start(source[pos])) break;
        size_t end = pos;
        while (end < source.size() && ident_char(source[end])) ++end;
        words.push_back({pos, end});
        pos = end;
      }
      if (words.size() < 2) continue;
      if (source.substr(words.back().begin, words.back().end - words.back().begin) == "final") words.pop_back();
      if (words.size() < 2) continue;
      while (pos < source.size() && space(source[pos])) ++pos;
      if (pos >= source.size()) continue;
      bool opens = source[pos] == '{' || (source[pos] == ':' && (pos + 1 >= source.size() || source[pos + 1] != ':'));
      if (!opens) continue;
      bool all_macros = true;
      for (size_t i = 0; i + 1 < words.size(); ++i)
        all_macros = all_macros && macro_like(source.substr(words[i].begin, words[i].end - words[i].begin));
      if (!all_macros) continue;
      for (size_t i = 0; i + 1 < words.size(); ++i) blanks.push_back(words[i]);
    }
  }
  if (blanks.empty()) return std::nullopt;
  std::string out(source);
  for (const Span& s : blanks)
    for (size_t i = s.begin; i < s.end; ++i) out[i] = ' ';
  return out;
}

}  // namespace folio::ingest::code
