// Rendering documents to the text the model sees.
//
// The markup is light and explicit, so that structure survives tokenization:
//   document start  "<document source=\"contracts/msa.pdf\">\n" ... "</document>\n\n"
//   heading         "## 12.2 Termination for Convenience\n\n"   ('#' x level, max 6)
//   paragraph       "text\n\n"
//   list item       "(a) text\n"          (marker as written; "- " when none)
//   table           rows as written, then "\n"
//   code (prose)    "```\n" text "\n```\n\n"
//   code unit       "// src/store.cpp:120-145 Store::put(Key, Value)\n" text "\n\n"
//                   (the header is omitted for a unit without a label)
//   transcript cue  "[00:01:02.500] Alice: text\n"  (speaker omitted when unknown)
//   definition      "text\n\n"            (the term is an anchor; text unchanged)
// Each rendered block reports which bytes of it are anchor text (the heading
// line, the code-unit header, the cue's "[time] Speaker:" prefix at a turn); those
// become the block's global tokens.
#pragma once

#include <cstddef>
#include <string>

#include "ingest/document.hpp"

namespace folio::ingest {

struct RenderedBlock {
  std::string text;
  // [anchor_begin, anchor_end) of `text` is anchor text (empty range when the
  // block opens no anchor).
  size_t anchor_begin = 0, anchor_end = 0;
  // Offset in `text` where block.text starts (after markup), for provenance.
  size_t body_offset = 0;
};

RenderedBlock render_block(const Document& doc, size_t block_index);
std::string render_document_header(const Document& doc);
std::string render_document_footer(const Document& doc);
// The whole document as one string (header, blocks, footer).
std::string render(const Document& doc);

}  // namespace folio::ingest
