#include "runtime/attention/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "runtime/common/error.hpp"

namespace folio::attn {

namespace {

void check(std::span<const float> q, int64_t n_queries, int64_t q_offset, const KeysValues& kv, const Shape& shape,
           std::span<float> out) {
  validate(shape);
  const size_t qsz = size_t(n_queries) * size_t(shape.n_heads) * size_t(shape.head_dim);
  const size_t ksz = size_t(kv.n_keys) * size_t(shape.n_kv_heads) * size_t(shape.head_dim);
  if (n_queries < 0 || q_offset < 0 || q_offset + n_queries > kv.n_keys)
    fail(Errc::invalid_argument, "attention reference: queries end past the " + std::to_string(kv.n_keys) + " keys");
  if (q.size() < qsz || out.size() < qsz || kv.k.size() < ksz || kv.v.size() < ksz)
    fail(Errc::invalid_argument, "attention reference: a span is smaller than the shape needs");
}

// One query head over a list of key ranges [lo, hi): two passes in f64.
struct RangeList {
  std::vector<std::pair<int64_t, int64_t>> ranges;
};

void attend_one(const float* qv, const KeysValues& kv, const Shape& shape, int kv_head, const RangeList& keys,
                float scale, float* out, std::vector<double>& logits) {
  const int d = shape.head_dim;
  const size_t row = size_t(shape.n_kv_heads) * size_t(d);
  logits.clear();
  double mx = -std::numeric_limits<double>::infinity();
  for (auto [lo, hi] : keys.ranges)
    for (int64_t t = lo; t < hi; ++t) {
      const float* kk = kv.k.data() + size_t(t) * row + size_t(kv_head) * size_t(d);
      double s = 0;
      for (int c = 0; c < d; ++c) s += double(qv[c]) * double(kk[c]);
      s *= scale;
      logits.push_back(s);
      mx = std::max(mx, s);
    }
  std::vector<double> acc(size_t(d), 0.0);
  double denom = 0;
  size_t n = 0;
  for (auto [lo, hi] : keys.ranges)
    for (int64_t t = lo; t < hi; ++t) {
      const double p = std::exp(logits[n++] - mx);
      denom += p;
      const float* vv = kv.v.data() + size_t(t) * row + size_t(kv_head) * size_t(d);
      for (int c = 0; c < d; ++c) acc[size_t(c)] += p * double(vv[c]);
    }
  // A query that reads no key (impossible for causal plans, which always list
  // its own block) gets zeros rather than NaN.
  for (int c = 0; c < d; ++c) out[c] = denom > 0 ? float(acc[size_t(c)] / denom) : 0.0f;
}

template <class Fn>
void parallel_for(int64_t n, int threads, Fn fn) {
  threads = std::max(1, std::min<int>(threads, int(std::max<int64_t>(1, n))));
  if (threads == 1) {
    fn(int64_t(0), n);
    return;
  }
  std::vector<std::thread> pool;
  const int64_t per = (n + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    const int64_t lo = t * per, hi = std::min<int64_t>(n, lo + per);
    if (lo < hi) pool.emplace_back([=, &fn] { fn(lo, hi); });
  }
  for (auto& th : pool) th.join();
}

}  // namespace

void attend_dense(std::span<const float> q, int64_t n_queries, int64_t q_offset, const KeysValues& kv,
                  const Shape& shape, float scale, std::span<float> out, int threads) {
  check(q, n_queries, q_offset, kv, shape, out);
  const int d = shape.head_dim, group = shape.group();
  parallel_for(n_queries, threads, [&](int64_t lo, int64_t hi) {
    std::vector<double> logits;
    RangeList keys;
    for (int64_t i = lo; i < hi; ++i) {
      keys.ranges = {{0, q_offset + i + 1}};
      for (int h = 0; h < shape.n_heads; ++h) {
        const size_t o = (size_t(i) * size_t(shape.n_heads) + size_t(h)) * size_t(d);
        attend_one(q.data() + o, kv, shape, h / group, keys, scale, out.data() + o, logits);
      }
    }
  });
}

void attend_plan(std::span<const float> q, const KeysValues& kv, const Shape& shape, const Plan& plan, float scale,
                 std::span<float> out, int threads) {
  validate(plan);
  check(q, plan.n_queries, plan.q_offset, kv, shape, out);
  if (plan.n_keys != kv.n_keys || plan.n_kv_heads != shape.n_kv_heads)
    fail(Errc::invalid_argument, "attend_plan: the plan was made for another key count or head count");
  const int d = shape.head_dim, group = shape.group();
  parallel_for(plan.n_queries, threads, [&](int64_t lo, int64_t hi) {
    std::vector<double> logits;
    RangeList keys;
    for (int64_t i = lo; i < hi; ++i) {
      const int64_t qb = i / plan.query_block, limit = plan.q_offset + i + 1;  // keys [0, limit) visible
      for (int g = 0; g < shape.n_kv_heads; ++g) {
        keys.ranges.clear();
        for (int32_t j : plan.row(qb, g)) {
          const int64_t b = int64_t(j) * kBlockTokens, e = std::min<int64_t>(b + kBlockTokens, limit);
          if (e > b) keys.ranges.emplace_back(b, e);
        }
        for (int h = g * group; h < (g + 1) * group; ++h) {
          const size_t o = (size_t(i) * size_t(shape.n_heads) + size_t(h)) * size_t(d);
          attend_one(q.data() + o, kv, shape, g, keys, scale, out.data() + o, logits);
        }
      }
    }
  });
}

}  // namespace folio::attn
