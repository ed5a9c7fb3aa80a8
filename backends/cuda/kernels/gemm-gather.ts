/**
 * gemm-gather: Hopper (sm_90a) warpgroup-MMA kernel for weights whose kept entries come in
 * dense sub-GEMMs over a gathered list of input features: tile:G (each tile of output
 * features keeps its own K list) and block:RxC (block rows grouped into tiles whose K list is
 * the union of their kept K-blocks). Each CTA computes Yᵀ[rows_t, m0:m0+BN] =
 * W[rows_t, ks_t] · Xᵀ[ks_t, m0:m0+BN] as one dense GEMM over K' = |ks_t|:
 *  - activations are feature-major (Xᵀ is K×M, Yᵀ is N×M), so the gathered dimension is a
 *    whole contiguous row of Xᵀ and every load is a 16-byte cp.async;
 *  - the weight tile is packed at init, k after k ([K'][WR]), zero where padded;
 *  - both operands sit in shared memory in the 128-byte-swizzled MN-major layout that
 *    wgmma reads directly (64-element chunks, 8-row swizzle atoms);
 *  - one warpgroup per 64 weight rows issues wgmma.m64n{BN}k16 (fp16 in, fp32 accumulate),
 *    with a STAGES-deep cp.async ring and one wgmma group in flight.
 * The per-tile row and K lists are baked in; output features pruned whole are written as
 * zeros by extra CTAs.
 */
import { TesaError } from '../../../src/errors.js';
import type { BlockStructure, TileStructure } from './structure.js';
import { cArray, CP_ASYNC, KERNEL_ABI, PRELUDE, tesaFreeC, type GemmShape } from './cuda-prelude.js';

export interface GatherKernelOptions {
  /** Weight rows per CTA: 64 per warpgroup (64 or 128). */
  wr: number;
  /** Tokens per CTA (the wgmma N): 64, 128 or 256. */
  bn: number;
  /** Gathered input features per pipeline stage (multiple of 16). */
  kc: number;
  /** cp.async ring depth (≥ 3). */
  stages: number;
  /**
   * One CTA per SM slot walking several (tile, token block) items, its pipeline running on
   * across items, instead of one CTA per item: hides each item's start-up latency.
   */
  persistent: boolean;
  /**
   * Issue fence.proxy.async after each stage lands. cp.async (non-bulk) writes are ordered
   * for wgmma by cp.async.wait_group plus the CTA barrier (as CUTLASS's sm90 cp.async
   * mainloops rely on); the fence is kept as an option to measure its cost.
   */
  proxyFence?: boolean;
  /**
   * How finished tiles leave: 'staged' through shared memory (the idle pipeline ring, one CTA
   * barrier) or 'quad' straight from registers after a 4-lane exchange (persistent CTAs always
   * use 'quad': their ring is busy with the next item's loads). Default 'staged'.
   */
  epilogue?: 'staged' | 'quad';
  /** Persistent CTAs with one producer warp and mbarrier-synchronised slots (quad epilogue). */
  warpSpecialized?: boolean;
}

/** Defaults per pattern, from the H100 runs in notes/BENCHMARKS.md (2026-11-23, session 13). */
export const DEFAULT_GATHER_OPTIONS: GatherKernelOptions = { wr: 128, bn: 128, kc: 32, stages: 6, persistent: false };
/** block:RxC groups only wr/R block rows per CTA: 64 rows keep the K-block unions smallest. */
export const DEFAULT_GATHER_BLOCK_OPTIONS: GatherKernelOptions = { wr: 64, bn: 128, kc: 32, stages: 4, persistent: false };

/** Persistent CTAs keep the whole padded K list in shared memory; beyond this they do not apply. */
export const GATHER_MAX_KS_BYTES = 64 * 1024;

/** One CTA's dense sub-GEMM: output features `rows` (at most wr) over input features `ks`. */
export interface GatherTile {
  rows: number[];
  ks: number[];
}

export interface GatherPlan {
  tiles: GatherTile[];
  /** Output features no tile computes: written as zeros. */
  zeroRows: number[];
  /** What the plan came from, for the source's header. */
  origin: string;
}

/** tile:G: each tile cut into CTA pieces of at most wr rows sharing the tile's K list. */
export function gatherPlanFromTiles(s: TileStructure, wr: number): GatherPlan {
  const tiles: GatherTile[] = [];
  for (const t of s.tiles) for (let i = 0; i < t.rows.length; i += wr) tiles.push({ rows: t.rows.slice(i, i + wr), ks: t.ks });
  return { tiles, zeroRows: s.zeroRows, origin: `tile:${s.G}, ${s.tiles.length} tiles` };
}

/**
 * block:RxC: block rows grouped wr/R at a time into one CTA tile whose K list is the union of
 * their kept K-blocks (the packed weight is zero where a block row does not keep a block).
 * Groups are formed greedily to keep unions small: start from the block row with the most kept
 * blocks, then add the row whose blocks add the fewest new ones. Output rows may be grouped in
 * any order because every CTA writes its rows by index.
 */
export function gatherPlanFromBlocks(s: BlockStructure, wr: number): GatherPlan {
  if (wr % s.R !== 0) throw new TesaError('UNSUPPORTED', `block ${s.R}x${s.C}: ${wr} weight rows per CTA is not a multiple of R`, 'use block rows of 16, 32 or 64');
  const per = wr / s.R;
  const nbr = s.N / s.R;
  const sets: Array<Set<number>> = [];
  for (let b = 0; b < nbr; b++) sets.push(new Set(s.colIdx.slice(s.rowPtr[b], s.rowPtr[b + 1])));
  const left = new Set<number>();
  const zeroRows: number[] = [];
  for (let b = 0; b < nbr; b++) {
    if (sets[b]!.size > 0) left.add(b);
    else for (let r = 0; r < s.R; r++) zeroRows.push(b * s.R + r);
  }
  const tiles: GatherTile[] = [];
  while (left.size > 0) {
    let seed = -1;
    for (const b of left) if (seed < 0 || sets[b]!.size > sets[seed]!.size) seed = b;
    left.delete(seed);
    const group = [seed];
    const union = new Set(sets[seed]);
    while (group.length < per && left.size > 0) {
      let best = -1;
      let bestNew = Infinity;
      for (const b of left) {
        let added = 0;
        for (const c of sets[b]!) if (!union.has(c)) added++;
        if (added < bestNew) {
          best = b;
          bestNew = added;
        }
      }
      left.delete(best);
      group.push(best);
      for (const c of sets[best]!) union.add(c);
    }
    group.sort((a, b) => a - b);
    const rows: number[] = [];
    for (const b of group) for (let r = 0; r < s.R; r++) rows.push(b * s.R + r);
    const ks: number[] = [];
    for (const c of [...union].sort((a, b) => a - b)) for (let j = 0; j < s.C; j++) ks.push(c * s.C + j);
    tiles.push({ rows, ks });
  }
  return { tiles, zeroRows, origin: `block:${s.R}x${s.C}, ${s.colIdx.length} of ${nbr * (s.K / s.C)} blocks kept, grouped ${per} block rows per CTA` };
}

/** Multiply-adds the kernel performs relative to dense (padding included). */
export function gatherComputedFraction(p: GatherPlan, shape: GemmShape, o: GatherKernelOptions): number {
  let macs = 0;
  for (const t of p.tiles) macs += o.wr * Math.ceil(t.ks.length / o.kc) * o.kc;
  return macs / (shape.N * shape.K);
}

/** The wgmma instruction for one m64nBNk16 step, both operands MN-major from shared memory. */
function wgmmaFunction(bn: number): string {
  const n = bn / 2;
  const regs = Array.from({ length: n }, (_, i) => `%${i}`).join(', ');
  const outs = Array.from({ length: n }, (_, i) => `"+f"(d[${i}])`);
  const outLines: string[] = [];
  for (let i = 0; i < outs.length; i += 8) outLines.push('      ' + outs.slice(i, i + 8).join(', '));
  return `// D[64×${bn}] += A[64×16]·B[16×${bn}]; A (weight rows) and B (tokens) MN-major in shared memory.
static __device__ __forceinline__ void wgmma_step(float (&d)[${n}], uint64_t da, uint64_t db) {
  asm volatile(
      "{\\n.reg .pred p;\\nsetp.ne.b32 p, %${n + 2}, 0;\\n"
      "wgmma.mma_async.sync.aligned.m64n${bn}k16.f32.f16.f16 {${regs}}, %${n}, %${n + 1}, p, 1, 1, 1, 1;\\n}\\n"
      :
${outLines.join(',\n')}
      : "l"(da), "l"(db), "r"(1));
}`;
}

export function lowerGemmGather(shape: GemmShape, plan: GatherPlan, o: GatherKernelOptions = DEFAULT_GATHER_OPTIONS): string {
  const { M, N, K } = shape;
  if (o.wr !== 64 && o.wr !== 128) throw new TesaError('INTERNAL', `gather kernel: wr ${o.wr} is not 64 or 128`, 'choose other tuning options');
  if (![64, 128, 256].includes(o.bn)) throw new TesaError('INTERNAL', `gather kernel: bn ${o.bn} is not 64, 128 or 256`, 'choose other tuning options');
  if (o.kc % 16 !== 0 || o.kc < 16) throw new TesaError('INTERNAL', `gather kernel: kc ${o.kc} is not a multiple of 16`, 'choose other tuning options');
  if (o.stages < 3) throw new TesaError('INTERNAL', 'gather kernel: needs at least 3 stages', 'choose other tuning options');
  if ((o.kc * o.bn) % (16 * o.wr) !== 0 || o.bn / 8 > 128) throw new TesaError('INTERNAL', `gather kernel: kc ${o.kc} × bn ${o.bn} does not split evenly over ${2 * o.wr} threads`, 'choose other tuning options');
  if (M % 8 !== 0) throw new TesaError('UNSUPPORTED', `GEMM ${M}x${N}x${K}: the wgmma kernels need M (tokens) a multiple of 8`, 'pad the batch to a multiple of 8 tokens');
  for (const t of plan.tiles) if (t.rows.length > o.wr) throw new TesaError('INTERNAL', `gather tile with ${t.rows.length} rows exceeds wr ${o.wr}`, 'cut tiles to wr rows');
  const kOff = [0];
  const ks: number[] = [];
  const rows: number[] = [];
  for (const t of plan.tiles) {
    // Each list padded to whole stages with feature 0; the packed weight is zero there.
    const padded = Math.ceil(t.ks.length / o.kc) * o.kc;
    for (let i = 0; i < padded; i++) ks.push(i < t.ks.length ? t.ks[i]! : 0);
    kOff.push(ks.length);
    for (let i = 0; i < o.wr; i++) rows.push(i < t.rows.length ? t.rows[i]! : -1);
  }
  if (o.wr * (o.bn + 8) * 2 > o.stages * (o.wr + o.bn) * o.kc * 2) throw new TesaError('INTERNAL', 'gather kernel: the epilogue staging area does not fit in the pipeline ring', 'use more stages or a larger kc');
  if ((o.persistent || o.warpSpecialized) && ks.length * 2 > GATHER_MAX_KS_BYTES) throw new TesaError('UNSUPPORTED', `gather kernel: the K lists need ${ks.length * 2} B of shared memory (limit ${GATHER_MAX_KS_BYTES})`, 'the weight is too dense for gemm-gather; the wmma kernels take it');
  const nct = plan.tiles.length;
  const nz = plan.zeroRows.length;
  const stageBytes = (o.wr + o.bn) * o.kc * 2;
  const macs = ks.length * o.wr;
  return `// tesa gemm-gather (sm_90a wgmma): Yᵀ[${N},${M}] = W[${N},${K}]·Xᵀ[${K},${M}] (activations feature-major).
// ${plan.origin}: ${nct} CTA tiles of ${o.wr} weight rows, ${nz} output features zero,
// ${((100 * macs) / (N * K)).toFixed(1)}% of the dense multiply-adds (padding included).
// Tuning: ${o.wr} weight rows (${o.wr / 64} warpgroups) × ${o.bn} tokens per item, ${o.kc} features per stage, ${o.stages} stages (${stageBytes} B each), ${o.persistent ? 'persistent CTAs' : 'one CTA per item'}, ${o.epilogue === 'quad' || o.persistent ? 'quad-exchange' : 'staged'} epilogue.
${KERNEL_ABI}
// tesa_layout() = 1: x is Xᵀ (K×M row-major) and y is Yᵀ (N×M row-major).
${PRELUDE}#include <cstdint>

#define M_ ${M}
#define N_ ${N}
#define K_ ${K}
#define WR ${o.wr}
#define WG (WR / 64)
#define BN ${o.bn}
#define KC ${o.kc}
#define STAGES ${o.stages}
#define NCT ${nct}
#define NZ ${nz}
#define ZERO_CTAS ${Math.ceil(nz / o.wr)}
#define KS_LEN ${Math.max(1, ks.length)}
#define KMAX ${Math.max(8, ...kOff.slice(1).map((v, i) => v - kOff[i]!))}
// Consumer warpgroups (wgmma) and, when warp-specialised, one producer warp issuing all loads.
#define CONSUMERS (128 * WG)
#define THREADS (CONSUMERS + (WS ? 32 : 0))
#define LT (WS ? 32 : CONSUMERS)
#define W_STAGE (WR * KC)
#define X_STAGE (BN * KC)
#define STAGE (W_STAGE + X_STAGE)
#define MBLOCKS ((M_ + BN - 1) / BN)
#define NITEMS (NCT * MBLOCKS)
#define PERSISTENT ${o.persistent ? 1 : 0}
#define WS ${o.warpSpecialized ? 1 : 0}
#define PROXY_FENCE ${o.proxyFence ? 1 : 0}
#define STAGED_EPILOGUE ${o.epilogue === 'quad' || o.persistent ? 0 : 1}
// Shared K list: all of KS when persistent, else the one item's list (at most KMAX entries).
#if PERSISTENT || WS
#define KS_SMEM KS_LEN
#else
#define KS_SMEM KMAX
#endif
#define SMEM_BYTES (STAGES * STAGE * 2 + KS_SMEM * 2 + 2 * STAGES * 8 + 1024)
// Epilogue staging (one item at a time, non-persistent): WR rows of BN fp16 outputs, padded
// so that the accumulator fragments' half2 writes hit 32 distinct banks.
#define LDO (BN + 8)

// CTA tile t reads features KS[K_OFF[t] .. K_OFF[t+1]) and writes output features ROWS[t*WR .. t*WR+WR) (-1: none).
__constant__ int K_OFF[${kOff.length}] = ${cArray(kOff)};
__device__ __align__(16) const unsigned short KS[KS_LEN] = ${cArray(ks)};
__device__ const int ROWS[${Math.max(1, rows.length)}] = ${cArray(rows.length ? rows : [-1])};
__device__ const int ZROWS[${Math.max(1, nz)}] = ${cArray(plan.zeroRows)};
static const int K_OFF_H[${kOff.length}] = ${cArray(kOff)};
// Unpadded list lengths: padding repeats feature 0, so the packed weight is zero there.
static const int K_REAL_H[${Math.max(1, nct)}] = ${cArray(plan.tiles.map((t) => t.ks.length))};
static const unsigned short KS_H[KS_LEN] = ${cArray(ks)};
static const int ROWS_H[${Math.max(1, rows.length)}] = ${cArray(rows.length ? rows : [-1])};

${CP_ASYNC}
// Offset (in halves) of element (k, col) in a stage operand laid out MN-major with the
// 128-byte swizzle: 64-column chunks of KC rows × 128 B; 16-byte piece p of row k sits at p ^ (k % 8).
static __device__ __forceinline__ int swz(int k, int col) {
  return (col >> 6) * (KC * 64) + k * 64 + ((((col >> 3) & 7) ^ (k & 7)) << 3);
}

// Shared-memory matrix descriptor: 128-byte swizzle, LBO = stride between 64-column chunks,
// SBO = 1024 B between groups of 8 rows.
static __device__ __forceinline__ uint64_t sdesc(const half *p) {
  const uint64_t a = (uint64_t)__cvta_generic_to_shared(p);
  return ((a & 0x3FFFF) >> 4) | ((uint64_t)((KC * 128) >> 4) << 16) | ((uint64_t)(1024 >> 4) << 32) | (1ull << 62);
}

static __device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\\n" ::: "memory"); }
static __device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\\n" ::: "memory"); }
template <int N>
static __device__ __forceinline__ void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\\n" ::"n"(N) : "memory"); }
static __device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\\n" ::: "memory"); }

${wgmmaFunction(o.bn)}

// A thread's share of one stage: W_CHUNKS 16-byte pieces of the packed weight and X_CHUNKS of
// the gathered Xᵀ rows. Which pieces is fixed per thread, so their shared-memory offsets and
// the weight offsets are computed once (Loader) and a stage costs a few instructions per piece;
// the feature indices come from the copy of KS in shared memory (no dependent global load).
#define W_CHUNKS (KC * WR / 8 / LT)
#define X_CHUNKS (KC * BN / 8 / LT)
#define KW_STEP (LT / (WR / 8))
#define KX_STEP (LT / (BN / 8))
struct Loader {
  int wsm[W_CHUNKS], wgl[W_CHUNKS], xsm[X_CHUNKS], xk[X_CHUNKS];
  int xcol;
};
static __device__ __forceinline__ Loader make_loader(int tid) {
  Loader L;
  const int kw = tid / (WR / 8), cw = (tid % (WR / 8)) * 8;
  const int kx = tid / (BN / 8);
  L.xcol = (tid % (BN / 8)) * 8;
#pragma unroll
  for (int i = 0; i < W_CHUNKS; i++) {
    L.wsm[i] = swz(kw + i * KW_STEP, cw);
    L.wgl[i] = (kw + i * KW_STEP) * WR + cw;
  }
#pragma unroll
  for (int i = 0; i < X_CHUNKS; i++) {
    L.xk[i] = kx + i * KX_STEP;
    L.xsm[i] = swz(kx + i * KX_STEP, L.xcol);
  }
  return L;
}
static __device__ __forceinline__ void load_w(const Loader &L, half *sW, const half *__restrict__ Wp, int kbase) {
  const half *wsrc = Wp + (size_t)kbase * WR;
#pragma unroll
  for (int i = 0; i < W_CHUNKS; i++) cp_async16(sW + L.wsm[i], wsrc + L.wgl[i]);
}
static __device__ __forceinline__ void load_x(const Loader &L, half *sX, const unsigned short *ks, const half *__restrict__ XT, int kbase, int m0) {
  const half *xsrc = XT + min(m0 + L.xcol, M_ - 8);
#pragma unroll
  for (int i = 0; i < X_CHUNKS; i++) cp_async16(sX + L.xsm[i], xsrc + (size_t)ks[kbase + L.xk[i]] * M_);
}
static __device__ __forceinline__ void load_stage(const Loader &L, half *sW, half *sX, const unsigned short *ks, const half *__restrict__ Wp, const half *__restrict__ XT, int kbase, int m0) {
  load_w(L, sW, Wp, kbase);
  load_x(L, sX, ks, XT, kbase, m0);
}

// Output features pruned whole: chunk z of ZCH covers WR of them × BN tokens.
#define ZCH (ZERO_CTAS * MBLOCKS)
static __device__ __forceinline__ void zero_chunk(int z, half *__restrict__ YT, int tid, int nthreads) {
  const int z0 = (z / MBLOCKS) * WR, m0 = (z % MBLOCKS) * BN;
  for (int c = tid; c < WR * BN / 8; c += nthreads) {
    const int r = c / (BN / 8), col = (c % (BN / 8)) * 8;
    if (z0 + r < NZ && m0 + col < M_) *(uint4 *)(YT + (size_t)ZROWS[z0 + r] * M_ + m0 + col) = make_uint4(0, 0, 0, 0);
  }
}

// Work item w: CTA tile w / MBLOCKS over tokens (w % MBLOCKS)·BN …; consecutive items share a weight tile.
struct Item {
  int t, m0, kb, steps;
};
static __device__ __forceinline__ Item item(int w) {
  Item it;
  it.t = w / MBLOCKS;
  it.m0 = (w % MBLOCKS) * BN;
  it.kb = w < NITEMS ? K_OFF[it.t] : 0;
  it.steps = w < NITEMS ? (K_OFF[it.t + 1] - it.kb) / KC : 0;
  return it;
}

// Accumulator layout of wgmma m64nBN: d[4j + {0,1}] = (row, 8j + 2q + {0,1}), d[4j + {2,3}] = (row + 8, …),
// row = 16·warp + lane/4, q = lane % 4: the 4 lanes of a quad hold the 8 columns of block j
// of their row, 2 each. A 4×4 exchange inside the quad (3 shuffles) hands lane q the whole
// 16 bytes of block 4G+q, so each output row gets 64 contiguous bytes per store (full
// sectors) straight from registers, with no shared memory and no barrier. Clears d.
static __device__ __forceinline__ unsigned pack_half2(float x, float y) {
  const half2 h = __floats2half2_rn(x, y);
  return *(const unsigned *)&h;
}
static __device__ __forceinline__ void store_tile(float (&d)[BN / 2], half *__restrict__ YT, const Item &it) {
  const int wg = threadIdx.x / 128, warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32, q = lane & 3;
  const int r0 = wg * 64 + warp * 16 + lane / 4;
  const int g0 = ROWS[it.t * WR + r0], g1 = ROWS[it.t * WR + r0 + 8];
#pragma unroll
  for (int G = 0; G < BN / 32; G++) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
      unsigned a[4], b[4];
#pragma unroll
      for (int t = 0; t < 4; t++) a[t] = pack_half2(d[4 * (4 * G + t) + 2 * h], d[4 * (4 * G + t) + 2 * h + 1]);
#pragma unroll
      for (int t = 0; t < 4; t++) b[t] = 0;
      // Round k: lane s offers its piece of block (s + k) % 4; lane q takes lane (q - k) % 4's.
#pragma unroll
      for (int k = 0; k < 4; k++) {
        const int give = (q + k) & 3, from = (q - k) & 3;
        const unsigned v = give == 0 ? a[0] : give == 1 ? a[1] : give == 2 ? a[2] : a[3];
        const unsigned got = k == 0 ? v : __shfl_sync(0xffffffffu, v, (lane & ~3) | from);
#pragma unroll
        for (int t = 0; t < 4; t++) b[t] = from == t ? got : b[t];
      }
      const int g = h ? g1 : g0;
      const int m = it.m0 + 8 * (4 * G + q);
      if (g >= 0 && m < M_) *(uint4 *)(YT + (size_t)g * M_ + m) = make_uint4(b[0], b[1], b[2], b[3]);
    }
  }
#pragma unroll
  for (int i = 0; i < BN / 2; i++) d[i] = 0.f;
}

// The same tile through shared memory: the fragments land as half2 in a WR×BN staging area
// (the pipeline ring, idle once the item's last stage is consumed), then every row segment
// leaves as whole 16-byte pieces, BN·2 contiguous bytes per output feature: full sectors,
// where the direct half2 stores write half-sectors scattered over 8 rows per instruction.
static __device__ __forceinline__ void store_tile_staged(float (&d)[BN / 2], half *__restrict__ YT, const Item &it, half *stg) {
  const int wg = threadIdx.x / 128, warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
  const int r0 = wg * 64 + warp * 16 + lane / 4;
  cp_async_wait<0>();
  __syncthreads();
#pragma unroll
  for (int j = 0; j < BN / 8; j++) {
    const int c = j * 8 + (lane % 4) * 2;
    *(half2 *)(stg + r0 * LDO + c) = __floats2half2_rn(d[4 * j], d[4 * j + 1]);
    *(half2 *)(stg + (r0 + 8) * LDO + c) = __floats2half2_rn(d[4 * j + 2], d[4 * j + 3]);
  }
  __syncthreads();
  for (int c = threadIdx.x; c < WR * BN / 8; c += THREADS) {
    const int r = c / (BN / 8), col = (c % (BN / 8)) * 8;
    const int g = __ldg(&ROWS[it.t * WR + r]);
    if (g >= 0 && it.m0 + col < M_) *(uint4 *)(YT + (size_t)g * M_ + it.m0 + col) = *(const uint4 *)(stg + r * LDO + col);
  }
}

#if !WS
// Each CTA walks items blockIdx.x, blockIdx.x + gridDim.x, … (one item each unless persistent).
// The cp.async ring runs on across item boundaries: stage g of the CTA's stream lands in slot
// g % STAGES, STAGES-2 stages ahead of the warpgroups' wgmma, with one wgmma group in flight.
__global__ void __launch_bounds__(THREADS) gemm_gather(const half *__restrict__ XT, const half *__restrict__ Wp, half *__restrict__ YT) {
  extern __shared__ unsigned char smem_raw[];
  // The swizzle atoms must be 1024-byte aligned.
  half *smem = (half *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
  unsigned short *ks_s = (unsigned short *)(smem + STAGES * STAGE);
  const Loader L = make_loader(threadIdx.x);
#if PERSISTENT
  const int first_item = blockIdx.x, item_step = gridDim.x;
  const unsigned short *ks = ks_s;
  for (int c = threadIdx.x; c < KS_LEN / 8; c += THREADS) cp_async16(ks_s + c * 8, KS + c * 8);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();
#else
  // The zero chunks come first (short, they finish while the first items compute), then one
  // item per CTA.
  if (blockIdx.x < ZCH) {
    zero_chunk(blockIdx.x, YT, threadIdx.x, THREADS);
    return;
  }
  const int first_item = blockIdx.x - ZCH, item_step = NITEMS;
  // Only this item's K list; ks is indexed with absolute positions in KS. The first stages'
  // weight loads go out with it (they do not depend on it), their X loads once it has landed.
  const Item first = item(first_item);
  const unsigned short *ks = ks_s - first.kb;
  for (int c = threadIdx.x; c < first.steps * KC / 8; c += THREADS) cp_async16(ks_s + c * 8, KS + first.kb + c * 8);
#pragma unroll 1
  for (int s = 0; s < STAGES - 2 && s < first.steps; s++) load_w(L, smem + s * STAGE, Wp, first.kb + s * KC);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();
#endif

  const int wg = threadIdx.x / 128;
  // Descriptors of slot 0 (this warpgroup's 64 weight rows, all BN tokens); a slot, a k-step
  // and the address field (bits 0-13, in 16-byte units) add up without carries.
  const uint64_t dw0 = sdesc(smem + wg * KC * 64), dx0 = sdesc(smem + W_STAGE);
  float d[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; i++) d[i] = 0.f;

  // Loader position (item lw, step ls) and consumer position (item cw, step cs).
  int lw = first_item, ls = 0;
  Item li = item(lw);
  while (lw < NITEMS && li.steps == 0) li = item(lw += item_step);
  int cw = first_item, cs = 0;
  Item ci = item(cw);

#if !PERSISTENT
#pragma unroll 1
  for (int s = 0; s < STAGES - 2; s++) {
    if (s < ci.steps) load_x(L, smem + s * STAGE + W_STAGE, ks, XT, ci.kb + s * KC, ci.m0);
    cp_async_commit();
  }
  ls = min(STAGES - 2, ci.steps);
  if (ls == ci.steps) lw = NITEMS;
#else
#pragma unroll 1
  for (int s = 0; s < STAGES - 2; s++) {
    if (lw < NITEMS) {
      load_stage(L, smem + s * STAGE, smem + s * STAGE + W_STAGE, ks, Wp, XT, li.kb + ls * KC, li.m0);
      if (++ls == li.steps) {
        ls = 0;
        do li = item(lw += item_step); while (lw < NITEMS && li.steps == 0);
      }
    }
    cp_async_commit();
  }
#endif
#pragma unroll 1
  for (int g = 0;; g++) {
    while (cw < NITEMS && cs == ci.steps) {
      wgmma_wait<0>();
#if PERSISTENT || !STAGED_EPILOGUE
      store_tile(d, YT, ci);
#else
      store_tile_staged(d, YT, ci, smem);
#endif
      ci = item(cw += item_step);
      cs = 0;
    }
    if (cw >= NITEMS) break;
    cp_async_wait<STAGES - 3>();
#if PROXY_FENCE
    fence_proxy_async();
#endif
    // After this barrier stage g has landed for everyone and every warpgroup has retired
    // wgmma group g-2, so slot (g-2) % STAGES may be refilled.
    __syncthreads();
    const uint64_t slot = (uint64_t)((g % STAGES) * STAGE * 2 / 16);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < KC; kk += 16) wgmma_step(d, dw0 + slot + kk * 128 / 16, dx0 + slot + kk * 128 / 16);
    wgmma_commit();
    if (lw < NITEMS) {
      const int slot = (g + STAGES - 2) % STAGES;
      load_stage(L, smem + slot * STAGE, smem + slot * STAGE + W_STAGE, ks, Wp, XT, li.kb + ls * KC, li.m0);
      if (++ls == li.steps) {
        ls = 0;
        do li = item(lw += item_step); while (lw < NITEMS && li.steps == 0);
      }
    }
    cp_async_commit();
    wgmma_wait<1>();
    cs++;
  }
  wgmma_wait<0>();
  cp_async_wait<0>();

#if PERSISTENT
  for (int z = blockIdx.x; z < ZCH; z += gridDim.x) zero_chunk(z, YT, threadIdx.x, THREADS);
#endif
}
#endif // !WS

#if WS
static __device__ __forceinline__ unsigned smem_u32(const void *p) { return (unsigned)__cvta_generic_to_shared(p); }
static __device__ __forceinline__ void mbar_init(uint64_t *bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\\n" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}
static __device__ __forceinline__ void mbar_arrive(uint64_t *bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\\n" ::"r"(smem_u32(bar)) : "memory");
}
// Arrives once this thread's earlier cp.async have landed (counted in the barrier's expected arrivals).
static __device__ __forceinline__ void mbar_arrive_cp_async(uint64_t *bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\\n" ::"r"(smem_u32(bar)) : "memory");
}
static __device__ __forceinline__ void mbar_wait(uint64_t *bar, unsigned parity) {
  unsigned done = 0;
  do {
    asm volatile("{\\n.reg .pred p;\\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\\nselp.u32 %0, 1, 0, p;\\n}\\n"
                 : "=r"(done)
                 : "r"(smem_u32(bar)), "r"(parity)
                 : "memory");
  } while (!done);
}

// Warp-specialised persistent variant: the last warp only loads (slot g % STAGES, waiting on
// EMPTY[slot] before reuse and signalling FULL[slot] when its cp.async land); the consumer
// warpgroups only wait on FULL, multiply, and release a slot to the producer as soon as the
// wgmma reading it has retired. No CTA-wide barrier after the start; tiles leave through the
// quad-exchange epilogue straight from registers.
__global__ void __launch_bounds__(THREADS) gemm_gather_ws(const half *__restrict__ XT, const half *__restrict__ Wp, half *__restrict__ YT) {
  extern __shared__ unsigned char smem_raw[];
  half *smem = (half *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
  unsigned short *ks = (unsigned short *)(smem + STAGES * STAGE);
  uint64_t *full = (uint64_t *)(ks + KS_LEN);
  uint64_t *empty = full + STAGES;
  for (int c = threadIdx.x; c < KS_LEN / 8; c += THREADS) cp_async16(ks + c * 8, KS + c * 8);
  cp_async_commit();
  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; s++) {
      mbar_init(full + s, 32);
      mbar_init(empty + s, WG);
    }
  }
  cp_async_wait<0>();
  __syncthreads();

  if (threadIdx.x >= CONSUMERS) {
    const Loader L = make_loader(threadIdx.x - CONSUMERS);
    int g = 0;
#pragma unroll 1
    for (int w = blockIdx.x; w < NITEMS; w += gridDim.x) {
      const Item it = item(w);
#pragma unroll 1
      for (int s = 0; s < it.steps; s++, g++) {
        const int slot = g % STAGES;
        if (g >= STAGES) mbar_wait(empty + slot, ((g / STAGES) & 1) ^ 1);
        load_stage(L, smem + slot * STAGE, smem + slot * STAGE + W_STAGE, ks, Wp, XT, it.kb + s * KC, it.m0);
        mbar_arrive_cp_async(full + slot);
      }
    }
    cp_async_wait<0>();
    return;
  }

  const int wg = threadIdx.x / 128;
  const uint64_t dw0 = sdesc(smem + wg * KC * 64), dx0 = sdesc(smem + W_STAGE);
  float d[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; i++) d[i] = 0.f;
  int g = 0, released = 0;
#pragma unroll 1
  for (int w = blockIdx.x; w < NITEMS; w += gridDim.x) {
    const Item it = item(w);
#pragma unroll 1
    for (int s = 0; s < it.steps; s++, g++) {
      const int slot = g % STAGES;
      mbar_wait(full + slot, (g / STAGES) & 1);
      const uint64_t off = (uint64_t)(slot * STAGE * 2 / 16);
      wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < KC; kk += 16) wgmma_step(d, dw0 + off + kk * 128 / 16, dx0 + off + kk * 128 / 16);
      wgmma_commit();
      wgmma_wait<1>();
      // Stages before g have retired: hand their slots back (one arrival per warpgroup).
      for (; released < g; released++)
        if (threadIdx.x % 128 == 0) mbar_arrive(empty + released % STAGES);
    }
    wgmma_wait<0>();
    for (; released < g; released++)
      if (threadIdx.x % 128 == 0) mbar_arrive(empty + released % STAGES);
    store_tile(d, YT, it);
  }
  for (int z = blockIdx.x; z < ZCH; z += gridDim.x) zero_chunk(z, YT, threadIdx.x, CONSUMERS);
}
#endif // WS

#if WS
#define KERNEL gemm_gather_ws
#else
#define KERNEL gemm_gather
#endif

struct State {
  half *wp;
  int grid;
};

extern "C" int tesa_layout(void) { return 1; }

extern "C" int tesa_init(const __half *w, void **state) {
  // For CTA tile t: [K'_t][WR] (feature after feature, WR weight rows each), zero where padded.
  const size_t count = (size_t)KS_LEN * WR;
  __half *packed = (__half *)calloc(count, sizeof(__half));
  if (!packed) return 2;
  for (int t = 0; t < NCT; t++)
    for (int p = 0; p < K_REAL_H[t]; p++)
      for (int r = 0; r < WR; r++) {
        const int row = ROWS_H[t * WR + r];
        if (row >= 0) packed[(size_t)(K_OFF_H[t] + p) * WR + r] = w[(size_t)row * K_ + KS_H[K_OFF_H[t] + p]];
      }
  State *st = (State *)calloc(1, sizeof(State));
  TESA_CK(cudaMalloc(&st->wp, count * sizeof(__half)));
  TESA_CK(cudaMemcpy(st->wp, packed, count * sizeof(__half), cudaMemcpyHostToDevice));
  free(packed);
  TESA_CK(cudaFuncSetAttribute(KERNEL, cudaFuncAttributeMaxDynamicSharedMemorySize, SMEM_BYTES));
  st->grid = NITEMS + ZCH;
#if PERSISTENT || WS
  // As many CTAs as fit on the GPU at once; each walks its share of the items.
  int dev = 0, sms = 0, per = 0;
  TESA_CK(cudaGetDevice(&dev));
  TESA_CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  TESA_CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per, KERNEL, THREADS, SMEM_BYTES));
  if (per < 1) per = 1;
  st->grid = sms * per < st->grid ? sms * per : st->grid;
#endif
  *state = st;
  return 0;
}

extern "C" int tesa_run(void *state, const __half *xt, __half *yt, cudaStream_t stream) {
  State *st = (State *)state;
  KERNEL<<<st->grid, THREADS, SMEM_BYTES, stream>>>((const half *)xt, st->wp, (half *)yt);
  TESA_CK(cudaGetLastError());
  return 0;
}

${tesaFreeC(['cudaFree(st->wp);'])}`;
}
