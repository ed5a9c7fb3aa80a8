/**
 * Precision in the watch screen: the groups table's "prec" column and the trial list show the
 * int8 choices stored with the best trial, read from a real store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../db/store.js';
import { readWatchState } from '../../src/tui/read-store.js';
import { groupLines } from '../../src/tui/components/GroupsTable.js';

let dir: string;
let store: Store;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-watch-prec-'));
  store = openStore(join(dir, 't.db'));
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('precision on the watch screen', () => {
  it('shows int8 groups of the best trial in the prec column and counts them in the trial list', () => {
    const s = store.createSearch({ model: 'zoo:bert-mini', target: 'cpu', strategy: 'sa', budget: { ratio: 0.5 }, options: { maxTrials: 4, precisions: ['fp32', 'int8'] }, status: 'running' });
    store.acquireSearch(s.id);
    store.updateSearch(s.id, { baseline: { medianMs: 10, madMs: 0.1, ciLowMs: 9.9, ciHighMs: 10.1, n: 20 } });
    const candidate = {
      groups: {
        'encoder.layer.0.ffn': { ratio: 0.3, pattern: 'block:1x32', precision: 'int8' as const },
        'encoder.layer.0.attn.qk': { ratio: 0, pattern: 'fine', precision: 'int8' as const },
        'encoder.layer.1.ffn': { ratio: 0.5, pattern: 'fine', precision: 'fp32' as const },
      },
    };
    const id = store.startTrial(s.id, 0, candidate, 'h0');
    store.recordTrialAndCheckpoint(
      { trialId: id, status: 'ok', latencyMs: 4.5, ciLowMs: 4.4, ciHighMs: 4.6, latencyRatio: 0.46, quality: 0.97, feasible: true, kernelsBuilt: 3, kernelsCached: 0, sparsity: { 'group:encoder.layer.0.ffn': { before: 0.3, after: 0.3 } } },
      { state: {} },
    );
    const w = readWatchState(store, s.id);
    expect(w.groups.map((g) => [g.id, g.pattern, g.precision])).toEqual([
      ['encoder.layer.0.ffn', 'block:1x32', 'int8'],
      ['encoder.layer.0.attn.qk', 'dense', 'int8'],
      ['encoder.layer.1.ffn', 'fine', 'fp32'],
    ]);
    const lines = groupLines(w.groups, 80, 10);
    expect(lines[0]).toMatch(/prec/);
    expect(lines[1]).toMatch(/block:1x32\s+30% int8 /);
    expect(lines[3]).toMatch(/fine\s+50% fp32 /);
    expect(w.trials[0]!.summary).toBe('mean 27% block:1x32,fine int8 2/3');
  });
});
