// Shared checks for the ingestion fuzz targets: a parsed document must be
// internally consistent, render, and assemble into a token stream whose side
// arrays match. folio::Error is the only exception a parser may throw.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ingest/corpus.hpp"
#include "ingest/document.hpp"
#include "ingest/render.hpp"

namespace folio::fuzz {

inline void check(bool ok) {
  if (!ok) std::abort();
}

inline void check_document(ingest::Document doc) {
  const auto& outline = doc.outline;
  for (size_t i = 0; i < outline.size(); ++i) {
    const ingest::Anchor& a = outline[ingest::AnchorId(i)];
    check(a.block < doc.blocks.size());
    if (a.parent) check(*a.parent < i);  // parents precede children
    (void)outline.path(ingest::AnchorId(i));
  }
  for (size_t b = 0; b < doc.blocks.size(); ++b) {
    const ingest::Block& block = doc.blocks[b];
    if (block.anchor) check(*block.anchor < outline.size() && outline[*block.anchor].block == b);
    const ingest::RenderedBlock r = ingest::render_block(doc, b);
    check(r.anchor_begin <= r.anchor_end && r.anchor_end <= r.text.size() && r.body_offset <= r.text.size());
    (void)doc.enclosing_anchor(b);
    (void)ingest::describe(block.where);
  }
  ingest::Corpus corpus;
  corpus.add(std::move(doc));
  const ingest::TokenStream s = ingest::assemble(corpus, ingest::ByteTokenizer{}, {0.05});
  check(s.global.size() == s.tokens.size() && s.origin.size() == s.tokens.size());
  check(s.budget.global_tokens <= s.budget.budget_tokens);
  if (!s.tokens.empty()) (void)ingest::locate(corpus, s, s.tokens.size() / 2);
}

}  // namespace folio::fuzz
