// A Corpus is many documents plus the items that were skipped (and why), and
// assemble() turns it into the token stream the model prefills:
//   tokens      ids from the TextTokenizer, documents in corpus order
//   global      per-token flag: true for anchor text, capped by a budget
//   origin      per-token (document, block, byte offset in the rendered block)
// The global budget (a fraction of all tokens) is met by dropping the deepest
// outline levels first; when the shallowest kept level alone exceeds the budget,
// its last anchors (in document order) are dropped. What was cut is reported in
// GlobalBudgetReport — never silently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ingest/document.hpp"
#include "ingest/text_tokenizer.hpp"

namespace folio::ingest {

// Stable id of a document: 64-bit FNV-1a of its source name, so the same path
// gets the same id in every run. Collisions inside one corpus are refused.
using DocumentId = uint64_t;
DocumentId document_id_for(std::string_view source) noexcept;

struct SkippedItem {
  std::string source;  // path as given / found
  std::string reason;  // "binary file", "larger than 512 MiB", "encrypted PDF", ...
};

class Corpus {
 public:
  // Adds a document and returns its id; throws Errc::invalid_argument when a
  // document with the same source is already present.
  DocumentId add(Document doc);
  void skip(std::string source, std::string reason);

  size_t size() const noexcept { return docs_.size(); }
  const std::vector<Document>& documents() const noexcept { return docs_; }
  const std::vector<DocumentId>& ids() const noexcept { return ids_; }
  const std::vector<SkippedItem>& skipped() const noexcept { return skipped_; }
  const Document* find(DocumentId id) const noexcept;
  // Index of the document with this id, if present.
  std::optional<size_t> index_of(DocumentId id) const noexcept;
  // True when the corpus holds `source` with exactly this content hash (the
  // caller can skip re-parsing an unchanged file).
  bool unchanged(std::string_view source, std::string_view content_hash) const noexcept;

 private:
  std::vector<Document> docs_;
  std::vector<DocumentId> ids_;
  std::vector<SkippedItem> skipped_;
};

struct AssembleOptions {
  double global_budget = 0.05;   // max fraction of tokens flagged global, in [0, 1]
  size_t max_tokens = size_t(1) << 31;  // refuse (Errc::invalid_argument) beyond this
};

struct GlobalBudgetReport {
  size_t anchor_tokens = 0;      // tokens of all anchor text before the budget
  size_t global_tokens = 0;      // tokens flagged global after the budget
  size_t budget_tokens = 0;      // floor(global_budget * total tokens)
  size_t anchors_total = 0;      // anchors that have anchor text
  size_t anchors_kept = 0;
  // Outline levels dropped entirely (deepest first), and a partial cut of the
  // shallowest kept level: how many of its anchors were dropped.
  std::vector<uint16_t> levels_dropped;
  std::optional<uint16_t> partial_level;
  size_t partial_level_anchors_dropped = 0;
  bool cut() const noexcept { return anchors_kept < anchors_total; }
  std::string describe() const;  // "kept 812 of 1024 anchors (levels 4, 3 dropped)..."
};

struct TokenOrigin {
  uint32_t document = 0;  // index in Corpus::documents()
  uint32_t block = 0;     // index in Document::blocks, or kNoBlock for document markup
  uint32_t offset = 0;    // byte offset of the token's start in the rendered block
  static constexpr uint32_t kNoBlock = UINT32_MAX;
};

// Where a token came from, resolved for people and for citations.
struct TokenLocation {
  size_t document = 0;
  std::string source;
  std::optional<size_t> block;           // absent for document header/footer markup
  Provenance where;                      // copy of the block's provenance
  std::optional<AnchorId> anchor;        // innermost enclosing anchor
  std::string anchor_path;               // outline path of that anchor ("" if none)
  // "msa.pdf p. 12 (12 > 12.2 Termination for Convenience)"
  std::string describe() const;
};

struct TokenStream {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> global;       // 0/1 per token
  std::vector<TokenOrigin> origin;   // per token
  // [doc_token_begin[d], doc_token_begin[d+1]) are document d's tokens.
  std::vector<size_t> doc_token_begin;
  GlobalBudgetReport budget;
  std::string tokenizer;             // TextTokenizer::name()

  size_t size() const noexcept { return tokens.size(); }
  size_t global_count() const noexcept { return budget.global_tokens; }
};

TokenStream assemble(const Corpus& corpus, const TextTokenizer& tokenizer,
                     const AssembleOptions& options = {});

// Resolves token i of a stream built from `corpus`. Throws on a bad index.
TokenLocation locate(const Corpus& corpus, const TokenStream& stream, size_t token_index);

}  // namespace folio::ingest
