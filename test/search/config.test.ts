import { describe, expect, it } from 'vitest';
import { configFromStored, parseBudget, parseDuration, resolveSearchConfig, storedOptions } from '../../src/search/config.js';
import { runJsonCommand } from '../../src/search/json-command.js';

describe('option parsing', () => {
  it('budgets: ratios and absolute times', () => {
    expect(parseBudget('0.7')).toEqual({ ratio: 0.7 });
    expect(parseBudget('1')).toEqual({ ratio: 1 });
    expect(parseBudget('12ms')).toEqual({ ms: 12 });
    expect(parseBudget('1.5s')).toEqual({ ms: 1500 });
    for (const bad of ['0', '1.2', '-0.5', 'fast', '12 parsecs', '0ms', '']) expect(() => parseBudget(bad)).toThrow(/--latency-budget/);
  });
  it('durations', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('45')).toBe(45_000);
    for (const bad of ['', 'm', '10x', '0s', '0', '1h 30m', '-5m']) expect(() => parseDuration(bad)).toThrow(/--time-limit/);
  });
  it('every bad option is a BAD_INPUT naming it', () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ maxTrials: '0' }, /--max-trials/],
      [{ maxTrials: '3.5' }, /--max-trials/],
      [{ strategy: 'hillclimb' }, /--strategy/],
      [{ target: 'tpu' }, /--target/],
      [{ groups: 'maybe' }, /--groups/],
      [{ cost: 'energy' }, /--cost/],
      [{ seed: '-1' }, /--seed/],
      [{ threads: '0' }, /--threads/],
      [{ evaluator: 'oracle' }, /--evaluator/],
      [{ patterns: 'block:axb' }, /--patterns/],
      [{ precisions: 'fp8' }, /--precisions/],
      [{ strategyOption: ['noequals'] }, /--strategy-option/],
      [{ model: ' ' }, /--model/],
      [{ finalAttempts: '0' }, /--final-attempts/],
      [{ planPicking: 'sometimes' }, /--plan-picking/],
    ];
    for (const [raw, re] of cases) {
      let err: unknown;
      try {
        resolveSearchConfig(raw, 2);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(raw)).toMatchObject({ code: 'BAD_INPUT', exitCode: 2 });
      expect((err as Error).message).toMatch(re);
    }
  });
  it('defaults', () => {
    const c = resolveSearchConfig({}, 2);
    expect(c).toMatchObject({ model: 'zoo:mlp', target: 'cpu', budget: { ratio: 0.7 }, strategy: 'sa', groups: 'on', cost: 'latency', evaluator: 'proxy', threads: 2, precisions: ['fp32'], patterns: null });
    expect(c).toMatchObject({ finalRounds: 6, finalAttempts: 3, planPicking: 'on', timeLimitMs: 210_000 });
    // stored with the search, so resume goes on with the same final phase and plan picking
    const d = resolveSearchConfig({ finalAttempts: '5', planPicking: 'off', finalRounds: '0' }, 1);
    expect(configFromStored(d.model, d.target, d.strategy, d.budget, storedOptions(d))).toEqual(d);
    // a search stored before these options existed resumes with the defaults
    expect(configFromStored('zoo:mlp', 'cpu', 'sa', { ratio: 0.7 }, {})).toMatchObject({ finalRounds: 6, finalAttempts: 3, planPicking: 'on' });
  });
});

describe('external JSON command protocol', () => {
  it('passes JSON in and reads JSON out', async () => {
    const r = await runJsonCommand(`node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const q=JSON.parse(s);console.log(JSON.stringify({score:q.x*2}))})"`, { x: 21 }, 20_000);
    expect(r).toMatchObject({ ok: true, response: { score: 42 } });
  });
  it('a timeout, a non-zero exit and garbage are failures with reasons', async () => {
    const slow = await runJsonCommand('sleep 30', {}, 300);
    expect(slow).toMatchObject({ ok: false });
    expect(!slow.ok && slow.reason).toMatch(/timed out/);
    const exit1 = await runJsonCommand('echo oops >&2; exit 1', {}, 20_000);
    expect(!exit1.ok && exit1.reason).toMatch(/exited with 1: oops/);
    const garbage = await runJsonCommand('echo not json', {}, 20_000);
    expect(!garbage.ok && garbage.reason).toMatch(/not a JSON object/);
  });
});
