#include "runtime/backend/cpu/gemm.hpp"

#include <algorithm>
#include <array>
#include <utility>
#include <cstring>
#include <memory>
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
// Tokens per GEMM task: the chunk of packed input a task streams (256 x k
// floats, 1 MiB at k = 1024) is shared by both threads through L3.
constexpr int64_t kTokenChunk = 256;

// Floats between the converted weight rows of one micro-kernel call. The
// kernel reads its 14 rows in lockstep; rows exactly 4 KiB apart (k = 1024, the
// hidden size of the bench model) would all fall into the same L1 set, more
// lines than the set has ways, and every broadcast would miss (measured: the
// 14 x 32 kernel ran at 55% of peak at k = 1024 and 97% at k = 512). Padding
// each row by one cache line staggers them across sets.
int64_t weight_stride(int64_t k) { return (k + 15) / 16 * 16 + 16; }

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

// acc[r][v] = sum_p w[r * ldw + p] * xt[p][16v .. 16v+15], then stored to
// tile[r][32]. Iteration p < pf_lines also prefetches line p of pf into L2:
// one line per step hides the next weight block's DRAM latency behind this
// block's FMAs without bursting more misses than the core can track.
template <int MR, int NV>
void micro_kernel(const float* w, int64_t ldw, int64_t k, const float* xt, float* tile, const std::byte* pf,
                  int64_t pf_lines) {
  v16 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) acc[r][v] = v16{};
  auto step = [&](int64_t p) __attribute__((always_inline)) {
    v16 b[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) b[v] = load16(xt + p * kNR + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const float a = w[r * ldw + p];
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) acc[r][v] += a * b[v];
    }
  };
  const int64_t n_pf = std::min(pf_lines, k);
  int64_t p = 0;
  for (; p < n_pf; ++p) {
    __builtin_prefetch(pf + p * 64, 0, 2);
    step(p);
  }
  for (; p < k; ++p) step(p);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) store16(tile + r * kNR + 16 * v, acc[r][v]);
}

using KernelFn = void (*)(const float*, int64_t, int64_t, const float*, float*, const std::byte*, int64_t);

template <int NV, size_t... I>
constexpr std::array<KernelFn, sizeof...(I)> make_kernels(std::index_sequence<I...>) {
  return {&micro_kernel<int(I) + 1, NV>...};
}

const auto kKernels1 = make_kernels<1>(std::make_index_sequence<kMR>{});
const auto kKernels2 = make_kernels<2>(std::make_index_sequence<kMR>{});

void gemv(ThreadPool& pool, const float* x, int64_t ldx, int64_t n, const WeightRows& w, float* y, int64_t ldy) {
  const auto bufs = std::make_unique_for_overwrite<float[]>(size_t(pool.size() * w.cols));
  pool.parallel_for_tid(w.rows, 16, [&](int tid, int64_t j0, int64_t j1) {
    gemv_rows(w, j0, j1, x, ldx, n, y, ldy, bufs.get() + tid * w.cols);
  });
}

// All tokens are packed in one parallel run and the GEMM is one more: tasks of
// (256-token chunk, two row blocks), chunk-major, so both threads read the
// same chunk while it is in the shared L3. Two runs per call instead of two
// per chunk matters on a shared machine, where every run ends waiting for the
// slowest thread's last task (at 4096 tokens: 2 waits instead of 32).
void gemm(ThreadPool& pool, GemmScratch& scratch, const float* x, int64_t ldx, int64_t n, const WeightRows& w,
          float* y, int64_t ldy) {
  const int64_t k = w.cols;
  const int64_t n_panels = (n + kNR - 1) / kNR;
  scratch.xt.resize(std::max(scratch.xt.size(), size_t(packed_x_floats(n, k))));
  scratch.wbufs.resize(std::max(scratch.wbufs.size(), size_t(pool.size() * gemm_wbuf_floats(k))));
  float* const xt = scratch.xt.data();
  float* const wbufs = scratch.wbufs.data();
  pool.parallel_for(n_panels, 1, [&](int64_t b, int64_t e) {
    const int64_t t0 = b * kNR, t1 = std::min(n, e * kNR);
    pack_x(x + t0 * ldx, ldx, t1 - t0, k, xt + b * kNR * k);
  });
  constexpr int64_t kGroup = 2;  // row blocks per task: each prefetches one its own thread converts next
  const int64_t n_groups = (w.rows + kGroup * kMR - 1) / (kGroup * kMR);
  const int64_t n_chunks = (n + kTokenChunk - 1) / kTokenChunk;
  pool.parallel_for_tid(n_chunks * n_groups, 1, [&](int tid, int64_t i0, int64_t i1) {
    float* wbuf = wbufs + tid * gemm_wbuf_floats(k);
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t t0 = i / n_groups * kTokenChunk, nt = std::min(kTokenChunk, n - t0);
      const int64_t j0 = i % n_groups * kGroup * kMR, j1 = std::min(w.rows, j0 + kGroup * kMR);
      for (int64_t j = j0; j < j1; j += kMR)
        gemm_row_block(w, j, xt + t0 * k, nt, y + t0 * ldy, ldy, wbuf, row_block_bytes(w, j + kMR));
    }
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

int64_t gemm_wbuf_floats(int64_t k) { return kMR * weight_stride(k); }

int64_t packed_x_floats(int64_t n, int64_t k) { return (n + kNR - 1) / kNR * kNR * k; }

namespace {

// Packs n rows, row t at row_ptr(t), into panels of 32 (see pack_x), 16
// tokens x 16 elements at a time through a register transpose; tokens past n
// are zeros.
template <class RowPtr>
void pack_panels(RowPtr&& row_ptr, int64_t n, int64_t k, float* dst) {
  const int64_t n_panels = (n + kNR - 1) / kNR;
  const int64_t k16 = k / 16 * 16;
  for (int64_t panel = 0; panel < n_panels; ++panel) {
    float* out = dst + panel * kNR * k;
    for (int half = 0; half < kNR / 16; ++half) {
      const int64_t t0 = panel * kNR + half * 16;
      const int64_t nt = std::clamp<int64_t>(n - t0, 0, 16);
      const float* src[16];
      for (int64_t t = 0; t < nt; ++t) src[t] = row_ptr(t0 + t);
      for (int64_t p = 0; p < k16; p += 16) {
        v16 r[16];
        for (int64_t t = 0; t < 16; ++t) r[t] = t < nt ? load16(src[t] + p) : v16{};
        transpose16(r);
        for (int i = 0; i < 16; ++i) store16(out + (p + i) * kNR + half * 16, r[i]);
      }
      for (int64_t p = k16; p < k; ++p)
        for (int64_t t = 0; t < 16; ++t) out[p * kNR + half * 16 + t] = t < nt ? src[t][p] : 0.0f;
    }
  }
}

}  // namespace

void pack_x(const float* x, int64_t ldx, int64_t n, int64_t k, float* dst) {
  pack_panels([&](int64_t t) { return x + t * ldx; }, n, k, dst);
}

void pack_x_rows(const float* x, int64_t ldx, const int64_t* rows, int64_t n, int64_t k, float* dst) {
  pack_panels([&](int64_t t) { return x + rows[t] * ldx; }, n, k, dst);
}

namespace {

// Converts rows [j0, j0 + mr) of w into wbuf and returns mr.
int convert_block(const WeightRows& w, int64_t j0, float* wbuf) {
  const int mr = int(std::min<int64_t>(kMR, w.rows - j0));
  const int64_t ldw = weight_stride(w.cols);
  for (int r = 0; r < mr; ++r) convert_row(w.type, w.data + size_t(j0 + r) * w.row_bytes, w.cols, wbuf + r * ldw);
  return mr;
}

// Runs the kernel for rows wbuf[0 .. mr) over every packed panel of xt; out(panel,
// nt) says where each panel's tile goes and finish(panel, nt, tile) is called
// after it. The prefetch is spread evenly over the panels.
template <class Out, class Finish>
void run_panels(int mr, int64_t k, const float* wbuf, const float* xt, int64_t n, Prefetch next, Out&& out,
                Finish&& finish) {
  const int64_t ldw = weight_stride(k);
  const int64_t n_panels = (n + kNR - 1) / kNR;
  const int64_t lines = int64_t((next.bytes + 63) / 64);
  for (int64_t panel = 0; panel < n_panels; ++panel) {
    const int nt = int(std::min<int64_t>(kNR, n - panel * kNR));
    const int64_t l0 = lines * panel / n_panels, l1 = lines * (panel + 1) / n_panels;
    float* tile = out(panel, nt);
    // A last panel of at most 16 tokens needs only half the FMAs.
    const auto& kernels = nt > 16 ? kKernels2 : kKernels1;
    kernels[size_t(mr - 1)](wbuf, ldw, k, xt + panel * kNR * k, tile, next.data + l0 * 64, l1 - l0);
    finish(panel, nt, tile);
  }
}

}  // namespace

Prefetch row_block_bytes(const WeightRows& w, int64_t j0) {
  if (j0 >= w.rows) return {};
  const int64_t mr = std::min<int64_t>(kMR, w.rows - j0);
  return {w.data + size_t(j0) * w.row_bytes, size_t(mr) * w.row_bytes};
}

void gemm_row_block(const WeightRows& w, int64_t j0, const float* xt, int64_t n, float* y, int64_t ldy, float* wbuf,
                    Prefetch next) {
  static_assert(kMR <= 16, "the output transpose holds one row block in 16 lanes");
  const int mr = convert_block(w, j0, wbuf);
  // Rows past mr stay zero: they are transposed along but never stored.
  alignas(64) float tile[16 * kNR] = {};
  run_panels(
      mr, w.cols, wbuf, xt, n, next, [&](int64_t, int) { return tile; },
      [&](int64_t panel, int nt, const float* t) {
        // Tile [row][token] -> y[token][j0 + row]: 16 tokens at a time in registers.
        for (int h = 0; h * 16 < nt; ++h) {
          v16 r[16];
          for (int i = 0; i < 16; ++i) r[i] = load16(t + i * kNR + h * 16);
          transpose16(r);
          const int n16 = std::min(16, nt - h * 16);
          for (int i = 0; i < n16; ++i) {
            float* yrow = y + (panel * kNR + h * 16 + i) * ldy + j0;
            if (mr == kMR) std::memcpy(yrow, &r[i], kMR * sizeof(float));
            else std::memcpy(yrow, &r[i], size_t(mr) * sizeof(float));
          }
        }
      });
}

void gemm_row_block_packed(const WeightRows& w, int64_t j0, const float* xt, int64_t n, float* yt, float* wbuf,
                           Prefetch next) {
  const int mr = convert_block(w, j0, wbuf);
  // The kernel's tile rows are exactly the packed layout of rows j0 .. j0 + mr.
  run_panels(
      mr, w.cols, wbuf, xt, n, next, [&](int64_t panel, int) { return yt + (panel * w.rows + j0) * kNR; },
      [](int64_t, int, const float*) {});
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

void matmul(ThreadPool& pool, GemmScratch& scratch, const float* x, int64_t ldx, int64_t n, const WeightRows& w,
            float* y, int64_t ldy) {
  if (n <= 0 || w.rows <= 0) return;
  if (n < kGemmMinRows) {
    gemv(pool, x, ldx, n, w, y, ldy);
    return;
  }
  gemm(pool, scratch, x, ldx, n, w, y, ldy);
}

void matmul(ThreadPool& pool, const float* x, int64_t ldx, int64_t n, const WeightRows& w, float* y,
            int64_t ldy) {
  GemmScratch scratch;
  matmul(pool, scratch, x, ldx, n, w, y, ldy);
}

}  // namespace folio::cpu
