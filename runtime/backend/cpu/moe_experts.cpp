#include "runtime/backend/cpu/moe_experts.hpp"

#include <algorithm>

#include "runtime/backend/cpu/gemm.hpp"
#include "runtime/backend/cpu/simd.hpp"
#include "runtime/backend/cpu/thread_pool.hpp"

namespace folio::cpu {

using backend::Weight;

namespace {

// Tokens per task: its packed input (128 x 1024 floats at the bench model's
// hidden size) and gate/up outputs stay in a 1 MiB L2 while the weights stream
// through; at 512-token prefill (about 64 tokens per expert) one task is one expert.
constexpr int64_t kChunk = 4 * kGemmPanel;

WeightRows matrix(const Weight& w, int64_t e) { return {w.type, w.matrix(e), w.row_bytes, w.rows, w.cols}; }

}  // namespace

void ExpertFfn::run(ThreadPool& pool, const backend::Act& x, const Weight& gate, const Weight& up,
                    const Weight& down, const ExpertRouting& routing, float* out) {
  const int64_t E = int64_t(routing.row0.size()) - 1, d = x.cols, ff = gate.rows;
  tasks_.clear();
  for (int64_t e = 0; e < E; ++e) {
    const int64_t ne = routing.row0[size_t(e) + 1] - routing.row0[size_t(e)];
    if (ne == 0) continue;
    // Equal chunks in whole panels: only the expert's last panel is partial.
    const int64_t n_chunks = (ne + kChunk - 1) / kChunk;
    const int64_t per = ((ne + n_chunks - 1) / n_chunks + kGemmPanel - 1) / kGemmPanel * kGemmPanel;
    for (int64_t t0 = 0; t0 < ne; t0 += per) tasks_.push_back({e, t0, std::min(ne, t0 + per)});
  }
  // Largest first: the tasks that start last are the smallest, so the threads finish together.
  std::stable_sort(tasks_.begin(), tasks_.end(),
                   [](const Task& a, const Task& b) { return a.t1 - a.t0 > b.t1 - b.t0; });
  scratch_.resize(size_t(pool.size()));
  for (Scratch& s : scratch_) {
    s.xt.resize(size_t(packed_x_floats(kChunk, d)));
    s.ht.resize(size_t(packed_x_floats(kChunk, ff)));
    s.ut.resize(s.ht.size());
    s.wbuf.resize(size_t(gemm_wbuf_floats(std::max(d, ff))));
  }
  pool.parallel_for_tid(int64_t(tasks_.size()), 1, [&](int tid, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      run_task(tasks_[size_t(i)], x, gate, up, down, routing, out, scratch_[size_t(tid)]);
  });
}

void ExpertFfn::run_task(const Task& task, const backend::Act& x, const Weight& gate, const Weight& up,
                         const Weight& down, const ExpertRouting& routing, float* out, Scratch& s) const {
  const int64_t e = task.expert, d = x.cols, ff = gate.rows, nt = task.t1 - task.t0;
  const int64_t first = routing.row0[size_t(e)] + task.t0;
  const int64_t* rows = routing.token.data() + first;
  const WeightRows wg = matrix(gate, e), wu = matrix(up, e), wd = matrix(down, e);
  float* y = out + first * d;
  if (routing.row0[size_t(e) + 1] - routing.row0[size_t(e)] < kGemmMinRows) {
    // A few tokens: dot products on plain rows (scratch reused as [nt][d] and [nt][ff]).
    float *xs = s.xt.data(), *g = s.ht.data(), *u = s.ut.data();
    for (int64_t t = 0; t < nt; ++t) std::copy_n(x.row(rows[t]), d, xs + t * d);
    gemv_rows(wg, 0, ff, xs, d, nt, g, ff, s.wbuf.data());
    gemv_rows(wu, 0, ff, xs, d, nt, u, ff, s.wbuf.data());
    silu_mul(g, u, nt * ff);
    gemv_rows(wd, 0, d, g, ff, nt, y, d, s.wbuf.data());
    return;
  }
  pack_x_rows(x.data, x.stride, rows, nt, d, s.xt.data());
  const int64_t n_panels = (nt + kGemmPanel - 1) / kGemmPanel;
  for (int64_t j = 0; j < ff; j += kGemmRowBlock) {
    const int64_t mr = std::min<int64_t>(kGemmRowBlock, ff - j);
    // Each call prefetches the weight block the next call converts.
    gemm_row_block_packed(wg, j, s.xt.data(), nt, s.ht.data(), s.wbuf.data(), row_block_bytes(wu, j));
    gemm_row_block_packed(wu, j, s.xt.data(), nt, s.ut.data(), s.wbuf.data(),
                          j + mr < ff ? row_block_bytes(wg, j + mr) : row_block_bytes(wd, 0));
    for (int64_t panel = 0; panel < n_panels; ++panel) {
      const int64_t at = (panel * ff + j) * kGemmPanel;
      silu_mul(s.ht.data() + at, s.ut.data() + at, mr * kGemmPanel);
    }
  }
  for (int64_t j = 0; j < d; j += kGemmRowBlock)
    gemm_row_block(wd, j, s.ht.data(), nt, y, d, s.wbuf.data(), row_block_bytes(wd, j + kGemmRowBlock));
}

}  // namespace folio::cpu
