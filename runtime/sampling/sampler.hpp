// Token sampling from logits: repetition penalty, top-k, temperature, top-p,
// min-p, then a draw from the remaining distribution with a seeded RNG that
// the sampler owns (the same seed and inputs always give the same tokens).
//
// Order (as llama.cpp's default chain): penalty -> top-k -> temperature ->
// softmax -> top-p -> min-p -> draw. temperature <= 0 (or top_k == 1) is greedy:
// the highest logit after the penalty, ties to the lower id.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace folio::sampling {

using TokenId = int32_t;

struct SamplerParams {
  float temperature = 0.8f;   // <= 0: greedy
  int top_k = 40;             // <= 0: off
  float top_p = 0.95f;        // >= 1: off
  float min_p = 0.05f;        // <= 0: off; keeps p >= min_p * p_max
  float repeat_penalty = 1.0f;  // 1: off; > 1 discourages tokens in the recent history
  int repeat_last_n = 64;       // history window the penalty looks at (<= 0: whole history)
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);

  // Picks the next token. `history` holds the tokens so far (prompt + output);
  // only the last repeat_last_n of them are penalised.
  TokenId sample(std::span<const float> logits, std::span<const TokenId> history);

  const SamplerParams& params() const noexcept { return params_; }
  void reseed(uint64_t seed) { rng_.seed(seed); }

  // The candidate distribution the last sample() drew from (ids and
  // probabilities, descending), for tests and diagnostics.
  struct Candidate {
    TokenId id;
    float p;
  };
  std::span<const Candidate> last_candidates() const noexcept { return candidates_; }

 private:
  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<float> work_;
  std::vector<Candidate> candidates_;
};

// Logits after the repetition penalty (llama.cpp/CTRL rule): a logit of a token
// seen in the window is divided by `penalty` when positive, multiplied when negative.
void apply_repetition_penalty(std::span<float> logits, std::span<const TokenId> history, float penalty,
                              int last_n);

// Index of the largest value, ties to the lower index.
TokenId argmax(std::span<const float> logits);

}  // namespace folio::sampling
