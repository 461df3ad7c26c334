// The document model of ingestion: what every parser (PDF, code, transcripts,
// Markdown/text) produces and what token-stream assembly consumes.
//
// A Document is an ordered list of Blocks. A block that opens a structural unit
// (a section heading, a class or function, a speaker turn, a defined term) owns
// an Anchor; anchors form the Document's Outline, a forest queryable for parent,
// children and path ("12 > 12.2 Termination for Convenience",
// "src/store.cpp > class Store > Store::put"). Every block carries provenance:
// where in the source it came from (PDF page + bbox; line range + byte range;
// cue start/end time + speaker).
//
// Parsers build documents through DocumentBuilder, which keeps the outline
// consistent (anchors nest by level, or under an explicit parent) and enforces
// Limits. Nothing is silently truncated: a limit that is hit is an error naming
// the source, and anything a parser deliberately drops (running headers, page
// numbers) is counted in Document::notes.
//
// Layering: this header knows nothing of models, Poppler or tree-sitter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace folio::ingest {

// ---------------------------------------------------------------------------
// Blocks and provenance

enum class BlockKind : uint8_t {
  heading,         // a section heading; text = title, label = number ("12.2", "ARTICLE IV")
  paragraph,       // running text
  list_item,       // label = marker as written ("(a)", "1.", "-"), text without the marker
  table,           // rows joined by '\n', cells by " | "
  code,            // a code fence or preformatted text inside prose (not a code unit)
  code_unit,       // a unit of source code: file header, namespace, class, function...
                   //   label = qualified name / signature ("Store::put(Key, Value)")
  transcript_cue,  // one cue or log line; speaker is in the CueLocation
  caption,         // figure/table caption
  definition,      // a paragraph that defines a term; label = the term
};
const char* block_kind_name(BlockKind kind) noexcept;  // "heading", "paragraph", ...

// Axis-aligned box in PDF user space, origin top-left of the page, points.
struct BBox {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  double width() const noexcept { return x1 - x0; }
  double height() const noexcept { return y1 - y0; }
};

// A block of a PDF: 1-based page number and the union of its text boxes.
struct PdfLocation {
  uint32_t page = 0;
  BBox bbox;
};

// A block of a text file (code, Markdown, plain text): 1-based inclusive line
// range and the half-open byte range [byte_begin, byte_end) in the source bytes.
struct TextLocation {
  uint32_t line_begin = 0, line_end = 0;
  uint64_t byte_begin = 0, byte_end = 0;
};

// A transcript cue: times in milliseconds from the start of the recording,
// speaker as written (empty when the source names none), and the 1-based line
// in the transcript file where the cue starts.
struct CueLocation {
  int64_t start_ms = 0, end_ms = 0;
  std::string speaker;
  uint32_t line = 0;
};

using Provenance = std::variant<std::monostate, PdfLocation, TextLocation, CueLocation>;

// "p. 12", "lines 120-145", "00:01:02.500-00:01:05.000 Alice".
std::string describe(const Provenance& where);
// "01:02:03.500" (hours always shown).
std::string format_timestamp(int64_t ms);

using AnchorId = uint32_t;

struct Block {
  BlockKind kind = BlockKind::paragraph;
  std::string text;   // UTF-8, NFC (parsers normalise)
  std::string label;  // number / marker / qualified name / defined term; see BlockKind
  // Outline depth of the unit this block belongs to or opens: 1 = top level
  // (for headings the heading level; for code: 1 file, 2 namespace/class...).
  // 0 = not placed in the outline (e.g. a paragraph before the first heading).
  uint16_t level = 0;
  std::optional<AnchorId> anchor;  // set when this block opens a structural unit
  Provenance where;
};

// ---------------------------------------------------------------------------
// Outline

enum class AnchorKind : uint8_t {
  document,    // the document itself (a PDF, a transcript); rarely needed
  file,        // a source file (code): title = path relative to the walk root
  section,     // heading / clause / article / schedule
  definition,  // a defined term in a contract ("Confidential Information")
  namespace_,  // namespace / module / package
  type,        // class / struct / enum / interface / trait / impl
  function,    // function / method / constructor
  speaker_turn,
};
const char* anchor_kind_name(AnchorKind kind) noexcept;  // "section", "function", ...

struct Anchor {
  AnchorKind kind = AnchorKind::section;
  std::string number;  // "12.2", "ARTICLE IV", "(a)", "Schedule B"; may be empty
  std::string title;   // "Termination for Convenience", "class Store", "Store::put", "Alice"
  uint16_t level = 1;  // 1 = top level
  uint32_t block = 0;  // index of the block that opens it
  std::optional<AnchorId> parent;
  std::vector<AnchorId> children;

  // "12.2 Termination for Convenience", or whichever of number/title exists.
  std::string label() const;
};

class Outline {
 public:
  // Adds an anchor under `parent` (or as a root); returns its id. Ids are dense
  // indices in insertion order (document order). Throws Errc::internal when the
  // parent does not exist.
  AnchorId add(Anchor anchor, std::optional<AnchorId> parent);

  size_t size() const noexcept { return anchors_.size(); }
  bool empty() const noexcept { return anchors_.empty(); }
  const Anchor& operator[](AnchorId id) const;  // throws on a bad id
  std::span<const Anchor> anchors() const noexcept { return anchors_; }
  std::span<const AnchorId> roots() const noexcept { return roots_; }

  std::optional<AnchorId> parent(AnchorId id) const;
  std::span<const AnchorId> children(AnchorId id) const;
  // Ids from the root down to `id`, inclusive.
  std::vector<AnchorId> lineage(AnchorId id) const;
  // Labels of lineage(id) joined by `separator`: "12 > 12.2 Termination for Convenience".
  std::string path(AnchorId id, std::string_view separator = " > ") const;
  // First anchor whose label() or number equals `text` exactly; used by tests and tools.
  std::optional<AnchorId> find(std::string_view text) const;

 private:
  std::vector<Anchor> anchors_;
  std::vector<AnchorId> roots_;
};

// ---------------------------------------------------------------------------
// Documents

enum class SourceFormat : uint8_t { pdf, markdown, text, webvtt, srt, transcript, code };
const char* source_format_name(SourceFormat f) noexcept;  // "pdf", "markdown", ...

struct Document {
  std::string source;          // path or display name as the caller gave it
  SourceFormat format = SourceFormat::text;
  std::string language;        // code: "cpp", "python", ...; otherwise empty
  std::string content_hash;    // SHA-256 (hex) of the source bytes
  uint64_t source_bytes = 0;
  uint32_t pages = 0;          // PDFs only
  std::vector<Block> blocks;
  Outline outline;
  // Human-readable notes on what the parser removed or could not use
  // ("removed 24 running header/footer lines", "PDF outline absent").
  std::vector<std::string> notes;

  // The anchor of the innermost unit containing block `block_index`: the
  // nearest anchor opened at or before it, climbed up to the block's level
  // (level 0 = no climbing), if any.
  std::optional<AnchorId> enclosing_anchor(size_t block_index) const;
};

// Bounds every parser enforces. Exceeding one is an error naming the source and
// the limit, never a silent cut.
struct Limits {
  uint64_t max_source_bytes = uint64_t(512) << 20;  // a single file or buffer
  size_t max_line_bytes = size_t(4) << 20;          // one line of a text source
  size_t max_blocks = size_t(8) << 20;              // blocks per document
  uint32_t max_pages = 100000;                      // PDF pages
  // Cross-reference entries a PDF may claim (Poppler allocates 40 bytes for
  // each before reading a page; see pdf_preflight.hpp). A file may also claim
  // no more than one per byte of its size plus 65,536.
  uint64_t max_pdf_objects = uint64_t(1) << 22;
  uint16_t max_depth = 64;                          // outline nesting
};

// Builds a Document while keeping the outline consistent. Anchored blocks nest
// by level: an anchor of level L becomes the child of the nearest open anchor
// with level < L (open_anchor with an explicit parent bypasses the stack).
class DocumentBuilder {
 public:
  DocumentBuilder(std::string source, SourceFormat format, Limits limits = {});

  // Appends a block that opens no unit; returns its index.
  size_t add(Block block);
  // Appends a block that opens an anchor placed by level; returns the anchor id.
  // block.level is set to anchor.level; anchor.block is filled in.
  AnchorId add_anchored(Block block, Anchor anchor);
  // Same, under an explicit parent (or as a root when parent is nullopt).
  AnchorId add_anchored_under(Block block, Anchor anchor, std::optional<AnchorId> parent);
  // Adds an anchor that points at an existing block without being the block's
  // own anchor (e.g. several defined terms in one paragraph).
  AnchorId add_secondary_anchor(size_t block_index, Anchor anchor, std::optional<AnchorId> parent);

  // Innermost open anchor (what a block appended now would belong to).
  std::optional<AnchorId> current() const;
  Document& doc() noexcept { return doc_; }
  const Limits& limits() const noexcept { return limits_; }
  Document finish() &&;

 private:
  void check_block_limit() const;
  Document doc_;
  Limits limits_;
  std::vector<AnchorId> open_;  // stack of open anchors, outermost first
};

}  // namespace folio::ingest
