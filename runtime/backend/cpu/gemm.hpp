// Matrix products of f32 activations by weights in their stored type.
//
//   y[n][m] = x[n][k] . W[m][k]^T      (W: m rows of k elements, F32/F16/BF16/Q8_0)
//
// Prefill (n >= kGemmMinRows) uses a register-blocked GEMM: the tokens are packed
// once, transposed into panels of 32 ([k][32], zero-padded, 16 x 16 register
// transposes), and each thread converts groups of 14 weight rows to f32 (rows
// padded so they do not share an L1 set) and runs a 14 x 32 outer-product
// micro-kernel over them (28 zmm accumulators, the weight element broadcast
// from the converted rows; a last panel of <= 16 tokens uses a 14 x 16 kernel).
// While it computes, the kernel prefetches the weight block converted next.
// Every output is one sequential FMA chain over k, so results do not depend on
// the thread count or on how rows are split.
// Decode (small n) is a GEMV: each weight row is converted once and dotted with
// every token row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/backend/backend.hpp"

namespace folio::cpu {

class ThreadPool;

inline constexpr int64_t kGemmMinRows = 8;
// Weight rows per micro-kernel call: 14 x 2 accumulators fill 28 of AVX-512's
// 32 registers; narrower machines get a size that does not spill.
#if defined(__AVX512F__)
inline constexpr int kGemmRowBlock = 14;
#else
inline constexpr int kGemmRowBlock = 4;
#endif
inline constexpr int kGemmPanel = 32;  // tokens per packed panel (two v16)

struct WeightRows {
  backend::WeightType type = backend::WeightType::f32;
  const std::byte* data = nullptr;  // first row
  size_t row_bytes = 0;
  int64_t rows = 0, cols = 0;
};

// Buffers a caller keeps across matmul calls (packed tokens, converted weight
// rows per thread), so a forward pass does not allocate and fault in fresh
// pages for every projection.
struct GemmScratch {
  std::vector<float> xt, wbufs;
};

// y (ldy floats between rows) = x (ldx) . W^T. y must not alias x.
void matmul(ThreadPool& pool, GemmScratch& scratch, const float* x, int64_t ldx, int64_t n, const WeightRows& w,
            float* y, int64_t ldy);
// The same with scratch of its own.
void matmul(ThreadPool& pool, const float* x, int64_t ldx, int64_t n, const WeightRows& w, float* y,
            int64_t ldy);

// Building blocks, for callers that schedule many GEMMs in one parallel run
// (the MoE runs all experts' token chunks together).
//
// Floats needed to pack n rows of k: ceil(n / 32) panels of [k][32].
int64_t packed_x_floats(int64_t n, int64_t k);
// dst[(panel * k + p) * 32 + t] = x[panel * 32 + t][p], zero-padded.
void pack_x(const float* x, int64_t ldx, int64_t n, int64_t k, float* dst);
// The same for the rows x + rows[t] * ldx (a gather: the MoE packs each
// expert's tokens straight from the layer input).
void pack_x_rows(const float* x, int64_t ldx, const int64_t* rows, int64_t n, int64_t k, float* dst);
// Scratch floats the row-block functions need for k-element weight rows.
int64_t gemm_wbuf_floats(int64_t k);

// Weight bytes a row-block call should pull towards the cache while it
// computes: the block the caller converts next, which would otherwise be read
// from DRAM with the core stalled (the MoE's expert weights are used once per
// layer and never stay cached).
struct Prefetch {
  const std::byte* data = nullptr;
  size_t bytes = 0;
};
// Rows [j0, j0 + kGemmRowBlock) of w (clipped; empty past the end).
Prefetch row_block_bytes(const WeightRows& w, int64_t j0);

// y[i][j0 .. j0+mr) for all n packed tokens, mr = min(kGemmRowBlock, rows - j0).
// wbuf: scratch of gemm_wbuf_floats(k) floats.
void gemm_row_block(const WeightRows& w, int64_t j0, const float* xt, int64_t n, float* y, int64_t ldy, float* wbuf,
                    Prefetch next = {});
// The same, writing the output in packed layout (yt[(panel * w.rows + j) * 32 + t]):
// the form pack_x produces, so the result can feed the next GEMM directly
// (MoE gate/up -> down) without a transpose. In a last panel of at most 16
// tokens only lanes 0..15 are written (the kernels never read the others).
void gemm_row_block_packed(const WeightRows& w, int64_t j0, const float* xt, int64_t n, float* yt, float* wbuf,
                           Prefetch next = {});
// y[i][j0 .. j1) by dot products (small n). wbuf: scratch of k floats.
void gemv_rows(const WeightRows& w, int64_t j0, int64_t j1, const float* x, int64_t ldx, int64_t n, float* y,
               int64_t ldy, float* wbuf);

// Elements [0, k) of one weight row as f32 (k a multiple of 32 for q8_0).
void convert_row(backend::WeightType type, const std::byte* row, int64_t k, float* out);

float dot(const float* a, const float* b, int64_t k);

}  // namespace folio::cpu
