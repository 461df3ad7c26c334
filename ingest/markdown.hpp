// Markdown and plain text.
//
// Markdown (a CommonMark subset, enough for structure): ATX (#) and setext
// headings, fenced code (``` and ~~~), bullet and ordered list items, pipe
// tables, block quotes, paragraphs. A single-line paragraph that reads as a
// numbered heading ("1.2 Scope", "ARTICLE IV", "Section 5 Fees") is a heading
// too; "1. Item" stays a list item as CommonMark says.
//
// Plain text: paragraphs split at blank lines; headings are standalone short
// lines with a numbering pattern ("1. Definitions.", "ARTICLE IV", "Section 5"),
// a numbered line whose body continues on deeper-indented lines (licence
// style), setext-underlined lines, and short ALL-CAPS lines; bullets and
// lettered items are list items.
//
// Every block carries TextLocation provenance (lines and bytes). Headings open
// section anchors; levels come from '#' counts or, for numbering patterns, from
// rank_levels (see heading_patterns.hpp).
#pragma once

#include <string>
#include <string_view>

#include "ingest/document.hpp"

namespace folio::ingest {

Document parse_markdown(std::string_view bytes, std::string source, const Limits& limits = {});
Document parse_text(std::string_view bytes, std::string source, const Limits& limits = {});

}  // namespace folio::ingest
