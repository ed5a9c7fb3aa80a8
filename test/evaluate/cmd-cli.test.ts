/**
 * The real `tesa optimize` binary with `--evaluator 'cmd:…'` on zoo:mlp: a command that exits 1
 * and one that prints garbage make every trial failed with its reason, and the search still
 * finishes (exit 0, status done). Needs a CPU backend that offers sparse patterns (optimize
 * refuses to search otherwise); the same paths run through the loop in-process in cmd.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getBackend } from '../../backends/registry.js';
import { defaultPatterns } from '../../src/space/patterns.js';
import { packageRoot } from '../../src/util/package-root.js';
import { runToEnd, trialHistory } from '../search/helpers.js';

const EVAL = join(packageRoot(), 'configs', 'examples', 'constant_evaluator.py');
const dir = mkdtempSync(join(tmpdir(), 'tesa-cmdcli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sparseOffered = defaultPatterns(getBackend('cpu').capabilities()).length > 0;

describe.skipIf(!sparseOffered)('tesa optimize --evaluator cmd:… (zoo:mlp)', () => {
  it.each([
    ['ok', null],
    ['exit1', /exited with code 1.*failing on purpose/],
    ['garbage', /no JSON object/],
  ])('evaluator mode %s', async (mode, reason) => {
    const db = join(dir, `${mode}.db`);
    const r = await runToEnd(['optimize', '--model', 'zoo:mlp', '--evaluator', `cmd:python3 ${EVAL} ${mode}`, '--max-trials', '2', '--time-limit', '30m', '--final-rounds', '1', '--db', db, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { status: string; trials: number };
    expect(out.status).toBe('done');
    const rows = trialHistory(db);
    expect(rows).toHaveLength(2);
    const reasons = (await import('../../db/store.js')).openStore(db, { readonly: true });
    const trials = reasons.listTrials(1);
    reasons.close();
    for (const t of trials) {
      if (reason === null) expect(t.status).toBe('ok');
      else {
        expect(t.status).toBe('failed');
        expect(t.reason).toMatch(reason);
      }
    }
  });
});
