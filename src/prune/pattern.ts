/**
 * Pattern strings (DESIGN.md, "Sparsity vocabulary") parsed into plain objects.
 *
 * Convention used by every pattern: a linear weight is viewed as the math matrix W of shape
 * N×K (output features × input features), whatever its stored layout (MatMul stores [K,N];
 * Gemm with transB=1 and Conv store the output axis first). 'row' removes whole output
 * features (rows of W), 'col' whole input features (columns of W), 'channel' whole output
 * channels (same as 'row'; the name used for Conv). A block R×C covers R output features ×
 * C consecutive input features, so `block:1x32` is 32 consecutive K elements of one output row.
 */
import { TesaError } from '../errors.js';
import type { Pattern } from '../plan/sparsity.js';

export type ParsedPattern =
  | { kind: 'dense' }
  | { kind: 'fine' }
  | { kind: 'block'; rows: number; cols: number }
  | { kind: 'row' }
  | { kind: 'col' }
  | { kind: 'channel' }
  | { kind: 'tile'; g: number; fineDelta: number }
  | { kind: 'nm'; n: number; m: number };

export const VALID_PATTERN_FORMS =
  'dense, fine, block:RxC (e.g. block:1x32, block:4x4), row, col, channel, tile:G (e.g. tile:128), tile:G+fine:δ (e.g. tile:128+fine:0.05), nm:N:M (e.g. nm:2:4)';

function bad(option: string, text: string, why: string): TesaError {
  return new TesaError('BAD_INPUT', `${option}: invalid pattern '${text}': ${why}`, `valid forms: ${VALID_PATTERN_FORMS}`);
}

function positiveInt(s: string): number | undefined {
  if (!/^[1-9][0-9]*$/.test(s)) return undefined;
  return Number(s);
}

/** Parses a pattern string; `option` names the flag or field it came from for the error message. */
export function parsePattern(text: string, option = '--pattern'): ParsedPattern {
  const t = text.trim();
  switch (t) {
    case 'dense':
    case 'fine':
    case 'row':
    case 'col':
    case 'channel':
      return { kind: t };
  }
  let m = /^block:(\d+)x(\d+)$/.exec(t);
  if (m) {
    const rows = positiveInt(m[1]!);
    const cols = positiveInt(m[2]!);
    if (rows === undefined || cols === undefined) throw bad(option, text, 'block dims must be positive integers');
    if (rows * cols < 2) throw bad(option, text, 'a 1x1 block is the fine pattern');
    return { kind: 'block', rows, cols };
  }
  m = /^tile:(\d+)(?:\+fine:([0-9]*\.?[0-9]+))?$/.exec(t);
  if (m) {
    const g = positiveInt(m[1]!);
    if (g === undefined) throw bad(option, text, 'tile width G must be a positive integer');
    const fineDelta = m[2] === undefined ? 0 : Number(m[2]);
    if (!(fineDelta >= 0 && fineDelta < 1)) throw bad(option, text, 'the fine residual δ must be in [0, 1)');
    return { kind: 'tile', g, fineDelta };
  }
  m = /^nm:(\d+):(\d+)$/.exec(t);
  if (m) {
    const n = positiveInt(m[1]!);
    const mm = positiveInt(m[2]!);
    if (n === undefined || mm === undefined || n >= mm) throw bad(option, text, 'need 0 < N < M');
    return { kind: 'nm', n, m: mm };
  }
  throw bad(option, text, 'unknown form');
}

export function formatPattern(p: ParsedPattern): Pattern {
  switch (p.kind) {
    case 'block':
      return `block:${p.rows}x${p.cols}`;
    case 'tile':
      return p.fineDelta > 0 ? `tile:${p.g}+fine:${p.fineDelta}` : `tile:${p.g}`;
    case 'nm':
      return `nm:${p.n}:${p.m}`;
    default:
      return p.kind;
  }
}

/** True for patterns that remove whole output or input features (shrinkable without a sparse kernel). */
export function isCoarse(p: ParsedPattern): boolean {
  return p.kind === 'row' || p.kind === 'col' || p.kind === 'channel';
}

/** Parses a sparsity ratio given as 0.8 or 80%. */
export function parseRatio(text: string, option = '--sparsity'): number {
  const t = text.trim();
  const pct = t.endsWith('%');
  const v = Number(pct ? t.slice(0, -1) : t);
  const r = pct || v > 1 ? v / 100 : v;
  // t === '': Number('') is 0, and an empty ratio is a typo, not "prune nothing".
  if (t === '' || t === '%' || !Number.isFinite(r) || r < 0 || r >= 1) {
    throw new TesaError('BAD_INPUT', `${option}: '${text}' is not a sparsity ratio`, 'give the pruned fraction in [0, 1), e.g. 0.8 or 80%');
  }
  return r;
}
