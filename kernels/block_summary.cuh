// The block summary of one channel: the mean of a KV block's keys, summed key by
// key in position order. summarize_blocks (planner.cu) and the fused decode
// write (kv_store.cu) both call it, so the cache holds the same bits whichever
// path wrote it.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>

namespace folio::kernels::detail {

// keys: channel c of the block's first key; rows keys, row_stride elements apart.
__device__ __forceinline__ __nv_bfloat16 block_key_mean(const __nv_bfloat16* keys, int rows, int64_t row_stride) {
  float sum = 0.0f;
  for (int t = 0; t < rows; ++t) sum += __bfloat162float(keys[t * row_stride]);
  return __float2bfloat16(sum / float(rows));
}

}  // namespace folio::kernels::detail
