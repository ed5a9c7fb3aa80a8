/**
 * Sparse GEMM kernel families: a plan (family + its constants) and a problem (shape, weight,
 * mask) lower to one C translation unit with entry `void <entry>(const float *x, const float
 * *w, float *y)` computing Y[M×N] = X[M×K]·Wᵀ over the kept weights, plus the packed values
 * the kernel reads from `w`.
 */
import { createHash } from 'node:crypto';
import { TesaError } from '../../../../src/errors.js';
import type { IsaInfo } from './isa.js';
import {
  emitBsrBody, emitBsrColumnBody, emitFrame, emitGroupsBody, emitSpecializedBody, emitZeroRows, paddedM, type GemmDims,
} from './emit.js';
import {
  bsrCover, countKept, csrGroups, packBsr, packBsrUnits, packGroups, residualMask, tileGroups, type SparseGemmProblem,
} from './structure.js';

export type SparsePlan =
  /** every element, transposed-layout dense kernel (the sparse framework's own dense baseline) */
  | { family: 'dense-xt' }
  /** kept rows × kept columns as one dense GEMM (coarse pruning physically removed) */
  | { family: 'shrunk' }
  /** blocks r×c covering the mask; blocks with fewer than minFill kept elements go to a CSR residual */
  | { family: 'bsr'; r: number; c: number; minFill?: number; order?: 'col' | 'row' }
  | { family: 'csr' }
  /** one FMA line per kept element; values embedded as immediates when embedValues */
  | { family: 'specialized'; embedValues: boolean }
  /** tile-wise: tiles of g live rows, dense over the union of their kept inputs, rb-row register slices */
  | { family: 'tile'; g: number; rb?: number };

export function planName(p: SparsePlan): string {
  switch (p.family) {
    case 'bsr':
      return `bsr:${p.r}x${p.c}${p.order === 'row' ? '/row' : ''}${p.minFill && p.minFill > 1 ? `+csr<${p.minFill}` : ''}`;
    case 'specialized':
      return p.embedValues ? 'specialized+values' : 'specialized';
    case 'tile':
      return `tile:${p.g}${p.rb ? `/rb${p.rb}` : ''}`;
    default:
      return p.family;
  }
}

export interface LoweredSparseGemm {
  plan: SparsePlan;
  entry: string;
  code: string;
  /** packed values the kernel reads through `w` */
  values: Float32Array;
  /** multiply-adds per token actually executed (kept weights + explicit zeros) */
  storedWeights: number;
  /** sha256 of the code: part of the cache key with the fingerprint */
  hash: string;
}

/** Generated C for a specialised kernel is refused above this size (falls back to CSR). */
export const SPECIALIZED_MAX_BYTES = 2 * 1024 * 1024;

/** Default row slice for tile groups: as many rows as the registers hold beside 4 M-vectors. */
export function defaultTileRows(isa: IsaInfo, m: number): number {
  const mp = paddedM(m, isa.width);
  const nv = Math.min(4, mp / isa.width);
  // Measured on Zen 4 (AVX-512): 4 rows × 4 vectors is fastest; wider slices spill.
  return Math.max(1, Math.min(4, Math.floor((isa.registers - 2 - nv) / nv)));
}

export function lowerSparseGemm(isa: IsaInfo, prob: SparseGemmProblem, plan: SparsePlan, entry = 'sgemm_sparse'): LoweredSparseGemm {
  const d: GemmDims = { m: prob.m, n: prob.n, k: prob.k };
  const pre = entry;
  const bodies: string[] = [];
  const calls: string[] = [];
  const valueParts: Float32Array[] = [];
  let valueBase = 0;
  let stored = 0;
  const written = new Uint8Array(prob.n);

  // Values always come from the problem's mask: a structure wider than the mask (dense-xt,
  // assimilated blocks) multiplies explicit zeros.
  const addGroups = (g: ReturnType<typeof csrGroups>, valueMask: Uint8Array, name: string): void => {
    const accumulate = calls.length > 0;
    bodies.push(emitGroupsBody(isa, d, g, pre, name, accumulate));
    const v = packGroups(prob, g, valueMask);
    calls.push(`${name}(w + ${valueBase});`);
    valueParts.push(v);
    valueBase += v.length;
    stored += g.kidx.length * g.rb;
    for (const r of g.rows) if (r < prob.n) written[r] = 1;
  };

  switch (plan.family) {
    case 'dense-xt':
    case 'shrunk': {
      const all = plan.family === 'dense-xt' ? new Uint8Array(prob.n * prob.k).fill(1) : prob.mask;
      const g = tileGroups(prob, prob.n, defaultTileRows(isa, prob.m), all);
      addGroups(g, prob.mask, `${pre}_rows`);
      break;
    }
    case 'tile': {
      const g = tileGroups(prob, plan.g, plan.rb ?? defaultTileRows(isa, prob.m));
      addGroups(g, prob.mask, `${pre}_tiles`);
      break;
    }
    case 'csr':
      addGroups(csrGroups(prob), prob.mask, `${pre}_csr`);
      break;
    case 'bsr': {
      if (prob.n % plan.r !== 0 || prob.k % plan.c !== 0) {
        throw new TesaError('UNSUPPORTED', `block ${plan.r}x${plan.c} does not tile the ${prob.n}×${prob.k} weight`, 'choose a block shape dividing N and K');
      }
      written.fill(1);
      const b = bsrCover(prob, plan.r, plan.c, plan.minFill ?? 1);
      let v: Float32Array;
      // Narrow blocks re-read their accumulators once per block in column order: go by rows.
      if ((plan.order ?? (plan.c < 8 ? 'row' : 'col')) === 'row') {
        bodies.push(emitBsrBody(isa, d, b, pre, `${pre}_bsr`, false));
        v = packBsr(prob, b);
      } else {
        const col = emitBsrColumnBody(isa, d, b, pre, `${pre}_bsr`, false);
        bodies.push(col.code);
        v = packBsrUnits(prob, b.r, col.cu, col.order);
        // Block rows with no kept block are never stored by the column traversal.
        for (let br = 0; br + 1 < b.rowPtr.length; br++) {
          if (b.rowPtr[br + 1] === b.rowPtr[br]) for (let i = 0; i < b.r; i++) written[br * b.r + i] = 0;
        }
      }
      calls.push(`${pre}_bsr(w + ${valueBase});`);
      valueParts.push(v);
      valueBase += v.length;
      stored += v.length;
      if ((plan.minFill ?? 1) > 1) {
        const res = residualMask(prob, b);
        if (countKept(res) > 0) addGroups(csrGroups(prob, res), res, `${pre}_res`);
      }
      break;
    }
    case 'specialized': {
      const g = csrGroups(prob);
      const estimate = g.kidx.length * (plan.embedValues ? 40 : 30) + g.rows.length * 600;
      if (estimate > SPECIALIZED_MAX_BYTES) {
        throw new TesaError('UNSUPPORTED', `specialised kernel for ${g.kidx.length} kept weights would be ~${(estimate / 1e6).toFixed(1)} MB of C (limit ${SPECIALIZED_MAX_BYTES / 1e6} MB)`, 'use the csr plan for this density');
      }
      const v = packGroups(prob, g);
      bodies.push(emitSpecializedBody(isa, d, g, pre, `${pre}_spec`, false, plan.embedValues ? v : null));
      calls.push(`${pre}_spec(w + ${valueBase});`);
      if (!plan.embedValues) {
        valueParts.push(v);
        valueBase += v.length;
      }
      stored += g.kidx.length;
      for (const r of g.rows) written[r] = 1;
      break;
    }
  }

  const unwritten: number[] = [];
  for (let i = 0; i < prob.n; i++) if (!written[i]) unwritten.push(i);
  if (unwritten.length > 0) {
    bodies.push(emitZeroRows(`${pre}_zero`, unwritten, pre));
    calls.unshift(`${pre}_zero();`);
  }
  const values = new Float32Array(valueBase);
  let o = 0;
  for (const part of valueParts) {
    values.set(part, o);
    o += part.length;
  }
  const mv = paddedM(prob.m, isa.width) / isa.width;
  const code = `/* tesa sparse GEMM, plan ${planName(plan)}: Y[${prob.m}x${prob.n}] = X[${prob.m}x${prob.k}] * W^T, ${isa.isa}, ${mv} M-vectors.
   Kept weights ${countKept(prob.mask)} of ${prob.n * prob.k}; multiply-adds per token ${stored}. */
${emitFrame(isa, d, pre)}
${bodies.join('\n')}
void ${entry}(const float *restrict x, const float *restrict w, float *restrict y) {
  ${pre}_pack_x(x);
  ${calls.join('\n  ')}
  ${pre}_unpack_y(y);
}
`;
  return { plan, entry, code, values, storedWeights: stored, hash: createHash('sha256').update(code).digest('hex').slice(0, 32) };
}
