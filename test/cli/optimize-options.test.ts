import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tesa-opt-opts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tesa optimize: bad options', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--latency-budget', '1.5'], /--latency-budget '1.5'/],
    [['--latency-budget', 'soon'], /--latency-budget/],
    [['--max-trials', '0'], /--max-trials/],
    [['--max-trials', 'many'], /--max-trials/],
    [['--time-limit', 'forever'], /--time-limit/],
    [['--strategy', 'genetic'], /--strategy/],
    [['--seed', '-3'], /--seed|unknown option/],
    [['--patterns', 'block:1y32'], /--patterns/],
    [['--precisions', 'fp64'], /--precisions/],
    [['--groups', 'yes'], /--groups/],
    [['--cost', 'energy'], /--cost/],
    [['--target', 'tpu'], /--target/],
    [['--threads', '0'], /--threads/],
    [['--evaluator', 'oracle'], /--evaluator/],
    [['--strategy-option', 'coolingRate=2'], /coolingRate/],
    [['--model', 'zoo:nonexistent'], /nonexistent/],
    [['--model', join(dir, 'missing.onnx')], /missing\.onnx/],
  ];
  for (const [args, re] of cases) {
    it(`${args.join(' ')} → one line, exit 2, nothing written`, () => {
      const db = join(dir, `t-${args[0]!.replace(/\W/g, '')}.db`);
      const r = runCli(['optimize', '--db', db, ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^tesa: /);
      expect(existsSync(db)).toBe(false);
    });
  }

  it('resume of a search that does not exist', () => {
    const db = join(dir, 'none.db');
    runCli(['list', '--db', db]);
    const r = runCli(['resume', '42', '--db', db]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no search 42/);
    const bad = runCli(['resume', 'abc', '--db', db]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/search id 'abc'/);
  });
});
