#include "sdk/src/evidence.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "sdk/src/internal.hpp"

namespace folio::detail {

EvidenceMeter::EvidenceMeter(const model::HParams& hp, const kv::PagedCache& cache, int64_t corpus_begin,
                             int64_t corpus_end, int64_t from_position)
    : hp_(hp), cache_(&cache), begin_(corpus_begin), end_(corpus_end), from_(from_position),
      mass_(size_t(std::max<int64_t>(0, corpus_end - corpus_begin)), 0.0) {}

EvidenceMeter::EvidenceMeter(const model::HParams& hp, backend::Backend& be, backend::KvCache& cache,
                             int64_t corpus_begin, int64_t corpus_end, int64_t from_position)
    : hp_(hp), device_be_(&be), device_cache_(&cache), begin_(corpus_begin), end_(corpus_end), from_(from_position),
      mass_(size_t(std::max<int64_t>(0, corpus_end - corpus_begin)), 0.0) {
  if (mass_.empty()) return;
  device_mass_ = be.alloc(int64_t(mass_.size()));
  const std::vector<float> zeros(mass_.size(), 0.0f);
  be.from_host(zeros, device_mass_.view(1, int64_t(mass_.size())));
}

void EvidenceMeter::finish() {
  if (!device_be_ || mass_.empty()) return;
  std::vector<float> m(mass_.size());
  device_be_->to_host(device_mass_.view(1, int64_t(m.size())), m);
  std::copy(m.begin(), m.end(), mass_.begin());
}

void EvidenceMeter::observe(backend::Backend& be, int layer, const backend::Act& q, int64_t pos0) {
  const int64_t pos = pos0 + q.rows - 1;  // the batch's last query
  if (pos < from_ || q.rows < 1) return;
  const int hd = hp_.head_dim, n_heads = hp_.n_heads, group = hp_.n_heads / hp_.n_kv_heads;
  if (device_be_) {
    if (mass_.empty() || !measured_) return;
    const backend::AttentionParams ap{n_heads, hp_.n_kv_heads, hd, 1.0f / std::sqrt(float(hd))};
    measured_ = device_be_->attention_mass(q.slice_rows(q.rows - 1, 1), *device_cache_, layer, pos, ap, begin_,
                                           float(1.0 / double(hp_.n_layers * n_heads)),
                                           device_mass_.view(1, int64_t(mass_.size())));
    return;
  }
  q_.resize(size_t(q.cols));
  be.to_host(q.slice_rows(q.rows - 1, 1), q_);
  const int64_t n_keys = pos + 1;  // causal: keys 0..pos (already written)
  scores_.resize(size_t(n_keys));
  const float scale = 1.0f / std::sqrt(float(hd));
  const double per_head = 1.0 / double(hp_.n_layers * n_heads);
  const int64_t corpus_last = std::min(end_, n_keys);
  for (int h = 0; h < n_heads; ++h) {
    const float* qh = q_.data() + size_t(h * hd);
    const int g = h / group;
    float best = -INFINITY;
    for (int64_t b = 0; b * kv::kBlockTokens < n_keys; ++b) {
      const float* kt = cache_->keys_t(layer, b, g);  // [head_dim][64]
      const int64_t t0 = b * kv::kBlockTokens;
      const int fill = int(std::min<int64_t>(kv::kBlockTokens, n_keys - t0));
      float* s = scores_.data() + t0;
      std::fill(s, s + fill, 0.0f);
      for (int d = 0; d < hd; ++d) {
        const float qd = qh[d];
        const float* row = kt + size_t(d) * kv::kBlockTokens;
        for (int t = 0; t < fill; ++t) s[t] += qd * row[t];
      }
      for (int t = 0; t < fill; ++t) {
        s[t] *= scale;
        best = std::max(best, s[t]);
      }
    }
    double sum = 0;
    for (int64_t t = 0; t < n_keys; ++t) sum += std::exp(double(scores_[size_t(t)] - best));
    const double norm = per_head / sum;
    for (int64_t t = begin_; t < corpus_last; ++t)
      mass_[size_t(t - begin_)] += std::exp(double(scores_[size_t(t)] - best)) * norm;
  }
}

std::vector<Citation> EvidenceMeter::citations(const CorpusView& view, size_t max_anchors) const {
  // Group key: (document, anchor id) or, for text outside any anchor,
  // (document, ~block) so it is still cited by its own provenance.
  struct Group {
    double mass = 0;
    size_t doc = 0;
    std::optional<size_t> block;  // block to describe (the anchor's opening block)
    std::optional<ingest::AnchorId> anchor;
  };
  std::map<std::pair<size_t, int64_t>, Group> groups;
  double total = 0;
  const auto& docs = view.corpus.documents();
  for (size_t i = 0; i < mass_.size() && i < view.stream.origin.size(); ++i) {
    const double m = mass_[i];
    if (m <= 0) continue;
    total += m;
    const ingest::TokenOrigin& o = view.stream.origin[i];
    if (o.document >= docs.size()) continue;
    std::pair<size_t, int64_t> key{o.document, INT64_MIN};
    std::optional<size_t> block;
    std::optional<ingest::AnchorId> anchor;
    if (o.block != ingest::TokenOrigin::kNoBlock && o.block < docs[o.document].blocks.size()) {
      anchor = view.block_anchor[o.document][o.block];
      if (anchor) {
        key.second = int64_t(*anchor);
        block = docs[o.document].outline[*anchor].block;
      } else {
        key.second = -1 - int64_t(o.block);
        block = o.block;
      }
    }
    Group& g = groups[key];
    g.mass += m;
    g.doc = o.document;
    g.block = block;
    g.anchor = anchor;
  }
  std::vector<const Group*> order;
  for (const auto& [k, g] : groups) order.push_back(&g);
  std::stable_sort(order.begin(), order.end(), [](const Group* a, const Group* b) { return a->mass > b->mass; });
  std::vector<Citation> out;
  for (size_t i = 0; i < order.size() && i < max_anchors; ++i) {
    const Group& g = *order[i];
    Citation c;
    c.kind = CitationKind::attention;
    c.resolved = true;
    c.weight = total > 0 ? g.mass / total : 0;
    c.location = location_of(view, g.doc, g.block);
    c.text = g.anchor ? docs[g.doc].outline[*g.anchor].label() : docs[g.doc].source;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace folio::detail
