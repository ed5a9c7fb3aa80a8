/**
 * The pattern vocabulary as the search space sees it: which family a pattern string belongs
 * to (to match it against a backend's capabilities) and whether it removes whole channels
 * (coarse patterns are offered only where the layer group allows it).
 */
import { badInput } from '../errors.js';
import { parsePattern } from '../prune/pattern.js';
import type { Capabilities } from '../../backends/backend.js';
import type { Pattern, Precision } from '../plan/sparsity.js';

export type PatternFamily = 'fine' | 'block' | 'row' | 'col' | 'channel' | 'tile' | 'nm';

export interface ParsedPattern {
  family: PatternFamily;
  block?: [number, number];
}

const PATTERN_HINT = "use fine, block:RxC (e.g. block:1x32), row, col, channel, tile:G, tile:G+fine:D or nm:N:M";

export function parsePatternName(pattern: string): ParsedPattern | undefined {
  if (pattern === 'fine' || pattern === 'row' || pattern === 'col' || pattern === 'channel') return { family: pattern };
  let m = /^block:(\d+)x(\d+)$/.exec(pattern);
  if (m) {
    const r = Number(m[1]);
    const c = Number(m[2]);
    return r > 0 && c > 0 ? { family: 'block', block: [r, c] } : undefined;
  }
  m = /^tile:(\d+)(\+fine:(0(\.\d+)?|1(\.0+)?))?$/.exec(pattern);
  if (m) return Number(m[1]) > 0 ? { family: 'tile' } : undefined;
  m = /^nm:(\d+):(\d+)$/.exec(pattern);
  if (m) return Number(m[1]) > 0 && Number(m[1]) < Number(m[2]) ? { family: 'nm' } : undefined;
  return undefined;
}

export function isCoarse(pattern: Pattern): boolean {
  const p = parsePatternName(pattern);
  return p !== undefined && (p.family === 'row' || p.family === 'col' || p.family === 'channel');
}

/** Whether the backend has kernels for this pattern (family listed; block shape among its shapes). */
export function backendSupports(caps: Capabilities, pattern: Pattern): boolean {
  const p = parsePatternName(pattern);
  if (!p || !caps.patterns.includes(p.family)) return false;
  if (p.block && caps.blockShapes.length > 0) return caps.blockShapes.some(([r, c]) => r === p.block![0] && c === p.block![1]);
  return true;
}

/** Parses a comma-separated --patterns value; every entry must be well-formed ('dense' is not a choice: ratio 0 is dense). */
export function parsePatternList(value: string, option = '--patterns'): Pattern[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw badInput(`${option} is empty`, PATTERN_HINT);
  for (const item of items) {
    parsePattern(item, option);
    if (!parsePatternName(item)) throw badInput(`${option}: '${item}' is not a sparsity pattern the search can choose`, PATTERN_HINT);
  }
  return [...new Set(items)];
}

const PRECISIONS: readonly Precision[] = ['fp32', 'fp16', 'bf16', 'int8'];

export function parsePrecisionList(value: string, option = '--precisions'): Precision[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw badInput(`${option} is empty`, 'use fp32, fp16, bf16 or int8 (comma-separated)');
  for (const item of items) {
    if (!(PRECISIONS as readonly string[]).includes(item)) throw badInput(`${option}: '${item}' is not a precision`, 'use fp32, fp16, bf16 or int8 (comma-separated)');
  }
  return [...new Set(items as Precision[])];
}

/**
 * The patterns searched when the user names none: those the CPU backend accelerates best on
 * transformer/MLP weights (1x32 blocks, per the TVM BSR study), fine-grained as the flexible
 * fallback, and whole rows where channels can go. Filtered by the backend's capabilities.
 */
export function defaultPatterns(caps: Capabilities): Pattern[] {
  if (caps.defaultPatterns) return caps.defaultPatterns.filter((p) => backendSupports(caps, p));
  const wanted: Pattern[] = ['block:1x32', 'fine', 'row', 'channel'];
  const offered = wanted.filter((p) => backendSupports(caps, p));
  if (offered.length > 0) return offered;
  const anyBlock = caps.blockShapes[0];
  return anyBlock && caps.patterns.includes('block') ? [`block:${anyBlock[0]}x${anyBlock[1]}`] : caps.patterns.includes('fine') ? ['fine'] : [];
}
