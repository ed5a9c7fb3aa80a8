/**
 * gemm-tile: Y[M,N] = X[M,K]·Wᵀ for tile-wise sparsity (tile:G). Each tile is a dense GEMM
 * over its own kept input features: Y[:, rows_t] = X[:, ks_t]·W[rows_t, ks_t]ᵀ. One CTA
 * computes a BM×BN block of one tile (BN = min(G, 128) output features), gathering the tile's
 * X columns in chunks of KC through registers (prefetched while the tensor cores work on the
 * previous chunk) and streaming the tile's packed weight through cp.async. The per-tile
 * row and column lists are baked in; features pruned whole are written as zeros by extra CTAs.
 */
import { TesaError } from '../../../src/errors.js';
import type { TileStructure } from './structure.js';
import { cArray, CP_ASYNC, KERNEL_ABI, PRELUDE, tesaFreeC, type GemmShape } from './cuda-prelude.js';

export const TILE_BM = 128;
export const TILE_KC = 32;

/** The CTA tiles: each tile of G rows cut into pieces of at most 128 rows sharing its column list. */
export interface CtaTile {
  rows: number[];
  ks: number[];
}

export function tileCtaWidth(G: number): number {
  if (G % 32 !== 0) throw new TesaError('UNSUPPORTED', `tile:${G}: the CUDA kernel needs G a multiple of 32`, 'use tile:32, tile:64, tile:128, …');
  return Math.min(G, 128);
}

export function ctaTiles(s: TileStructure): CtaTile[] {
  const bn = tileCtaWidth(s.G);
  const out: CtaTile[] = [];
  for (const t of s.tiles) for (let i = 0; i < t.rows.length; i += bn) out.push({ rows: t.rows.slice(i, i + bn), ks: t.ks });
  return out;
}

/**
 * How the kernel reads the tile's X columns: 'gather' loads them from row-major X two bytes
 * at a time; 'transposed' first transposes X (one extra pass, included in tesa_run) so each
 * kept column is a contiguous row of Xᵀ that cp.async moves 16 bytes at a time.
 */
export interface TileKernelOptions {
  xLayout: 'gather' | 'transposed';
}

export const DEFAULT_TILE_OPTIONS: TileKernelOptions = { xLayout: 'gather' };

export function lowerGemmTile(shape: GemmShape, s: TileStructure, o: TileKernelOptions = DEFAULT_TILE_OPTIONS): string {
  const tr = o.xLayout === 'transposed';
  if (tr && (shape.K % 32 !== 0 || shape.M % 8 !== 0)) throw new TesaError('UNSUPPORTED', `tile kernel with transposed X needs K a multiple of 32 and M of 8 (got ${shape.M}x${shape.N}x${shape.K})`, "use xLayout 'gather'");
  const { M, N, K } = shape;
  if (s.N !== N || s.K !== K) throw new TesaError('INTERNAL', `tile structure ${s.N}×${s.K} does not match the GEMM ${N}×${K}`, 'lower with the weight the structure came from');
  const BN = tileCtaWidth(s.G);
  const ctas = ctaTiles(s);
  const kOff = [0];
  const ks: number[] = [];
  const rows: number[] = [];
  for (const c of ctas) {
    // Pad each list to a whole chunk with column 0; the packed weight is zero there.
    const padded = Math.ceil(c.ks.length / TILE_KC) * TILE_KC;
    for (let i = 0; i < padded; i++) ks.push(i < c.ks.length ? c.ks[i]! : 0);
    kOff.push(ks.length);
    for (let i = 0; i < BN; i++) rows.push(i < c.rows.length ? c.rows[i]! : -1);
  }
  const nz = s.zeroRows.length;
  const zeroCtas = Math.ceil(nz / BN);
  let macs = 0;
  for (const c of ctas) macs += c.rows.length * c.ks.length;
  return `// tesa gemm-tile: Y[${M},${N}] = X[${M},${K}]·Wᵀ, tile:${s.G}: ${s.tiles.length} tiles (${ctas.length} CTA tiles of ${BN} rows),
// ${nz} output features pruned whole, ${((100 * macs) / (N * K)).toFixed(1)}% of the dense multiply-adds.
// X layout: ${tr ? 'transposed by tesa_run (Xᵀ rows are the kept columns, loaded with cp.async)' : 'gathered from row-major X'}.
${KERNEL_ABI}
${PRELUDE}#include <mma.h>
using namespace nvcuda;

#define M_ ${M}
#define N_ ${N}
#define K_ ${K}
#define BM ${TILE_BM}
#define BN ${BN}
#define KC ${TILE_KC}
#define NCT ${ctas.length}
#define NZ ${nz}
#define ZERO_CTAS ${zeroCtas}
#define KS_LEN ${Math.max(1, ks.length)}
#define WARPS_M 2
#define WARPS_N (BN / 32)
#define WTM (BM / WARPS_M)
#define WTN 32
#define FM (WTM / 16)
#define FN (WTN / 16)
#define THREADS (32 * WARPS_M * WARPS_N)
#define LDA (KC + 8)
#define LDAT (BM + 8)
#define X_TRANSPOSED ${tr ? 1 : 0}
#define LDC (BN + 4)
#define CHUNKS (BM * KC / 8 / THREADS)
#if X_TRANSPOSED
#define A_STAGE (KC * LDAT)
#else
#define A_STAGE (BM * LDA)
#endif
#define SMEM_PIPE (2 * (A_STAGE + BN * LDA) * 2)
#define SMEM_EPI (BM * LDC * 4)
#define SMEM_BYTES (SMEM_PIPE > SMEM_EPI ? SMEM_PIPE : SMEM_EPI)

// CTA tile t reads columns KS[K_OFF[t] .. K_OFF[t+1]) of X and writes columns ROWS[t*BN .. t*BN+BN) of Y (-1: none).
__constant__ int K_OFF[${kOff.length}] = ${cArray(kOff)};
__device__ const unsigned short KS[KS_LEN] = ${cArray(ks)};
__device__ const int ROWS[${Math.max(1, rows.length)}] = ${cArray(rows.length ? rows : [-1])};
__device__ const int ZROWS[${Math.max(1, nz)}] = ${cArray(s.zeroRows)};
static const int K_OFF_H[${kOff.length}] = ${cArray(kOff)};
// Unpadded list lengths: padding repeats column 0 of X, so the packed weight must be zero there.
static const int K_REAL_H[${Math.max(1, ctas.length)}] = ${cArray(ctas.map((c) => c.ks.length))};
static const unsigned short KS_H[KS_LEN] = ${cArray(ks)};
static const int ROWS_H[${Math.max(1, rows.length)}] = ${cArray(rows.length ? rows : [-1])};

${CP_ASYNC}
// X[m0:m0+BM, KS[kbase:kbase+KC]] into registers: CHUNKS runs of 8 gathered halves per thread.
static __device__ __forceinline__ void gather_x(uint4 *regs, const half *X, int m0, int kbase) {
#pragma unroll
  for (int i = 0; i < CHUNKS; i++) {
    const int c = threadIdx.x + i * THREADS;
    const int r = c / (KC / 8), q = c % (KC / 8);
    const half *row = X + (size_t)min(m0 + r, M_ - 1) * K_;
    __align__(16) half h[8];
#pragma unroll
    for (int u = 0; u < 8; u++) h[u] = row[__ldg(&KS[kbase + q * 8 + u])];
    regs[i] = *(const uint4 *)h;
  }
}

static __device__ __forceinline__ void store_x(half *sA, const uint4 *regs) {
#pragma unroll
  for (int i = 0; i < CHUNKS; i++) {
    const int c = threadIdx.x + i * THREADS;
    const int r = c / (KC / 8), q = c % (KC / 8);
    *(uint4 *)(sA + r * LDA + q * 8) = regs[i];
  }
}

// Xᵀ[KS[kbase:kbase+KC], m0:m0+BM] into sA (k-major: element (m, k) at k·LDAT + m).
static __device__ __forceinline__ void load_xt(half *sA, const half *XT, int m0, int kbase) {
  for (int c = threadIdx.x; c < KC * BM / 8; c += THREADS) {
    const int k = c / (BM / 8), q = c % (BM / 8);
    const int m = min(m0 + q * 8, M_ - 8);
    cp_async16(sA + k * LDAT + q * 8, XT + (size_t)__ldg(&KS[kbase + k]) * M_ + m);
  }
}

__global__ void transpose_x(const half *__restrict__ X, half *__restrict__ XT) {
  __shared__ half t[32][34];
  const int k0 = blockIdx.x * 32, m0 = blockIdx.y * 32;
  for (int i = threadIdx.y; i < 32; i += 8)
    if (m0 + i < M_) t[i][threadIdx.x] = X[(size_t)(m0 + i) * K_ + k0 + threadIdx.x];
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += 8)
    if (m0 + threadIdx.x < M_) XT[(size_t)(k0 + i) * M_ + m0 + threadIdx.x] = t[threadIdx.x][i];
}

static __device__ __forceinline__ void load_w(half *sB, const half *Wp, int kbase) {
  const half *src = Wp + (size_t)kbase * BN;
  for (int c = threadIdx.x; c < BN * KC / 8; c += THREADS) {
    const int r = c / (KC / 8), q = c % (KC / 8);
    cp_async16(sB + r * LDA + q * 8, src + r * KC + q * 8);
  }
}

__global__ void __launch_bounds__(THREADS) gemm_tile(const half *__restrict__ X, const half *__restrict__ Wp, half *__restrict__ Y) {
  extern __shared__ __align__(128) unsigned char smem[];
  const int m0 = blockIdx.x * BM;
  const int t = blockIdx.y;
  if (t >= NCT) {
    // Output features pruned whole.
    const int z0 = (t - NCT) * BN;
    for (int c = threadIdx.x; c < BM * BN; c += THREADS) {
      const int r = c / BN, n = c % BN;
      if (m0 + r < M_ && z0 + n < NZ) Y[(size_t)(m0 + r) * N_ + ZROWS[z0 + n]] = __float2half(0.f);
    }
    return;
  }
  half *sA = (half *)smem;
  half *sB = sA + 2 * A_STAGE;
  float *sC = (float *)smem;
  const int kb = K_OFF[t];
  const int steps = (K_OFF[t + 1] - kb) / KC;
  const int warp = threadIdx.x / 32;
  const int wm = warp % WARPS_M, wn = warp / WARPS_M;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; i++)
#pragma unroll
    for (int j = 0; j < FN; j++) wmma::fill_fragment(acc[i][j], 0.f);

#if !X_TRANSPOSED
  uint4 regs[CHUNKS];
#endif
  if (steps > 0) {
#if X_TRANSPOSED
    load_xt(sA, X, m0, kb);
#else
    gather_x(regs, X, m0, kb);
    store_x(sA, regs);
#endif
    load_w(sB, Wp, kb);
  }
  cp_async_commit();
  for (int i = 0; i < steps; i++) {
    const int cur = i & 1, nxt = cur ^ 1;
    const bool more = i + 1 < steps;
    if (more) {
      load_w(sB + nxt * BN * LDA, Wp, kb + (i + 1) * KC);
#if X_TRANSPOSED
      load_xt(sA + nxt * A_STAGE, X, m0, kb + (i + 1) * KC);
#else
      gather_x(regs, X, m0, kb + (i + 1) * KC);
#endif
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
#if X_TRANSPOSED
    const half *a = sA + cur * A_STAGE + wm * WTM;
#else
    const half *a = sA + cur * A_STAGE + wm * WTM * LDA;
#endif
    const half *b = sB + cur * BN * LDA + wn * WTN * LDA;
#pragma unroll
    for (int kk = 0; kk < KC; kk += 16) {
#if X_TRANSPOSED
      wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::col_major> fa[FM];
#pragma unroll
      for (int f = 0; f < FM; f++) wmma::load_matrix_sync(fa[f], a + kk * LDAT + f * 16, LDAT);
#else
      wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa[FM];
#pragma unroll
      for (int f = 0; f < FM; f++) wmma::load_matrix_sync(fa[f], a + f * 16 * LDA + kk, LDA);
#endif
      wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> fb[FN];
#pragma unroll
      for (int f = 0; f < FN; f++) wmma::load_matrix_sync(fb[f], b + f * 16 * LDA + kk, LDA);
#pragma unroll
      for (int x = 0; x < FM; x++)
#pragma unroll
        for (int y = 0; y < FN; y++) wmma::mma_sync(acc[x][y], fa[x], fb[y], acc[x][y]);
    }
    __syncthreads();
#if !X_TRANSPOSED
    if (more) store_x(sA + nxt * A_STAGE, regs);
#endif
  }
  cp_async_wait<0>();
  __syncthreads();
#pragma unroll
  for (int x = 0; x < FM; x++)
#pragma unroll
    for (int y = 0; y < FN; y++)
      wmma::store_matrix_sync(sC + (wm * WTM + x * 16) * LDC + wn * WTN + y * 16, acc[x][y], LDC, wmma::mem_row_major);
  __syncthreads();
  for (int c = threadIdx.x; c < BM * BN; c += THREADS) {
    const int r = c / BN, n = c % BN;
    const int col = __ldg(&ROWS[t * BN + n]);
    if (col >= 0 && m0 + r < M_) Y[(size_t)(m0 + r) * N_ + col] = __float2half(sC[r * LDC + n]);
  }
}

struct State {
  half *wp;
  half *xt;
};

extern "C" int tesa_init(const __half *w, void **state) {
  // For CTA tile t and chunk j: a BN×KC row-major block W[ROWS[t][n], KS[t][j·KC + k]], zero where padded.
  const size_t count = (size_t)KS_LEN * BN;
  __half *packed = (__half *)calloc(count, sizeof(__half));
  if (!packed) return 2;
  for (int t = 0; t < NCT; t++) {
    const int len = K_OFF_H[t + 1] - K_OFF_H[t];
    for (int j = 0; j < len; j += KC)
      for (int n = 0; n < BN; n++) {
        const int row = ROWS_H[t * BN + n];
        if (row < 0) continue;
        for (int k = 0; k < KC && j + k < K_REAL_H[t]; k++)
          packed[(size_t)(K_OFF_H[t] + j) * BN + n * KC + k] = w[(size_t)row * K_ + KS_H[K_OFF_H[t] + j + k]];
      }
  }
  State *st = (State *)calloc(1, sizeof(State));
  TESA_CK(cudaMalloc(&st->wp, count * sizeof(__half)));
  TESA_CK(cudaMemcpy(st->wp, packed, count * sizeof(__half), cudaMemcpyHostToDevice));
  free(packed);
#if X_TRANSPOSED
  TESA_CK(cudaMalloc(&st->xt, (size_t)M_ * K_ * sizeof(__half)));
#endif
  TESA_CK(cudaFuncSetAttribute(gemm_tile, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_BYTES));
  *state = st;
  return 0;
}

extern "C" int tesa_run(void *state, const __half *x, __half *y, cudaStream_t stream) {
  State *st = (State *)state;
  dim3 grid((M_ + BM - 1) / BM, NCT + ZERO_CTAS);
#if X_TRANSPOSED
  transpose_x<<<dim3(K_ / 32, (M_ + 31) / 32), dim3(32, 8), 0, stream>>>((const half *)x, st->xt);
  gemm_tile<<<grid, THREADS, SMEM_BYTES, stream>>>(st->xt, st->wp, (half *)y);
#else
  gemm_tile<<<grid, THREADS, SMEM_BYTES, stream>>>((const half *)x, st->wp, (half *)y);
#endif
  TESA_CK(cudaGetLastError());
  return 0;
}

${tesaFreeC(['cudaFree(st->wp);', 'if (st->xt) cudaFree(st->xt);'])}`;
}
