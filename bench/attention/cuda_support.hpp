// Small CUDA helpers for the attention bench: checked calls, owning device
// buffers, bf16 conversion and an event timer. Host code only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/common/half.hpp"

namespace folio::bench {

inline void cuda_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}
#define FOLIO_CUDA(call) ::folio::bench::cuda_check((call), #call)

// Owning device array of T (cudaMalloc / cudaFree).
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(size_t n) : n_(n) {
    if (n > 0) FOLIO_CUDA(cudaMalloc(&p_, n * sizeof(T)));
  }
  explicit DeviceArray(std::span<const T> host) : DeviceArray(host.size()) { upload(host); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  ~DeviceArray() {
    if (p_) cudaFree(p_);
  }
  T* get() const noexcept { return p_; }
  size_t size() const noexcept { return n_; }
  void upload(std::span<const T> host) {
    if (host.size() > n_) throw std::runtime_error("DeviceArray::upload: too many elements");
    FOLIO_CUDA(cudaMemcpy(p_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download(size_t n) const {
    std::vector<T> host(std::min(n, n_));
    FOLIO_CUDA(cudaMemcpy(host.data(), p_, host.size() * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }
  std::vector<T> download() const { return download(n_); }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

inline std::vector<__nv_bfloat16> to_bf16(std::span<const float> v) {
  std::vector<__nv_bfloat16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const uint16_t bits = f32_to_bf16(v[i]);
    std::memcpy(&out[i], &bits, 2);
  }
  return out;
}
inline std::vector<float> to_f32(std::span<const __nv_bfloat16> v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t bits;
    std::memcpy(&bits, &v[i], 2);
    out[i] = bf16_to_f32(bits);
  }
  return out;
}

// Median milliseconds of `reps` timed runs of fn (after `warmup` untimed ones).
template <class Fn>
double time_ms(Fn&& fn, int warmup, int reps, cudaStream_t stream = nullptr) {
  cudaEvent_t a, b;
  FOLIO_CUDA(cudaEventCreate(&a));
  FOLIO_CUDA(cudaEventCreate(&b));
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    FOLIO_CUDA(cudaEventRecord(a, stream));
    fn();
    FOLIO_CUDA(cudaEventRecord(b, stream));
    FOLIO_CUDA(cudaEventSynchronize(b));
    float t = 0;
    FOLIO_CUDA(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace folio::bench
