// The routed expert FFNs of one MoE layer on the CPU:
//
//   out[r] = down_e(silu(gate_e . x[token[r]]) * (up_e . x[token[r]]))
//
// for every row r that the router sent to expert e. The work is one task list
// of (expert, chunk of at most 128 of its tokens), largest first, shared by all
// threads: each task packs its tokens straight from the layer input, runs gate
// and up a row block at a time (silu applied while the block is hot), then the
// down projection, all in per-thread scratch that lives across calls. Every
// output is computed by one thread in one fixed order, so results do not depend
// on the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/backend/backend.hpp"

namespace folio::cpu {

class ThreadPool;

// Tokens routed to each expert: expert e owns rows [row0[e], row0[e + 1]) of
// the grouped problem, and grouped row r is row token[r] of the layer input.
struct ExpertRouting {
  std::vector<int64_t> row0;
  std::vector<int64_t> token;
};

class ExpertFfn {
 public:
  // out: [routing.token.size()][x.cols], row r the output of grouped row r.
  // gate/up: [ff][d] per expert, down: [d][ff] per expert (shapes checked by the caller).
  void run(ThreadPool& pool, const backend::Act& x, const backend::Weight& gate, const backend::Weight& up,
           const backend::Weight& down, const ExpertRouting& routing, float* out);

 private:
  struct Task {
    int64_t expert, t0, t1;  // the expert's grouped rows [row0 + t0, row0 + t1)
  };
  struct Scratch {
    std::vector<float> xt, ht, ut, wbuf;
  };
  void run_task(const Task& task, const backend::Act& x, const backend::Weight& gate, const backend::Weight& up,
                const backend::Weight& down, const ExpertRouting& routing, float* out, Scratch& s) const;

  std::vector<Task> tasks_;
  std::vector<Scratch> scratch_;  // one per pool thread
};

}  // namespace folio::cpu
