#include "runtime/backend/cpu/gemm.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <cstring>
#include <vector>

#include "runtime/backend/cpu/simd.hpp"
#include "runtime/backend/cpu/thread_pool.hpp"
#include "runtime/common/half.hpp"

#if defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#endif

namespace folio::cpu {

using backend::WeightType;

namespace {

constexpr int kMR = kGemmRowBlock;
constexpr int kNR = kGemmPanel;
constexpr int64_t kTokenChunk = 256;  // tokens packed at once: 256 x k floats stay in L2

// GCC 12's _mm512_cvtph_ps trips -Wmaybe-uninitialized inside its own header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
void convert_f16(const uint16_t* src, int64_t k, float* out) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= k; i += 16)
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i))));
#elif defined(__F16C__)
  for (; i + 8 <= k; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
#endif
  for (; i < k; ++i) out[i] = f16_to_f32(src[i]);
}
#pragma GCC diagnostic pop

void convert_bf16(const uint16_t* src, int64_t k, float* out) {
  for (int64_t i = 0; i < k; ++i) {
    const uint32_t bits = uint32_t(src[i]) << 16;
    std::memcpy(out + i, &bits, 4);
  }
}

void convert_q8_0(const std::byte* src, int64_t k, float* out) {
  for (int64_t b = 0; b < k / 32; ++b) {
    const std::byte* blk = src + b * 34;
    uint16_t d16;
    std::memcpy(&d16, blk, 2);
    const float d = f16_to_f32(d16);
    const int8_t* q = reinterpret_cast<const int8_t*>(blk + 2);
    float* o = out + b * 32;
    for (int i = 0; i < 32; ++i) o[i] = float(q[i]) * d;
  }
}

// acc[r][v] = sum_p w[r][p] * xt[p][16v .. 16v+15], then stored to tile[r][32].
template <int MR, int NV>
void micro_kernel(const float* w, int64_t k, const float* xt, float* tile) {
  v16 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = v16{};
  for (int64_t p = 0; p < k; ++p) {
    v16 b[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) b[v] = load16(xt + p * kNR + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const float a = w[r * k + p];
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] += a * b[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) store16(tile + r * kNR + 16 * v, acc[r][v]);
}

using KernelFn = void (*)(const float*, int64_t, const float*, float*);

template <int NV, size_t... I>
constexpr std::array<KernelFn, sizeof...(I)> make_kernels(std::index_sequence<I...>) {
  return {&micro_kernel<int(I) + 1, NV>...};
}

const auto kKernels1 = make_kernels<1>(std::make_index_sequence<kMR>{});
const auto kKernels2 = make_kernels<2>(std::make_index_sequence<kMR>{});

void gemv(ThreadPool& pool, const float* x, int64_t ldx, int64_t n, const WeightRows& w, float* y, int64_t ldy) {
  pool.parallel_for(w.rows, 16, [&](int64_t j0, int64_t j1) {
    std::vector<float> buf(static_cast<size_t>(w.cols));
    gemv_rows(w, j0, j1, x, ldx, n, y, ldy, buf.data());
  });
}

void gemm_chunk(ThreadPool& pool, const float* x, int64_t ldx, int64_t n, const WeightRows& w, float* y,
                int64_t ldy, std::vector<float>& xt) {
  const int64_t k = w.cols;
  const int64_t n_panels = (n + kNR - 1) / kNR;
  xt.resize(size_t(packed_x_floats(n, k)));
  pool.parallel_for(n_panels, 1, [&](int64_t b, int64_t e) {
    const int64_t t0 = b * kNR, t1 = std::min(n, e * kNR);
    pack_x(x + t0 * ldx, ldx, t1 - t0, k, xt.data() + b * kNR * k);
  });
  const int64_t n_groups = (w.rows + kMR - 1) / kMR;
  pool.parallel_for(n_groups, 1, [&](int64_t g0, int64_t g1) {
    std::vector<float> wbuf(static_cast<size_t>(kMR * k));
    for (int64_t g = g0; g < g1; ++g) gemm_row_block(w, g * kMR, xt.data(), n, y, ldy, wbuf.data());
  });
}

// sum_i bf16(w[i]) * x[i], k a multiple of 16; same lane order as dot().
float dot_bf16(const uint16_t* w, const float* x, int64_t k) {
  typedef uint16_t v16h __attribute__((vector_size(32), aligned(2)));
  v16 s0{}, s1{};
  int64_t i = 0;
  auto load_w = [&](int64_t at) {
    const v16h h = *reinterpret_cast<const v16h*>(w + at);
    const v16u bits = __builtin_convertvector(h, v16u) << 16;
    v16 f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  };
  for (; i + 32 <= k; i += 32) {
    s0 += load_w(i) * load16(x + i);
    s1 += load_w(i + 16) * load16(x + i + 16);
  }
  for (; i + 16 <= k; i += 16) s0 += load_w(i) * load16(x + i);
  return hsum16(s0 + s1);
}

}  // namespace

void convert_row(WeightType type, const std::byte* row, int64_t k, float* out) {
  switch (type) {
    case WeightType::f32: std::memcpy(out, row, size_t(k) * 4); return;
    case WeightType::f16: convert_f16(reinterpret_cast<const uint16_t*>(row), k, out); return;
    case WeightType::bf16: convert_bf16(reinterpret_cast<const uint16_t*>(row), k, out); return;
    case WeightType::q8_0: convert_q8_0(row, k, out); return;
  }
}

float dot(const float* a, const float* b, int64_t k) {
  v16 s0{}, s1{};
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    s0 += load16(a + i) * load16(b + i);
    s1 += load16(a + i + 16) * load16(b + i + 16);
  }
  for (; i + 16 <= k; i += 16) s0 += load16(a + i) * load16(b + i);
  float s = hsum16(s0 + s1);
  for (; i < k; ++i) s += a[i] * b[i];
  return s;
}

int64_t packed_x_floats(int64_t n, int64_t k) { return (n + kNR - 1) / kNR * kNR * k; }

void pack_x(const float* x, int64_t ldx, int64_t n, int64_t k, float* dst) {
  const int64_t n_panels = (n + kNR - 1) / kNR;
  for (int64_t panel = 0; panel < n_panels; ++panel) {
    float* out = dst + panel * kNR * k;
    const int64_t t_end = std::min<int64_t>(kNR, n - panel * kNR);
    if (t_end < kNR) std::fill(out, out + kNR * k, 0.0f);
    for (int64_t t = 0; t < t_end; ++t) {
      const float* src = x + (panel * kNR + t) * ldx;
      for (int64_t p = 0; p < k; ++p) out[p * kNR + t] = src[p];
    }
  }
}

void gemm_row_block(const WeightRows& w, int64_t j0, const float* xt, int64_t n, float* y, int64_t ldy, float* wbuf) {
  const int64_t k = w.cols;
  const int mr = int(std::min<int64_t>(kMR, w.rows - j0));
  for (int r = 0; r < mr; ++r) convert_row(w.type, w.data + size_t(j0 + r) * w.row_bytes, k, wbuf + r * k);
  alignas(64) float tile[kMR * kNR];
  const int64_t n_panels = (n + kNR - 1) / kNR;
  for (int64_t panel = 0; panel < n_panels; ++panel) {
    const int64_t t0 = panel * kNR;
    const int nt = int(std::min<int64_t>(kNR, n - t0));
    const float* xp = xt + panel * kNR * k;
    if (nt > 16) kKernels2[size_t(mr - 1)](wbuf, k, xp, tile);
    else kKernels1[size_t(mr - 1)](wbuf, k, xp, tile);
    for (int t = 0; t < nt; ++t) {
      float* yrow = y + (t0 + t) * ldy + j0;
      for (int r = 0; r < mr; ++r) yrow[r] = tile[r * kNR + t];
    }
  }
}

void gemm_row_block_packed(const WeightRows& w, int64_t j0, const float* xt, int64_t n, float* yt, float* wbuf) {
  const int64_t k = w.cols;
  const int mr = int(std::min<int64_t>(kMR, w.rows - j0));
  for (int r = 0; r < mr; ++r) convert_row(w.type, w.data + size_t(j0 + r) * w.row_bytes, k, wbuf + r * k);
  alignas(64) float tile[kMR * kNR];
  const int64_t n_panels = (n + kNR - 1) / kNR;
  for (int64_t panel = 0; panel < n_panels; ++panel) {
    const float* xp = xt + panel * kNR * k;
    float* dst = yt + (panel * w.rows + j0) * kNR;
    // Full panels: the kernel's tile is exactly the packed layout of these rows.
    if (mr == kMR) {
      kKernels2[size_t(mr - 1)](wbuf, k, xp, dst);
    } else {
      kKernels2[size_t(mr - 1)](wbuf, k, xp, tile);
      std::memcpy(dst, tile, size_t(mr) * kNR * sizeof(float));
    }
  }
}

void gemv_rows(const WeightRows& w, int64_t j0, int64_t j1, const float* x, int64_t ldx, int64_t n, float* y,
               int64_t ldy, float* wbuf) {
  const int64_t k = w.cols;
  if (n == 1 && w.type == WeightType::bf16 && k % 16 == 0) {
    // Decode: convert in registers while dotting (the weight row is read once,
    // from memory; nothing is written back).
    for (int64_t j = j0; j < j1; ++j) y[j] = dot_bf16(reinterpret_cast<const uint16_t*>(w.data + size_t(j) * w.row_bytes), x, k);
    return;
  }
  for (int64_t j = j0; j < j1; ++j) {
    const std::byte* row = w.data + size_t(j) * w.row_bytes;
    const float* wf = reinterpret_cast<const float*>(row);
    if (w.type != WeightType::f32) {
      convert_row(w.type, row, k, wbuf);
      wf = wbuf;
    }
    for (int64_t i = 0; i < n; ++i) y[i * ldy + j] = dot(x + i * ldx, wf, k);
  }
}

void matmul(ThreadPool& pool, const float* x, int64_t ldx, int64_t n, const WeightRows& w, float* y,
            int64_t ldy) {
  if (n <= 0 || w.rows <= 0) return;
  if (n < kGemmMinRows) {
    gemv(pool, x, ldx, n, w, y, ldy);
    return;
  }
  std::vector<float> xt;
  for (int64_t t0 = 0; t0 < n; t0 += kTokenChunk) {
    const int64_t nt = std::min(kTokenChunk, n - t0);
    gemm_chunk(pool, x + t0 * ldx, ldx, nt, w, y + t0 * ldy, ldy, xt);
  }
}

}  // namespace folio::cpu
