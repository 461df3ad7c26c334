#include "ingest/code/code_document.hpp"

#include <algorithm>
#include <vector>

#include "ingest/code/utf8.hpp"
#include "ingest/sha256.hpp"
#include "runtime/common/error.hpp"

namespace folio::ingest::code {
namespace {

// 1-based line of a byte offset.
class LineIndex {
 public:
  explicit LineIndex(std::string_view source) {
    starts_.push_back(0);
    for (size_t i = 0; i < source.size(); ++i)
      if (source[i] == '\n') starts_.push_back(i + 1);
  }
  uint32_t line_of(uint64_t byte) const {
    auto it = std::upper_bound(starts_.begin(), starts_.end(), byte);
    return uint32_t(it - starts_.begin());
  }
  uint64_t line_start(uint32_t line) const { return starts_[line - 1]; }  // line in [1, count]
  uint32_t count() const { return uint32_t(starts_.size()); }

 private:
  std::vector<uint64_t> starts_;
};

bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v'; }

struct Range {
  uint64_t begin = 0, end = 0;
  bool empty() const { return begin >= end; }
};

// Drops blank lines at the start and all whitespace at the end, keeping the
// indentation of the first kept line. Empty when only whitespace remains.
Range trimmed(std::string_view source, Range r) {
  uint64_t first = r.begin;
  while (first < r.end && is_space(source[first])) ++first;
  if (first == r.end) return {r.begin, r.begin};
  uint64_t begin = first;
  while (begin > r.begin && source[begin - 1] != '\n') --begin;
  uint64_t end = r.end;
  while (end > first && is_space(source[end - 1])) --end;
  return {begin, end};
}

class Builder {
 public:
  Builder(std::string_view source, const LineIndex& lines, DocumentBuilder& builder)
      : source_(source), lines_(lines), builder_(builder) {}

  TextLocation location(Range r) const {
    TextLocation where;
    where.byte_begin = r.begin;
    where.byte_end = r.end;
    where.line_begin = lines_.line_of(r.begin);
    where.line_end = r.end > r.begin ? lines_.line_of(r.end - 1) : where.line_begin;
    return where;
  }

  std::string text(Range r) const {
    std::string_view bytes = source_.substr(r.begin, r.end - r.begin);
    if (count_invalid_utf8(bytes) == 0) return std::string(bytes);
    return sanitized_utf8(bytes);
  }

  Block block(BlockKind kind, Range r, std::string label, uint16_t level) const {
    Block b;
    b.kind = kind;
    b.text = text(r);
    b.label = std::move(label);
    b.level = level;
    b.where = location(r);
    return b;
  }

  // An unanchored continuation block of the unit at `level`, if r holds text.
  void continuation(Range r, uint16_t level) {
    Range t = trimmed(source_, r);
    if (t.empty()) return;
    builder_.add(block(BlockKind::code_unit, t, std::string(), level));
  }

 private:
  std::string_view source_;
  const LineIndex& lines_;
  DocumentBuilder& builder_;
};

// Where a unit's block starts: at its leading comments, if any.
// (comment_line_begin == 0: an outline not made by CodeParser, no comment info.)
uint64_t unit_begin(const CodeSymbol& s) {
  return s.comment_line_begin != 0 ? std::min(s.comment_begin, s.byte_begin) : s.byte_begin;
}

AnchorKind anchor_kind(SymbolKind kind) {
  if (kind == SymbolKind::namespace_) return AnchorKind::namespace_;
  if (is_function_kind(kind)) return AnchorKind::function;
  return AnchorKind::type;
}

std::string note_invalid_utf8(size_t invalid) {
  return std::to_string(invalid) + " byte" + (invalid == 1 ? "" : "s") +
         " of invalid UTF-8 shown as U+FFFD (byte ranges refer to the original bytes)";
}

}  // namespace

Document code_document(const CodeOutline& outline, std::string_view source, std::string_view display_path,
                       const Limits& limits) {
  if (source.size() != outline.bytes)
    fail(Errc::internal, outline.path + ": outline was made from " + std::to_string(outline.bytes) +
                             " bytes, document from " + std::to_string(source.size()));
  const LineIndex lines(source);
  DocumentBuilder doc_builder(outline.path, SourceFormat::code, limits);
  Builder b(source, lines, doc_builder);

  const auto& symbols = outline.symbols;
  std::vector<std::vector<uint32_t>> children(symbols.size());
  std::vector<uint32_t> roots;
  for (uint32_t i = 0; i < symbols.size(); ++i) {
    uint32_t parent = symbols[i].parent;
    if (parent == kNoParent || parent >= i) roots.push_back(i);
    else children[parent].push_back(i);
  }

  // The file block: everything before the first top-level unit.
  uint64_t first_unit = roots.empty() ? source.size() : std::min<uint64_t>(unit_begin(symbols[roots.front()]), source.size());
  Range head = trimmed(source, {0, first_unit});
  Anchor file_anchor;
  file_anchor.kind = AnchorKind::file;
  file_anchor.title = std::string(display_path);
  file_anchor.level = 1;
  const AnchorId file_id = doc_builder.add_anchored_under(
      b.block(BlockKind::code_unit, head, std::string(display_path), 1), std::move(file_anchor), std::nullopt);

  // Depth-first over the symbol tree with an explicit stack (depth is bounded by
  // ParseLimits::max_symbol_depth, but the outline may come from anywhere).
  struct Pending {
    uint32_t symbol;
    AnchorId parent_anchor;
    uint16_t level;
    uint64_t clamp_begin;  // the unit may not start before this (its predecessor's end)
    uint64_t clamp_end;    // nor end after its parent's end
  };
  struct Open {
    uint32_t symbol;
    uint16_t level;
    uint64_t cursor;       // end of what has been emitted for this unit
    uint64_t end;
    size_t next_child = 0;
    AnchorId anchor;
  };
  std::vector<Open> stack;
  uint64_t file_cursor = first_unit;
  size_t next_root = 0;

  auto open_unit = [&](const Pending& p) -> bool {
    const CodeSymbol& s = symbols[p.symbol];
    // The unit starts at its leading comments (doc comments belong to it).
    uint64_t begin = std::max<uint64_t>(unit_begin(s), p.clamp_begin);
    uint64_t end = std::min<uint64_t>({s.byte_end, p.clamp_end, source.size()});
    if (begin >= end) return false;  // already covered by a preceding unit
    // Keep the indentation of the unit's first line with the unit.
    uint64_t line_start = begin;
    while (line_start > p.clamp_begin && (source[line_start - 1] == ' ' || source[line_start - 1] == '\t'))
      --line_start;
    if (line_start == 0 || source[line_start - 1] == '\n') begin = line_start;
    const std::vector<uint32_t>& kids = children[p.symbol];
    uint64_t body_end = kids.empty() ? end : std::clamp<uint64_t>(unit_begin(symbols[kids.front()]), begin, end);
    Range own = trimmed(source, {begin, body_end});
    if (own.empty()) own = {begin, begin};
    Anchor anchor;
    anchor.kind = anchor_kind(s.kind);
    anchor.level = p.level;
    anchor.title = anchor.kind == AnchorKind::function ? (outline.scope_prefix.empty() ||
                                                                  !s.qualified_name.starts_with(outline.scope_prefix)
                                                              ? s.qualified_name
                                                              : s.qualified_name.substr(outline.scope_prefix.size() +
                                                                                        outline.scope_separator.size()))
                                                       : std::string(symbol_kind_name(s.kind)) + " " + s.name;
    AnchorId id = doc_builder.add_anchored_under(b.block(BlockKind::code_unit, own, s.label, p.level),
                                                 std::move(anchor), p.parent_anchor);
    // Continue after the trimmed text, so the first nested unit can take back
    // its indentation.
    stack.push_back(Open{p.symbol, p.level, std::max(own.end, begin), end, 0, id});
    return true;
  };

  for (;;) {
    if (stack.empty()) {
      if (next_root >= roots.size()) break;
      uint32_t root = roots[next_root++];
      uint64_t begin = std::max<uint64_t>(unit_begin(symbols[root]), file_cursor);
      b.continuation({file_cursor, std::min<uint64_t>(begin, source.size())}, 1);
      if (open_unit(Pending{root, file_id, 2, file_cursor, source.size()})) file_cursor = stack.back().end;
      continue;
    }
    Open& top = stack.back();
    const std::vector<uint32_t>& kids = children[top.symbol];
    if (top.next_child < kids.size()) {
      uint32_t kid = kids[top.next_child++];
      if (top.level + 1 > limits.max_depth) continue;  // stays text of this unit
      uint64_t kid_begin = std::clamp<uint64_t>(unit_begin(symbols[kid]), top.cursor, top.end);
      b.continuation({top.cursor, kid_begin}, top.level);
      // The kid may take back the indentation before it (whitespace the
      // continuation block trimmed away).
      Pending p{kid, top.anchor, uint16_t(top.level + 1), top.cursor, top.end};
      top.cursor = kid_begin;
      size_t index = stack.size() - 1;
      if (open_unit(p)) stack[index].cursor = stack.back().end;
      continue;
    }
    b.continuation({top.cursor, top.end}, top.level);
    stack.pop_back();
  }
  b.continuation({file_cursor, source.size()}, 1);

  Document doc = std::move(doc_builder).finish();
  doc.language = std::string(language_name(outline.language));
  doc.content_hash = sha256_hex(source);
  doc.source_bytes = source.size();
  doc.notes = outline.notes;
  if (size_t invalid = count_invalid_utf8(source)) doc.notes.push_back(note_invalid_utf8(invalid));
  return doc;
}

Document text_document(std::string_view path, std::string_view source, std::string_view display_path,
                       std::span<const std::string> notes, const Limits& limits) {
  constexpr uint32_t kMaxChunkLines = 60;
  const LineIndex lines(source);
  DocumentBuilder doc_builder(std::string(path), SourceFormat::text, limits);
  Builder b(source, lines, doc_builder);

  // Paragraphs: maximal runs of non-blank lines, merged while a chunk stays
  // within kMaxChunkLines and split when a paragraph alone is longer.
  std::vector<Range> chunks;
  auto line_range = [&](uint32_t line) -> Range {
    uint64_t begin = lines.line_start(line);
    uint64_t end = line < lines.count() ? lines.line_start(line + 1) : source.size();
    return {begin, end};
  };
  auto blank = [&](Range r) { return trimmed(source, r).empty(); };
  uint32_t chunk_first = 0, chunk_last = 0;  // lines; 0 = no open chunk
  auto close_chunk = [&] {
    if (chunk_first != 0) chunks.push_back(trimmed(source, {line_range(chunk_first).begin, line_range(chunk_last).end}));
    chunk_first = chunk_last = 0;
  };
  uint32_t pending_blank = 0;
  for (uint32_t line = 1; line <= lines.count() && !source.empty(); ++line) {
    if (blank(line_range(line))) {
      ++pending_blank;
      continue;
    }
    if (chunk_first != 0 && (line - chunk_first >= kMaxChunkLines ||
                             (pending_blank > 0 && line - chunk_first >= kMaxChunkLines / 2)))
      close_chunk();
    pending_blank = 0;
    if (chunk_first == 0) chunk_first = line;
    chunk_last = line;
  }
  close_chunk();

  Anchor file_anchor;
  file_anchor.kind = AnchorKind::file;
  file_anchor.title = std::string(display_path);
  file_anchor.level = 1;
  Range first = chunks.empty() ? Range{0, 0} : chunks.front();
  doc_builder.add_anchored_under(b.block(BlockKind::paragraph, first, std::string(), 1), std::move(file_anchor),
                                 std::nullopt);
  for (size_t i = 1; i < chunks.size(); ++i) doc_builder.add(b.block(BlockKind::paragraph, chunks[i], std::string(), 1));

  Document doc = std::move(doc_builder).finish();
  doc.content_hash = sha256_hex(source);
  doc.source_bytes = source.size();
  doc.notes.assign(notes.begin(), notes.end());
  if (size_t invalid = count_invalid_utf8(source)) doc.notes.push_back(note_invalid_utf8(invalid));
  return doc;
}

}  // namespace folio::ingest::code
