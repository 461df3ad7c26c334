// plan_moe_buckets (runtime/backend/moe_buckets.hpp): the expert buckets of the
// CUDA backend's MoE prefill GEMMs. Layout invariants on random routings, the
// chosen cuts against every possible cut, and the shapes it must give.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "runtime/backend/moe_buckets.hpp"

using folio::backend::MoeBuckets;
using folio::backend::plan_moe_buckets;

namespace {

int64_t round_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

// Every expert with tokens has rows of its own, at least its count, not
// overlapping another's; experts without tokens have none; buckets are runs of
// the busiest-first order, padded to their first expert's count.
void check_layout(const std::vector<int64_t>& counts, const MoeBuckets& b, int max_buckets, int64_t align) {
  const int64_t with_tokens = std::count_if(counts.begin(), counts.end(), [](int64_t c) { return c > 0; });
  REQUIRE(int64_t(b.order.size()) == with_tokens);
  CHECK(int(b.buckets.size()) <= std::max(1, max_buckets));
  for (size_t i = 1; i < b.order.size(); ++i) {
    const int64_t prev = counts[size_t(b.order[i - 1])], cur = counts[size_t(b.order[i])];
    CHECK(prev >= cur);
    if (prev == cur) CHECK(b.order[i - 1] < b.order[i]);  // ties keep expert order
  }
  int32_t next = 0;
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (const auto& bk : b.buckets) {
    CHECK(bk.first == next);
    CHECK(bk.count > 0);
    next += bk.count;
    CHECK(bk.rows == round_up(counts[size_t(b.order[size_t(bk.first)])], align));
    for (int32_t i = bk.first; i < bk.first + bk.count; ++i) {
      const int32_t e = b.order[size_t(i)];
      CHECK(counts[size_t(e)] <= bk.rows);
      spans.push_back({b.offset[size_t(e)], b.offset[size_t(e)] + bk.rows});
    }
  }
  CHECK(next == int32_t(b.order.size()));
  for (size_t e = 0; e < counts.size(); ++e)
    if (counts[e] == 0) CHECK(b.offset[e] == -1);
  std::sort(spans.begin(), spans.end());
  int64_t end = 0;
  for (const auto& [lo, hi] : spans) {
    CHECK(lo == end);  // packed, in bucket order
    end = hi;
  }
  CHECK(end == b.rows_total);
}

// The cost plan_moe_buckets minimises, of its answer.
int64_t cost_of(const MoeBuckets& b, int64_t bucket_cost) {
  int64_t c = 0;
  for (const auto& bk : b.buckets) c += bk.rows * bk.count + bucket_cost;
  return c;
}

// The best cost over every way of cutting the sorted counts into at most B runs.
int64_t brute_force(std::vector<int64_t> sorted, int B, int64_t bucket_cost, int64_t align) {
  const int m = int(sorted.size());
  int64_t best = INT64_MAX;
  for (uint32_t mask = 0; mask < (1u << (m - 1)); ++mask) {  // bit i: a cut after position i
    if (__builtin_popcount(mask) + 1 > B) continue;
    int64_t c = 0;
    int start = 0;
    for (int i = 0; i < m; ++i)
      if (i == m - 1 || (mask >> i) & 1u) {
        c += int64_t(i + 1 - start) * round_up(sorted[size_t(start)], align) + bucket_cost;
        start = i + 1;
      }
    best = std::min(best, c);
  }
  return best;
}

}  // namespace

TEST_CASE("moe buckets: an even routing is one padded batch") {
  std::vector<int64_t> counts(128);
  std::mt19937_64 rng(7);
  for (auto& c : counts) c = 509 + int64_t(rng() % 10);  // padded to 512 or 520: a second batch saves < 512 rows
  const auto b = plan_moe_buckets(counts, 4, 512);
  check_layout(counts, b, 4, 8);
  CHECK(b.buckets.size() == 1);
  CHECK(b.rows_total == 128 * round_up(*std::max_element(counts.begin(), counts.end()), 8));
}

TEST_CASE("moe buckets: one busy expert gets a bucket of its own") {
  std::vector<int64_t> counts(64, 100);
  counts[17] = 3000;
  counts[40] = 0;
  const auto b = plan_moe_buckets(counts, 4, 512);
  check_layout(counts, b, 4, 8);
  REQUIRE(b.buckets.size() == 2);
  CHECK(b.order[0] == 17);
  CHECK(b.buckets[0].count == 1);
  CHECK(b.buckets[0].rows == 3000);
  CHECK(b.buckets[1].rows == 104);
  CHECK(b.rows_total == 3000 + 62 * 104);
  CHECK(b.offset[17] == 0);
  CHECK(b.offset[0] == 3000);
}

TEST_CASE("moe buckets: no tokens, one expert, one bucket allowed") {
  const std::vector<int64_t> none(16, 0);
  const auto b0 = plan_moe_buckets(none, 4, 0);
  CHECK(b0.buckets.empty());
  CHECK(b0.rows_total == 0);
  check_layout(none, b0, 4, 8);
  std::vector<int64_t> one(16, 0);
  one[3] = 5;
  const auto b1 = plan_moe_buckets(one, 4, 0);
  check_layout(one, b1, 4, 8);
  CHECK(b1.rows_total == 8);
  std::vector<int64_t> skew(32, 10);
  skew[0] = 1000;
  const auto b2 = plan_moe_buckets(skew, 1, 0);
  check_layout(skew, b2, 1, 8);
  CHECK(b2.rows_total == 32 * 1000);
}

TEST_CASE("moe buckets: optimal cuts on random routings") {
  std::mt19937_64 rng(20261203);
  for (int trial = 0; trial < 300; ++trial) {
    const int E = 1 + int(rng() % 12);
    const int B = 1 + int(rng() % 4);
    const int64_t cost = int64_t(rng() % 200), align = (trial % 3 == 0) ? 1 : 8;
    std::vector<int64_t> counts(static_cast<size_t>(E));
    for (auto& c : counts) c = (rng() % 4 == 0) ? 0 : int64_t(1 + rng() % (trial % 2 ? 50 : 2000));
    const auto b = plan_moe_buckets(counts, B, cost, align);
    check_layout(counts, b, B, align);
    std::vector<int64_t> sorted;
    for (auto c : counts)
      if (c > 0) sorted.push_back(c);
    if (sorted.empty()) continue;
    std::sort(sorted.rbegin(), sorted.rend());
    CHECK(cost_of(b, cost) == brute_force(sorted, B, cost, align));
  }
}
