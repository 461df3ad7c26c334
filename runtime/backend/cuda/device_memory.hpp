// Device memory and error helpers of the CUDA backend.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <cuda_runtime_api.h>

#include "runtime/common/error.hpp"

namespace folio::cuda {

// Throws folio::Error naming the operation when a CUDA call failed.
inline void check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  const Errc code = err == cudaErrorMemoryAllocation ? Errc::out_of_memory : Errc::internal;
  fail(code, std::string("cuda: ") + what + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

struct CudaFree {
  void operator()(void* p) const noexcept { cudaFree(p); }
};

// Device allocation of `bytes` (at least 1); throws out_of_memory naming `what`.
inline std::shared_ptr<void> device_alloc(size_t bytes, const std::string& what) {
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes == 0 ? 1 : bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state of a failed allocation
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    fail(Errc::out_of_memory, "cuda: cannot allocate " + std::to_string(bytes >> 20) + " MiB for " + what + " (" +
                                  std::to_string(free_b >> 20) + " MiB free of " + std::to_string(total_b >> 20) +
                                  ")");
  }
  return std::shared_ptr<void>(p, CudaFree{});
}

// A growable device scratch array of T. Growing waits for the device to be idle
// before freeing the old storage, so work still queued on it stays valid.
template <class T>
class Scratch {
 public:
  T* get(size_t n, const char* what) {
    if (n > capacity_) {
      if (mem_) check(cudaDeviceSynchronize(), "scratch growth");
      mem_.reset();
      const size_t cap = std::max(n, capacity_ + capacity_ / 2);
      mem_ = device_alloc(cap * sizeof(T), what);
      capacity_ = cap;
    }
    return static_cast<T*>(mem_.get());
  }
  size_t capacity() const noexcept { return capacity_; }

 private:
  std::shared_ptr<void> mem_;
  size_t capacity_ = 0;
};

// Pinned host memory for small device-to-host reads (expert counts).
template <class T>
class PinnedArray {
 public:
  PinnedArray() = default;
  PinnedArray(const PinnedArray&) = delete;
  PinnedArray& operator=(const PinnedArray&) = delete;
  ~PinnedArray() {
    if (p_) cudaFreeHost(p_);
  }
  T* get(size_t n) {
    if (n > n_) {
      if (p_) cudaFreeHost(p_);
      p_ = nullptr;
      n_ = 0;
      check(cudaMallocHost(reinterpret_cast<void**>(&p_), n * sizeof(T)), "pinned host allocation");
      n_ = n;
    }
    return p_;
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace folio::cuda
