#include "runtime/backend/cpu/cpu_attention.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/backend/cpu/simd.hpp"
#include "runtime/backend/cpu/thread_pool.hpp"
#include "runtime/common/error.hpp"

namespace folio::cpu {

namespace {

constexpr int kB = kv::kBlockTokens;
static_assert(kB == 64, "the score loop below handles 64 keys as four v16");

// Per-query running state of the online softmax.
struct RowState {
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
};

// o = o * alpha + sum_t p[t] v[t], head_dim = 16 * NC. Two interleaved sets of
// accumulators keep 2 * NC independent FMA chains in flight.
template <int NC>
void accumulate_pv(float* o, const float* v, const float* p, int n_vis, float alpha) {
  constexpr int D = 16 * NC;
  v16 a[NC], b[NC];
#pragma GCC unroll 8
  for (int c = 0; c < NC; ++c) {
    a[c] = load16(o + 16 * c) * alpha;
    b[c] = v16{};
  }
  int t = 0;
  for (; t + 2 <= n_vis; t += 2) {
    const float p0 = p[t], p1 = p[t + 1];
#pragma GCC unroll 8
    for (int c = 0; c < NC; ++c) {
      a[c] += p0 * load16(v + t * D + 16 * c);
      b[c] += p1 * load16(v + (t + 1) * D + 16 * c);
    }
  }
  if (t < n_vis) {
#pragma GCC unroll 8
    for (int c = 0; c < NC; ++c) a[c] += p[t] * load16(v + t * D + 16 * c);
  }
#pragma GCC unroll 8
  for (int c = 0; c < NC; ++c) store16(o + 16 * c, a[c] + b[c]);
}

inline float max4(const v16 (&s)[4]) {
  const v16 a = s[0] > s[1] ? s[0] : s[1];
  const v16 b = s[2] > s[3] ? s[2] : s[3];
  return hmax16(a > b ? a : b);
}

// Folds one KV block into the running (m, l, o) of one query row.
// q: head_dim values already multiplied by the softmax scale.
void fold_block(const float* q, int D, const float* kt, const float* v, int n_vis, RowState& st, float* o) {
  // Scores of the 64 keys: two sets of four accumulators (even and odd
  // channels) so eight FMA chains are in flight.
  v16 s[4] = {}, s2[4] = {};
  int d = 0;
  for (; d + 2 <= D; d += 2) {
    const float q0 = q[d], q1 = q[d + 1];
    const float* r0 = kt + d * kB;
    const float* r1 = r0 + kB;
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      s[j] += q0 * load16(r0 + 16 * j);
      s2[j] += q1 * load16(r1 + 16 * j);
    }
  }
  for (; d < D; ++d)
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) s[j] += q[d] * load16(kt + d * kB + 16 * j);
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) s[j] += s2[j];
  alignas(64) float pr[kB];
  float mb;
  if (n_vis == kB) {
    // Full block: max, exp and sum stay in vector registers.
    mb = max4(s);
  } else {
    alignas(64) float sc[kB];
    for (int j = 0; j < 4; ++j) store16(sc + 16 * j, s[j]);
    mb = -std::numeric_limits<float>::infinity();
    for (int t = 0; t < n_vis; ++t) mb = std::max(mb, sc[t]);
  }
  const float m_new = std::max(st.m, mb);
  const float alpha = std::exp(st.m - m_new);  // 0 on the first block (m = -inf)
  const v16 mv = splat16(m_new);
  v16 psum_v{};
  for (int j = 0; j < 4; ++j) {
    v16 e = exp16(s[j] - mv);
    if (n_vis < kB) {
      // zero the keys this query may not see
      alignas(64) float tmp[16];
      store16(tmp, e);
      for (int t = 0; t < 16; ++t)
        if (16 * j + t >= n_vis) tmp[t] = 0.0f;
      e = load16(tmp);
    }
    psum_v += e;
    store16(pr + 16 * j, e);
  }
  const float psum = hsum16(psum_v);
  st.l = st.l * alpha + psum;
  st.m = m_new;
  if (D == 64) accumulate_pv<4>(o, v, pr, n_vis, alpha);
  else if (D == 128) accumulate_pv<8>(o, v, pr, n_vis, alpha);
  else if (D == 32) accumulate_pv<2>(o, v, pr, n_vis, alpha);
  else if (D == 16) accumulate_pv<1>(o, v, pr, n_vis, alpha);
  else {
    for (int c = 0; c < D; ++c) {
      float acc = o[c] * alpha;
      for (int t = 0; t < n_vis; ++t) acc += pr[t] * v[t * D + c];
      o[c] = acc;
    }
  }
}

}  // namespace

void attention(ThreadPool& pool, const backend::Act& q, const kv::PagedCache& cache, int layer, int64_t pos0,
               const backend::AttentionParams& p, const backend::Act& out, const attn::Plan* plan) {
  const int H = p.n_heads, HK = p.n_kv_heads, D = p.head_dim;
  if (H <= 0 || HK <= 0 || H % HK != 0) fail(Errc::invalid_argument, "attention: n_heads must be a multiple of n_kv_heads");
  if (HK != cache.config().n_kv_heads || D != cache.config().head_dim)
    fail(Errc::invalid_argument, "attention: head shape differs from the KV cache's");
  if (q.cols != int64_t(H) * D || out.cols != int64_t(H) * D || out.rows != q.rows)
    fail(Errc::invalid_argument, "attention: q/out must be [n][n_heads*head_dim]");
  const int64_t n = q.rows;
  if (n == 0) return;
  if (pos0 + n > cache.size(layer))
    fail(Errc::invalid_argument, "attention: queries past the cached keys (write K/V first)");
  const int G = H / HK;
  // Tasks: (query block, KV head). Dense: query blocks are the absolute 64-token
  // blocks of positions; with a plan, the plan's query blocks.
  int64_t qb_first = pos0 / kB, n_qb = (pos0 + n - 1) / kB - pos0 / kB + 1;
  int64_t qblk = kB;
  if (plan != nullptr) {
    if (plan->n_queries != n || plan->q_offset != pos0 || plan->n_kv_heads != HK || plan->query_block <= 0 ||
        plan->n_keys > cache.size(layer) || int64_t(plan->row_offsets.size()) != plan->n_rows() + 1)
      fail(Errc::invalid_argument, "attention: the plan does not describe these queries and this cache");
    qb_first = 0;
    n_qb = plan->n_query_blocks();
    qblk = plan->query_block;
  }
  const int64_t n_tasks = n_qb * HK;

  pool.parallel_for(n_tasks, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> qs(static_cast<size_t>(qblk) * size_t(G) * size_t(D));
    std::vector<float> o(static_cast<size_t>(qblk) * size_t(G) * size_t(D));
    std::vector<RowState> st(static_cast<size_t>(qblk) * size_t(G));
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t qb = qb_first + task / HK;
      const int g = int(task % HK);
      const int64_t r0 = plan ? qb * qblk : std::max<int64_t>(0, qb * kB - pos0);
      const int64_t r1 = plan ? std::min<int64_t>(n, (qb + 1) * qblk) : std::min<int64_t>(n, (qb + 1) * kB - pos0);
      const int R = int(r1 - r0);
      // scaled queries of the group's heads: qs[(h*R + r)*D + d]
      for (int h = 0; h < G; ++h)
        for (int r = 0; r < R; ++r) {
          const float* src = q.row(r0 + r) + (g * G + h) * D;
          float* dst = qs.data() + (size_t(h) * size_t(R) + size_t(r)) * size_t(D);
          for (int d = 0; d < D; ++d) dst[d] = src[d] * p.scale;
        }
      std::fill(o.begin(), o.begin() + ptrdiff_t(size_t(G) * size_t(R) * size_t(D)), 0.0f);
      std::fill(st.begin(), st.end(), RowState{});
      const int64_t last_pos = pos0 + r1 - 1;
      auto visit = [&](int64_t b) {
        const float* kt = cache.keys_t(layer, b, g);
        const float* v = cache.values(layer, b, g);
        const int fill = cache.block_fill(layer, b);
        for (int h = 0; h < G; ++h)
          for (int r = 0; r < R; ++r) {
            const int64_t pos = pos0 + r0 + r;
            const int n_vis = int(std::min<int64_t>(fill, pos - b * kB + 1));
            if (n_vis <= 0) continue;
            const size_t idx = size_t(h) * size_t(R) + size_t(r);
            fold_block(qs.data() + idx * size_t(D), D, kt, v, n_vis, st[idx], o.data() + idx * size_t(D));
          }
      };
      if (plan == nullptr) {
        for (int64_t b = 0; b <= last_pos / kB; ++b) visit(b);
      } else {
        for (int32_t b : plan->row(qb, g))
          if (b >= 0 && b <= last_pos / kB && b < cache.n_blocks(layer)) visit(b);
      }
      for (int h = 0; h < G; ++h)
        for (int r = 0; r < R; ++r) {
          const size_t idx = size_t(h) * size_t(R) + size_t(r);
          float* dst = out.row(r0 + r) + (g * G + h) * D;
          const float inv = st[idx].l > 0.0f ? 1.0f / st[idx].l : 0.0f;
          for (int d = 0; d < D; ++d) dst[d] = o[idx * size_t(D) + size_t(d)] * inv;
        }
    }
  });
}

}  // namespace folio::cpu
