// qwen3's q/k norm and RoPE of one head by one warp, shared by head_norm_rope
// and the fused decode step (qk_norm_rope_kv), so both give the same bits.
#pragma once

#include <cstdint>

#include "kernels/ops_common.cuh"

namespace folio::kernels::ops::detail {

inline constexpr int kHeadNormRopeMaxDim = 256;

// In place: v (head_dim f32 values of the head at position `pos`) becomes
// rmsnorm(v) * gamma, its first `rot` dims rotated (neox: halves; else
// interleaved pairs). The normalised head goes through hv, the warp's
// kHeadNormRopeMaxDim floats of shared memory (the rotation pairs elements that
// different lanes hold); the arithmetic is that of head_rms_norm then rope.
// out (nullable): also gets the result as bf16 (a KV-cache row).
// angles (nullable): rope_angle(pos, p) of every pair p < rot / 2, computed
// once for all the heads of a row (the prefill kernel); else computed here.
__device__ __forceinline__ float2 rope_angle(int64_t pos, int p, float theta, int rot) {
  const float inv = 1.0f / powf(theta, float(2 * p) / float(rot));
  const float a = float(pos) * inv;
  float2 sc;
  sincosf(a, &sc.x, &sc.y);
  return sc;  // (sin, cos)
}

__device__ __forceinline__ void head_norm_rope_warp(float* v, float* hv, int head_dim, const float* gamma, float eps,
                                                    int64_t pos, float theta, int rot, bool neox, int lane,
                                                    __nv_bfloat16* out, const float2* angles = nullptr) {
  float ss = 0.0f;
  for (int c = lane; c < head_dim; c += 32) {
    hv[c] = v[c];
    ss += hv[c] * hv[c];
  }
  ss = warp_sum(ss);
  const float inv_norm = 1.0f / sqrtf(ss / float(head_dim) + eps);
  for (int c = lane; c < head_dim; c += 32) hv[c] = hv[c] * inv_norm * gamma[c];
  __syncwarp();
  const int half = rot / 2;
  for (int p = lane; p < half; p += 32) {
    const float2 sc = angles ? angles[p] : rope_angle(pos, p, theta, rot);
    const float sn = sc.x, cs = sc.y;
    const int i1 = neox ? p : 2 * p, i2 = neox ? p + half : 2 * p + 1;
    const float x1 = hv[i1], x2 = hv[i2];
    const float y1 = x1 * cs - x2 * sn, y2 = x2 * cs + x1 * sn;
    v[i1] = y1;
    v[i2] = y2;
    if (out) {
      out[i1] = __float2bfloat16(y1);
      out[i2] = __float2bfloat16(y2);
    }
  }
  for (int c = rot + lane; c < head_dim; c += 32) {  // past the rotary dims: normalised only
    v[c] = hv[c];
    if (out) out[c] = __float2bfloat16(hv[c]);
  }
}

}  // namespace folio::kernels::ops::detail
