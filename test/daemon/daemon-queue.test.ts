/**
 * The daemon runs the queue and survives its own death: two searches queued, the daemon and
 * its runner SIGKILLed mid-search, a new daemon started; both searches complete, the killed one
 * resumed from its checkpoint (no trial lost or run twice).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type SearchRecord } from '../../db/store.js';
import { resolveSearchConfig } from '../../src/search/config.js';
import { queueSearch } from '../../src/daemon/queue.js';
import { runCli } from '../cli/run-cli.js';

const TRIALS = 3;
let dir: string;
let db: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-daemon-q-'));
  db = join(dir, 'tesa.db');
});
afterAll(() => {
  runCli(['daemon', 'stop', '--db', db]);
  rmSync(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function withStore<T>(fn: (s: ReturnType<typeof openStore>) => T): T {
  const store = openStore(db);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 240_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s; daemon log:\n${readFileSync(join(dir, 'daemon.log'), 'utf8')}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('daemon queue', () => {
  it('runs two queued searches to the end across a SIGKILL of the daemon and its runner', async () => {
    const config = resolveSearchConfig({ model: 'zoo:mlp', maxTrials: String(TRIALS), timeLimit: '30m', threads: '1', finalRounds: '1' }, 1);
    const [a, b] = withStore((s) => [queueSearch(s, config).id, queueSearch(s, config).id]);

    const started = runCli(['daemon', 'start', '--db', db]);
    expect(started.code).toBe(0);
    const pid = Number(/pid (\d+)/.exec(started.stdout)?.[1]);

    // Kill when the first search is mid-run: at least one trial recorded, not finished.
    const runner = await until('search A running with a trial recorded', () =>
      withStore((s) => {
        const sa = s.requireSearch(a);
        if (sa.status === 'failed' || sa.status === 'done') throw new Error(`search ${a} ended (${sa.status}: ${sa.error ?? 'no error'}) before it could be killed mid-run`);
        return sa.status === 'running' && s.trialCounts(a).ok + s.trialCounts(a).failed >= 1 && sa.ownerPid !== null ? sa : undefined;
      }),
    );
    expect(withStore((s) => s.requireSearch(b).status)).toBe('queued'); // one at a time per target
    process.kill(-pid, 'SIGKILL'); // the daemon's process group: the daemon and its runner
    await until('the daemon and its runner to die', () => !alive(pid) && !alive(runner.ownerPid!));
    expect(withStore((s) => s.requireSearch(a).status)).toBe('running'); // left by a dead owner

    const again = runCli(['daemon', 'start', '--db', db]);
    expect(again.stdout).toMatch(/daemon started \(pid \d+\)/);

    const done = await until('both searches done', () =>
      withStore((s) => {
        const all = [s.requireSearch(a), s.requireSearch(b)];
        return all.every((x) => x.status === 'done' || x.status === 'failed') ? all : undefined;
      }),
    );
    for (const s of done as SearchRecord[]) {
      expect(s.status, s.error ?? '').toBe('done');
      const trials = withStore((st) => st.listTrials(s.id));
      expect(trials.map((t) => t.seq)).toEqual([...Array(TRIALS).keys()]);
      expect(trials.every((t) => t.status !== 'running')).toBe(true);
    }
    expect(withStore((s) => s.integrityCheck())).toBe('ok');
    const log = readFileSync(join(dir, 'daemon.log'), 'utf8');
    expect(log).toContain(`search ${a} (zoo:mlp on cpu): resuming: its runner died`);
    expect(log).toContain(`search ${b} (zoo:mlp on cpu): next in the queue`);
    const list = runCli(['list', '--db', db]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/done/);
  }, 900_000);
});
