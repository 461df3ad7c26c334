// Helpers of the CUDA backend check (cuda_backend_check.cpp): random inputs,
// weights in every stored type, tensors mirrored on the CPU and CUDA backends,
// and a result table.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/backend/backend.hpp"
#include "runtime/common/half.hpp"

namespace folio::cudacheck {

using backend::Act;
using backend::Backend;
using backend::Buffer;
using backend::HostWeight;
using backend::Weight;
using backend::WeightType;

// Uniform values in [-a, a] rounded to bf16, so inputs are exact in both backends.
inline std::vector<float> random_values(std::mt19937_64& rng, size_t n, float a) {
  std::uniform_real_distribution<float> dist(-a, a);
  std::vector<float> v(n);
  for (auto& x : v) x = bf16_to_f32(f32_to_bf16(dist(rng)));
  return v;
}

// max |got - want| / max |want|
inline double rel_error(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return INFINITY;
  double mx = 0, err = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    mx = std::max(mx, std::fabs(double(want[i])));
    err = std::max(err, std::fabs(double(got[i]) - double(want[i])));
  }
  return mx > 0 ? err / mx : err;
}

// Host bytes of a weight of `values` (count*rows*cols f32) stored as `type`.
struct HostTensor {
  std::vector<std::byte> bytes;
  HostWeight view;
};

inline std::unique_ptr<HostTensor> encode(const std::string& name, WeightType type, int64_t count, int64_t rows,
                                          int64_t cols, const std::vector<float>& values) {
  auto t = std::make_unique<HostTensor>();
  const size_t rb = backend::weight_row_bytes(type, cols);
  t->bytes.resize(rb * size_t(rows * count));
  for (int64_t r = 0; r < rows * count; ++r) {
    const float* src = values.data() + r * cols;
    std::byte* dst = t->bytes.data() + size_t(r) * rb;
    switch (type) {
      case WeightType::f32: std::memcpy(dst, src, size_t(cols) * 4); break;
      case WeightType::f16:
      case WeightType::bf16:
        for (int64_t i = 0; i < cols; ++i) {
          const uint16_t h = type == WeightType::f16 ? f32_to_f16(src[i]) : f32_to_bf16(src[i]);
          std::memcpy(dst + 2 * i, &h, 2);
        }
        break;
      case WeightType::q8_0:
        for (int64_t b = 0; b < cols / 32; ++b) {
          float amax = 0;
          for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(src[b * 32 + j]));
          const uint16_t d16 = f32_to_f16(amax / 127.0f);
          const float d = f16_to_f32(d16);
          std::byte* blk = dst + b * 34;
          std::memcpy(blk, &d16, 2);
          for (int j = 0; j < 32; ++j) {
            const float q = d > 0 ? std::nearbyint(src[b * 32 + j] / d) : 0.0f;
            blk[2 + j] = std::byte(static_cast<uint8_t>(static_cast<int8_t>(std::max(-127.0f, std::min(127.0f, q)))));
          }
        }
        break;
    }
  }
  t->view = HostWeight{name, type, count, rows, cols, t->bytes};
  return t;
}

// An activation tensor on one backend.
struct Tensor {
  Buffer buf;
  Act act;
};

inline Tensor upload_act(Backend& be, int64_t rows, int64_t cols, const std::vector<float>& values) {
  Tensor t;
  t.buf = be.alloc(rows * cols);
  t.act = t.buf.view(rows, cols);
  if (!values.empty()) be.from_host(values, t.act);
  return t;
}

inline std::vector<float> download(Backend& be, const Act& a) {
  std::vector<float> v(size_t(a.rows * a.cols));
  be.to_host(a, v);
  return v;
}

// One line of the result table.
struct Row {
  std::string check, shape;
  double error = 0, limit = 0;
  bool pass = false;
  std::string note;
};

}  // namespace folio::cudacheck
