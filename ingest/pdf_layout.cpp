// PDF layout analysis: lines, reading order, running lines, headings,
// paragraphs, definitions. See pdf_layout.hpp for the steps.
#include "ingest/pdf_layout.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <unordered_map>

#include "ingest/definitions.hpp"
#include "ingest/heading_patterns.hpp"
#include "ingest/text_util.hpp"
#include "runtime/common/error.hpp"

namespace folio::ingest {
namespace {

struct LineBox {
  std::string text;
  BBox box;
  double size = 0;       // character-weighted font size
  bool bold = false;     // every word bold
  uint32_t page = 0;     // 1-based
  size_t page_index = 0; // index into pages
  int column = 0;        // 0 full width / single, 1 left, 2 right
  double column_width = 0;  // widest line of the same page and column
  bool removed = false;  // running header/footer/page number
};

double word_size(const PdfWord& w) {
  if (w.font_size > 0 && std::isfinite(w.font_size)) return w.font_size;
  return std::max(1.0, w.box.height());  // estimate from the box height
}

bool finite_box(const BBox& b) {
  return std::isfinite(b.x0) && std::isfinite(b.x1) && std::isfinite(b.y0) && std::isfinite(b.y1) && b.x1 >= b.x0 &&
         b.y1 >= b.y0;
}

BBox unite(const BBox& a, const BBox& b) {
  return {std::min(a.x0, b.x0), std::min(a.y0, b.y0), std::max(a.x1, b.x1), std::max(a.y1, b.y1)};
}

// --- 1. words -> lines -------------------------------------------------------------

std::vector<LineBox> page_lines(const PdfPage& page, size_t page_index) {
  std::vector<const PdfWord*> words;
  words.reserve(page.words.size());
  for (const PdfWord& w : page.words)
    if (!w.text.empty() && finite_box(w.box)) words.push_back(&w);
  std::sort(words.begin(), words.end(), [](const PdfWord* a, const PdfWord* b) {
    return a->box.y0 != b->box.y0 ? a->box.y0 < b->box.y0 : a->box.x0 < b->box.x0;
  });
  // Rows: a word joins the most recent row its vertical center falls into.
  struct Row {
    double y0, y1;
    std::vector<const PdfWord*> words;
  };
  std::vector<Row> rows;
  for (const PdfWord* w : words) {
    const double cy = (w->box.y0 + w->box.y1) / 2;
    Row* target = nullptr;
    // Rows are created in order of their top; only the last few can still overlap.
    for (size_t k = rows.size(); k-- > 0 && k + 8 >= rows.size();) {
      Row& r = rows[k];
      const double rc = (r.y0 + r.y1) / 2;
      if (cy >= r.y0 && cy <= r.y1 && rc >= w->box.y0 && rc <= w->box.y1) {
        target = &r;
        break;
      }
    }
    if (!target) {
      rows.push_back({w->box.y0, w->box.y1, {}});
      target = &rows.back();
    }
    target->words.push_back(w);
  }
  std::vector<LineBox> lines;
  for (Row& r : rows) {
    std::sort(r.words.begin(), r.words.end(), [](const PdfWord* a, const PdfWord* b) { return a->box.x0 < b->box.x0; });
    LineBox cur;
    double chars = 0, size_sum = 0;
    bool all_bold = true;
    const PdfWord* prev = nullptr;
    auto flush = [&] {
      if (cur.text.empty()) return;
      cur.size = chars > 0 ? size_sum / chars : 0;
      cur.bold = all_bold;
      cur.page = page.number;
      cur.page_index = page_index;
      lines.push_back(std::move(cur));
      cur = LineBox{};
      chars = size_sum = 0;
      all_bold = true;
    };
    for (const PdfWord* w : r.words) {
      const double em = word_size(*w);
      if (prev) {
        const double gap = w->box.x0 - prev->box.x1;
        if (gap > 1.0 * std::max(em, word_size(*prev))) {
          flush();
        } else if (prev->space_after || gap > 0.15 * em) {
          cur.text += ' ';
        }
      }
      if (cur.text.empty()) cur.box = w->box;
      else cur.box = unite(cur.box, w->box);
      cur.text += w->text;
      const double n = double(w->text.size());
      chars += n;
      size_sum += n * em;
      all_bold = all_bold && w->bold;
      prev = w;
    }
    flush();
  }
  return lines;
}

// --- 2. reading order ----------------------------------------------------------------

// x of a vertical gutter: a position in the middle half of the text that
// (almost) no narrow line crosses, with at least three lines entirely on each
// side. A few crossing lines are tolerated (a centred caption or heading);
// they read as full-width lines.
std::optional<double> find_gutter(const std::vector<LineBox>& lines) {
  // Pages with very many lines (more than any real two-column page) are read in
  // one column: the search is quadratic in the number of lines.
  if (lines.size() < 6 || lines.size() > 1500) return std::nullopt;
  double left = 1e300, right = -1e300;
  for (const auto& l : lines) {
    left = std::min(left, l.box.x0);
    right = std::max(right, l.box.x1);
  }
  const double width = right - left;
  if (!(width > 0)) return std::nullopt;
  std::vector<std::pair<double, double>> spans;
  for (const auto& l : lines)
    if (l.box.width() < 0.6 * width) spans.push_back({l.box.x0, l.box.x1});
  if (spans.size() < 6) return std::nullopt;
  const size_t tolerance = std::max<size_t>(1, spans.size() / 20);
  std::optional<double> best;
  size_t best_cross = SIZE_MAX, best_balance = 0;
  for (const auto& cand : spans) {
    const double x = cand.second + 0.01;
    if (x < left + 0.25 * width || x > left + 0.75 * width) continue;
    size_t cross = 0, lefts = 0, rights = 0;
    double left_edge = -1e300, right_edge = 1e300;
    for (const auto& [a, b] : spans) {
      if (b <= x) {
        ++lefts;
        left_edge = std::max(left_edge, b);
      } else if (a >= x) {
        ++rights;
        right_edge = std::min(right_edge, a);
      } else {
        ++cross;
      }
    }
    if (lefts < 3 || rights < 3 || cross > tolerance || right_edge - left_edge < 4.0) continue;
    const size_t balance = std::min(lefts, rights);
    if (cross < best_cross || (cross == best_cross && balance > best_balance)) {
      best_cross = cross;
      best_balance = balance;
      best = (left_edge + right_edge) / 2;
    }
  }
  return best;
}

void order_page(std::vector<LineBox>& lines) {
  std::stable_sort(lines.begin(), lines.end(), [](const LineBox& a, const LineBox& b) {
    return a.box.y0 != b.box.y0 ? a.box.y0 < b.box.y0 : a.box.x0 < b.box.x0;
  });
  const auto gutter = find_gutter(lines);
  if (!gutter) return;
  std::vector<LineBox> out;
  out.reserve(lines.size());
  std::vector<LineBox> left, right;
  auto flush_band = [&] {
    for (auto& l : left) out.push_back(std::move(l));
    for (auto& l : right) out.push_back(std::move(l));
    left.clear();
    right.clear();
  };
  for (auto& l : lines) {
    if (l.box.x0 < *gutter && l.box.x1 > *gutter) {
      flush_band();
      l.column = 0;
      out.push_back(std::move(l));
    } else if (l.box.x1 <= *gutter) {
      l.column = 1;
      left.push_back(std::move(l));
    } else {
      l.column = 2;
      right.push_back(std::move(l));
    }
  }
  flush_band();
  lines = std::move(out);
}

// --- 3. running headers and footers ---------------------------------------------------

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Text with digit runs replaced by '#', spaces collapsed, lower-cased (ASCII).
std::string running_key(std::string_view s, std::vector<long>& numbers) {
  std::string key;
  for (size_t i = 0; i < s.size();) {
    if (is_digit(s[i])) {
      long v = 0;
      size_t j = i;
      while (j < s.size() && is_digit(s[j]) && j - i < 9) v = v * 10 + (s[j++] - '0');
      while (j < s.size() && is_digit(s[j])) ++j;
      numbers.push_back(v);
      key += '#';
      i = j;
      continue;
    }
    char c = s[i++];
    if (c >= 'A' && c <= 'Z') c = char(c + 32);
    if (c == ' ' && !key.empty() && key.back() == ' ') continue;
    key += c;
  }
  return key;
}

// "12", "- 12 -", "Page 12", "page 3 of 9", "12/30", "iv"
bool is_page_number_line(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 24) return false;
  std::string_view rest = s;
  if (istarts_with(rest, "page", &rest)) rest = trim(rest);
  while (!rest.empty() && (rest.front() == '-' || rest.front() == ' ' || rest.front() == '[' || rest.front() == '('))
    rest.remove_prefix(1);
  while (!rest.empty() && (rest.back() == '-' || rest.back() == ' ' || rest.back() == ']' || rest.back() == ')'))
    rest.remove_suffix(1);
  if (rest.empty()) return false;
  if (is_roman_numeral(rest) && rest.size() <= 6 && rest == s) return true;
  size_t i = 0;
  while (i < rest.size() && is_digit(rest[i])) ++i;
  if (i == 0) return false;
  if (i == rest.size()) return true;
  std::string_view tail = trim(rest.substr(i));
  if (tail.starts_with('/')) tail = trim(tail.substr(1));
  else if (istarts_with(tail, "of", &tail)) tail = trim(tail);
  else return false;
  return !tail.empty() && std::all_of(tail.begin(), tail.end(), is_digit);
}

size_t remove_running_lines(std::vector<std::vector<LineBox>>& pages, std::span<const PdfPage> src) {
  struct Occurrence {
    size_t page;
    size_t line;
    std::vector<long> numbers;
    double y;
  };
  std::map<std::pair<bool, std::string>, std::vector<Occurrence>> groups;  // (top?, key)
  for (size_t p = 0; p < pages.size(); ++p) {
    const double h = src[p].height > 0 ? src[p].height : 792;
    for (size_t i = 0; i < pages[p].size(); ++i) {
      const LineBox& l = pages[p][i];
      const bool top = l.box.y1 < 0.12 * h;
      const bool bottom = l.box.y0 > 0.88 * h;
      if (!top && !bottom) continue;
      std::vector<long> numbers;
      std::string key = running_key(l.text, numbers);
      groups[{top, std::move(key)}].push_back({p, i, std::move(numbers), l.box.y0});
    }
  }
  size_t removed = 0;
  const size_t threshold = std::max<size_t>(2, (pages.size() * 3 + 9) / 10);  // 30% of pages, at least 2
  for (auto& [key, occ] : groups) {
    bool running = false;
    if (pages.size() >= 2 && occ.size() >= threshold) {
      // Same vertical position (within 6 pt) on each page where it occurs.
      const double y = occ[0].y;
      running = std::all_of(occ.begin(), occ.end(), [&](const Occurrence& o) { return std::abs(o.y - y) < 6; });
      // Numbers that differ must differ as page numbers do: number - page constant.
      if (running && !occ[0].numbers.empty()) {
        for (size_t n = 0; n < occ[0].numbers.size() && running; ++n) {
          bool all_same = true, page_like = true;
          const long c = occ[0].numbers[n] - long(occ[0].page);
          for (const auto& o : occ) {
            if (o.numbers.size() != occ[0].numbers.size()) {
              running = false;
              break;
            }
            all_same = all_same && o.numbers[n] == occ[0].numbers[n];
            page_like = page_like && o.numbers[n] - long(o.page) == c;
          }
          running = running && (all_same || page_like);
        }
      }
    }
    for (const auto& o : occ) {
      LineBox& l = pages[o.page][o.line];
      if (running || is_page_number_line(l.text)) {
        if (!l.removed) ++removed;
        l.removed = true;
      }
    }
  }
  for (auto& lines : pages) std::erase_if(lines, [](const LineBox& l) { return l.removed; });
  return removed;
}

// --- 4-6. headings, paragraphs, definitions ----------------------------------------

bool title_like(const NumberedLine& m) {
  const size_t words = size_t(std::count(m.title.begin(), m.title.end(), ' ')) + 1;
  if (m.title.size() > 120 || words > 16) return false;
  if (m.title.empty()) return m.style != NumberStyle::decimal || m.trailing_dot;
  const unsigned char c = static_cast<unsigned char>(m.title[0]);
  const bool starts_ok = (c >= 'A' && c <= 'Z') || c >= 0x80 || c == '"' || c == '\'' || (c >= '0' && c <= '9');
  const char e = m.title.back();
  return starts_ok && e != ',' && e != ';';
}

struct Unit {  // a heading or a paragraph/list item under construction
  enum Kind { heading, paragraph, list_item } kind = paragraph;
  std::string text;
  std::string label;  // heading number / list marker
  int rank = 0;       // heading rank
  double size = 0;
  bool bold = false;
  BBox box;
  uint32_t page = 0;
  std::optional<uint16_t> outline_level;  // from the PDF outline
};

// Joins `next` onto `text`, removing an end-of-line hyphen between letters.
void join_line(std::string& text, std::string_view next) {
  if (text.empty()) {
    text = next;
    return;
  }
  if (text.ends_with("\xC2\xAD")) {  // soft hyphen: always a break inside a word
    text.resize(text.size() - 2);
    text += next;
    return;
  }
  if (text.size() >= 2 && text.back() == '-' && std::isalpha(static_cast<unsigned char>(text[text.size() - 2])) &&
      !next.empty() && std::islower(static_cast<unsigned char>(next[0]))) {
    text.pop_back();
    text += next;
    return;
  }
  text += ' ';
  text += next;
}

std::string normalise_title(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80)
      out += char(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

void layout_pdf(std::span<const PdfPage> pages, std::span<const PdfOutlineEntry> outline, DocumentBuilder& builder,
                const PdfLayoutOptions& options) {
  std::vector<std::vector<LineBox>> page_lines_v(pages.size());
  for (size_t p = 0; p < pages.size(); ++p) {
    page_lines_v[p] = page_lines(pages[p], p);
  }
  // Running lines go first, so a centred page number cannot hide a gutter.
  if (options.remove_running_lines) {
    const size_t removed = remove_running_lines(page_lines_v, pages);
    if (removed)
      builder.doc().notes.push_back("removed " + std::to_string(removed) +
                                    " running header/footer and page-number lines");
  }
  for (auto& lines : page_lines_v) {
    order_page(lines);
    double widest[3] = {0, 0, 0};
    for (const auto& l : lines) widest[l.column] = std::max(widest[l.column], l.box.width());
    for (auto& l : lines) l.column_width = widest[l.column];
  }
  // Body font size: the size carrying the most characters (rounded to 0.5 pt).
  std::map<long, size_t> size_chars;
  for (const auto& lines : page_lines_v)
    for (const auto& l : lines) size_chars[std::lround(l.size * 2)] += l.text.size();
  double body = 10;
  size_t best = 0;
  for (auto [s, n] : size_chars)
    if (n > best) {
      best = n;
      body = double(s) / 2;
    }
  // Typical line pitch at body size, per page column, for paragraph breaks.
  std::vector<double> pitches;
  for (const auto& lines : page_lines_v)
    for (size_t i = 1; i < lines.size(); ++i) {
      const double d = lines[i].box.y0 - lines[i - 1].box.y0;
      if (lines[i].column == lines[i - 1].column && d > 0 && std::abs(lines[i].size - body) < 0.6 &&
          std::abs(lines[i - 1].size - body) < 0.6)
        pitches.push_back(d);
    }
  double pitch = body * 1.2;
  if (!pitches.empty()) {
    std::nth_element(pitches.begin(), pitches.begin() + long(pitches.size() / 2), pitches.end());
    pitch = pitches[pitches.size() / 2];
  }

  // Outline titles, normalised, for matching headings.
  std::unordered_map<std::string, uint16_t> outline_titles;
  for (const auto& e : outline) {
    const std::string k = normalise_title(e.title);
    if (!k.empty()) outline_titles.emplace(k, e.depth);
  }

  // Lines -> units.
  std::vector<Unit> units;
  const LineBox* prev = nullptr;
  double column_left = 0;
  for (const auto& lines : page_lines_v) {
    prev = nullptr;
    for (const LineBox& l : lines) {
      const std::string_view t = trim(l.text);
      if (t.empty()) continue;
      const bool larger = l.size >= body * 1.15;
      const bool new_column = !prev || prev->column != l.column || l.box.y0 < prev->box.y0 - 1;
      if (new_column) column_left = l.box.x0;
      const double gap = prev && !new_column ? l.box.y0 - prev->box.y0 : 1e9;
      const bool after_break = gap > pitch * 1.35 || new_column;
      std::optional<NumberedLine> num = match_numbered(t);
      const bool paren = num && (num->style == NumberStyle::letter_paren || num->style == NumberStyle::roman_paren);
      // Outline match: the line (or line + number) equals an outline title.
      std::optional<uint16_t> outline_depth;
      if (!outline_titles.empty() && t.size() < 200) {
        auto it = outline_titles.find(normalise_title(t));
        if (it == outline_titles.end() && num) it = outline_titles.find(normalise_title(num->title));
        if (it != outline_titles.end()) outline_depth = it->second;
      }
      bool heading = false;
      if (t.size() <= 160) {
        if (outline_depth) heading = true;
        else if (larger && after_break) heading = true;
        else if (l.bold && after_break && t.size() <= 120 && !paren) heading = true;
        else if (l.bold && num && !paren && title_like(*num)) heading = true;
        else if (num && !paren && title_like(*num) && after_break && l.bold) heading = true;
        else if (num && num->style != NumberStyle::decimal && !paren && title_like(*num) && after_break &&
                 num->title.size() < 60)
          heading = true;  // "ARTICLE IV", "Section 5 Fees" on their own line
        else if (!options.font_info && num && !paren && title_like(*num) && (after_break || gap > pitch * 1.1) &&
                 l.box.width() < 0.6 * l.column_width)
          heading = true;  // no weights known: a short numbered line set apart
      }
      // A heading continues on the next line when it wraps (same style, tight
      // pitch), unless that line starts a numbered heading of its own ("16."
      // alone is the end of "... Sections 15 and" + "16.").
      if (!units.empty() && units.back().kind == Unit::heading && prev && !new_column && gap <= pitch * 1.2 &&
          l.bold == units.back().bold && std::abs(l.size - units.back().size) < 0.5 &&
          (l.bold || larger ||
           (!options.font_info && l.box.width() < 0.6 * l.column_width &&
            !std::islower(static_cast<unsigned char>(t[0])))) &&
          units.back().page == l.page && (!num || num->title.empty() || !heading)) {
        join_line(units.back().text, t);
        units.back().box = unite(units.back().box, l.box);
        prev = &l;
        continue;
      }
      if (heading) {
        Unit u;
        u.kind = Unit::heading;
        if (num && !paren) {
          u.label = num->number + (num->trailing_dot ? "." : "");
          u.text = num->title;
          u.rank = num->rank();
        } else if (num && paren && l.bold) {
          u.label = num->number;
          u.text = num->title;
          u.rank = num->rank();
        } else {
          u.text = std::string(t);
          // Unnumbered: larger type ranks above every numbering style; bold
          // body-size type sits below decimal numbering.
          u.rank = larger ? -int(std::lround(l.size * 10)) : 20;
        }
        u.size = l.size;
        u.bold = l.bold;
        u.box = l.box;
        u.page = l.page;
        u.outline_level = outline_depth;
        units.push_back(std::move(u));
        prev = &l;
        continue;
      }
      const bool indented_start = prev && !new_column && l.box.x0 > column_left + body * 0.9 &&
                                  prev->box.x0 <= column_left + body * 0.5;
      const bool marker = paren || (t.size() > 2 && (t.starts_with("\xE2\x80\xA2") || t.starts_with("- ")));
      const bool continue_unit = !units.empty() && units.back().kind != Unit::heading && !after_break &&
                                 !marker && !indented_start && units.back().page == l.page &&
                                 std::abs(l.size - units.back().size) < 1.0;
      if (continue_unit) {
        join_line(units.back().text, t);
        units.back().box = unite(units.back().box, l.box);
      } else {
        Unit u;
        u.kind = marker ? Unit::list_item : Unit::paragraph;
        if (paren) {
          u.label = num->number;
          u.text = num->title;
        } else if (marker) {
          u.label = t.starts_with("- ") ? "-" : "\xE2\x80\xA2";
          u.text = std::string(trim(t.substr(u.label.size())));
        } else {
          u.text = std::string(t);
        }
        u.size = l.size;
        u.box = l.box;
        u.page = l.page;
        units.push_back(std::move(u));
      }
      prev = &l;
    }
  }

  // Heading levels: the PDF outline's depth where it names the heading,
  // otherwise ranks compressed over the document.
  std::vector<int> ranks;
  for (const Unit& u : units)
    if (u.kind == Unit::heading) ranks.push_back(u.rank);
  const std::vector<uint16_t> levels = rank_levels(ranks);
  size_t hi = 0;
  size_t replaced = 0, definitions = 0;
  const uint16_t max_depth = builder.limits().max_depth;
  for (Unit& u : units) {
    Block b;
    b.text = collapse_spaces(clean_text(u.text, &replaced));
    b.label = collapse_spaces(clean_text(u.label, &replaced));
    b.where = PdfLocation{u.page, u.box};
    if (b.text.empty() && b.label.empty()) {
      if (u.kind == Unit::heading) ++hi;
      continue;
    }
    if (u.kind == Unit::heading) {
      const uint16_t level = std::min<uint16_t>(u.outline_level ? *u.outline_level : levels[hi], max_depth);
      ++hi;
      b.kind = BlockKind::heading;
      Anchor a;
      a.kind = AnchorKind::section;
      a.number = b.label;
      a.title = b.text;
      a.level = level;
      builder.add_anchored(std::move(b), std::move(a));
      continue;
    }
    b.kind = u.kind == Unit::list_item ? BlockKind::list_item : BlockKind::paragraph;
    const auto enclosing = builder.current();
    const uint16_t level = enclosing ? uint16_t(builder.doc().outline[*enclosing].level + 1) : 1;
    b.level = level;
    std::vector<DefinedTerm> terms;
    if (options.detect_definitions) terms = find_defined_terms(b.text);
    if (!terms.empty() && terms[0].offset < 4 && b.kind == BlockKind::paragraph) {
      b.kind = BlockKind::definition;
      b.label = terms[0].term;
    }
    const size_t index = builder.add(std::move(b));
    for (const DefinedTerm& d : terms) {
      Anchor a;
      a.kind = AnchorKind::definition;
      a.title = d.term;
      a.level = std::min<uint16_t>(level, max_depth);
      builder.add_secondary_anchor(index, std::move(a), enclosing);
      ++definitions;
    }
  }
  if (replaced) builder.doc().notes.push_back(std::to_string(replaced) + " invalid UTF-8 sequences replaced by U+FFFD");
  if (definitions) builder.doc().notes.push_back(std::to_string(definitions) + " defined terms");
}

}  // namespace folio::ingest
