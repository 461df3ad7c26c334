// Markdown and plain-text structure. See markdown.hpp.
#include "ingest/markdown.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "ingest/definitions.hpp"
#include "ingest/heading_patterns.hpp"
#include "ingest/sha256.hpp"
#include "ingest/text_util.hpp"
#include "runtime/common/error.hpp"

namespace folio::ingest {
namespace {

size_t indent_of(std::string_view s) noexcept {
  size_t n = 0;
  for (char c : s) {
    if (c == ' ') ++n;
    else if (c == '\t') n += 4 - n % 4;
    else break;
  }
  return n;
}

// A block before outline placement: headings carry a rank (pattern headings)
// or an explicit level ('#' / setext).
struct Pending {
  Block block;
  bool is_heading = false;
  std::optional<uint16_t> explicit_level;  // '#' count or setext
  int rank = 0;                            // pattern headings
};

class Collector {
 public:
  Collector(std::string source, std::string_view bytes, const Limits& limits)
      : source_(std::move(source)), bytes_(bytes), limits_(limits) {}

  void add(BlockKind kind, std::string_view text, std::string label, const Line& first, const Line& last) {
    if (pending_.size() >= limits_.max_blocks)
      fail(Errc::unsupported, source_ + ": more than " + std::to_string(limits_.max_blocks) +
                                  " blocks (Limits::max_blocks); refusing to truncate");
    Pending p;
    p.block.kind = kind;
    p.block.text = kind == BlockKind::code || kind == BlockKind::table ? clean_text(text, &replaced_)
                                                                        : collapse_spaces(clean_text(text, &replaced_));
    p.block.label = collapse_spaces(clean_text(label, &replaced_));
    p.block.where = TextLocation{first.number, last.number, first.begin, last.end};
    if (p.block.text.empty() && p.block.label.empty()) return;
    pending_.push_back(std::move(p));
  }

  void add_heading(std::string number, std::string_view title, std::optional<uint16_t> level, int rank,
                   const Line& first, const Line& last) {
    add(BlockKind::heading, title, std::move(number), first, last);
    if (pending_.empty()) return;
    pending_.back().is_heading = true;
    pending_.back().explicit_level = level;
    pending_.back().rank = rank;
  }

  Document finish(SourceFormat format) && {
    DocumentBuilder b(source_, format, limits_);
    b.doc().content_hash = sha256_hex(bytes_);
    b.doc().source_bytes = bytes_.size();
    // Pattern-heading levels: ranks compressed over the document, offset by the
    // level of the nearest preceding explicit ('#') heading.
    std::vector<int> ranks;
    for (const Pending& p : pending_)
      if (p.is_heading && !p.explicit_level) ranks.push_back(p.rank);
    const std::vector<uint16_t> rank_level = rank_levels(ranks);
    size_t next_rank = 0;
    uint16_t explicit_base = 0;
    for (Pending& p : pending_) {
      if (!p.is_heading) {
        add_body_block(b, std::move(p.block));
        continue;
      }
      uint16_t level;
      if (p.explicit_level) {
        level = *p.explicit_level;
        explicit_base = level;
      } else {
        level = uint16_t(explicit_base + rank_level[next_rank++]);
      }
      Anchor a;
      a.kind = AnchorKind::section;
      a.number = p.block.label;
      a.title = p.block.text;
      a.level = std::min<uint16_t>(level, limits_.max_depth);
      b.add_anchored(std::move(p.block), std::move(a));
    }
    if (replaced_) b.doc().notes.push_back(std::to_string(replaced_) + " invalid UTF-8 sequences replaced by U+FFFD");
    return std::move(b).finish();
  }

  size_t size() const noexcept { return pending_.size(); }

 private:
  // A paragraph that defines terms ('"License" shall mean ...') becomes a
  // definition block with a definition anchor per term.
  static void add_body_block(DocumentBuilder& b, Block block) {
    const auto enclosing = b.current();
    block.level = enclosing ? uint16_t(b.doc().outline[*enclosing].level + 1) : 1;
    std::vector<DefinedTerm> terms;
    if (block.kind == BlockKind::paragraph || block.kind == BlockKind::list_item) terms = find_defined_terms(block.text);
    if (!terms.empty() && terms[0].offset < 4 && block.kind == BlockKind::paragraph) {
      block.kind = BlockKind::definition;
      block.label = terms[0].term;
    }
    const uint16_t level = std::min<uint16_t>(block.level, b.limits().max_depth);
    const size_t index = b.add(std::move(block));
    for (const DefinedTerm& d : terms) {
      Anchor a;
      a.kind = AnchorKind::definition;
      a.title = d.term;
      a.level = level;
      b.add_secondary_anchor(index, std::move(a), enclosing);
    }
  }

  std::string source_;
  std::string_view bytes_;
  Limits limits_;
  std::vector<Pending> pending_;
  size_t replaced_ = 0;
};

// Splits a heading title into number + title when it starts with a numbering
// pattern ("12.2 Termination" -> "12.2", "Termination").
std::pair<std::string, std::string> split_number(std::string_view title) {
  if (auto m = match_numbered(title); m && m->style != NumberStyle::letter_paren && m->style != NumberStyle::roman_paren)
    return {m->number + (m->trailing_dot ? "." : ""), m->title};
  return {"", std::string(trim(title))};
}

// --- Markdown --------------------------------------------------------------------

struct Fence {
  char ch;
  size_t len;
};

std::optional<Fence> fence_open(std::string_view s) {
  if (indent_of(s) > 3) return std::nullopt;
  s = trim(s);
  if (s.size() < 3 || (s[0] != '`' && s[0] != '~')) return std::nullopt;
  size_t n = 0;
  while (n < s.size() && s[n] == s[0]) ++n;
  if (n < 3) return std::nullopt;
  if (s[0] == '`' && s.substr(n).find('`') != std::string_view::npos) return std::nullopt;
  return Fence{s[0], n};
}

bool is_fence_close(std::string_view s, const Fence& f) {
  if (indent_of(s) > 3) return false;
  s = trim(s);
  size_t n = 0;
  while (n < s.size() && s[n] == f.ch) ++n;
  return n >= f.len && n == s.size();
}

// "# Title ##" -> level and title.
std::optional<std::pair<uint16_t, std::string_view>> atx_heading(std::string_view s) {
  if (indent_of(s) > 3) return std::nullopt;
  s = trim(s);
  size_t n = 0;
  while (n < s.size() && s[n] == '#') ++n;
  if (n == 0 || n > 6 || (n < s.size() && s[n] != ' ' && s[n] != '\t')) return std::nullopt;
  std::string_view t = trim(s.substr(n));
  // Optional closing sequence of '#'s preceded by a space.
  size_t e = t.size();
  while (e > 0 && t[e - 1] == '#') --e;
  if (e == 0) t = {};
  else if (e < t.size() && (t[e - 1] == ' ' || t[e - 1] == '\t')) t = trim(t.substr(0, e));
  return std::pair{uint16_t(n), t};
}

bool is_setext_underline(std::string_view s, char ch) {
  if (indent_of(s) > 3) return false;
  s = trim(s);
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [ch](char c) { return c == ch; });
}

bool is_thematic_break(std::string_view s) {
  if (indent_of(s) > 3) return false;
  s = trim(s);
  char ch = 0;
  size_t n = 0;
  for (char c : s) {
    if (c == ' ' || c == '\t') continue;
    if (c != '-' && c != '*' && c != '_') return false;
    if (ch && c != ch) return false;
    ch = c;
    ++n;
  }
  return n >= 3;
}

// "- x", "* x", "+ x", "1. x", "1) x" -> marker and text.
std::optional<std::pair<std::string_view, std::string_view>> list_marker(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && (s[0] == '-' || s[0] == '*' || s[0] == '+') && (s[1] == ' ' || s[1] == '\t'))
    return std::pair{s.substr(0, 1), trim(s.substr(2))};
  if (s.starts_with("\xE2\x80\xA2 ")) return std::pair{s.substr(0, 3), trim(s.substr(4))};  // bullet •
  size_t n = 0;
  while (n < s.size() && n < 9 && s[n] >= '0' && s[n] <= '9') ++n;
  if (n > 0 && n + 1 < s.size() && (s[n] == '.' || s[n] == ')') && (s[n + 1] == ' ' || s[n + 1] == '\t'))
    return std::pair{s.substr(0, n + 1), trim(s.substr(n + 2))};
  return std::nullopt;
}

bool is_table_delimiter(std::string_view s) {
  s = trim(s);
  if (s.find('-') == std::string_view::npos || s.find('|') == std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '|' || c == '-' || c == ':' || c == ' ' || c == '\t'; });
}

// "| a | b |" -> "a | b".
std::string table_row(std::string_view s) {
  s = trim(s);
  if (s.starts_with('|')) s.remove_prefix(1);
  if (s.ends_with('|') && !s.ends_with("\\|")) s.remove_suffix(1);
  std::string out;
  size_t start = 0;
  bool first = true;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || (s[i] == '|' && (i == 0 || s[i - 1] != '\\'))) {
      if (!first) out += " | ";
      out += trim(s.substr(start, i - start));
      first = false;
      start = i + 1;
    }
  }
  return out;
}

// Whether a one-line paragraph reads as a numbered heading in Markdown: keyword
// styles, or a multi-component decimal ("1.2 Scope") with a short title.
std::optional<NumberedLine> markdown_numbered_heading(std::string_view s) {
  auto m = match_numbered(s);
  if (!m) return std::nullopt;
  const size_t words = size_t(std::count(m->title.begin(), m->title.end(), ' ')) + 1;
  if (m->title.size() > 100 || words > 12) return std::nullopt;
  if (m->style == NumberStyle::letter_paren || m->style == NumberStyle::roman_paren) return std::nullopt;
  if (m->style == NumberStyle::decimal && (m->depth < 2 || m->title.empty())) return std::nullopt;
  return m;
}

}  // namespace

Document parse_markdown(std::string_view bytes, std::string source, const Limits& limits) {
  if (bytes.size() > limits.max_source_bytes)
    fail(Errc::unsupported, source + ": " + std::to_string(bytes.size()) + " bytes is more than the limit of " +
                                std::to_string(limits.max_source_bytes) + " (Limits::max_source_bytes)");
  Collector out(source, bytes, limits);
  LineReader lr(bytes, source, limits.max_line_bytes);
  std::vector<Line> para;  // lines of the paragraph being collected
  auto flush_para = [&] {
    if (para.empty()) return;
    std::string text;
    for (const Line& l : para) {
      std::string_view t = trim(l.text);
      if (t.starts_with('>')) t = trim(t.substr(1));
      if (!text.empty()) text += ' ';
      text += t;
    }
    if (para.size() == 1) {
      if (auto m = markdown_numbered_heading(text)) {
        out.add_heading(m->number + (m->trailing_dot ? "." : ""), m->title, std::nullopt, m->rank(), para[0], para[0]);
        para.clear();
        return;
      }
    }
    out.add(BlockKind::paragraph, text, "", para.front(), para.back());
    para.clear();
  };
  Line l;
  while (lr.next(l)) {
    const std::string_view t = l.text;
    if (is_blank(t)) {
      flush_para();
      continue;
    }
    if (auto f = fence_open(t)) {
      flush_para();
      const Line open = l;
      const std::string info(trim(trim(t).substr(f->len)));
      std::string code;
      const size_t strip = indent_of(t);
      Line last = open;
      bool closed = false;
      while (lr.next(l)) {
        last = l;
        if (is_fence_close(l.text, *f)) {
          closed = true;
          break;
        }
        std::string_view c = l.text;
        size_t k = 0;
        while (k < strip && k < c.size() && c[k] == ' ') ++k;
        code += c.substr(k);
        code += '\n';
      }
      (void)closed;  // an unclosed fence runs to the end of the document, as CommonMark says
      out.add(BlockKind::code, code, info, open, last);
      continue;
    }
    if (auto h = atx_heading(t)) {
      flush_para();
      auto [number, title] = split_number(h->second);
      out.add_heading(std::move(number), title, h->first, 0, l, l);
      continue;
    }
    if (!para.empty() && (is_setext_underline(t, '=') || is_setext_underline(t, '-'))) {
      std::string text;
      for (const Line& p : para) {
        if (!text.empty()) text += ' ';
        text += trim(p.text);
      }
      auto [number, title] = split_number(text);
      out.add_heading(std::move(number), title, uint16_t(trim(t)[0] == '=' ? 1 : 2), 0, para.front(), l);
      para.clear();
      continue;
    }
    if (is_thematic_break(t)) {
      flush_para();
      continue;
    }
    // Tables: a header row followed by a delimiter row.
    Line next;
    if (para.empty() && t.find('|') != std::string_view::npos && lr.peek(next) && is_table_delimiter(next.text)) {
      std::string rows = table_row(t);
      const Line first = l;
      Line last = l;
      lr.next(l);  // delimiter
      last = l;
      while (lr.peek(next) && !is_blank(next.text) && next.text.find('|') != std::string_view::npos) {
        lr.next(l);
        last = l;
        rows += '\n';
        rows += table_row(l.text);
      }
      out.add(BlockKind::table, rows, "", first, last);
      continue;
    }
    if (auto li = list_marker(t); li && indent_of(t) < 8) {
      flush_para();
      const Line first = l;
      Line last = l;
      std::string text(li->second);
      const size_t item_indent = indent_of(t);
      // Lazy and indented continuation lines belong to the item.
      while (lr.peek(next) && !is_blank(next.text) && !list_marker(next.text) && !atx_heading(next.text) &&
             !fence_open(next.text) && (indent_of(next.text) > item_indent || !is_thematic_break(next.text))) {
        lr.next(l);
        last = l;
        text += ' ';
        text += trim(l.text);
      }
      out.add(BlockKind::list_item, text, std::string(li->first), first, last);
      continue;
    }
    para.push_back(l);
  }
  flush_para();
  return std::move(out).finish(SourceFormat::markdown);
}

// --- Plain text ---------------------------------------------------------------------

namespace {

bool is_caps_heading(std::string_view s) {
  s = trim(s);
  if (s.size() < 4 || s.size() > 80) return false;
  size_t letters = 0;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') return false;
    if (c >= 'A' && c <= 'Z') ++letters;
  }
  if (letters < 4) return false;
  const char e = s.back();
  return e != ',' && e != ';';
}

bool title_reads_as_heading(const NumberedLine& m) {
  const size_t words = size_t(std::count(m.title.begin(), m.title.end(), ' ')) + 1;
  if (m.title.size() > 100 || words > 12) return false;
  if (m.title.empty()) return m.style != NumberStyle::decimal || m.trailing_dot;
  const unsigned char c = static_cast<unsigned char>(m.title[0]);
  const bool starts_ok = (c >= 'A' && c <= 'Z') || c >= 0x80 || c == '"' || c == '\'' || (c >= '0' && c <= '9');
  const char e = m.title.back();
  return starts_ok && e != ',' && e != ';';
}

}  // namespace

Document parse_text(std::string_view bytes, std::string source, const Limits& limits) {
  if (bytes.size() > limits.max_source_bytes)
    fail(Errc::unsupported, source + ": " + std::to_string(bytes.size()) + " bytes is more than the limit of " +
                                std::to_string(limits.max_source_bytes) + " (Limits::max_source_bytes)");
  Collector out(source, bytes, limits);
  LineReader lr(bytes, source, limits.max_line_bytes);
  // Collect paragraphs (runs of non-blank lines), then classify each.
  std::vector<Line> para;
  auto emit_lines = [&](size_t from) {
    // The rest of a paragraph: list items start at markers, other lines join.
    std::string text;
    std::string label;
    size_t first = from;
    auto flush = [&](size_t last) {
      if (first >= para.size()) return;
      out.add(label.empty() ? BlockKind::paragraph : BlockKind::list_item, text, label, para[first], para[last]);
      text.clear();
      label.clear();
    };
    for (size_t i = from; i < para.size(); ++i) {
      const std::string_view t = trim(para[i].text);
      std::optional<std::pair<std::string_view, std::string_view>> li = list_marker(t);
      std::optional<NumberedLine> paren;
      if (!li) {
        paren = match_numbered(t);
        if (paren && paren->style != NumberStyle::letter_paren && paren->style != NumberStyle::roman_paren) paren.reset();
      }
      if (li || paren) {
        if (i > first) flush(i - 1);
        first = i;
        label = li ? std::string(li->first) : paren->number;
        text = li ? std::string(li->second) : paren->title;
        continue;
      }
      if (!text.empty()) {
        // Join hyphenated line ends ("termi-" + "nation").
        if (text.size() > 1 && text.back() == '-' && text[text.size() - 2] >= 'a' && text[text.size() - 2] <= 'z' &&
            !t.empty() && t[0] >= 'a' && t[0] <= 'z')
          text.pop_back();
        else
          text += ' ';
      }
      text += t;
    }
    flush(para.size() - 1);
  };
  auto flush_para = [&] {
    if (para.empty()) return;
    const std::string_view head = trim(para[0].text);
    // Setext-style underline under a one-line title ("1. Definitions\n-----").
    if (para.size() >= 2 && (is_setext_underline(para[1].text, '-') || is_setext_underline(para[1].text, '=')) &&
        head.size() <= 100) {
      auto [number, title] = split_number(head);
      auto m = match_numbered(head);
      if (m && m->style != NumberStyle::letter_paren && m->style != NumberStyle::roman_paren)
        out.add_heading(std::move(number), title, std::nullopt, m->rank(), para[0], para[1]);
      else
        out.add_heading("", head, std::nullopt, -1, para[0], para[1]);
      para.erase(para.begin(), para.begin() + 2);
      if (!para.empty()) emit_lines(0);
      para.clear();
      return;
    }
    // Run-in heading: "2. Grant of Copyright License. Subject to the terms..."
    // (a short capitalised title sentence, then the body on the same line).
    if (auto m = match_numbered(head); m && m->style == NumberStyle::decimal && !m->title.empty() &&
                                       m->title[0] >= 'A' && m->title[0] <= 'Z') {
      const size_t stop = m->title.find(". ");
      if (stop != std::string::npos && stop < 80) {
        const std::string title = m->title.substr(0, stop + 1);
        const size_t words = size_t(std::count(title.begin(), title.end(), ' ')) + 1;
        if (words <= 10 && (para.size() > 1 || m->title.size() > 100)) {
          const std::string number = m->number + (m->trailing_dot ? "." : "");
          out.add_heading(number, title, std::nullopt, m->rank(), para[0], para[0]);
          // The body: the rest of the first line, then the other lines.
          std::string body = m->title.substr(stop + 2);
          for (size_t i = 1; i < para.size(); ++i) {
            body += ' ';
            body += trim(para[i].text);
          }
          out.add(BlockKind::paragraph, body, "", para[0], para.back());
          para.clear();
          return;
        }
      }
    }
    if (auto m = match_numbered(head);
        m && m->style != NumberStyle::letter_paren && m->style != NumberStyle::roman_paren && title_reads_as_heading(*m)) {
      // Standalone, or the body continues on deeper-indented lines.
      const bool standalone = para.size() == 1;
      const bool body_indented = para.size() > 1 && indent_of(para[1].text) > indent_of(para[0].text);
      const bool keyword = m->style != NumberStyle::decimal;
      if (standalone || body_indented || (keyword && m->title.size() < 60)) {
        out.add_heading(m->number + (m->trailing_dot ? "." : ""), m->title, std::nullopt, m->rank(), para[0], para[0]);
        if (para.size() > 1) emit_lines(1);
        para.clear();
        return;
      }
    }
    if (para.size() == 1 && is_caps_heading(head)) {
      out.add_heading("", collapse_spaces(head), std::nullopt, -1, para[0], para[0]);
      para.clear();
      return;
    }
    emit_lines(0);
    para.clear();
  };
  Line l;
  while (lr.next(l)) {
    if (is_blank(l.text)) {
      flush_para();
      continue;
    }
    para.push_back(l);
    if (para.size() > 100000) fail_at(source, l.number, "paragraph of more than 100000 lines");
  }
  flush_para();
  return std::move(out).finish(SourceFormat::text);
}

}  // namespace folio::ingest
