// Device helpers shared by the attention kernels: cp.async, ldmatrix, mma.sync
// m16n8k16 (bf16 in, f32 accumulate) and the shared-memory swizzle.
//
// Fragment layouts (PTX ISA, mma.m16n8k16): lane = 4 * group + quad.
//   A 16x16: a0 (row g, cols 2q..2q+1), a1 (row g+8), a2 (row g, cols 2q+8..),
//            a3 (row g+8, cols 2q+8..)
//   B 16x8:  b0 (rows 2q..2q+1, col g), b1 (rows 2q+8.., col g)
//   C 16x8:  c0,c1 (row g, cols 2q, 2q+1), c2,c3 (row g+8, same cols)
// The C layout of two adjacent n-tiles is the A layout of one k16 step, so
// softmax probabilities go from the QK^T accumulators to the PV product in
// registers.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>

namespace folio::kernels::detail {

// Rows of `kD` bf16 in shared memory are 16-byte chunks; chunk c of row r lives
// at chunk c ^ (r & 7), so the 8 rows an ldmatrix reads hit 8 different bank
// groups and cp.async writes stay 16-byte aligned. Needs kD >= 64.
template <int kD>
__device__ __forceinline__ uint32_t swizzle(int row, int chunk) {
  return uint32_t(row * kD + ((chunk ^ (row & 7)) << 3));  // element offset
}

// Programmatic dependent launch (sm_90+). A kernel launched with
// cudaLaunchAttributeProgrammaticStreamSerialization may be scheduled while the
// kernel before it in the stream still runs; griddep_wait blocks until that
// kernel has completed and its writes are visible (a no-op for a normal launch).
// Every kernel launched so must call it in every CTA before its first global
// read or write, so that its completion still implies its predecessors'.
// griddep_launch_dependents lets the next such kernel be scheduled early.
__device__ __forceinline__ void griddep_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void griddep_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Asks L2 to fetch [p, p + bytes) (p 16-byte aligned, bytes a multiple of 16).
// Only a hint, with no result to wait for: a kernel may issue it before
// griddep_wait for data that no kernel writes (weights).
__device__ __forceinline__ void prefetch_l2(const void* p, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(p), "r"(bytes) : "memory");
#endif
}

// The number of multiprocessor ids (%nsmid): at least the multiprocessor count.
__device__ __forceinline__ unsigned sm_id_count() {
  unsigned n;
  asm("mov.u32 %0, %%nsmid;\n" : "=r"(n));
  return n;
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}

// 16-byte async copy global -> shared; src_bytes = 0 writes zeros (rows past the end).
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// c += a * b
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// 2^x on the special-function unit (ex2.approx.ftz: ~2 ulp, -inf -> 0). exp2f
// adds range handling around the same instruction that softmax does not need.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// Copies one 64-token block of K or V (head `kv_head`, logical block `block`)
// into a swizzled [64][kD] tile; keys at positions >= n_keys become zeros.
template <int kD, int kThreads>
__device__ __forceinline__ void load_kv_block(uint32_t tile, const __nv_bfloat16* base, int64_t page,
                                              int64_t page_stride, int64_t row_stride, int block, int64_t n_keys,
                                              int tid) {
  constexpr int kChunks = kD / 8;
  const __nv_bfloat16* src0 = base + page * page_stride;
  const int64_t first = int64_t(block) * 64;
#pragma unroll
  for (int i = tid; i < 64 * kChunks; i += kThreads) {
    const int row = i / kChunks, chunk = i % kChunks;
    const bool valid = first + row < n_keys;
    const __nv_bfloat16* src = valid ? src0 + row * row_stride + chunk * 8 : base;
    cp_async_16(tile + swizzle<kD>(row, chunk) * 2, src, valid ? 16 : 0);
  }
}

}  // namespace folio::kernels::detail
