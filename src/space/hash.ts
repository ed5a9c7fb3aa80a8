/**
 * Stable identity of a candidate: the SHA-256 of its canonical JSON (keys sorted at every
 * level, ratios rounded to the space's step). Two candidates that prune the same way hash the
 * same, whatever order their groups were written in, so measurements and replays key on it.
 */
import { createHash } from 'node:crypto';
import type { Candidate, SearchSpace } from './space.js';

export type Canonical = null | boolean | number | string | Canonical[] | { [key: string]: Canonical };

/** JSON with object keys sorted recursively; numbers printed by JSON's own rules. */
export function canonicalJson(value: Canonical): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as Canonical)}`).join(',')}}`;
}

/** Rounds to the nearest multiple of `step`, then strips binary noise (0.30000000000000004 → 0.3). */
export function roundToStep(value: number, step: number): number {
  if (!(step > 0)) return value;
  return Number((Math.round(value / step) * step).toFixed(6));
}

/** The candidate with every ratio rounded to its group's step and groups at ratio 0 in fp32 dropped (they are dense). */
export function normalizeCandidate(candidate: Candidate, space: SearchSpace): Candidate {
  const steps = new Map(space.groups.map((g) => [g.id, g] as const));
  const groups: Candidate['groups'] = {};
  for (const id of Object.keys(candidate.groups).sort()) {
    const choice = candidate.groups[id]!;
    const g = steps.get(id);
    const ratio = g ? Math.min(g.maxRatio, Math.max(g.minRatio, roundToStep(choice.ratio, g.ratioStep))) : choice.ratio;
    if (ratio <= 0 && choice.precision === 'fp32') continue;
    groups[id] = { ratio, pattern: choice.pattern, precision: choice.precision };
  }
  return { groups };
}

export function candidateHash(candidate: Candidate, space: SearchSpace): string {
  const n = normalizeCandidate(candidate, space);
  return createHash('sha256').update(canonicalJson(n as unknown as Canonical)).digest('hex').slice(0, 16);
}
