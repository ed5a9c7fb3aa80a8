/**
 * Strategy options arrive as plain JSON (from `--strategy-option key=value` or a preset);
 * each strategy reads them through these helpers so a bad value is one clear BAD_INPUT.
 */
import { badInput } from '../src/errors.js';
import type { JsonValue } from './strategy.js';

export function numberOption(options: Record<string, JsonValue>, key: string, fallback: number, check: (v: number) => boolean, expected: string): number {
  const v = options[key];
  if (v === undefined || v === null) return fallback;
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || !check(n)) {
    throw badInput(`--strategy-option ${key}=${JSON.stringify(v)}: expected ${expected}`, `for example --strategy-option ${key}=${fallback}`);
  }
  return n;
}

export function rejectUnknownOptions(options: Record<string, JsonValue>, known: readonly string[], strategy: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw badInput(`--strategy-option ${key}: strategy '${strategy}' has no such option`, `its options are ${known.join(', ')}`);
  }
}
