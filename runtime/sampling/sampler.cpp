#include "runtime/sampling/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>

#include "runtime/common/error.hpp"

namespace folio::sampling {

TokenId argmax(std::span<const float> logits) {
  if (logits.empty()) fail(Errc::invalid_argument, "sampler: empty logits");
  size_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = i;
  return TokenId(best);
}

void apply_repetition_penalty(std::span<float> logits, std::span<const TokenId> history, float penalty,
                              int last_n) {
  if (penalty == 1.0f || history.empty()) return;
  const size_t n = last_n > 0 ? std::min(history.size(), size_t(last_n)) : history.size();
  std::unordered_set<TokenId> seen(history.end() - ptrdiff_t(n), history.end());
  for (TokenId t : seen) {
    if (t < 0 || size_t(t) >= logits.size()) continue;
    float& l = logits[size_t(t)];
    l = l > 0 ? l / penalty : l * penalty;
  }
}

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {
  if (!(params.repeat_penalty > 0.0f)) fail(Errc::invalid_argument, "sampler: repeat penalty must be positive");
  if (std::isnan(params.temperature) || std::isnan(params.top_p) || std::isnan(params.min_p))
    fail(Errc::invalid_argument, "sampler: NaN parameter");
}

TokenId Sampler::sample(std::span<const float> logits, std::span<const TokenId> history) {
  if (logits.empty()) fail(Errc::invalid_argument, "sampler: empty logits");
  work_.assign(logits.begin(), logits.end());
  apply_repetition_penalty(work_, history, params_.repeat_penalty, params_.repeat_last_n);
  candidates_.clear();
  if (params_.temperature <= 0.0f || params_.top_k == 1) {
    const TokenId t = argmax(work_);
    candidates_.push_back({t, 1.0f});
    return t;
  }
  // Candidates sorted by logit (descending, ties to the lower id), cut to top-k.
  std::vector<TokenId> ids(work_.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = TokenId(i);
  auto by_logit = [&](TokenId a, TokenId b) {
    return work_[size_t(a)] > work_[size_t(b)] || (work_[size_t(a)] == work_[size_t(b)] && a < b);
  };
  size_t k = ids.size();
  if (params_.top_k > 0 && size_t(params_.top_k) < k) {
    k = size_t(params_.top_k);
    std::partial_sort(ids.begin(), ids.begin() + ptrdiff_t(k), ids.end(), by_logit);
  } else {
    std::sort(ids.begin(), ids.end(), by_logit);
  }
  // Softmax with temperature over the k survivors (in double for stable sums).
  const double t = params_.temperature, mx = work_[size_t(ids[0])];
  std::vector<double> p(k);
  double sum = 0;
  for (size_t i = 0; i < k; ++i) sum += (p[i] = std::exp((double(work_[size_t(ids[i])]) - mx) / t));
  for (double& x : p) x /= sum;
  // top-p: the smallest prefix whose mass reaches top_p (at least one token).
  size_t keep = k;
  if (params_.top_p < 1.0f) {
    double cum = 0;
    for (size_t i = 0; i < k; ++i) {
      cum += p[i];
      if (cum >= double(params_.top_p)) {
        keep = i + 1;
        break;
      }
    }
  }
  // min-p: drop tokens below min_p times the most likely one.
  if (params_.min_p > 0.0f) {
    const double floor = double(params_.min_p) * p[0];
    size_t i = 1;
    while (i < keep && p[i] >= floor) ++i;
    keep = i;
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += p[i];
  for (size_t i = 0; i < keep; ++i) candidates_.push_back({ids[i], float(p[i] / kept)});
  // Draw: uniform in [0, kept) from the sampler's own generator.
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) * kept;
  double cum = 0;
  for (size_t i = 0; i < keep; ++i) {
    cum += p[i];
    if (u < cum) return ids[i];
  }
  return ids[keep - 1];
}

}  // namespace folio::sampling
