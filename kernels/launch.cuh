// One kernel launch, optionally programmatic (programmatic dependent launch,
// sm_90+): the kernel may then be scheduled while the kernel before it in the
// stream still runs, so the launch latency between small decode kernels
// overlaps the tail of the previous one. Such a kernel must call griddep_wait
// (mma_common.cuh) in every CTA before its first global read or write, and
// should call griddep_launch_dependents once its main work is issued. The
// caller asks for it only on sm_90+ devices; stream capture records it as a
// programmatic graph edge. After a memset or memcpy the launch is an ordinary
// one (the edge needs a kernel before it).
#pragma once

#include <utility>

#include <cuda_runtime.h>

namespace folio::kernels::detail {

template <class... Params, class... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   bool programmatic, Args&&... args) {
  cudaLaunchAttribute attr = {};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = &attr;
  cfg.numAttrs = programmatic ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

}  // namespace folio::kernels::detail
