// Citations of kind `reference`: source locations written in text (by the
// model, or by anyone) checked against the corpus. A reference resolves only
// to something that exists in the corpus; otherwise it is returned with
// resolved = false and the reason. Nothing is guessed.
//
// Recognised forms:
//   §12.2  Section 12.2  Clause 4  Article IV        -> a numbered section anchor
//   src/a.py:120  a.py:120-130  (a path with an extension, then lines)
//                                                    -> that file, those lines
//   [00:14:03]  [14:03]  [00:14:03.5]                -> the transcript cue at that time
//   p. 12  page 12                                   -> that page of a PDF
#include <algorithm>
#include <cctype>
#include <regex>

#include "runtime/common/error.hpp"
#include "sdk/src/internal.hpp"

namespace folio::detail {

namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = char(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

// "Section 12.2." / "§ 12.2" / "ARTICLE IV" / "12.2" -> "12.2" / "iv".
std::string normalize_number(std::string_view s) {
  std::string r = lower(s);
  for (std::string_view prefix : {"\xc2\xa7", "section", "clause", "article", "art."}) {
    if (r.starts_with(prefix)) r.erase(0, prefix.size());
    while (!r.empty() && std::isspace(static_cast<unsigned char>(r.front()))) r.erase(0, 1);
  }
  while (!r.empty() && (r.back() == '.' || std::isspace(static_cast<unsigned char>(r.back())))) r.pop_back();
  return r;
}

struct Match {
  size_t doc = 0;
  std::optional<size_t> block;
};

std::optional<Match> find_section(const CorpusView& v, const std::string& number) {
  const auto& docs = v.corpus.documents();
  for (size_t d = 0; d < docs.size(); ++d) {
    const auto& outline = docs[d].outline;
    for (const ingest::Anchor& a : outline.anchors()) {
      if (a.kind != ingest::AnchorKind::section) continue;
      if (!a.number.empty() && normalize_number(a.number) == number) return Match{d, a.block};
    }
  }
  // A numbered clause that is not a heading ("2.1 Provider shall ..."): the
  // paragraph or list item whose label or text starts with the number.
  for (size_t d = 0; d < docs.size(); ++d) {
    const auto& blocks = docs[d].blocks;
    for (size_t b = 0; b < blocks.size(); ++b) {
      const ingest::Block& blk = blocks[b];
      if (blk.kind == ingest::BlockKind::code_unit || blk.kind == ingest::BlockKind::transcript_cue) continue;
      if (!blk.label.empty() && normalize_number(blk.label) == number) return Match{d, b};
      // The number, then a space or ". " ("3.2 Term", "3. Term"), not "3.2" for "3".
      const std::string head = lower(std::string_view(blk.text).substr(0, number.size() + 2));
      if (head.starts_with(number) && head.size() > number.size()) {
        const std::string_view rest = std::string_view(head).substr(number.size());
        if (rest[0] == ' ' || (rest[0] == '.' && (rest.size() == 1 || rest[1] == ' '))) return Match{d, b};
      }
    }
  }
  return std::nullopt;
}

const ingest::TextLocation* text_loc(const ingest::Block& b) { return std::get_if<ingest::TextLocation>(&b.where); }

bool path_matches(std::string_view source, std::string_view path) {
  if (source == path) return true;
  if (source.size() > path.size() && source.ends_with(path) && source[source.size() - path.size() - 1] == '/')
    return true;
  // "./a.py" written as "a.py" and the other way round.
  if (path.starts_with("./")) return path_matches(source, path.substr(2));
  return false;
}

int64_t parse_time_ms(const std::smatch& m) {
  // Groups: 1 = hours (optional), 2 = minutes, 3 = seconds, 4 = fraction (optional)
  const int64_t h = m[1].matched ? std::stoll(m[1].str()) : 0;
  const int64_t mi = std::stoll(m[2].str()), s = std::stoll(m[3].str());
  int64_t ms = 0;
  if (m[4].matched) {
    std::string f = m[4].str().substr(1);
    f.resize(3, '0');
    ms = std::stoll(f);
  }
  return ((h * 60 + mi) * 60 + s) * 1000 + ms;
}

}  // namespace

SourceLocation location_of(const CorpusView& v, size_t doc_index, std::optional<size_t> block) {
  const ingest::Document& doc = v.corpus.documents().at(doc_index);
  SourceLocation loc;
  loc.source = doc.source;
  std::optional<ingest::AnchorId> anchor;
  std::string where;
  if (block && *block < doc.blocks.size()) {
    const ingest::Block& b = doc.blocks[*block];
    anchor = v.block_anchor[doc_index][*block];
    if (const auto* p = std::get_if<ingest::PdfLocation>(&b.where)) loc.page = p->page;
    if (const auto* t = std::get_if<ingest::TextLocation>(&b.where)) {
      loc.line_begin = t->line_begin;
      loc.line_end = t->line_end;
    }
    if (const auto* c = std::get_if<ingest::CueLocation>(&b.where)) {
      loc.start_ms = c->start_ms;
      loc.end_ms = c->end_ms;
      loc.speaker = c->speaker;
    }
    where = ingest::describe(b.where);
  }
  if (anchor) {
    loc.anchor = doc.outline[*anchor].label();
    loc.anchor_path = doc.outline.path(*anchor);
  }
  loc.description = doc.source;
  if (!where.empty()) loc.description += " " + where;
  if (!loc.anchor_path.empty()) loc.description += " (" + loc.anchor_path + ")";
  return loc;
}

std::vector<Citation> resolve_references(const CorpusView& v, std::string_view text_view) {
  const std::string text(text_view);
  std::vector<Citation> out;
  const auto& docs = v.corpus.documents();
  auto add = [&](size_t offset, std::string written) -> Citation& {
    Citation c;
    c.kind = CitationKind::reference;
    c.answer_offset = offset;
    c.text = std::move(written);
    out.push_back(std::move(c));
    return out.back();
  };

  // Sections.
  static const std::regex section(
      R"((?:\xC2\xA7\s*|\b(?:[Ss]ection|SECTION|[Cc]lause|CLAUSE|[Aa]rticle|ARTICLE)\s+)((?:\d+(?:\.\d+)*)|[IVXLCivxlc]+\b))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), section); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    Citation& c = add(size_t(m.position(0)), m.str(0));
    const std::string number = normalize_number(m.str(1));
    if (auto hit = find_section(v, number)) {
      c.resolved = true;
      c.location = location_of(v, hit->doc, hit->block);
    } else {
      c.problem = "no section numbered " + m.str(1) + " in the corpus";
    }
  }

  // file:line[-line]
  static const std::regex file_line(R"(([A-Za-z0-9_./\-]*[A-Za-z_][A-Za-z0-9_\-]*\.[A-Za-z][A-Za-z0-9]*):(\d{1,9})(?:-(\d{1,9}))?)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), file_line); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    Citation& c = add(size_t(m.position(0)), m.str(0));
    const std::string path = m.str(1);
    const uint32_t line = uint32_t(std::stoul(m.str(2)));
    const uint32_t line_last = m[3].matched ? uint32_t(std::stoul(m.str(3))) : line;
    std::optional<size_t> doc;
    for (size_t d = 0; d < docs.size() && !doc; ++d)
      if (path_matches(docs[d].source, path)) doc = d;
    if (!doc) {
      c.problem = "no file " + path + " in the corpus";
      continue;
    }
    // The innermost block covering the line (blocks nest for code: file >
    // class > method; the last covering block in order is the innermost).
    std::optional<size_t> best;
    uint32_t last_line = 0;
    const auto& blocks = docs[*doc].blocks;
    for (size_t b = 0; b < blocks.size(); ++b) {
      const auto* t = text_loc(blocks[b]);
      if (!t) continue;
      last_line = std::max(last_line, t->line_end);
      if (t->line_begin <= line && line <= t->line_end) best = b;
    }
    if (line == 0 || line_last < line || !best) {
      c.problem = path + " has no line " + m.str(2) + (last_line ? " (it has " + std::to_string(last_line) + " lines)" : "");
      continue;
    }
    if (line_last > last_line) {
      c.problem = path + " has only " + std::to_string(last_line) + " lines";
      continue;
    }
    c.resolved = true;
    c.location = location_of(v, *doc, best);
    c.location.line_begin = line;
    c.location.line_end = line_last;
  }

  // [hh:mm:ss(.fff)] or [mm:ss]
  static const std::regex timestamp(R"(\[(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(\.\d{1,3})?\])");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), timestamp); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    Citation& c = add(size_t(m.position(0)), m.str(0));
    const int64_t t = parse_time_ms(m);
    // A cue covering t; a timestamp written to the second may fall up to one
    // second before the cue's exact start.
    bool any_transcript = false;
    for (size_t d = 0; d < docs.size() && !c.resolved; ++d) {
      const auto& blocks = docs[d].blocks;
      for (size_t b = 0; b < blocks.size(); ++b) {
        const auto* cue = std::get_if<ingest::CueLocation>(&blocks[b].where);
        if (!cue) continue;
        any_transcript = true;
        if (cue->start_ms - 999 <= t && t <= std::max(cue->end_ms, cue->start_ms)) {
          c.resolved = true;
          c.location = location_of(v, d, b);
          break;
        }
      }
    }
    if (!c.resolved)
      c.problem = any_transcript ? "no transcript cue at " + ingest::format_timestamp(t)
                                 : "the corpus has no transcript";
  }

  // p. 12 / page 12
  static const std::regex page(R"(\b(?:p\.|[Pp]age)\s*(\d{1,6})\b)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), page); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    Citation& c = add(size_t(m.position(0)), m.str(0));
    const uint32_t p = uint32_t(std::stoul(m.str(1)));
    for (size_t d = 0; d < docs.size() && !c.resolved; ++d) {
      if (docs[d].format != ingest::SourceFormat::pdf) continue;
      const auto& blocks = docs[d].blocks;
      for (size_t b = 0; b < blocks.size(); ++b) {
        const auto* pl = std::get_if<ingest::PdfLocation>(&blocks[b].where);
        if (pl && pl->page == p) {
          c.resolved = true;
          c.location = location_of(v, d, b);
          break;
        }
      }
    }
    if (!c.resolved) c.problem = "no PDF page " + m.str(1) + " with text in the corpus";
  }

  std::sort(out.begin(), out.end(),
            [](const Citation& a, const Citation& b) { return a.answer_offset < b.answer_offset; });
  return out;
}

}  // namespace folio::detail
