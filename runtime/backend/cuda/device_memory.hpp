// Device memory and error helpers of the CUDA backend.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <cuda_runtime_api.h>

#include "runtime/common/error.hpp"
#include "runtime/common/human_bytes.hpp"

namespace folio::cuda {

// Throws folio::Error naming the operation when a CUDA call failed.
inline void check(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  const Errc code = err == cudaErrorMemoryAllocation ? Errc::out_of_memory : Errc::internal;
  fail(code, std::string("cuda: ") + what + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

// One backend's device-memory cap (CudaOptions::max_device_memory). Every
// allocation of the backend is charged here and refunded when freed, so a cap
// makes allocation fail the same way on every GPU, before the device itself
// runs out: for a process that shares the GPU, and for testing that path.
class DeviceBudget {
 public:
  explicit DeviceBudget(size_t limit) noexcept : limit_(limit) {}
  size_t limit() const noexcept { return limit_; }  // 0: no cap
  size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  bool try_charge(size_t bytes) noexcept {
    size_t cur = used_.load(std::memory_order_relaxed);
    do {
      if (limit_ != 0 && (bytes > limit_ || cur > limit_ - bytes)) return false;
    } while (!used_.compare_exchange_weak(cur, cur + bytes, std::memory_order_relaxed));
    return true;
  }
  void refund(size_t bytes) noexcept { used_.fetch_sub(bytes, std::memory_order_relaxed); }

 private:
  size_t limit_;
  std::atomic<size_t> used_{0};
};
using DeviceBudgetPtr = std::shared_ptr<DeviceBudget>;

struct CudaFree {
  DeviceBudgetPtr budget;  // refunded on free (may be null)
  size_t bytes = 0;
  void operator()(void* p) const noexcept {
    cudaFree(p);
    if (budget) budget->refund(bytes);
  }
};

// Device allocation of `bytes` (at least 1), charged to `budget` when given;
// throws out_of_memory naming `what`, its size and the limit that was hit.
inline std::shared_ptr<void> device_alloc(size_t bytes, const std::string& what,
                                          const DeviceBudgetPtr& budget = nullptr) {
  bytes = std::max<size_t>(bytes, 1);
  if (budget && !budget->try_charge(bytes))
    fail(Errc::out_of_memory, "cuda: cannot allocate " + human_bytes(bytes) + " for " + what +
                                  ": the backend's max_device_memory of " + human_bytes(budget->limit()) +
                                  " would be exceeded (" + human_bytes(budget->used()) + " in use)");
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    if (budget) budget->refund(bytes);
    cudaGetLastError();  // clear the sticky-free error state of a failed allocation
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    fail(Errc::out_of_memory, "cuda: cannot allocate " + human_bytes(bytes) + " for " + what + " (" +
                                  human_bytes(free_b) + " free of " + human_bytes(total_b) + " on the device)");
  }
  return std::shared_ptr<void>(p, CudaFree{budget, bytes});
}

// A growable device scratch array of T. Growing waits for the device to be idle
// before freeing the old storage, so work still queued on it stays valid.
template <class T>
class Scratch {
 public:
  explicit Scratch(DeviceBudgetPtr budget = nullptr) : budget_(std::move(budget)) {}
  T* get(size_t n, const char* what) {
    if (n > capacity_) {
      if (mem_) check(cudaDeviceSynchronize(), "scratch growth");
      mem_.reset();
      const size_t cap = std::max(n, capacity_ + capacity_ / 2);
      mem_ = device_alloc(cap * sizeof(T), what, budget_);
      capacity_ = cap;
    }
    return static_cast<T*>(mem_.get());
  }
  size_t capacity() const noexcept { return capacity_; }

 private:
  DeviceBudgetPtr budget_;
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
