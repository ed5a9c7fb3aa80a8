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
