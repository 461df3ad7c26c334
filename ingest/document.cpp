// Document model: names, provenance descriptions, the outline and the builder.
#include "ingest/document.hpp"

#include <cinttypes>
#include <cstdio>

#include "runtime/common/error.hpp"

namespace folio::ingest {

const char* block_kind_name(BlockKind kind) noexcept {
  switch (kind) {
    case BlockKind::heading: return "heading";
    case BlockKind::paragraph: return "paragraph";
    case BlockKind::list_item: return "list_item";
    case BlockKind::table: return "table";
    case BlockKind::code: return "code";
    case BlockKind::code_unit: return "code_unit";
    case BlockKind::transcript_cue: return "transcript_cue";
    case BlockKind::caption: return "caption";
    case BlockKind::definition: return "definition";
  }
  return "?";
}

const char* anchor_kind_name(AnchorKind kind) noexcept {
  switch (kind) {
    case AnchorKind::document: return "document";
    case AnchorKind::file: return "file";
    case AnchorKind::section: return "section";
    case AnchorKind::definition: return "definition";
    case AnchorKind::namespace_: return "namespace";
    case AnchorKind::type: return "type";
    case AnchorKind::function: return "function";
    case AnchorKind::speaker_turn: return "speaker_turn";
  }
  return "?";
}

const char* source_format_name(SourceFormat f) noexcept {
  switch (f) {
    case SourceFormat::pdf: return "pdf";
    case SourceFormat::markdown: return "markdown";
    case SourceFormat::text: return "text";
    case SourceFormat::webvtt: return "webvtt";
    case SourceFormat::srt: return "srt";
    case SourceFormat::transcript: return "transcript";
    case SourceFormat::code: return "code";
  }
  return "?";
}

std::string format_timestamp(int64_t ms) {
  const char* sign = ms < 0 ? "-" : "";
  const uint64_t v = ms < 0 ? uint64_t(0) - uint64_t(ms) : uint64_t(ms);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64, sign, v / 3600000,
                v / 60000 % 60, v / 1000 % 60, v % 1000);
  return buf;
}

std::string describe(const Provenance& where) {
  if (const auto* p = std::get_if<PdfLocation>(&where)) return "p. " + std::to_string(p->page);
  if (const auto* t = std::get_if<TextLocation>(&where)) {
    if (t->line_begin == t->line_end) return "line " + std::to_string(t->line_begin);
    return "lines " + std::to_string(t->line_begin) + "-" + std::to_string(t->line_end);
  }
  if (const auto* c = std::get_if<CueLocation>(&where)) {
    std::string s = format_timestamp(c->start_ms) + "-" + format_timestamp(c->end_ms);
    if (!c->speaker.empty()) s += " " + c->speaker;
    return s;
  }
  return "";
}

std::string Anchor::label() const {
  if (number.empty()) return title;
  if (title.empty()) return number;
  return number + " " + title;
}

// --- Outline ------------------------------------------------------------------

AnchorId Outline::add(Anchor anchor, std::optional<AnchorId> parent) {
  if (anchors_.size() >= UINT32_MAX) fail(Errc::invalid_argument, "outline: too many anchors");
  const auto id = AnchorId(anchors_.size());
  if (parent && *parent >= anchors_.size())
    fail(Errc::internal, "outline: parent anchor " + std::to_string(*parent) + " does not exist");
  anchor.parent = parent;
  anchor.children.clear();
  anchors_.push_back(std::move(anchor));
  if (parent)
    anchors_[*parent].children.push_back(id);
  else
    roots_.push_back(id);
  return id;
}

const Anchor& Outline::operator[](AnchorId id) const {
  if (id >= anchors_.size()) fail(Errc::invalid_argument, "outline: no anchor " + std::to_string(id));
  return anchors_[id];
}

std::optional<AnchorId> Outline::parent(AnchorId id) const { return (*this)[id].parent; }

std::span<const AnchorId> Outline::children(AnchorId id) const { return (*this)[id].children; }

std::vector<AnchorId> Outline::lineage(AnchorId id) const {
  std::vector<AnchorId> chain;
  for (std::optional<AnchorId> a = id; a; a = (*this)[*a].parent) {
    chain.push_back(*a);
    if (chain.size() > anchors_.size()) fail(Errc::internal, "outline: cycle");
  }
  return {chain.rbegin(), chain.rend()};
}

std::string Outline::path(AnchorId id, std::string_view separator) const {
  std::string out;
  for (AnchorId a : lineage(id)) {
    if (!out.empty()) out += separator;
    out += anchors_[a].label();
  }
  return out;
}

std::optional<AnchorId> Outline::find(std::string_view text) const {
  for (size_t i = 0; i < anchors_.size(); ++i)
    if (anchors_[i].label() == text || (!anchors_[i].number.empty() && anchors_[i].number == text))
      return AnchorId(i);
  return std::nullopt;
}

// --- Document -----------------------------------------------------------------

std::optional<AnchorId> Document::enclosing_anchor(size_t block_index) const {
  if (block_index >= blocks.size()) return std::nullopt;
  // Blocks follow the unit they belong to: start from the nearest block at or
  // before this one that opens an anchor. A block placed at a level (not 0)
  // belongs to the innermost unit of that level or shallower, so climb out of
  // units that closed before it (the text after a nested function belongs to
  // the class again; a paragraph after a subsection's end to its section).
  const uint16_t level = blocks[block_index].level;
  for (size_t i = block_index + 1; i-- > 0;) {
    if (!blocks[i].anchor || *blocks[i].anchor >= outline.size() || outline[*blocks[i].anchor].block != i) continue;
    AnchorId a = *blocks[i].anchor;
    if (i == block_index || level == 0) return a;
    while (outline[a].level > level) {
      const auto up = outline[a].parent;
      if (!up) return std::nullopt;
      a = *up;
    }
    return a;
  }
  return std::nullopt;
}

// --- DocumentBuilder ----------------------------------------------------------

DocumentBuilder::DocumentBuilder(std::string source, SourceFormat format, Limits limits) : limits_(limits) {
  doc_.source = std::move(source);
  doc_.format = format;
}

void DocumentBuilder::check_block_limit() const {
  if (doc_.blocks.size() >= limits_.max_blocks)
    fail(Errc::unsupported, doc_.source + ": more than " + std::to_string(limits_.max_blocks) +
                                " blocks (Limits::max_blocks); refusing to truncate");
}

size_t DocumentBuilder::add(Block block) {
  check_block_limit();
  block.anchor.reset();
  doc_.blocks.push_back(std::move(block));
  return doc_.blocks.size() - 1;
}

AnchorId DocumentBuilder::add_anchored(Block block, Anchor anchor) {
  if (anchor.level == 0) anchor.level = 1;
  if (anchor.level > limits_.max_depth)
    fail(Errc::unsupported, doc_.source + ": outline deeper than " + std::to_string(limits_.max_depth) + " levels");
  while (!open_.empty() && doc_.outline[open_.back()].level >= anchor.level) open_.pop_back();
  std::optional<AnchorId> parent;
  if (!open_.empty()) parent = open_.back();
  const AnchorId id = add_anchored_under(std::move(block), std::move(anchor), parent);
  return id;
}

AnchorId DocumentBuilder::add_anchored_under(Block block, Anchor anchor, std::optional<AnchorId> parent) {
  check_block_limit();
  if (anchor.level == 0) anchor.level = 1;
  anchor.block = uint32_t(doc_.blocks.size());
  block.level = anchor.level;
  const AnchorId id = doc_.outline.add(std::move(anchor), parent);
  block.anchor = id;
  doc_.blocks.push_back(std::move(block));
  // Keep the level stack consistent with explicit placement: everything not on
  // the new anchor's lineage is closed.
  open_ = doc_.outline.lineage(id);
  return id;
}

AnchorId DocumentBuilder::add_secondary_anchor(size_t block_index, Anchor anchor, std::optional<AnchorId> parent) {
  if (block_index >= doc_.blocks.size()) fail(Errc::internal, doc_.source + ": secondary anchor on a missing block");
  anchor.block = uint32_t(block_index);
  return doc_.outline.add(std::move(anchor), parent);
}

std::optional<AnchorId> DocumentBuilder::current() const {
  if (open_.empty()) return std::nullopt;
  return open_.back();
}

Document DocumentBuilder::finish() && { return std::move(doc_); }

}  // namespace folio::ingest
