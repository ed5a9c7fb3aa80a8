/**
 * The store under real concurrency and real crashes: child processes (running the built
 * dist/db/store.js) race for a search's lock and are SIGKILLed in the middle of writes.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openStore, pidAlive, SAME_HOST_STALE_AFTER_MS, type Store } from '../../db/store.js';
import { packageRoot } from '../../src/util/package-root.js';
import { TesaError } from '../../src/errors.js';

const distStore = join(packageRoot(), 'dist', 'db', 'store.js');
const storeUrl = pathToFileURL(distStore).href;
const fixture = (name: string) => join(packageRoot(), 'test', 'db', 'fixtures', name);

let dir: string;
let db: string;
let store: Store;
const children: ChildProcess[] = [];

beforeAll(() => {
  if (!existsSync(distStore)) throw new Error(`${distStore} is missing: run 'npx tsc -p .' first (npm test does)`);
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-proc-'));
  db = join(dir, 'tesa.db');
  store = openStore(db);
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function start(script: string, args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): ChildProcess {
  const child = spawn(process.execPath, [fixture(script), storeUrl, db, ...args], { stdio: [stdin, 'pipe', 'pipe'] });
  children.push(child);
  return child;
}

/** Resolves with the child's first stdout line that matches. */
function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').slice(0, -1).find((l) => pattern.test(l)); // complete lines only
      if (line !== undefined) {
        child.stdout!.off('data', onData);
        resolve(line);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before printing ${pattern}: ${err}`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

function newSearch(): number {
  return store.createSearch({ model: 'zoo:mlp', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 } }).id;
}

describe('one runner per search', () => {
  it('two processes racing for the same searches: exactly one wins each', async () => {
    const rounds = 15;
    for (let i = 0; i < rounds; i++) newSearch();
    const a = start('lock-race.mjs', [String(rounds), '60'], 'pipe');
    const b = start('lock-race.mjs', [String(rounds), '60'], 'pipe');
    const resultA = waitForLine(a, /^\{/);
    const resultB = waitForLine(b, /^\{/);
    await Promise.all([waitForLine(a, /^ready$/), waitForLine(b, /^ready$/)]);
    const startAt = `${Date.now() + 300}\n`;
    a.stdin!.write(startAt);
    b.stdin!.write(startAt);
    const [la, lb] = await Promise.all([resultA, resultB]);
    const ra = JSON.parse(la) as { pid: number; results: Array<{ won: boolean; code?: string; message?: string }> };
    const rb = JSON.parse(lb) as typeof ra;
    for (let r = 0; r < rounds; r++) {
      const wa = ra.results[r]!;
      const wb = rb.results[r]!;
      expect(Number(wa.won) + Number(wb.won), `round ${r}`).toBe(1);
      const loser = wa.won ? wb : wa;
      const winnerPid = wa.won ? ra.pid : rb.pid;
      expect(loser.code).toBe('LOCKED');
      expect(loser.message).toMatch(new RegExp(`^search ${r + 1} is being run by pid ${winnerPid} on host .+ \\(heartbeat \\d+ s ago\\)$`));
      expect(store.getSearch(r + 1)?.ownerPid).toBe(winnerPid);
    }
  });

  it('a live owner is refused with the LOCKED message; after SIGKILL its lock is taken over', async () => {
    const id = newSearch();
    const holder = start('hold-lock.mjs', [String(id)]);
    await waitForLine(holder, /^acquired$/);
    let refused: TesaError | undefined;
    try {
      store.acquireSearch(id);
    } catch (e) {
      refused = e as TesaError;
    }
    expect(refused).toBeInstanceOf(TesaError);
    expect(refused!.code).toBe('LOCKED');
    expect(refused!.message).toMatch(new RegExp(`^search ${id} is being run by pid ${holder.pid} on host ${hostname()} \\(heartbeat \\d+ s ago\\)$`));
    expect(refused!.hint).toBe(`use 'tesa watch ${id}' to follow it, or stop it with 'tesa stop ${id}'`);
    // on this host a live pid keeps its search even when its heartbeat is late (no twin runner)
    await new Promise((r) => setTimeout(r, 20));
    expect(() => store.acquireSearch(id, { staleAfterMs: 1 })).toThrow(/being run by pid/);

    holder.kill('SIGKILL');
    await exited(holder);
    const taken = store.acquireSearch(id);
    expect(taken.tookOverFrom?.pid).toBe(holder.pid);
    expect(store.getSearch(id)).toMatchObject({ ownerPid: process.pid, ownerHost: hostname() });
    expect(store.heartbeat(id)).toBe(true);
    expect(store.releaseSearch(id)).toBe(true);
    expect(store.getSearch(id)?.ownerPid).toBeNull();
  });

  it('a live pid on this host silent for longer than a pid can be trusted is taken over (pid reuse)', async () => {
    const id = newSearch();
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' }); // alive, never beats
    children.push(sleeper);
    store.acquireSearch(id, { pid: sleeper.pid! });
    expect(() => store.acquireSearch(id)).toThrow(/being run by pid/);
    const raw = new Database(db);
    raw.prepare('UPDATE searches SET heartbeat_at = ? WHERE id = ?').run(Date.now() - SAME_HOST_STALE_AFTER_MS - 1000, id);
    raw.close();
    expect(store.acquireSearch(id).tookOverFrom?.pid).toBe(sleeper.pid);
  });

  it('a runner killed but not yet reaped (a zombie) counts as dead', async () => {
    const id = newSearch();
    // sh forks a child, prints its pid, kills it with SIGKILL and sleeps without reaping it
    const sh = spawn('sh', ['-c', 'sleep 60 & echo $!; kill -9 $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(sh);
    const zombie = await new Promise<number>((resolve) => sh.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    // wait until the kernel shows it as a zombie
    for (let i = 0; i < 100 && !readFileSync(`/proc/${zombie}/stat`, 'utf8').includes(') Z'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(readFileSync(`/proc/${zombie}/stat`, 'utf8')).toContain(') Z');
    expect(pidAlive(zombie)).toBe(false);
    store.acquireSearch(id, { pid: zombie });
    expect(store.acquireSearch(id).tookOverFrom?.pid).toBe(zombie);
    expect(pidAlive(process.pid)).toBe(true);
  });

  it('an owner on another host is live until its heartbeat goes stale', async () => {
    const id = newSearch();
    store.acquireSearch(id, { pid: 4242, host: 'elsewhere' });
    expect(() => store.acquireSearch(id)).toThrow(/being run by pid 4242 on host elsewhere/);
    await new Promise((r) => setTimeout(r, 30));
    const taken = store.acquireSearch(id, { staleAfterMs: 10 });
    expect(taken.tookOverFrom).toMatchObject({ pid: 4242, host: 'elsewhere' });
    // the old owner finds out on its next heartbeat and cannot release what it lost
    expect(store.heartbeat(id, 4242, 'elsewhere')).toBe(false);
    expect(store.releaseSearch(id, 4242, 'elsewhere')).toBe(false);
    expect(store.getSearch(id)?.ownerPid).toBe(process.pid);
  });
});

describe('first use', () => {
  it('several processes creating the same fresh database at once all succeed, migrated once', async () => {
    const fresh = join(dir, 'fresh', 'tesa.db');
    const startAt = String(Date.now() + 2500);
    const kids = [0, 1, 2, 3].map(() => {
      const child = spawn(process.execPath, [fixture('open-and-create.mjs'), storeUrl, fresh, startAt], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return waitForLine(child, /^(created|error) /);
    });
    const lines = await Promise.all(kids);
    expect(lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(lines.map((l) => Number(l.split(' ')[1])).sort()).toEqual([1, 2, 3, 4]);
    const s = openStore(fresh);
    try {
      expect(s.integrityCheck()).toBe('ok');
      expect(s.journalMode()).toBe('wal');
      expect(s.listSearches().length).toBe(4);
    } finally {
      s.close();
    }
  });
});

describe('crash safety', () => {
  it('SIGKILL at arbitrary instants never separates a trial from its checkpoint', async () => {
    const id = newSearch();
    // Fixed, varied delays: deterministic test, kill points spread over starting, writing and idle.
    const delays = [5, 40, 13, 90, 27, 60, 8, 120, 33, 75, 18, 50];
    let lastReady = -1;
    for (const delay of delays) {
      const child = start('trial-writer.mjs', [String(id)]);
      const ready = await waitForLine(child, /^ready \d+$/);
      const seq = Number(ready.split(' ')[1]);
      expect(seq).toBeGreaterThanOrEqual(lastReady); // never goes back
      lastReady = seq;
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await exited(child);
    }
    expect(store.integrityCheck()).toBe('ok');
    const trials = store.listTrials(id);
    expect(trials.length).toBeGreaterThan(delays.length); // it made progress between kills
    trials.forEach((t, i) => expect(t.seq).toBe(i)); // no gap, no duplicate
    const running = trials.filter((t) => t.status === 'running');
    expect(running.length).toBeLessThanOrEqual(1);
    if (running.length) expect(running[0]!.seq).toBe(trials.length - 1);
    const finished = trials.filter((t) => t.status === 'ok');
    const cp = store.latestCheckpoint<{ seq: number }>(id)!;
    expect(cp.seq).toBe(finished[finished.length - 1]!.seq);
    expect(cp.state.seq).toBe(cp.seq);
    // every finished trial has its checkpoint and its measurement, and nothing else does
    for (const t of finished) expect(store.listMeasurements(id, { trialId: t.id }).length, `trial ${t.seq}`).toBe(1);
    for (const t of running) expect(store.listMeasurements(id, { trialId: t.id }).length).toBe(0);
    const raw = new Database(db, { readonly: true });
    try {
      const seqs = (raw.prepare('SELECT seq FROM checkpoints WHERE search_id = ? ORDER BY seq').all(id) as Array<{ seq: number }>).map((r) => r.seq);
      expect(seqs).toEqual(finished.map((t) => t.seq));
    } finally {
      raw.close();
    }
    expect(store.getSearch(id)?.elapsedMs).toBe(cp.seq);
    // a resume abandons the trial in flight and continues right after the checkpoint
    store.acquireSearch(id);
    store.deleteRunningTrials(id);
    expect(store.nextTrialSeq(id)).toBe(cp.seq + 1);
  });
});
