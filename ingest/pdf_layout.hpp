// From positioned words to a structured Document: the half of PDF ingestion
// that needs no Poppler (so it is unit-tested and fuzzed on synthetic pages).
//
// Steps, per page then across pages:
//   1. words -> lines: words whose vertical extents overlap form a row; a row
//      splits at horizontal gaps wider than an em (column gutters, tab stops);
//   2. reading order: a page with a vertical gutter that no narrow line crosses
//      reads in bands: full-width lines in place, between them the left column
//      top to bottom, then the right column;
//   3. running headers and footers: lines in the top/bottom margin band whose
//      text repeats on many pages (numbers may differ only as page numbers do),
//      and bare page numbers ("12", "- 12 -", "Page 3 of 9"), are removed and
//      counted in Document::notes;
//   4. headings: larger-than-body font, whole-line bold, or a numbering pattern
//      on a short standalone line; levels from numbering ranks and font sizes,
//      or from the PDF outline when it names the heading;
//   5. paragraphs: consecutive lines of one column with body spacing; end-of-line
//      hyphens joined ("termi-" + "nation"); list items at markers;
//   6. defined terms ('"Term" means') become definition anchors.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ingest/document.hpp"

namespace folio::ingest {

struct PdfWord {
  std::string text;        // UTF-8
  BBox box;                // page coordinates, origin top-left, points
  double font_size = 0;    // 0 when unknown (estimated from the box height)
  bool bold = false;
  bool space_after = true;
};

struct PdfPage {
  uint32_t number = 0;  // 1-based
  double width = 612, height = 792;
  std::vector<PdfWord> words;
};

// An entry of the PDF's outline (bookmarks), in document order.
struct PdfOutlineEntry {
  std::string title;
  uint16_t depth = 1;  // 1 = top level
};

struct PdfLayoutOptions {
  bool remove_running_lines = true;
  bool detect_definitions = true;
  // False when the words carry no font names (PdfWord::bold unknown, sizes
  // estimated from box heights): a numbered line that is short and set apart
  // then counts as a heading even without bold type.
  bool font_info = true;
};

// Builds the Document. `doc` must already carry source, format, hash and page
// count; blocks and outline are appended.
void layout_pdf(std::span<const PdfPage> pages, std::span<const PdfOutlineEntry> outline, DocumentBuilder& builder,
                const PdfLayoutOptions& options = {});

}  // namespace folio::ingest
