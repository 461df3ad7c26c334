// 16-lane f32 vectors for the CPU backend, written with GCC/Clang vector
// extensions: with -march=native on an AVX-512 machine a `v16` is one zmm
// register; elsewhere the compiler splits it into whatever the target has
// (two ymm, four xmm, or scalars), so the same source is the portable fallback.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

// Without AVX-512, GCC notes that passing a 64-byte vector by value has a
// different ABI; these helpers are internal and always inlined.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace folio::cpu {

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
typedef uint32_t v16u __attribute__((vector_size(64)));
// Unaligned variants for loads/stores from arbitrary float pointers.
typedef float v16_unaligned __attribute__((vector_size(64), aligned(4)));

inline v16 load16(const float* p) { return *reinterpret_cast<const v16_unaligned*>(p); }
inline void store16(float* p, v16 v) { *reinterpret_cast<v16_unaligned*>(p) = v; }
inline v16 splat16(float x) { return v16{} + x; }

inline float hsum16(v16 v) {
  float s = 0;
  // Pairwise tree: a fixed order, so results never depend on the thread count.
  float a[16];
  std::memcpy(a, &v, sizeof a);
  for (int w = 8; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) a[i] += a[i + w];
  s = a[0];
  return s;
}

inline float hmax16(v16 v) {
  float a[16];
  std::memcpy(a, &v, sizeof a);
  float m = a[0];
  for (int i = 1; i < 16; ++i) m = a[i] > m ? a[i] : m;
  return m;
}

// e^x for x in [-87.3, 88.7] with a relative error below 2e-7 (range reduction
// to r in [-ln2/2, ln2/2] and a degree-6 polynomial); smaller x gives ~0.
inline v16 exp16(v16 x) {
  const v16 hi = splat16(88.3762626647949f), lo = splat16(-87.3365447504019f);
  x = x > hi ? hi : x;
  x = x < lo ? lo : x;
  // n = round(x / ln2) with the 1.5*2^23 trick (exact for |n| < 2^22)
  const v16 magic = splat16(12582912.0f);
  v16 n = (x * 1.44269504088896341f + magic) - magic;
  v16 r = x - n * 0.693359375f;        // ln2 split in two for an exact product
  r = r - n * -2.12194440e-4f;
  v16 p = splat16(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const v16i ni = __builtin_convertvector(n, v16i);
  const v16i bits = (ni + 127) << 23;
  v16 scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

namespace detail {
// One level of a recursive 16 x 16 transpose: rows i and i + H (i & H == 0)
// swap their off-diagonal H-lane blocks.
template <int H, size_t... J>
inline void swap_blocks(v16& a, v16& b, std::index_sequence<J...>) {
  const v16 top = __builtin_shufflevector(a, b, ((J & H) == 0 ? int(J) : 16 + int(J) - H)...);
  const v16 bottom = __builtin_shufflevector(a, b, ((J & H) == 0 ? int(J) + H : 16 + int(J))...);
  a = top;
  b = bottom;
}
template <int H>
inline void transpose_level(v16 (&r)[16]) {
  for (int i = 0; i < 16; ++i)
    if ((i & H) == 0) swap_blocks<H>(r[i], r[i + H], std::make_index_sequence<16>{});
}
}  // namespace detail

// r[i][j] <- r[j][i], in registers (64 two-source shuffles; scalar code would
// need 256 loads and stores with a 64-byte stride).
inline void transpose16(v16 (&r)[16]) {
  detail::transpose_level<8>(r);
  detail::transpose_level<4>(r);
  detail::transpose_level<2>(r);
  detail::transpose_level<1>(r);
}

// g[i] = silu(g[i]) * u[i] = g / (1 + e^-g) * u, the SwiGLU gate, in place.
inline void silu_mul(float* g, const float* u, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const v16 x = load16(g + i);
    store16(g + i, x / (1.0f + exp16(-x)) * load16(u + i));
  }
  for (; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

}  // namespace folio::cpu
