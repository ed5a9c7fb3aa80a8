import type { SearchSpace } from '../../src/space/space.js';
import type { Candidate } from '../../src/space/space.js';
import type { TrialOutcome } from '../../strategies/strategy.js';

/** A four-group space: sizes and importances differ so ranking matters. */
export function fourGroupSpace(): SearchSpace {
  const mk = (id: string, parameters: number, importance: number) => ({
    id,
    weights: [`${id}.w`],
    parameters,
    importance,
    patterns: ['block:1x32', 'fine'],
    precisions: ['fp32' as const],
    minRatio: 0,
    maxRatio: 0.95,
    ratioStep: 0.05,
  });
  return { groups: [mk('a', 1000, 1.6), mk('b', 4000, 0.7), mk('c', 4000, 1.0), mk('d', 500, 0.7)] };
}

/**
 * A synthetic model of the world: latency falls with parameter-weighted sparsity (block
 * kernels a bit faster), quality is the importance retained. Pure, so outcomes are exact.
 */
export function syntheticOutcome(space: SearchSpace, c: Candidate, budget: number, qualityScale = 1, qualityOffset = 0): TrialOutcome {
  let total = 0;
  let kept = 0;
  let imp = 0;
  let keptImp = 0;
  for (const g of space.groups) {
    const ch = c.groups[g.id];
    const r = ch?.ratio ?? 0;
    const speed = ch?.pattern === 'fine' ? 0.7 : 1;
    total += g.parameters;
    kept += g.parameters * (1 - r * speed);
    imp += g.importance * g.parameters;
    keptImp += g.importance * g.parameters * (1 - r) ** 2;
  }
  const ratio = 0.15 + 0.85 * (kept / total);
  return { status: 'ok', latencyMs: ratio * 10, latencyCiHighMs: ratio * 10.2, latencyRatio: ratio * 1.02, quality: qualityOffset + qualityScale * (keptImp / imp), feasible: ratio * 1.02 <= budget };
}
