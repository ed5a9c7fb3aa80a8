/** The decomposed-vs-assimilated decision cache (choose.ts writes it, the gemm-int8 family reads it). */
import { createHash } from 'node:crypto';
import type { Int8GemmProblem, Int8Isa } from './emit.js';

export interface Int8Decision {
  key: string;
  plan: 'decomposed' | 'assimilated';
  decomposedMs: number;
  assimilatedMs: number;
  /** why the decomposed plan was not eligible, when it was not */
  rejected?: string;
}

const decisions = new Map<string, Int8Decision>();

export function int8DecisionKey(prob: Int8GemmProblem, pattern: string, outliers: number, fingerprintId: string, isa: Int8Isa): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ m: prob.m, n: prob.n, k: prob.k, pattern, outliers, fingerprintId, isa }));
  h.update(Buffer.from(prob.weight.buffer, prob.weight.byteOffset, prob.weight.byteLength));
  if (prob.mask) h.update(prob.mask);
  return h.digest('hex').slice(0, 32);
}

export function recordInt8Decision(d: Int8Decision): void {
  decisions.set(d.key, d);
}

export function cachedInt8Decision(key: string): Int8Decision | undefined {
  return decisions.get(key);
}

