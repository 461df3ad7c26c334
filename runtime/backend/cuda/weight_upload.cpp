// Weight upload: host bytes (F32/F16/BF16/Q8_0) -> device bf16 or f32.
// Conversion runs on the host in slabs, so the host memory used is bounded
// whatever the tensor's size; BF16 to BF16 is copied as is.
#include <algorithm>
#include <cstring>
#include <vector>

#include "runtime/backend/cuda/cuda_backend_impl.hpp"
#include "runtime/common/half.hpp"

namespace folio::cuda {

using backend::WeightType;

namespace {

// Element i of a row stored as `type` (row_bytes apart), as f32.
void convert_row_f32(WeightType type, const std::byte* src, int64_t cols, float* dst) {
  switch (type) {
    case WeightType::f32: std::memcpy(dst, src, size_t(cols) * 4); return;
    case WeightType::f16:
      for (int64_t i = 0; i < cols; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      return;
    case WeightType::bf16:
      for (int64_t i = 0; i < cols; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    case WeightType::q8_0:
      for (int64_t b = 0; b < cols / 32; ++b) {
        const std::byte* blk = src + b * 34;
        uint16_t d16;
        std::memcpy(&d16, blk, 2);
        const float d = f16_to_f32(d16);
        for (int j = 0; j < 32; ++j) dst[b * 32 + j] = d * float(static_cast<int8_t>(blk[2 + j]));
      }
      return;
  }
  fail(Errc::unsupported, "cuda upload: unknown weight type");
}

}  // namespace

std::shared_ptr<void> upload_converted(const backend::HostWeight& w, WeightType device_type, cudaStream_t stream,
                                       const DeviceBudgetPtr& budget) {
  const size_t out_elem = device_type == WeightType::f32 ? 4 : 2;
  const int64_t total_rows = w.count * w.rows;
  auto mem = device_alloc(size_t(total_rows) * size_t(w.cols) * out_elem, "weight '" + w.name + "'", budget);
  auto* dst = static_cast<std::byte*>(mem.get());
  const size_t rb = backend::weight_row_bytes(w.type, w.cols);
  if ((w.type == WeightType::bf16 && device_type == WeightType::bf16) ||
      (w.type == WeightType::f32 && device_type == WeightType::f32)) {
    check(cudaMemcpyAsync(dst, w.bytes.data(), w.bytes.size(), cudaMemcpyHostToDevice, stream), "weight upload");
    check(cudaStreamSynchronize(stream), "weight upload");
    return mem;
  }
  // Slabs of about 16M elements.
  const int64_t slab_rows = std::max<int64_t>(1, (int64_t(1) << 24) / w.cols);
  std::vector<float> row(size_t(w.cols));
  std::vector<std::byte> slab(size_t(std::min(slab_rows, total_rows)) * size_t(w.cols) * out_elem);
  for (int64_t r0 = 0; r0 < total_rows; r0 += slab_rows) {
    const int64_t n = std::min(slab_rows, total_rows - r0);
    for (int64_t r = 0; r < n; ++r) {
      convert_row_f32(w.type, w.bytes.data() + size_t(r0 + r) * rb, w.cols, row.data());
      std::byte* out = slab.data() + size_t(r) * size_t(w.cols) * out_elem;
      if (device_type == WeightType::f32) {
        std::memcpy(out, row.data(), size_t(w.cols) * 4);
      } else {
        for (int64_t i = 0; i < w.cols; ++i) {
          const uint16_t h = f32_to_bf16(row[size_t(i)]);
          std::memcpy(out + 2 * i, &h, 2);
        }
      }
    }
    // Synchronous per slab: the slab buffer is reused by the next iteration.
    check(cudaMemcpyAsync(dst + size_t(r0) * size_t(w.cols) * out_elem, slab.data(),
                          size_t(n) * size_t(w.cols) * out_elem, cudaMemcpyHostToDevice, stream),
          "weight upload");
    check(cudaStreamSynchronize(stream), "weight upload");
  }
  return mem;
}

}  // namespace folio::cuda
