/**
 * gemm-block: Y[M,N] = X[M,K]·Wᵀ for W block-sparse in R×C blocks (R, C multiples of 16),
 * on tensor cores (wmma 16×16×16, fp16 in, fp32 accumulate). Each CTA computes a BM×R tile
 * of Y for one block row of W and loops only over that row's kept K-blocks, whose indices are
 * baked in as constant arrays; X tiles and W blocks stream through a 3-stage cp.async
 * pipeline. tesa_init packs the kept blocks contiguously from the masked dense weight.
 */
import { TesaError } from '../../../src/errors.js';
import type { BlockStructure } from './structure.js';
import { cArray, CP_ASYNC, KERNEL_ABI, PRELUDE, tesaFreeC, type GemmShape } from './cuda-prelude.js';

export function blockWarpsN(R: number): number {
  return R >= 64 && R % 32 === 0 ? 2 : 1;
}

/** Tuning knobs; every combination computes the same result. */
export interface BlockKernelOptions {
  /** Rows of X (tokens) per CTA. */
  bm: number;
  /** Warps along M (each warp computes bm/warpsM rows). */
  warpsM: number;
  /** cp.async pipeline depth. */
  stages: number;
  /** Kept blocks loaded and multiplied per pipeline stage. */
  blocksPerStage: number;
  /**
   * Block rows one CTA walks through in a row (1: one CTA per block row). With more, the
   * CTA's kept blocks form one contiguous run of COL_IDX, the cp.async pipeline runs on
   * across block-row boundaries, and each warp stores its finished tile itself: fewer,
   * longer CTAs whose loads stay in flight (needs blocksPerStage 1).
   */
  rowsPerCta?: number;
}

export const DEFAULT_BLOCK_OPTIONS: BlockKernelOptions = { bm: 128, warpsM: 4, stages: 3, blocksPerStage: 1 };

export function lowerGemmBlock(shape: GemmShape, s: BlockStructure, o: BlockKernelOptions = DEFAULT_BLOCK_OPTIONS): string {
  const { M, N, K } = shape;
  const rb = o.rowsPerCta ?? 1;
  if (rb > 1 && o.blocksPerStage !== 1) throw new TesaError('INTERNAL', 'block kernel: rowsPerCta > 1 needs blocksPerStage 1', 'choose other tuning options');
  if ((o.bm / o.warpsM) % 16 !== 0) throw new TesaError('INTERNAL', `block kernel: bm ${o.bm} / warpsM ${o.warpsM} is not a multiple of 16`, 'choose other tuning options');
  const { R, C } = s;
  if (R % 16 !== 0 || C % 16 !== 0) throw new TesaError('UNSUPPORTED', `block ${R}x${C}: the CUDA kernels need R and C multiples of 16`, 'use block:16x16, block:32x32, …');
  if (s.N !== N || s.K !== K) throw new TesaError('INTERNAL', `block structure ${s.N}×${s.K} does not match the GEMM ${N}×${K}`, 'lower with the weight the structure came from');
  if (K % 8 !== 0 || N % 8 !== 0) throw new TesaError('UNSUPPORTED', `GEMM ${M}x${N}x${K}: N and K must be multiples of 8 for 16-byte loads`, 'pad the layer');
  const kept = s.colIdx.length;
  const total = (N / R) * (K / C);
  return `// tesa gemm-block: Y[${M},${N}] = X[${M},${K}]·Wᵀ, W block-sparse ${R}x${C}: ${kept} of ${total} blocks kept.
// Tuning: BM ${o.bm}, ${o.warpsM} warps along M, ${o.stages} stages, ${o.blocksPerStage} block(s) per stage, ${rb} block row(s) per CTA.
${KERNEL_ABI}
${PRELUDE}#include <mma.h>
using namespace nvcuda;

#define M_ ${M}
#define N_ ${N}
#define K_ ${K}
#define R_ ${R}
#define C_ ${C}
#define NBLOCKS ${kept}
#define BM ${o.bm}
#define WARPS_M ${o.warpsM}
#define WARPS_N ${blockWarpsN(R)}
#define WTM (BM / WARPS_M)
#define WTN (R_ / WARPS_N)
#define FM (WTM / 16)
#define FN (WTN / 16)
#define STAGES ${o.stages}
#define BPS ${o.blocksPerStage}
#define LDA (C_ + 8)
#define LDC (R_ + 4)
#define THREADS (32 * WARPS_M * WARPS_N)
#define SMEM_PIPE (STAGES * BPS * (BM + R_) * LDA * 2)
#define SMEM_EPI (BM * LDC * 4)
#define RB ${rb}
#define LDS (WTN + 4)
#if RB > 1
#define SMEM_BYTES (SMEM_PIPE + WARPS_M * WARPS_N * WTM * LDS * 4)
#else
#define SMEM_BYTES (SMEM_PIPE > SMEM_EPI ? SMEM_PIPE : SMEM_EPI)
#endif

// Block row b keeps K-blocks COL_IDX[ROW_PTR[b] .. ROW_PTR[b+1]).
__constant__ int ROW_PTR[${s.rowPtr.length}] = ${cArray(s.rowPtr)};
__constant__ unsigned short COL_IDX[${Math.max(1, kept)}] = ${cArray(s.colIdx)};
static const int ROW_PTR_H[${s.rowPtr.length}] = ${cArray(s.rowPtr)};
static const unsigned short COL_IDX_H[${Math.max(1, kept)}] = ${cArray(s.colIdx)};

${CP_ASYNC}
// One kept block: X[m0:m0+BM, k-block] into sA, the packed W block j into sB.
static __device__ __forceinline__ void load_block(half *sA, half *sB, const half *X, const half *Wp, int m0, int j) {
  const int k0 = COL_IDX[j] * C_;
  for (int c = threadIdx.x; c < BM * C_ / 8; c += THREADS) {
    const int r = c / (C_ / 8), q = c % (C_ / 8);
    const int gr = min(m0 + r, M_ - 1);
    cp_async16(sA + r * LDA + q * 8, X + (size_t)gr * K_ + k0 + q * 8);
  }
  const half *blk = Wp + (size_t)j * R_ * C_;
  for (int c = threadIdx.x; c < R_ * C_ / 8; c += THREADS) {
    const int r = c / (C_ / 8), q = c % (C_ / 8);
    cp_async16(sB + r * LDA + q * 8, blk + r * C_ + q * 8);
  }
}

#define STAGE_A (BPS * BM * LDA)
#define STAGE_B (BPS * R_ * LDA)
// Pipeline step g covers kept blocks jb + g·BPS … (at most BPS of them, fewer at the end).
static __device__ __forceinline__ void load_stage(half *sA, half *sB, const half *X, const half *Wp, int m0, int jb, int je, int g) {
#pragma unroll
  for (int u = 0; u < BPS; u++) {
    const int j = jb + g * BPS + u;
    if (j < je) load_block(sA + u * BM * LDA, sB + u * R_ * LDA, X, Wp, m0, j);
  }
}

__global__ void __launch_bounds__(THREADS) gemm_block(const half *__restrict__ X, const half *__restrict__ Wp, half *__restrict__ Y) {
  extern __shared__ __align__(128) unsigned char smem[];
  half *sA = (half *)smem;
  half *sB = sA + STAGES * STAGE_A;
  float *sC = (float *)smem;
  const int m0 = blockIdx.x * BM;
  const int br = blockIdx.y;
  const int jb = ROW_PTR[br], je = ROW_PTR[br + 1];
  const int steps = (je - jb + BPS - 1) / BPS;
  const int warp = threadIdx.x / 32;
  const int wm = warp % WARPS_M, wn = warp / WARPS_M;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; i++)
#pragma unroll
    for (int j = 0; j < FN; j++) wmma::fill_fragment(acc[i][j], 0.f);

#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < steps) load_stage(sA + s * STAGE_A, sB + s * STAGE_B, X, Wp, m0, jb, je, s);
    cp_async_commit();
  }
  for (int i = 0; i < steps; i++) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    const int nx = i + STAGES - 1;
    if (nx < steps) load_stage(sA + (nx % STAGES) * STAGE_A, sB + (nx % STAGES) * STAGE_B, X, Wp, m0, jb, je, nx);
    cp_async_commit();
    const int nb = min(BPS, je - jb - i * BPS);
    for (int u = 0; u < nb; u++) {
    const half *a = sA + (i % STAGES) * STAGE_A + u * BM * LDA + wm * WTM * LDA;
    const half *b = sB + (i % STAGES) * STAGE_B + u * R_ * LDA + wn * WTN * LDA;
#pragma unroll
    for (int kk = 0; kk < C_; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> fb[FN];
#pragma unroll
      for (int f = 0; f < FM; f++) wmma::load_matrix_sync(fa[f], a + f * 16 * LDA + kk, LDA);
#pragma unroll
      for (int f = 0; f < FN; f++) wmma::load_matrix_sync(fb[f], b + f * 16 * LDA + kk, LDA);
#pragma unroll
      for (int x = 0; x < FM; x++)
#pragma unroll
        for (int y = 0; y < FN; y++) wmma::mma_sync(acc[x][y], fa[x], fb[y], acc[x][y]);
    }
    }
  }
  cp_async_wait<0>();
  __syncthreads();
#pragma unroll
  for (int x = 0; x < FM; x++)
#pragma unroll
    for (int y = 0; y < FN; y++)
      wmma::store_matrix_sync(sC + (wm * WTM + x * 16) * LDC + wn * WTN + y * 16, acc[x][y], LDC, wmma::mem_row_major);
  __syncthreads();
  for (int c = threadIdx.x; c < BM * R_ / 8; c += THREADS) {
    const int r = c / (R_ / 8), q = c % (R_ / 8);
    if (m0 + r >= M_) continue;
    const float *src = sC + r * LDC + q * 8;
    __align__(16) half2 h[4];
#pragma unroll
    for (int u = 0; u < 4; u++) h[u] = __floats2half2_rn(src[2 * u], src[2 * u + 1]);
    *(uint4 *)(Y + (size_t)(m0 + r) * N_ + br * R_ + q * 8) = *(const uint4 *)h;
  }
}

#if RB > 1
// The warp's WTM×WTN piece of block row br, through its own staging area (no CTA barrier).
static __device__ __forceinline__ void warp_store(wmma::fragment<wmma::accumulator, 16, 16, 16, float> (&acc)[FM][FN], float *stg, half *Y, int m0, int br, int wm, int wn) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int x = 0; x < FM; x++)
#pragma unroll
    for (int y = 0; y < FN; y++) {
      wmma::store_matrix_sync(stg + x * 16 * LDS + y * 16, acc[x][y], LDS, wmma::mem_row_major);
      wmma::fill_fragment(acc[x][y], 0.f);
    }
  __syncwarp();
  for (int e = lane; e < WTM * WTN / 8; e += 32) {
    const int r = e / (WTN / 8), q = e % (WTN / 8);
    const int row = m0 + wm * WTM + r;
    if (row >= M_) continue;
    const float *src = stg + r * LDS + q * 8;
    __align__(16) half2 h[4];
#pragma unroll
    for (int u = 0; u < 4; u++) h[u] = __floats2half2_rn(src[2 * u], src[2 * u + 1]);
    *(uint4 *)(Y + (size_t)row * N_ + br * R_ + wn * WTN + q * 8) = *(const uint4 *)h;
  }
  __syncwarp();
}

__global__ void __launch_bounds__(THREADS) gemm_block_rows(const half *__restrict__ X, const half *__restrict__ Wp, half *__restrict__ Y) {
  extern __shared__ __align__(128) unsigned char smem[];
  half *sA = (half *)smem;
  half *sB = sA + STAGES * STAGE_A;
  const int warp = threadIdx.x / 32;
  const int wm = warp % WARPS_M, wn = warp / WARPS_M;
  float *stg = (float *)(smem + SMEM_PIPE) + warp * WTM * LDS;
  const int m0 = blockIdx.x * BM;
  const int b0 = blockIdx.y * RB;
  const int b1 = min(b0 + RB, N_ / R_);
  // Block rows b0..b1-1 keep the contiguous run COL_IDX[jb..je).
  const int jb = ROW_PTR[b0], je = ROW_PTR[b1];
  const int steps = je - jb;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; i++)
#pragma unroll
    for (int j = 0; j < FN; j++) wmma::fill_fragment(acc[i][j], 0.f);

#pragma unroll
  for (int s = 0; s < STAGES - 1; s++) {
    if (s < steps) load_block(sA + s * BM * LDA, sB + s * R_ * LDA, X, Wp, m0, jb + s);
    cp_async_commit();
  }
  int cbr = b0;
  for (int i = 0; i < steps; i++) {
    // Finish every block row that ends before kept block jb + i (empty rows store zeros).
    while (jb + i >= ROW_PTR[cbr + 1]) warp_store(acc, stg, Y, m0, cbr++, wm, wn);
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    const int nx = i + STAGES - 1;
    if (nx < steps) load_block(sA + (nx % STAGES) * BM * LDA, sB + (nx % STAGES) * R_ * LDA, X, Wp, m0, jb + nx);
    cp_async_commit();
    const half *a = sA + (i % STAGES) * BM * LDA + wm * WTM * LDA;
    const half *b = sB + (i % STAGES) * R_ * LDA + wn * WTN * LDA;
#pragma unroll
    for (int kk = 0; kk < C_; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> fb[FN];
#pragma unroll
      for (int f = 0; f < FM; f++) wmma::load_matrix_sync(fa[f], a + f * 16 * LDA + kk, LDA);
#pragma unroll
      for (int f = 0; f < FN; f++) wmma::load_matrix_sync(fb[f], b + f * 16 * LDA + kk, LDA);
#pragma unroll
      for (int x = 0; x < FM; x++)
#pragma unroll
        for (int y = 0; y < FN; y++) wmma::mma_sync(acc[x][y], fa[x], fb[y], acc[x][y]);
    }
  }
  cp_async_wait<0>();
  while (cbr < b1) warp_store(acc, stg, Y, m0, cbr++, wm, wn);
}
#endif

struct State {
  half *wp;
};

extern "C" int tesa_init(const __half *w, void **state) {
  // Kept blocks, block row after block row, each R×C row-major: the order the kernel reads them.
  const size_t count = (size_t)(NBLOCKS > 0 ? NBLOCKS : 1) * R_ * C_;
  __half *packed = (__half *)calloc(count, sizeof(__half));
  if (!packed) return 2;
  for (int b = 0; b < N_ / R_; b++)
    for (int j = ROW_PTR_H[b]; j < ROW_PTR_H[b + 1]; j++)
      for (int r = 0; r < R_; r++)
        memcpy(packed + (size_t)j * R_ * C_ + r * C_, w + (size_t)(b * R_ + r) * K_ + COL_IDX_H[j] * C_, C_ * sizeof(__half));
  State *st = (State *)calloc(1, sizeof(State));
  TESA_CK(cudaMalloc(&st->wp, count * sizeof(__half)));
  TESA_CK(cudaMemcpy(st->wp, packed, count * sizeof(__half), cudaMemcpyHostToDevice));
  free(packed);
#if RB > 1
  TESA_CK(cudaFuncSetAttribute(gemm_block_rows, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_BYTES));
#else
  TESA_CK(cudaFuncSetAttribute(gemm_block, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_BYTES));
#endif
  *state = st;
  return 0;
}

extern "C" int tesa_run(void *state, const __half *x, __half *y, cudaStream_t stream) {
  State *st = (State *)state;
#if RB > 1
  dim3 grid((M_ + BM - 1) / BM, (N_ / R_ + RB - 1) / RB);
  gemm_block_rows<<<grid, THREADS, SMEM_BYTES, stream>>>((const half *)x, st->wp, (half *)y);
#else
  dim3 grid((M_ + BM - 1) / BM, N_ / R_);
  gemm_block<<<grid, THREADS, SMEM_BYTES, stream>>>((const half *)x, st->wp, (half *)y);
#endif
  TESA_CK(cudaGetLastError());
  return 0;
}

${tesaFreeC(['cudaFree(st->wp);'])}`;
}
