/**
 * gemm-nm: Y[M,N] = X[M,K]·Wᵀ for 2:4 structured W through cuSPARSELt (the sparse tensor
 * cores). The weight is the structured operand A (N×K row-major, 2 of every 4 along K kept);
 * X enters as the column-major K×M operand B and Y leaves as the column-major N×M result,
 * i.e. exactly the row-major layouts the runner uses. tesa_init verifies the 2:4 pattern
 * (cusparseLtSpMMAPruneCheck), compresses the weight and lets cuSPARSELt pick its fastest
 * algorithm (cusparseLtMatmulSearch) once; tesa_run is one cusparseLtMatmul. The library is
 * the one in the machine's Python environment (found at build time, linked with its rpath).
 */
import { KERNEL_ABI, PRELUDE, tesaFreeC, type GemmShape } from './cuda-prelude.js';

/**
 * 'token-major': X and Y row-major M×K / M×N (the runner's default). 'feature-major': Xᵀ and
 * Yᵀ row-major (K×M, N×M), the layout of the gemm-gather kernels; tesa_layout() says which.
 */
export type NmLayout = 'token-major' | 'feature-major';

export function lowerGemmNm(shape: GemmShape, layout: NmLayout = 'token-major'): string {
  const { M, N, K } = shape;
  const fm = layout === 'feature-major';
  return `// tesa gemm-nm: Y[${M},${N}] = X[${M},${K}]·Wᵀ, W 2:4 structured, through cuSPARSELt.
${KERNEL_ABI}
${PRELUDE}#include <cusparseLt.h>

#define M_ ${M}
#define N_ ${N}
#define K_ ${K}

#define TESA_CS(x)                                                                   \\
  do {                                                                               \\
    cusparseStatus_t s_ = (x);                                                       \\
    if (s_ != CUSPARSE_STATUS_SUCCESS) {                                             \\
      fprintf(stderr, "tesa kernel: %s failed: cuSPARSELt status %d\\n", #x, (int)s_); \\
      return 1;                                                                      \\
    }                                                                                \\
  } while (0)

// One cuSPARSELt handle per library, shared by every layer of this shape (a model holds many
// such layers; a handle is heavy and not per-matrix state).
static cusparseLtHandle_t g_handle;
static int g_users = 0;

struct State {
  cusparseLtHandle_t handle;
  cusparseLtMatDescriptor_t a, b, c;
  cusparseLtMatmulDescriptor_t matmul;
  cusparseLtMatmulAlgSelection_t alg;
  cusparseLtMatmulPlan_t plan;
  void *compressed, *workspace;
};

static const float ONE = 1.f, ZERO = 0.f;

extern "C" int tesa_layout(void) { return ${fm ? 1 : 0}; }

extern "C" int tesa_init(const __half *w, void **state) {
  State *st = (State *)calloc(1, sizeof(State));
  __half *dW = nullptr, *dX = nullptr, *dY = nullptr;
  int *dValid = nullptr;
  TESA_CK(cudaMalloc(&dW, (size_t)N_ * K_ * sizeof(__half)));
  TESA_CK(cudaMalloc(&dX, (size_t)M_ * K_ * sizeof(__half)));
  TESA_CK(cudaMalloc(&dY, (size_t)M_ * N_ * sizeof(__half)));
  TESA_CK(cudaMalloc(&dValid, sizeof(int)));
  TESA_CK(cudaMemcpy(dW, w, (size_t)N_ * K_ * sizeof(__half), cudaMemcpyHostToDevice));
  TESA_CK(cudaMemset(dX, 0, (size_t)M_ * K_ * sizeof(__half)));
  if (g_users == 0) TESA_CS(cusparseLtInit(&g_handle));
  g_users++;
  st->handle = g_handle;
  TESA_CS(cusparseLtStructuredDescriptorInit(&st->handle, &st->a, N_, K_, K_, 16, CUDA_R_16F, CUSPARSE_ORDER_ROW, CUSPARSELT_SPARSITY_50_PERCENT));
  TESA_CS(cusparseLtDenseDescriptorInit(&st->handle, &st->b, K_, M_, ${fm ? 'M_' : 'K_'}, 16, CUDA_R_16F, ${fm ? 'CUSPARSE_ORDER_ROW' : 'CUSPARSE_ORDER_COL'}));
  TESA_CS(cusparseLtDenseDescriptorInit(&st->handle, &st->c, N_, M_, ${fm ? 'M_' : 'N_'}, 16, CUDA_R_16F, ${fm ? 'CUSPARSE_ORDER_ROW' : 'CUSPARSE_ORDER_COL'}));
  TESA_CS(cusparseLtMatmulDescriptorInit(&st->handle, &st->matmul, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &st->a, &st->b, &st->c, &st->c, CUSPARSE_COMPUTE_32F));
  TESA_CS(cusparseLtMatmulAlgSelectionInit(&st->handle, &st->alg, &st->matmul, CUSPARSELT_MATMUL_ALG_DEFAULT));
  TESA_CS(cusparseLtMatmulPlanInit(&st->handle, &st->plan, &st->matmul, &st->alg));
  // The check writes only when it finds a violation: start from "valid".
  TESA_CK(cudaMemset(dValid, 0, sizeof(int)));
  TESA_CS(cusparseLtSpMMAPruneCheck(&st->handle, &st->matmul, dW, dValid, 0));
  TESA_CK(cudaGetLastError());
  TESA_CK(cudaDeviceSynchronize());
  int valid = 1;
  TESA_CK(cudaMemcpy(&valid, dValid, sizeof(int), cudaMemcpyDeviceToHost));
  if (valid != 0) {
    fprintf(stderr, "tesa kernel: the weight is not 2:4 along K\\n");
    return 3;
  }
  size_t compressedSize = 0, compressBufferSize = 0, workspaceSize = 0;
  TESA_CS(cusparseLtSpMMACompressedSize(&st->handle, &st->plan, &compressedSize, &compressBufferSize));
  void *compressBuffer = nullptr;
  TESA_CK(cudaMalloc(&st->compressed, compressedSize));
  if (compressBufferSize) TESA_CK(cudaMalloc(&compressBuffer, compressBufferSize));
  TESA_CS(cusparseLtSpMMACompress(&st->handle, &st->plan, dW, st->compressed, compressBuffer, 0));
  TESA_CS(cusparseLtMatmulGetWorkspace(&st->handle, &st->plan, &workspaceSize));
  if (workspaceSize) TESA_CK(cudaMalloc(&st->workspace, workspaceSize));
  cudaStream_t s0 = 0;
  TESA_CS(cusparseLtMatmulSearch(&st->handle, &st->plan, &ONE, st->compressed, dX, &ZERO, dY, dY, st->workspace, &s0, 1));
  // The search may pick an algorithm with a larger workspace.
  size_t after = 0;
  TESA_CS(cusparseLtMatmulGetWorkspace(&st->handle, &st->plan, &after));
  if (after > workspaceSize) {
    if (st->workspace) cudaFree(st->workspace);
    TESA_CK(cudaMalloc(&st->workspace, after));
  }
  TESA_CK(cudaDeviceSynchronize());
  cudaFree(dW);
  cudaFree(dX);
  cudaFree(dY);
  cudaFree(dValid);
  if (compressBuffer) cudaFree(compressBuffer);
  *state = st;
  return 0;
}

extern "C" int tesa_run(void *state, const __half *x, __half *y, cudaStream_t stream) {
  State *st = (State *)state;
  TESA_CS(cusparseLtMatmul(&st->handle, &st->plan, &ONE, st->compressed, x, &ZERO, y, y, st->workspace, &stream, 1));
  return 0;
}

${tesaFreeC(['cusparseLtMatmulPlanDestroy(&st->plan);', 'cusparseLtMatDescriptorDestroy(&st->a);', 'cusparseLtMatDescriptorDestroy(&st->b);', 'cusparseLtMatDescriptorDestroy(&st->c);', 'if (--g_users == 0) cusparseLtDestroy(&g_handle);', 'cudaFree(st->compressed);', 'if (st->workspace) cudaFree(st->workspace);'])}`;
}
