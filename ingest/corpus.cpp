// Corpus bookkeeping and token-stream assembly with the global-token budget.
#include "ingest/corpus.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "ingest/render.hpp"
#include "runtime/common/error.hpp"

namespace folio::ingest {

DocumentId document_id_for(std::string_view source) noexcept {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : source) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

DocumentId Corpus::add(Document doc) {
  const DocumentId id = document_id_for(doc.source);
  for (size_t i = 0; i < docs_.size(); ++i) {
    if (ids_[i] != id) continue;
    if (docs_[i].source == doc.source)
      fail(Errc::invalid_argument, doc.source + ": already in the corpus");
    fail(Errc::invalid_argument, doc.source + ": document id collides with " + docs_[i].source);
  }
  if (docs_.size() >= UINT32_MAX - 1) fail(Errc::invalid_argument, "corpus: too many documents");
  docs_.push_back(std::move(doc));
  ids_.push_back(id);
  return id;
}

void Corpus::skip(std::string source, std::string reason) {
  skipped_.push_back({std::move(source), std::move(reason)});
}

std::optional<size_t> Corpus::index_of(DocumentId id) const noexcept {
  for (size_t i = 0; i < ids_.size(); ++i)
    if (ids_[i] == id) return i;
  return std::nullopt;
}

const Document* Corpus::find(DocumentId id) const noexcept {
  auto i = index_of(id);
  return i ? &docs_[*i] : nullptr;
}

bool Corpus::unchanged(std::string_view source, std::string_view content_hash) const noexcept {
  const Document* d = find(document_id_for(source));
  return d && d->source == source && !content_hash.empty() && d->content_hash == content_hash;
}

std::string GlobalBudgetReport::describe() const {
  std::string s = "global tokens " + std::to_string(global_tokens) + " (budget " + std::to_string(budget_tokens) +
                  ", anchor text " + std::to_string(anchor_tokens) + "); kept " + std::to_string(anchors_kept) +
                  " of " + std::to_string(anchors_total) + " anchors";
  if (!levels_dropped.empty()) {
    s += "; dropped levels";
    for (size_t i = 0; i < levels_dropped.size(); ++i) s += (i ? ", " : " ") + std::to_string(levels_dropped[i]);
  }
  if (partial_level)
    s += "; dropped the last " + std::to_string(partial_level_anchors_dropped) + " anchors of level " +
         std::to_string(*partial_level);
  return s;
}

namespace {

// Anchor text of one block, as a token range in the stream.
struct AnchorSpan {
  uint16_t level;
  size_t begin, end;  // token indices
};

// Appends `text` tokenized, recording origins; returns the [begin, end) token
// range covering bytes [anchor_begin, anchor_end) of text (empty when none).
std::pair<size_t, size_t> append_text(TokenStream& s, const TextTokenizer& tok, std::string_view text,
                                      uint32_t doc, uint32_t block, size_t anchor_begin, size_t anchor_end,
                                      size_t max_tokens) {
  const std::vector<int32_t> ids = tok.encode(text);
  if (s.tokens.size() + ids.size() > max_tokens)
    fail(Errc::invalid_argument, "assemble: corpus exceeds max_tokens (" + std::to_string(max_tokens) + ")");
  size_t offset = 0;
  size_t first = SIZE_MAX, last = 0;
  for (int32_t id : ids) {
    const size_t at = std::min(offset, text.size());
    const size_t len = tok.token_length(id);
    // A token is anchor text when its bytes overlap the anchor range.
    if (anchor_begin < anchor_end && at < anchor_end && at + std::max<size_t>(len, 1) > anchor_begin) {
      if (first == SIZE_MAX) first = s.tokens.size();
      last = s.tokens.size() + 1;
    }
    s.tokens.push_back(id);
    s.origin.push_back({doc, block, uint32_t(std::min<size_t>(at, UINT32_MAX))});
    offset += len;
  }
  if (first == SIZE_MAX) return {0, 0};
  return {first, last};
}

}  // namespace

TokenStream assemble(const Corpus& corpus, const TextTokenizer& tok, const AssembleOptions& options) {
  if (!(options.global_budget >= 0.0 && options.global_budget <= 1.0))
    fail(Errc::invalid_argument, "assemble: global_budget must be in [0, 1]");
  TokenStream s;
  s.tokenizer = tok.name();
  std::vector<AnchorSpan> spans;
  const auto& docs = corpus.documents();
  for (size_t d = 0; d < docs.size(); ++d) {
    const Document& doc = docs[d];
    s.doc_token_begin.push_back(s.tokens.size());
    append_text(s, tok, render_document_header(doc), uint32_t(d), TokenOrigin::kNoBlock, 0, 0, options.max_tokens);
    for (size_t b = 0; b < doc.blocks.size(); ++b) {
      const RenderedBlock r = render_block(doc, b);
      auto [t0, t1] = append_text(s, tok, r.text, uint32_t(d), uint32_t(b), r.anchor_begin, r.anchor_end,
                                  options.max_tokens);
      if (t1 > t0) spans.push_back({std::max<uint16_t>(doc.blocks[b].level, 1), t0, t1});
    }
    append_text(s, tok, render_document_footer(doc), uint32_t(d), TokenOrigin::kNoBlock, 0, 0, options.max_tokens);
  }
  s.doc_token_begin.push_back(s.tokens.size());
  s.global.assign(s.tokens.size(), 0);

  // Budget: drop the deepest levels while the rest does not fit.
  GlobalBudgetReport& rep = s.budget;
  rep.budget_tokens = size_t(std::floor(options.global_budget * double(s.tokens.size())));
  rep.anchors_total = spans.size();
  std::map<uint16_t, size_t> tokens_per_level;  // ascending level
  for (const auto& sp : spans) {
    rep.anchor_tokens += sp.end - sp.begin;
    tokens_per_level[sp.level] += sp.end - sp.begin;
  }
  size_t kept_tokens = rep.anchor_tokens;
  uint16_t max_level = UINT16_MAX;  // levels > max_level are dropped
  while (kept_tokens > rep.budget_tokens && tokens_per_level.size() > 1) {
    auto deepest = std::prev(tokens_per_level.end());
    kept_tokens -= deepest->second;
    rep.levels_dropped.push_back(deepest->first);
    tokens_per_level.erase(deepest);
    max_level = tokens_per_level.rbegin()->first;
  }
  // Shallowest level alone too large: keep its anchors in document order while they fit.
  size_t partial_allow = SIZE_MAX;
  if (kept_tokens > rep.budget_tokens && !tokens_per_level.empty()) {
    rep.partial_level = tokens_per_level.begin()->first;
    partial_allow = rep.budget_tokens;
  }
  size_t used = 0;
  for (const auto& sp : spans) {
    if (sp.level > max_level) continue;
    const size_t n = sp.end - sp.begin;
    if (rep.partial_level && sp.level == *rep.partial_level && used + n > partial_allow) {
      ++rep.partial_level_anchors_dropped;
      partial_allow = used;  // keep a prefix in document order: once one is dropped, all later ones are
      continue;
    }
    for (size_t t = sp.begin; t < sp.end; ++t) s.global[t] = 1;
    used += n;
    ++rep.anchors_kept;
  }
  rep.global_tokens = used;
  return s;
}

std::string TokenLocation::describe() const {
  std::string s = source;
  if (std::string w = ingest::describe(where); !w.empty()) s += " " + w;
  if (!anchor_path.empty()) s += " (" + anchor_path + ")";
  return s;
}

TokenLocation locate(const Corpus& corpus, const TokenStream& stream, size_t i) {
  if (i >= stream.origin.size())
    fail(Errc::invalid_argument, "locate: token " + std::to_string(i) + " out of range (" +
                                     std::to_string(stream.origin.size()) + " tokens)");
  const TokenOrigin& o = stream.origin[i];
  if (o.document >= corpus.size()) fail(Errc::invalid_argument, "locate: stream does not match corpus");
  const Document& doc = corpus.documents()[o.document];
  TokenLocation loc;
  loc.document = o.document;
  loc.source = doc.source;
  if (o.block != TokenOrigin::kNoBlock) {
    if (o.block >= doc.blocks.size()) fail(Errc::invalid_argument, "locate: stream does not match corpus");
    loc.block = o.block;
    loc.where = doc.blocks[o.block].where;
    loc.anchor = doc.enclosing_anchor(o.block);
    if (loc.anchor) loc.anchor_path = doc.outline.path(*loc.anchor);
  }
  return loc;
}

}  // namespace folio::ingest
