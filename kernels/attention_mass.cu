// Attention mass of one query (the SDK's attention evidence, sdk/src/evidence):
// the exact softmax weight a query gives each key, summed over its heads, added
// into a per-key mass array. Three passes over one layer's cache:
//   scores   s[h][t] = q_h . k_t * scale for every key t <= pos: a CTA per
//            (64-key block, KV head) reads each key row once and dots it with
//            the group's query heads (in shared memory);
//   stats    per head: the maximum and the sum of exp(s - max) (one CTA a head);
//   mass     mass[t - first] += weight * sum_h exp(s[h][t] - max_h) / sum_h.
// f32 throughout; keys are the cache's bf16, [position][n_kv_heads][head_dim].
#include <cfloat>

#include "kernels/model_ops.hpp"
#include "kernels/ops_common.cuh"

namespace folio::kernels::ops {
namespace {

using namespace detail;

constexpr int kKeysPerCta = 64, kStatsThreads = 1024, kMassThreads = 256;

// grid (key blocks, n_kv_heads), kKeysPerCta threads: thread t takes key
// block * 64 + t and the G heads of the KV head.
__global__ void __launch_bounds__(kKeysPerCta)
    mass_scores_kernel(const float* q, const bf16* k_cache, int64_t n_keys, int n_heads, int n_kv_heads, int head_dim,
                       float scale, float* scores) {
  extern __shared__ float qs[];  // [G][head_dim]
  const int g = blockIdx.y, G = n_heads / n_kv_heads;
  for (int i = threadIdx.x; i < G * head_dim; i += blockDim.x) qs[i] = q[int64_t(g * G) * head_dim + i];
  __syncthreads();
  const int64_t t = int64_t(blockIdx.x) * kKeysPerCta + threadIdx.x;
  if (t >= n_keys) return;
  const bf16* k = k_cache + (t * n_kv_heads + g) * int64_t(head_dim);
  constexpr int kMaxGroup = 16;
  float acc[kMaxGroup];
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h) acc[h] = 0.0f;
  for (int c = 0; c < head_dim; c += 2) {
    const float2 kc = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(k + c));
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h)
      if (h < G) acc[h] += qs[h * head_dim + c] * kc.x + qs[h * head_dim + c + 1] * kc.y;
  }
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h)
    if (h < G) scores[int64_t(g * G + h) * n_keys + t] = acc[h] * scale;
}

// One CTA per head: stats[h] = {max, 1 / sum exp(s - max)}.
__global__ void __launch_bounds__(kStatsThreads) mass_stats_kernel(const float* scores, int64_t n_keys, float* stats) {
  __shared__ float red[32];
  const float* s = scores + int64_t(blockIdx.x) * n_keys;
  float mx = -INFINITY;
  for (int64_t t = threadIdx.x; t < n_keys; t += blockDim.x) mx = fmaxf(mx, s[t]);
  mx = warp_max(mx);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
  __syncthreads();
  mx = -INFINITY;
  for (int w = 0; w < int(blockDim.x >> 5); ++w) mx = fmaxf(mx, red[w]);
  float sum = 0.0f;
  for (int64_t t = threadIdx.x; t < n_keys; t += blockDim.x) sum += expf(s[t] - mx);
  sum = block_sum(sum);
  if (threadIdx.x == 0) {
    stats[2 * blockIdx.x] = mx;
    stats[2 * blockIdx.x + 1] = sum > 0.0f ? 1.0f / sum : 0.0f;
  }
}

__global__ void __launch_bounds__(kMassThreads)
    mass_add_kernel(const float* scores, const float* stats, int64_t n_keys, int n_heads, int64_t first,
                    int64_t count, float weight, float* mass) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = first + i;
    if (t >= n_keys) continue;  // keys past the query: no weight
    float m = 0.0f;
    for (int h = 0; h < n_heads; ++h) m += expf(scores[int64_t(h) * n_keys + t] - stats[2 * h]) * stats[2 * h + 1];
    mass[i] += weight * m;
  }
}

}  // namespace

size_t attention_mass_scratch_floats(int64_t n_keys, int n_heads) {
  return size_t(n_keys) * size_t(n_heads) + 2 * size_t(n_heads);
}

cudaError_t attention_mass(const float* q, const bf16* k_cache, int64_t n_keys, int n_heads, int n_kv_heads,
                           int head_dim, float scale, int64_t first, int64_t count, float weight, float* mass,
                           float* scratch, cudaStream_t s) {
  if (n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0 || n_heads / n_kv_heads > 16 || head_dim <= 0 ||
      head_dim % 2 != 0 || first < 0 || count < 0)
    return cudaErrorInvalidValue;
  if (n_keys <= 0 || count == 0) return cudaSuccess;
  float* scores = scratch;
  float* stats = scratch + size_t(n_keys) * size_t(n_heads);
  const int G = n_heads / n_kv_heads;
  const dim3 grid(unsigned((n_keys + kKeysPerCta - 1) / kKeysPerCta), unsigned(n_kv_heads));
  mass_scores_kernel<<<grid, kKeysPerCta, size_t(G) * head_dim * sizeof(float), s>>>(q, k_cache, n_keys, n_heads,
                                                                                       n_kv_heads, head_dim, scale,
                                                                                       scores);
  mass_stats_kernel<<<unsigned(n_heads), kStatsThreads, 0, s>>>(scores, n_keys, stats);
  mass_add_kernel<<<grid_for(count, kMassThreads), kMassThreads, 0, s>>>(scores, stats, n_keys, n_heads, first, count,
                                                                         weight, mass);
  return cudaGetLastError();
}

}  // namespace folio::kernels::ops
