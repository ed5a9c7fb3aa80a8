/**
 * Execution-plan enumeration (SparTA §3.3): for one sparse GEMM, the kernel plans that apply
 * to its attributes (pattern + mask). Block plans may cover the mask with explicit zeros
 * (stray elements assimilated into blocks, Fig. 7) or split it into blocks plus a fine
 * residual (decomposition); the picker times them all and keeps the fastest.
 */
import { parsePattern } from '../prune/pattern.js';
import type { Pattern } from './sparsity.js';
import type { SparsePlan } from '../../backends/cpu/kernels/sparse/families.js';
import { bsrCover, countKept, type SparseGemmProblem } from '../../backends/cpu/kernels/sparse/structure.js';

/** Specialised (SparseRT-style) code is only worth building for few kept weights. */
export const SPECIALIZED_MAX_KEPT = 6000;

/** Stored multiply-adds of a block cover, relative to the kept weights (1 = no explicit zeros). */
export function coverOverhead(prob: SparseGemmProblem, r: number, c: number): number {
  const b = bsrCover(prob, r, c);
  const kept = countKept(prob.mask);
  return kept === 0 ? 1 : (b.cols.length * r * c) / kept;
}

function divides(prob: SparseGemmProblem, r: number, c: number): boolean {
  return prob.n % r === 0 && prob.k % c === 0;
}

/** Candidate plans for a problem, not counting dense (the picker always adds it). */
export function enumeratePlans(prob: SparseGemmProblem, pattern: Pattern): SparsePlan[] {
  const p = parsePattern(pattern, 'pattern');
  const out: SparsePlan[] = [];
  const kept = countKept(prob.mask);
  const density = kept / (prob.n * prob.k);
  const add = (plan: SparsePlan): void => {
    const key = JSON.stringify(plan);
    if (!out.some((x) => JSON.stringify(x) === key)) out.push(plan);
  };
  // Block covers: the pattern's own block, and 1×C row-blocks whose cover wastes little.
  const blockShapes: Array<[number, number]> = [];
  if (p.kind === 'block') blockShapes.push([p.rows, p.cols]);
  for (const c of [32, 16, 8, 4]) blockShapes.push([1, c]);
  for (const [r, c] of blockShapes) {
    if (!divides(prob, r, c)) continue;
    const overhead = coverOverhead(prob, r, c);
    const isOwn = p.kind === 'block' && p.rows === r && p.cols === c;
    // A cover that multiplies 2.5× the kept weights cannot beat CSR by much, and one that
    // multiplies nearly every weight is dense in disguise; skip both.
    if ((isOwn || overhead <= 2.5) && overhead * density < 0.85) add({ family: 'bsr', r, c });
    // Decomposition: well-filled blocks as BSR, stray elements as a CSR residual.
    if (overhead > 1.05 && r * c >= 4) {
      const minFill = Math.ceil((r * c) / 2);
      const part = bsrCover(prob, r, c, minFill);
      if ((part.cols.length * r * c) / (prob.n * prob.k) < 0.85) add({ family: 'bsr', r, c, minFill });
    }
  }
  switch (p.kind) {
    case 'row':
    case 'col':
    case 'channel':
      add({ family: 'shrunk' });
      break;
    case 'tile':
      add({ family: 'tile', g: p.g, rb: 4 });
      add({ family: 'tile', g: p.g, rb: 3 });
      break;
    default:
      break;
  }
  // CSR costs a vector load per kept weight where dense streams panels: past half dense it
  // cannot win (measured: 0.15x of dense at 30% fine), so it is not offered there.
  if (density < 0.5) add({ family: 'csr' });
  if (kept <= SPECIALIZED_MAX_KEPT) add({ family: 'specialized', embedValues: true });
  return out;
}

/**
 * A rough multiply-add count of a plan, for ranking candidates before any is built: stored
 * block elements for covers, and a gather penalty of 2× per weight for row lists (CSR, residuals).
 */
export function estimatedWork(prob: SparseGemmProblem, plan: SparsePlan): number {
  const kept = countKept(prob.mask);
  switch (plan.family) {
    case 'bsr': {
      const b = bsrCover(prob, plan.r, plan.c, plan.minFill ?? 1);
      const covered = b.cols.length * plan.r * plan.c;
      if ((plan.minFill ?? 1) <= 1) return covered;
      // kept weights outside the well-filled blocks go to the CSR residual
      let inBlocks = 0;
      for (let br = 0; br + 1 < b.rowPtr.length; br++) {
        for (let q = b.rowPtr[br]!; q < b.rowPtr[br + 1]!; q++) {
          for (let i = 0; i < plan.r; i++) {
            const row = (br * plan.r + i) * prob.k + b.cols[q]! * plan.c;
            for (let c = 0; c < plan.c; c++) inBlocks += prob.mask[row + c]!;
          }
        }
      }
      return covered + 2 * (kept - inBlocks);
    }
    case 'shrunk': {
      const rows = new Uint8Array(prob.n);
      const cols = new Uint8Array(prob.k);
      for (let n = 0; n < prob.n; n++) {
        for (let k = 0; k < prob.k; k++) {
          if (prob.mask[n * prob.k + k]) {
            rows[n] = 1;
            cols[k] = 1;
          }
        }
      }
      return countKept(rows) * countKept(cols);
    }
    case 'tile':
      return kept * 1.2;
    case 'specialized':
      return kept * 1.5;
    case 'csr':
      return kept * 2;
    default:
      return prob.n * prob.k;
  }
}

/** Sparse candidates timed per op in the compile path (dense comes on top). */
export const MAX_COMPILE_CANDIDATES = 3;

/**
 * The compile path's candidates: the pattern's own plan when there is one, then the cheapest
 * others by estimated work (ties keep enumeration order), at most MAX_COMPILE_CANDIDATES in all.
 * Building and timing every enumerated plan per op and per trial costs more than a search
 * can spend; the ranking keeps the plans that can win.
 */
export function compileCandidates(prob: SparseGemmProblem, pattern: Pattern, plans: readonly SparsePlan[]): SparsePlan[] {
  const p = parsePattern(pattern, 'pattern');
  const native = (x: SparsePlan): boolean =>
    (p.kind === 'block' && x.family === 'bsr' && x.r === p.rows && x.c === p.cols && !x.minFill) ||
    (p.kind === 'tile' && x.family === 'tile') ||
    ((p.kind === 'row' || p.kind === 'col' || p.kind === 'channel') && x.family === 'shrunk') ||
    ((p.kind === 'fine' || p.kind === 'nm') && x.family === 'csr');
  const first = plans.find(native);
  const rest = plans
    .filter((x) => x !== first)
    .map((x, i) => ({ x, i, w: estimatedWork(prob, x) }))
    .sort((a, b) => a.w - b.w || a.i - b.i)
    .map((e) => e.x);
  return [...(first ? [first] : []), ...rest].slice(0, MAX_COMPILE_CANDIDATES);
}
