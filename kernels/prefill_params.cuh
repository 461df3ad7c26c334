// Launch parameters shared by the prefill kernels (flash_prefill.cu and the
// sm_90a variant in flash_prefill_sm90.cu).
#pragma once

#include <cstdint>

#include "kernels/attention_kernels.hpp"

namespace folio::kernels::detail {

struct PrefillParams {
  const __nv_bfloat16* q;
  __nv_bfloat16* o;
  int64_t q_stride, o_stride;
  int64_t n_queries, q_offset, n_keys;
  int n_heads, n_kv_heads, group;
  float scale_log2;
  PagedKv kv;
  DevicePlan plan;
  int n_query_blocks, tiles_per_row;
};

// Defined in flash_prefill_sm90.cu for head dims 64 and 128; 128 rows per CTA
// (256 for variant 3).
// variant 0: Q in registers, S of the next block overlapped with P V (v3);
// 1: Q from shared memory, 2 CTAs per SM (v2); 2: as 1 with 1 CTA per SM;
// 3: as 1 with 4 warpgroups (256 rows per CTA), 3 K/V stages, 1 CTA per SM.
// True when the sm_90a kernels were built and this device can run them.
bool sm90_kernels_available();

template <int kD>
cudaError_t launch_prefill_sm90(const PrefillParams& p, int64_t ctas, int variant, cudaStream_t stream);

// Defined in flash_prefill_ws.cu: the warp-specialised sm_90a kernel, 128 rows per CTA.
template <int kD>
cudaError_t launch_prefill_ws(const PrefillParams& p, int64_t ctas, cudaStream_t stream);

}  // namespace folio::kernels::detail
