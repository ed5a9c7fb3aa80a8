/**
 * Exact resume, with real processes and real SIGKILLs: a search recorded once with real
 * measurements is replayed (timing noise removed); the same seed gives the same candidates;
 * and a replayed run killed at random instants, resumed each time, ends with the same trial
 * history as an uninterrupted one, in a database that passes PRAGMA integrity_check.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runToEnd, sleep, sqlite, startCli, trialHistory } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tesa-determinism-'));
const tape = join(dir, 'tape.json');
const common = ['--model', 'zoo:mlp', '--strategy', 'sa', '--max-trials', '6', '--seed', '7', '--threads', '1', '--final-rounds', '1'];
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('determinism and exact resume', () => {
  let recorded: ReturnType<typeof trialHistory>;

  beforeAll(async () => {
    const db = join(dir, 'record.db');
    const r = await runToEnd(['optimize', ...common, '--db', db, '--json'], { TESA_RECORD_MEASUREMENTS: tape });
    expect(r.code, r.stderr).toBe(0);
    recorded = trialHistory(db);
    expect(recorded.length).toBe(6);
  }, 600_000);

  it('replayed measurements + same seed ⇒ the same candidate sequence (and the same as the recorded run)', async () => {
    const a = join(dir, 'a.db');
    const b = join(dir, 'b.db');
    const ra = await runToEnd(['optimize', ...common, '--db', a, '--json'], { TESA_REPLAY_MEASUREMENTS: tape });
    expect(ra.code, ra.stderr).toBe(0);
    const rb = await runToEnd(['optimize', ...common, '--db', b, '--json'], { TESA_REPLAY_MEASUREMENTS: tape });
    expect(rb.code, rb.stderr).toBe(0);
    expect(trialHistory(a)).toEqual(recorded);
    expect(trialHistory(b)).toEqual(recorded);
    expect(JSON.parse(ra.stdout)).toEqual(JSON.parse(rb.stdout));
    // another seed explores differently (its missing measurements fail deterministically)
    const c = join(dir, 'c.db');
    await runToEnd(['optimize', ...common.slice(0, -6), '--seed', '8', '--threads', '1', '--final-rounds', '1', '--max-trials', '3', '--db', c, '--json'], { TESA_REPLAY_MEASUREMENTS: tape });
    expect(trialHistory(c).map((t) => t.candidate_hash)).not.toEqual(recorded.slice(0, 3).map((t) => t.candidate_hash));
  }, 300_000);

  it('killed with SIGKILL at ≥ 10 random instants and resumed each time: same history, intact database', async () => {
    const db = join(dir, 'killed.db');
    const rng = seedrandom('kills');
    const env = { TESA_REPLAY_MEASUREMENTS: tape };
    let kills = 0;
    let finished = false;
    for (let attempt = 0; attempt < 60 && !finished; attempt++) {
      const exists = sqlite(db, (d) => {
        try {
          return (d.prepare('SELECT count(*) AS n FROM searches').get() as { n: number }).n > 0;
        } catch {
          return false;
        }
      });
      const args = exists ? ['resume', '1', '--db', db, '--json'] : ['optimize', ...common, '--db', db, '--json'];
      const p = startCli(args, env);
      if (kills < 12) {
        const delay = 150 + Math.floor(rng() * 2500);
        const winner = await Promise.race([p.done.then(() => 'exited' as const), sleep(delay).then(() => 'timer' as const)]);
        if (winner === 'timer') {
          p.child.kill('SIGKILL');
          const e = await p.done;
          expect(e.signal).toBe('SIGKILL');
          kills++;
          continue;
        }
      }
      const e = await p.done;
      expect(e.code, e.stderr).toBe(0);
      finished = JSON.parse(e.stdout).status === 'done';
    }
    expect(kills).toBeGreaterThanOrEqual(10);
    expect(finished).toBe(true);
    expect(trialHistory(db)).toEqual(recorded);
    expect(sqlite(db, (d) => d.pragma('integrity_check', { simple: true }))).toBe('ok');
    // the dense baseline was measured once, however many times the search restarted
    expect(sqlite(db, (d) => (d.prepare(`SELECT count(*) AS n FROM measurements WHERE kind = 'baseline'`).get() as { n: number }).n)).toBe(1);
  }, 600_000);
});
