/**
 * Pieces every generated CUDA kernel library shares: the C ABI the runner calls, error
 * checking, and the cp.async helpers. Kept as small templates so the emitted source reads
 * like hand-written CUDA.
 */

/** The library ABI (see runner.cu): shapes are baked in, so only pointers cross it. */
export const KERNEL_ABI = `// ABI (extern "C"): tesa_init packs/uploads the masked dense weight; tesa_run computes
// Y[M,N] = X[M,K]·Wᵀ on the given stream; tesa_free releases what tesa_init made.`;

export const PRELUDE = `#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#define TESA_CK(x)                                                                        \\
  do {                                                                                    \\
    cudaError_t e_ = (x);                                                                 \\
    if (e_ != cudaSuccess) {                                                              \\
      fprintf(stderr, "tesa kernel: %s failed: %s\\n", #x, cudaGetErrorString(e_));        \\
      return 1;                                                                           \\
    }                                                                                     \\
  } while (0)
`;

export const CP_ASYNC = `static __device__ __forceinline__ void cp_async16(void *smem, const void *gmem) {
  unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\\n" ::"r"(s), "l"(gmem));
}
static __device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\\n" ::); }
template <int N>
static __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\\n" ::"n"(N)); }
`;

/** `{1, 2, 3}` wrapped at ~100 columns so long baked lists stay readable. */
export function cArray(values: readonly number[]): string {
  if (values.length === 0) return '{0}';
  const lines: string[] = [];
  let cur = '';
  for (const v of values) {
    const s = `${v}, `;
    if (cur.length + s.length > 100) {
      lines.push(cur.trimEnd());
      cur = '';
    }
    cur += s;
  }
  if (cur) lines.push(cur.trimEnd());
  return `{\n  ${lines.join('\n  ')}\n}`;
}

export interface GemmShape {
  M: number;
  N: number;
  K: number;
}

/** `tesa_free`: releases what tesa_init made (`releases`, one C statement each), then the state. */
export function tesaFreeC(releases: readonly string[]): string {
  return `extern "C" void tesa_free(void *state) {
  State *st = (State *)state;
  if (!st) return;
${releases.map((r) => `  ${r}\n`).join('')}  free(st);
}
`;
}
