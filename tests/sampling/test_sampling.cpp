// Sampler behaviour on crafted logits, and stop strings across token boundaries.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "runtime/sampling/sampler.hpp"
#include "runtime/sampling/stop.hpp"

using namespace folio::sampling;

namespace {

SamplerParams plain(float temp) {
  SamplerParams p;
  p.temperature = temp;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.repeat_penalty = 1.0f;
  return p;
}

std::map<TokenId, int> histogram(Sampler& s, const std::vector<float>& logits, int draws,
                                 const std::vector<TokenId>& history = {}) {
  std::map<TokenId, int> h;
  for (int i = 0; i < draws; ++i) ++h[s.sample(logits, history)];
  return h;
}

}  // namespace

TEST_CASE("greedy picks the highest logit, ties to the lower id") {
  Sampler s(plain(0.0f));
  CHECK(s.sample(std::vector<float>{0.1f, 2.0f, -1.0f, 1.9f}, {}) == 1);
  CHECK(s.sample(std::vector<float>{3.0f, 1.0f, 3.0f}, {}) == 0);
  CHECK(argmax(std::vector<float>{-5.0f, -4.0f, -4.0f}) == 1);
}

TEST_CASE("top-k = 1 equals greedy at any temperature") {
  SamplerParams p = plain(5.0f);
  p.top_k = 1;
  Sampler s(p);
  const std::vector<float> logits{0.3f, 0.2f, 0.9f, 0.85f, -2.0f};
  for (int i = 0; i < 50; ++i) REQUIRE(s.sample(logits, {}) == 2);
}

TEST_CASE("top-k keeps exactly the k best tokens") {
  SamplerParams p = plain(1.0f);
  p.top_k = 2;
  Sampler s(p);
  const std::vector<float> logits{1.0f, 3.0f, 0.0f, 2.9f, 2.8f};
  const auto h = histogram(s, logits, 2000);
  CHECK(h.size() == 2);
  CHECK(h.count(1) == 1);
  CHECK(h.count(3) == 1);
}

TEST_CASE("temperature sampling follows softmax(logits / T)") {
  Sampler s(plain(2.0f));
  const std::vector<float> logits{0.0f, std::log(4.0f) * 2.0f};  // p = 1/5, 4/5 at T = 2
  const auto h = histogram(s, logits, 20000);
  const double f1 = double(h.at(1)) / 20000.0;
  CHECK(f1 == doctest::Approx(0.8).epsilon(0.03));
  REQUIRE(s.last_candidates().size() == 2);
  CHECK(s.last_candidates()[0].p == doctest::Approx(0.8f));
}

TEST_CASE("top-p keeps the smallest set reaching the mass") {
  SamplerParams p = plain(1.0f);
  p.top_p = 0.7f;
  Sampler s(p);
  // probabilities 0.5, 0.3, 0.15, 0.05
  const std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  const auto h = histogram(s, logits, 3000);
  CHECK(h.size() == 2);
  CHECK(h.count(0) == 1);
  CHECK(h.count(1) == 1);
  // renormalised: 0.5 / 0.8
  CHECK(s.last_candidates()[0].p == doctest::Approx(0.625f));
}

TEST_CASE("min-p excludes tokens below min_p times the best") {
  SamplerParams p = plain(1.0f);
  p.min_p = 0.25f;
  Sampler s(p);
  // relative p: 0.4, 0.3, 0.11, 0.09, 0.12; floor 0.25 * 0.4 = 0.1 drops only token 3
  const std::vector<float> logits{std::log(0.4f), std::log(0.3f), std::log(0.11f), std::log(0.09f), std::log(0.12f)};
  const auto h = histogram(s, logits, 5000);
  CHECK(h.count(3) == 0);  // 0.09 < 0.25 * 0.4
  CHECK(h.count(0) == 1);
  CHECK(h.count(1) == 1);
  CHECK(h.count(2) == 1);
  std::set<TokenId> kept;
  for (const auto& c : s.last_candidates()) kept.insert(c.id);
  CHECK(kept.count(3) == 0);
  CHECK(kept.size() == 4);
}

TEST_CASE("a fixed seed reproduces the same draws; another seed differs") {
  SamplerParams p = plain(1.0f);
  p.seed = 1234;
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = float(std::sin(double(i)));
  Sampler a(p), b(p);
  std::vector<TokenId> ra, rb, rc;
  for (int i = 0; i < 200; ++i) {
    ra.push_back(a.sample(logits, {}));
    rb.push_back(b.sample(logits, {}));
  }
  CHECK(ra == rb);
  p.seed = 99;
  Sampler c(p);
  for (int i = 0; i < 200; ++i) rc.push_back(c.sample(logits, {}));
  CHECK(ra != rc);
  a.reseed(1234);
  CHECK(a.sample(logits, {}) == ra[0]);
}

TEST_CASE("repetition penalty lowers tokens in the recent history") {
  std::vector<float> logits{2.0f, -1.0f, 1.9f, 0.5f};
  apply_repetition_penalty(logits, std::vector<TokenId>{0, 1, 0}, 2.0f, 64);
  CHECK(logits[0] == doctest::Approx(1.0f));   // positive: divided
  CHECK(logits[1] == doctest::Approx(-2.0f));  // negative: multiplied
  CHECK(logits[2] == doctest::Approx(1.9f));   // not in history
  // Only the last `last_n` tokens count.
  std::vector<float> l2{2.0f, 2.0f};
  apply_repetition_penalty(l2, std::vector<TokenId>{0, 1}, 2.0f, 1);
  CHECK(l2[0] == doctest::Approx(2.0f));
  CHECK(l2[1] == doctest::Approx(1.0f));
  // Greedy with the penalty switches away from the repeated token.
  SamplerParams p = plain(0.0f);
  p.repeat_penalty = 1.5f;
  Sampler s(p);
  CHECK(s.sample(std::vector<float>{2.0f, 1.9f}, std::vector<TokenId>{0}) == 1);
  CHECK(s.sample(std::vector<float>{2.0f, 1.9f}, std::vector<TokenId>{1}) == 0);
}

TEST_CASE("stop strings match across token boundaries and are never emitted") {
  StopMatcher m({"<|im_end|>", "STOP"});
  std::string out;
  out += m.push("Hello <|");
  CHECK(out == "Hello ");  // "<|" might start a stop string: held back
  out += m.push("im");
  out += m.push("_e");
  CHECK_FALSE(m.stopped());
  out += m.push("nd|> trailing");
  CHECK(m.stopped());
  CHECK(m.matched() == "<|im_end|>");
  CHECK(out == "Hello ");
  CHECK(m.push("more").empty());
  CHECK(m.flush().empty());

  StopMatcher n({"STOP"});
  std::string o2 = n.push("a ST");
  o2 += n.push("ART");  // "STA" breaks the match: released
  CHECK(o2 == "a START");
  o2 += n.push(" ends S");
  o2 += n.flush();      // end of generation releases the held "S"
  CHECK(o2 == "a START ends S");
  CHECK_FALSE(n.stopped());

  StopMatcher none({});
  CHECK(none.push("anything") == "anything");
}
