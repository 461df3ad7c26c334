// Attention evidence: which parts of the corpus the answer attended to.
//
// For every query the meter observes (the last prompt token, which produces
// the first answer token, and each generated token), in every layer and every
// query head, it computes the exact softmax attention weights over all keys in
// the cache (dense: every visible key, whatever blocks a sparse plan read) and
// adds the weight that falls on each corpus token. The sum over queries, layers
// and heads is grouped by the innermost anchor (section, function, speaker
// turn) each token came from; an anchor's weight is its share of the total
// mass on corpus tokens. Attention to the instructions and the question is
// left out of the shares.
//
// Cost per observed query: n_heads x n_keys x head_dim multiply-adds per layer,
// the same as dense decode attention. A host KV cache (CPU backend) is read
// here, in double sums; a device cache is measured by its backend
// (Backend::attention_mass, f32 on the GPU) into a buffer read back once at the end.
#pragma once

#include <cstdint>
#include <vector>

#include "folio/folio.hpp"
#include "runtime/backend/backend.hpp"
#include "runtime/kv/paged_cache.hpp"
#include "runtime/model/hparams.hpp"

namespace folio::detail {

struct CorpusView;

inline constexpr const char* kEvidenceNote =
    "attention: exact dense softmax weight of the answer's queries (last prompt token and each generated token; "
    "all layers and heads) on corpus tokens, summed per innermost anchor; weight = share of the mass on the corpus";

class EvidenceMeter {
 public:
  // Corpus tokens are cache positions [corpus_begin, corpus_end); queries at
  // positions below `from_position` are ignored.
  EvidenceMeter(const model::HParams& hp, const kv::PagedCache& cache, int64_t corpus_begin, int64_t corpus_end,
                int64_t from_position);
  // The same over a cache in backend memory, measured by `be` (which must
  // outlive the meter).
  EvidenceMeter(const model::HParams& hp, backend::Backend& be, backend::KvCache& cache, int64_t corpus_begin,
                int64_t corpus_end, int64_t from_position);

  // Called by the model session for every layer of every forward pass.
  void observe(backend::Backend& be, int layer, const backend::Act& q, int64_t pos0);
  // Reads a backend's measurement back (a no-op on the host); call before citations().
  void finish();
  // False when the backend could not measure (no evidence: say so).
  bool measured() const noexcept { return measured_; }

  // The `max_anchors` anchors with the most mass, as citations.
  std::vector<Citation> citations(const CorpusView& view, size_t max_anchors) const;

  // Mass per corpus token (for tests).
  const std::vector<double>& mass() const noexcept { return mass_; }

 private:
  model::HParams hp_;
  const kv::PagedCache* cache_ = nullptr;  // host mode
  backend::Backend* device_be_ = nullptr;  // device mode: the backend and its cache
  backend::KvCache* device_cache_ = nullptr;
  backend::Buffer device_mass_;
  bool measured_ = true;
  int64_t begin_, end_, from_;
  std::vector<double> mass_;
  std::vector<float> q_, scores_;
};

}  // namespace folio::detail
