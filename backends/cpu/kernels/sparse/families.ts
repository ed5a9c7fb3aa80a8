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
  emitBsrBody, emitBsrColumnBody, emitFrame, emitGroupsBody, emitSpecializedBody, emitZeroRows, paddedM, type DataSlots, type GemmDims, type Structure,
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
  /** true when the structure is in `values` (the code then serves every mask of its shape and plan) */
  structureAsData: boolean;
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

/**
 * Above this many kept weights the structure goes into the data blob instead of the code
 * (the size guard): index tables of a large mask cost the compiler seconds per layer, and
 * with the structure as data every layer of one shape and plan shares one kernel. Measured
 * equal speed (the loops read the same arrays either way).
 */
export const STRUCTURE_BAKE_MAX_KEPT = 16384;

export interface LowerOptions {
  /** 'auto' (default): baked up to STRUCTURE_BAKE_MAX_KEPT kept weights, data above. */
  structure?: 'baked' | 'data' | 'auto';
}

/** The data blob of a data-mode kernel: a header of int32 slots, then the arrays it points at. */
class DataBlob implements DataSlots {
  private header: number[] = [];
  private parts: Array<{ slot: number; data: Int32Array | Float32Array }> = [];

  ints(values: ArrayLike<number>): number {
    const slot = this.header.push(0) - 1;
    this.parts.push({ slot, data: Int32Array.from(values) });
    return slot;
  }

  floats(values: Float32Array): number {
    const slot = this.header.push(0) - 1;
    this.parts.push({ slot, data: values });
    return slot;
  }

  count(value: number): number {
    return this.header.push(value) - 1;
  }

  /** The blob as float words (int32 words keep their bits: copied as raw bytes). */
  finish(): Float32Array {
    let at = this.header.length;
    for (const p of this.parts) {
      this.header[p.slot] = at;
      at += Math.max(1, p.data.length);
    }
    const buf = new ArrayBuffer(at * 4);
    new Int32Array(buf, 0, this.header.length).set(this.header);
    at = this.header.length;
    for (const p of this.parts) {
      if (p.data instanceof Int32Array) new Int32Array(buf, at * 4, p.data.length).set(p.data);
      else new Float32Array(buf, at * 4, p.data.length).set(p.data);
      at += Math.max(1, p.data.length);
    }
    return new Float32Array(buf);
  }
}

export function lowerSparseGemm(isa: IsaInfo, prob: SparseGemmProblem, plan: SparsePlan, entry = 'sgemm_sparse', opts: LowerOptions = {}): LoweredSparseGemm {
  const d: GemmDims = { m: prob.m, n: prob.n, k: prob.k };
  const pre = entry;
  const bodies: string[] = [];
  const calls: string[] = [];
  const valueParts: Float32Array[] = [];
  let valueBase = 0;
  let stored = 0;
  const written = new Uint8Array(prob.n);
  const kept = countKept(prob.mask);
  const mode = opts.structure ?? 'auto';
  const blob = plan.family !== 'specialized' && (mode === 'data' || (mode === 'auto' && kept > STRUCTURE_BAKE_MAX_KEPT)) ? new DataBlob() : null;
  const st: Structure = blob ? { kind: 'data', slots: blob } : { kind: 'baked' };
  /** Registers a body's values; returns the C expression of its value pointer inside the entry. */
  const addValues = (v: Float32Array): string => {
    if (blob) return `w + hdr[${blob.floats(v)}]`;
    valueParts.push(v);
    const at = `w + ${valueBase}`;
    valueBase += v.length;
    return at;
  };

  // Values always come from the problem's mask: a structure wider than the mask (dense-xt,
  // assimilated blocks) multiplies explicit zeros.
  const addGroups = (g: ReturnType<typeof csrGroups>, valueMask: Uint8Array, name: string): void => {
    const accumulate = calls.length > 0;
    bodies.push(emitGroupsBody(isa, d, g, pre, name, accumulate, st));
    calls.push(`${name}(${addValues(packGroups(prob, g, valueMask))}, w);`);
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
      let code: string;
      // Narrow blocks re-read their accumulators once per block in column order: go by rows.
      if ((plan.order ?? (plan.c < 8 ? 'row' : 'col')) === 'row') {
        code = emitBsrBody(isa, d, b, pre, `${pre}_bsr`, false, st);
        v = packBsr(prob, b);
      } else {
        const col = emitBsrColumnBody(isa, d, b, pre, `${pre}_bsr`, false, st);
        code = col.code;
        v = packBsrUnits(prob, b.r, col.cu, col.order);
        // Block rows with no kept block are never stored by the column traversal.
        for (let br = 0; br + 1 < b.rowPtr.length; br++) {
          if (b.rowPtr[br + 1] === b.rowPtr[br]) for (let i = 0; i < b.r; i++) written[br * b.r + i] = 0;
        }
      }
      bodies.push(code);
      calls.push(`${pre}_bsr(${addValues(v)}, w);`);
      stored += v.length;
      if ((plan.minFill ?? 1) > 1) {
        const res = residualMask(prob, b);
        // With the structure as data the residual is always there (maybe empty): the code must not depend on the mask.
        if (blob || countKept(res) > 0) addGroups(csrGroups(prob, res), res, `${pre}_res`);
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
      calls.push(`${pre}_spec(${plan.embedValues ? 'w' : addValues(v)}, w);`);
      stored += g.kidx.length;
      for (const r of g.rows) written[r] = 1;
      break;
    }
  }

  const unwritten: number[] = [];
  for (let i = 0; i < prob.n; i++) if (!written[i]) unwritten.push(i);
  if (blob || unwritten.length > 0) {
    bodies.push(emitZeroRows(`${pre}_zero`, unwritten, pre, st));
    calls.unshift(`${pre}_zero(w);`);
  }
  let values: Float32Array;
  if (blob) values = blob.finish();
  else {
    values = new Float32Array(valueBase);
    let o = 0;
    for (const part of valueParts) {
      values.set(part, o);
      o += part.length;
    }
  }
  const mv = paddedM(prob.m, isa.width) / isa.width;
  const about = blob
    ? `Structure and values are data (header of int32 slots at the start of w), so this code serves every mask of this shape and plan.`
    : `Kept weights ${kept} of ${prob.n * prob.k}; multiply-adds per token ${stored}.`;
  const code = `/* tesa sparse GEMM, plan ${planName(plan)}: Y[${prob.m}x${prob.n}] = X[${prob.m}x${prob.k}] * W^T, ${isa.isa}, ${mv} M-vectors.
   ${about} */
${emitFrame(isa, d, pre)}
${bodies.join('\n')}
void ${entry}(const float *restrict x, const float *restrict w, float *restrict y) {
${blob ? '  const int32_t *restrict hdr = (const int32_t *)w;\n' : ''}  ${pre}_pack_x(x);
  ${calls.join('\n  ')}
  ${pre}_unpack_y(y);
}
`;
  return { plan, entry, code, values, storedWeights: stored, hash: createHash('sha256').update(code).digest('hex').slice(0, 32), structureAsData: blob !== null };
}
