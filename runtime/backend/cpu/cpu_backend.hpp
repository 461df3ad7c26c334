// The reference CPU backend: f32 arithmetic over F32/F16/BF16/Q8_0 weights,
// threaded over a pool it owns and vectorised (AVX-512 when built with
// -march=native on such a machine, portable vector code otherwise).
//
// Weights are borrowed: `upload` returns a Weight pointing into the caller's
// host memory (the mmap'd GGUF file), which must outlive the backend's use.
// A CpuBackend is not thread-safe: one forward pass at a time.
#pragma once

#include <memory>

#include "runtime/backend/backend.hpp"

namespace folio::cpu {

struct CpuOptions {
  int n_threads = 0;  // <= 0: all hardware threads
};

std::unique_ptr<backend::Backend> make_cpu_backend(const CpuOptions& options = {});

// Threads the backend actually uses (for reports).
int cpu_backend_threads(const backend::Backend& b);

}  // namespace folio::cpu
