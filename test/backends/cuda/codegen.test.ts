/**
 * Pure tests of the CUDA backend's code generation (run everywhere, no GPU): the sparsity
 * structure read off masks, the baked lists in the generated source, deterministic hashes,
 * the fp16 conversion, the bench bundle's files and the refusals for patterns without kernels.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TesaError } from '../../../src/errors.js';
import { getBackend } from '../../../backends/registry.js';
import { writeBenchBundle } from '../../../backends/cuda/bundle.js';
import { parseSmi, gencodeFor } from '../../../backends/cuda/fingerprint.js';
import { toHalfBits } from '../../../backends/cuda/half.js';
import { lowerGemmBlock } from '../../../backends/cuda/kernels/gemm-block.js';
import { ctaTiles, lowerGemmTile } from '../../../backends/cuda/kernels/gemm-tile.js';
import { blockStructure, computedFraction, isNm, tileStructure } from '../../../backends/cuda/kernels/structure.js';
import { cudaKernelHash, engineForSm, lowerGemm } from '../../../backends/cuda/lower.js';
import { gatherComputedFraction, gatherPlanFromBlocks, gatherPlanFromTiles, lowerGemmGather } from '../../../backends/cuda/kernels/gemm-gather.js';

/** N×K mask keeping exactly the listed R×C blocks. */
function blockMask(N: number, K: number, R: number, C: number, kept: Array<[number, number]>): Uint8Array {
  const m = new Uint8Array(N * K);
  for (const [br, bc] of kept) for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) m[(br * R + r) * K + bc * C + c] = 1;
  return m;
}

describe('block structure and gemm-block source', () => {
  const N = 64;
  const K = 96;
  const mask = blockMask(N, K, 32, 32, [
    [0, 2],
    [0, 0],
    [1, 1],
  ]);

  it('lists the kept K-blocks of every block row, ascending', () => {
    const s = blockStructure(mask, N, K, 32, 32);
    expect(s.rowPtr).toEqual([0, 2, 3]);
    expect(s.colIdx).toEqual([0, 2, 1]);
    expect(computedFraction(s)).toBeCloseTo(3 / 6);
  });

  it('keeps a block with a single kept element', () => {
    const m = new Uint8Array(N * K);
    m[33 * K + 70] = 1; // block row 1, K-block 2
    expect(blockStructure(m, N, K, 32, 32).colIdx).toEqual([2]);
  });

  it('bakes the lists into constant arrays and the shapes into macros', () => {
    const code = lowerGemmBlock({ M: 4096, N, K }, blockStructure(mask, N, K, 32, 32));
    expect(code).toMatch(/__constant__ int ROW_PTR\[3\] = \{\s*0, 2, 3,\s*\};/);
    expect(code).toMatch(/__constant__ unsigned short COL_IDX\[3\] = \{\s*0, 2, 1,\s*\};/);
    expect(code).toContain('#define M_ 4096');
    expect(code).toContain('#define R_ 32');
    expect(code).toContain('extern "C" int tesa_run');
    expect(code).toContain('wmma::mma_sync');
  });

  it('refuses blocks that are not multiples of 16', () => {
    expect(() => lowerGemm({ M: 128, N: 64, K: 64 }, 'block:8x8', new Uint8Array(64 * 64).fill(1))).toThrow(TesaError);
  });
});

describe('tile structure and gemm-tile source', () => {
  it('groups kept output features in tiles and unions their kept columns', () => {
    const N = 4;
    const K = 6;
    // row 1 pruned whole; rows 0, 2, 3 keep some columns
    const m = Uint8Array.from([1, 0, 0, 0, 0, 1, /**/ 0, 0, 0, 0, 0, 0, /**/ 0, 1, 0, 0, 0, 0, /**/ 0, 0, 0, 1, 0, 0]);
    const s = tileStructure(m, N, K, 2);
    expect(s.zeroRows).toEqual([1]);
    expect(s.tiles).toEqual([
      { rows: [0, 2], ks: [0, 1, 5] },
      { rows: [3], ks: [3] },
    ]);
    expect(computedFraction(s)).toBeCloseTo((2 * 3 + 1 * 1) / 24);
  });

  it('cuts tiles wider than 128 into CTA tiles sharing the column list', () => {
    const N = 256;
    const K = 64;
    const m = new Uint8Array(N * K).fill(1);
    const s = tileStructure(m, N, K, 256);
    const ctas = ctaTiles(s);
    expect(ctas.length).toBe(2);
    expect(ctas[0]!.ks).toEqual(ctas[1]!.ks);
  });

  it('bakes the padded column lists, the real lengths and the zero rows', () => {
    const N = 64;
    const K = 64;
    const m = new Uint8Array(N * K);
    for (let n = 0; n < 32; n++) for (const k of [3, 9, 40]) m[n * K + k] = 1;
    const code = lowerGemmTile({ M: 256, N, K }, tileStructure(m, N, K, 32));
    expect(code).toMatch(/static const int K_REAL_H\[1\] = \{\s*3,\s*\};/);
    // 3 kept columns padded to one chunk of 32 with column 0
    expect(code).toMatch(/KS\[KS_LEN\] = \{\s*3, 9, 40, 0, 0,/);
    expect(code).toContain('#define NZ 32');
    expect(lowerGemmTile({ M: 256, N, K }, tileStructure(m, N, K, 32), { xLayout: 'transposed' })).toContain('#define X_TRANSPOSED 1');
  });

  it('refuses G that is not a multiple of 32', () => {
    expect(() => lowerGemm({ M: 128, N: 64, K: 64 }, 'tile:48', new Uint8Array(64 * 64).fill(1))).toThrow(/multiple of 32/);
  });
});

describe('nm and dispatch', () => {
  it('recognises 2:4 masks along K', () => {
    const ok = Uint8Array.from([1, 1, 0, 0, 0, 1, 0, 1]);
    const bad = Uint8Array.from([1, 1, 1, 0, 0, 1, 0, 1]);
    expect(isNm(ok, 1, 8, 2, 4)).toBe(true);
    expect(isNm(bad, 1, 8, 2, 4)).toBe(false);
  });

  it('lowers nm:2:4 to cuSPARSELt and refuses a mask that is not 2:4', () => {
    const ok = new Uint8Array(16 * 16);
    for (let i = 0; i < ok.length; i += 4) ok[i] = ok[i + 2] = 1;
    const l = lowerGemm({ M: 64, N: 16, K: 16 }, 'nm:2:4', ok);
    expect(l.kernel).toBe('gemm-nm');
    expect(l.needsCusparseLt).toBe(true);
    expect(l.code).toContain('cusparseLtMatmul(');
    expect(() => lowerGemm({ M: 64, N: 16, K: 16 }, 'nm:2:4', new Uint8Array(256).fill(1))).toThrow(/not 2:4/);
  });

  it('sends dense to cuBLAS and refuses patterns without a CUDA kernel', () => {
    expect(lowerGemm({ M: 64, N: 16, K: 16 }, 'dense', null)).toMatchObject({ kernel: 'cublas-dense', code: null });
    expect(() => lowerGemm({ M: 64, N: 16, K: 16 }, 'fine', new Uint8Array(256).fill(1))).toThrow(/no kernel for pattern 'fine'/);
  });

  it('lowers row and col pruning to the shrunk dense GEMM over the kept features', () => {
    const N = 512;
    const K = 128;
    const rows = new Uint8Array(N * K);
    for (let n = 0; n < N; n++) if (n % 4 !== 1) rows.fill(1, n * K, (n + 1) * K); // 384 of 512 output features kept: 3 CTA tiles of 128
    const r = lowerGemm({ M: 512, N, K }, 'row', rows, { engine: 'wgmma' });
    expect(r.kernel).toBe('gemm-gather');
    expect(r.computedFraction).toBeCloseTo(0.75, 5);
    expect(r.code).toContain('128 output features zero');
    const cols = new Uint8Array(N * K);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k += 2) cols[n * K + k] = 1; // every other input feature
    const c = lowerGemm({ M: 512, N, K }, 'col', cols, { engine: 'wgmma' });
    expect(c.kernel).toBe('gemm-gather');
    expect(c.computedFraction).toBeCloseTo(0.5, 5);
    // Without wgmma (pre-Hopper) the wmma tile kernel takes it.
    expect(lowerGemm({ M: 512, N, K }, 'row', rows).kernel).toBe('gemm-tile');
  });

  it('gives the same source and hash for the same mask, and another for another mask', () => {
    const N = 64;
    const K = 64;
    const a = blockMask(N, K, 32, 32, [[0, 1]]);
    const b = blockMask(N, K, 32, 32, [[1, 1]]);
    const la = lowerGemm({ M: 128, N, K }, 'block:32x32', a);
    const la2 = lowerGemm({ M: 128, N, K }, 'block:32x32', Uint8Array.from(a));
    const lb = lowerGemm({ M: 128, N, K }, 'block:32x32', b);
    expect(la.code).toBe(la2.code);
    expect(cudaKernelHash(la.code!, 'fp')).toBe(cudaKernelHash(la2.code!, 'fp'));
    expect(cudaKernelHash(la.code!, 'fp')).not.toBe(cudaKernelHash(lb.code!, 'fp'));
    expect(cudaKernelHash(la.code!, 'fp')).not.toBe(cudaKernelHash(la.code!, 'other-gpu'));
  });
});

describe('helpers', () => {
  it('converts to fp16 bits with round-to-nearest-even', () => {
    expect(toHalfBits(1)).toBe(0x3c00);
    expect(toHalfBits(-2)).toBe(0xc000);
    expect(toHalfBits(65504)).toBe(0x7bff);
    expect(toHalfBits(1e6)).toBe(0x7c00);
    expect(toHalfBits(0.1)).toBe(0x2e66);
    expect(toHalfBits(1e-8)).toBe(0);
    expect(toHalfBits(2 ** -24)).toBe(1);
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
  });

  it('reads nvidia-smi and picks sm_90a on Hopper', () => {
    expect(parseSmi('NVIDIA H100 80GB HBM3, 9.0, 580.159.04\n')).toEqual({ gpu: 'NVIDIA H100 80GB HBM3', sm: '90', driver: '580.159.04' });
    expect(gencodeFor('90')).toBe('-gencode=arch=compute_90a,code=sm_90a');
    expect(gencodeFor('89')).toBe('-gencode=arch=compute_89,code=sm_89');
    expect(() => parseSmi('garbage')).toThrow(TesaError);
  });

  it('registers the cuda target with tensor-core capabilities', () => {
    const b = getBackend('cuda');
    expect(b.name).toBe('cuda');
    expect(b.capabilities().channelMultiple).toBe(16);
    expect(b.capabilities().patterns).toEqual(expect.arrayContaining(['block', 'tile', 'nm']));
  });

  it('writes a self-contained bench bundle: sources, manifest, masks, run.sh', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tesa-cuda-bundle-'));
    try {
      const shape = { M: 256, N: 128, K: 128 };
      const b = writeBenchBundle(dir, [
        { shape, pattern: 'block:32x32', sparsity: 0.75 },
        { shape, pattern: 'nm:2:4', sparsity: 0.5 },
      ]);
      expect(b.ops.map((o) => o.kernel)).toEqual(['cublas-dense', 'gemm-block', 'gemm-nm']);
      expect(b.ops[1]!.achievedSparsity).toBeCloseTo(0.75, 2);
      const manifest = readFileSync(join(dir, 'manifest.txt'), 'utf8');
      expect(manifest).toMatch(/^op dense-256x128x128 cublas - weights\/dense-256x128x128\.f16 256 128 128$/m);
      expect(manifest).toMatch(/^op block32x32-s75-256x128x128 lib lib\/k_[0-9a-f]{32}\.so /m);
      expect(readdirSync(dir).filter((f) => f.endsWith('.cu')).length).toBe(3); // runner + 2 kernels
      expect(existsSync(join(dir, 'run.sh'))).toBe(true);
      expect(readFileSync(join(dir, 'masks', 'block32x32-s75-256x128x128.bits')).length).toBe((128 * 128) / 8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('gemm-gather (wgmma) plans and source', () => {
  it('groups block rows greedily so that each CTA tile keeps the smallest union of K-blocks', () => {
    // 4 block rows of 32, K-blocks of 32: rows 0 and 2 share {0,1}, rows 1 and 3 share {2}.
    const N = 128;
    const K = 128;
    const mask = blockMask(N, K, 32, 32, [
      [0, 0],
      [0, 1],
      [1, 2],
      [2, 0],
      [2, 1],
      [3, 2],
    ]);
    const plan = gatherPlanFromBlocks(blockStructure(mask, N, K, 32, 32), 64);
    expect(plan.zeroRows).toEqual([]);
    expect(plan.tiles).toHaveLength(2);
    const byFirst = new Map(plan.tiles.map((t) => [t.rows[0]!, t]));
    // rows 0..31 with 64..95 over columns 0..63; rows 32..63 with 96..127 over columns 64..95
    expect(byFirst.get(0)!.rows).toEqual([...Array.from({ length: 32 }, (_, i) => i), ...Array.from({ length: 32 }, (_, i) => 64 + i)]);
    expect(byFirst.get(0)!.ks).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(byFirst.get(32)!.ks).toEqual(Array.from({ length: 32 }, (_, i) => 64 + i));
    // Every kept element lies in some tile's rows × ks.
    for (let n = 0; n < N; n++)
      for (let k = 0; k < K; k++) if (mask[n * K + k]) expect(plan.tiles.some((t) => t.rows.includes(n) && t.ks.includes(k))).toBe(true);
  });

  it('writes block rows without kept blocks as zero rows', () => {
    const mask = blockMask(64, 64, 32, 32, [[0, 1]]);
    const plan = gatherPlanFromBlocks(blockStructure(mask, 64, 64, 32, 32), 64);
    expect(plan.zeroRows).toEqual(Array.from({ length: 32 }, (_, i) => 32 + i));
    expect(plan.tiles).toEqual([{ rows: Array.from({ length: 32 }, (_, i) => i), ks: Array.from({ length: 32 }, (_, i) => 32 + i) }]);
  });

  it('cuts tile:G tiles into CTA tiles of at most wr rows sharing the K list', () => {
    const N = 256;
    const K = 64;
    const mask = new Uint8Array(N * K);
    for (let n = 0; n < 200; n++) for (let k = 0; k < K; k += 2) mask[n * K + k] = 1;
    const plan = gatherPlanFromTiles(tileStructure(mask, N, K, 128), 64);
    expect(plan.tiles.map((t) => t.rows.length)).toEqual([64, 64, 64, 8]);
    expect(plan.tiles.every((t) => t.ks.length === 32)).toBe(true);
    expect(plan.zeroRows).toHaveLength(56);
  });

  it('bakes padded K lists, row lists and the wgmma shape into the source', () => {
    const mask = blockMask(64, 64, 32, 32, [[0, 1], [1, 1]]);
    const plan = gatherPlanFromBlocks(blockStructure(mask, 64, 64, 32, 32), 64);
    const code = lowerGemmGather({ M: 256, N: 64, K: 64 }, plan, { wr: 64, bn: 128, kc: 32, stages: 4, persistent: false });
    expect(code).toContain('wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16');
    expect(code).toContain('extern "C" int tesa_layout(void) { return 1; }');
    expect(code).toMatch(/__constant__ int K_OFF\[2\] = \{\s*0, 32,\s*\};/);
    expect(code).toContain('#define STAGED_EPILOGUE 1');
    expect(gatherComputedFraction(plan, { M: 256, N: 64, K: 64 }, { wr: 64, bn: 128, kc: 32, stages: 4, persistent: false })).toBeCloseTo(0.5);
    const quad = lowerGemmGather({ M: 256, N: 64, K: 64 }, plan, { wr: 64, bn: 128, kc: 32, stages: 4, persistent: true });
    expect(quad).toContain('#define PERSISTENT 1');
    expect(quad).toContain('#define STAGED_EPILOGUE 0');
    const ws = lowerGemmGather({ M: 256, N: 64, K: 64 }, plan, { wr: 64, bn: 128, kc: 32, stages: 4, persistent: false, warpSpecialized: true });
    expect(ws).toContain('#define WS 1');
    expect(ws).toContain('cp.async.mbarrier.arrive.noinc.shared::cta.b64');
  });

  it('refuses tunings whose pieces do not split over the threads, and M not a multiple of 8', () => {
    const mask = blockMask(64, 64, 32, 32, [[0, 1]]);
    const plan = gatherPlanFromBlocks(blockStructure(mask, 64, 64, 32, 32), 64);
    expect(() => lowerGemmGather({ M: 256, N: 64, K: 64 }, plan, { wr: 128, bn: 64, kc: 16, stages: 4, persistent: false })).toThrow(TesaError);
    expect(() => lowerGemmGather({ M: 250, N: 64, K: 64 }, plan, { wr: 64, bn: 128, kc: 32, stages: 4, persistent: false })).toThrow(/multiple of 8/);
  });

  it('lowers block and tile to gemm-gather with the wgmma engine, and falls back to wmma where it cannot', () => {
    const mask = blockMask(64, 64, 32, 32, [[0, 1]]);
    expect(lowerGemm({ M: 256, N: 64, K: 64 }, 'block:32x32', mask, { engine: 'wgmma' }).kernel).toBe('gemm-gather');
    expect(lowerGemm({ M: 250, N: 64, K: 64 }, 'block:32x32', mask, { engine: 'wgmma' }).kernel).toBe('gemm-block');
    expect(lowerGemm({ M: 256, N: 64, K: 64 }, 'block:32x32', mask).kernel).toBe('gemm-block');
    const tmask = new Uint8Array(128 * 64);
    for (let n = 0; n < 128; n++) for (let k = 0; k < 16; k++) tmask[n * 64 + k] = 1;
    const t = lowerGemm({ M: 256, N: 128, K: 64 }, 'tile:128', tmask, { engine: 'wgmma' });
    expect(t.kernel).toBe('gemm-gather');
    expect(t.computedFraction).toBeCloseTo(0.5); // 16 kept features padded to one stage of 32
    expect(engineForSm('90')).toBe('wgmma');
    expect(engineForSm('89')).toBe('wmma');
  });

  it('adds the feature-major cuBLAS peer to a bundle holding gemm-gather ops', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tesa-cuda-bundle-'));
    try {
      const shape = { M: 256, N: 128, K: 128 };
      const b = writeBenchBundle(dir, [{ shape, pattern: 'tile:128', sparsity: 0.75, tuning: { engine: 'wgmma' } }], { torchPeers: false });
      expect(b.ops.map((o) => o.kind)).toEqual(['cublas', 'lib', 'cublast']);
      expect(readFileSync(join(dir, 'manifest.txt'), 'utf8')).toMatch(/^op dense-256x128x128-t cublast - weights\/dense-256x128x128\.f16 256 128 128$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
