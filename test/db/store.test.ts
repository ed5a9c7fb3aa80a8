import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../db/store.js';
import { latestSchemaVersion } from '../../db/migrations.js';
import { TesaError } from '../../src/errors.js';
import type { Candidate } from '../../src/space/space.js';

let dir: string;
let store: Store | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-store-'));
});
afterEach(() => {
  store?.close();
  store = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const candidate: Candidate = { groups: { g0: { ratio: 0.5, pattern: 'block:1x32', precision: 'fp32' } } };

function catchError(fn: () => unknown): TesaError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TesaError) return e;
    throw e;
  }
  throw new Error('expected a TesaError');
}

describe('opening', () => {
  it('applies every migration, turns WAL and foreign keys on, and reopens idempotently', () => {
    const file = join(dir, 'sub', 'tesa.db');
    store = openStore(file);
    expect(store.schemaVersion()).toBe(latestSchemaVersion());
    expect(latestSchemaVersion()).toBeGreaterThanOrEqual(1);
    expect(store.journalMode()).toBe('wal');
    const s = store.createSearch({ model: 'zoo:mlp', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 } });
    store.close();
    store = openStore(file);
    expect(store.schemaVersion()).toBe(latestSchemaVersion());
    expect(store.getSearch(s.id)?.model).toBe('zoo:mlp');
    expect(store.integrityCheck()).toBe('ok');
    // foreign keys are enforced: a trial of a search that does not exist is refused
    expect(() => store!.startTrial(999, 0, candidate, 'h')).toThrow(TesaError);
  });

  it('resolves the path from TESA_DB when none is given', () => {
    const file = join(dir, 'env.db');
    const old = process.env.TESA_DB;
    process.env.TESA_DB = file;
    try {
      store = openStore();
      expect(store.path).toBe(file);
      expect(existsSync(file)).toBe(true);
    } finally {
      if (old === undefined) delete process.env.TESA_DB;
      else process.env.TESA_DB = old;
    }
  });

  it('refuses a database with a newer schema, naming both versions', () => {
    const file = join(dir, 'new.db');
    const raw = new Database(file);
    raw.pragma(`user_version = ${latestSchemaVersion() + 5}`);
    raw.close();
    const e = catchError(() => openStore(file));
    expect(e.code).toBe('STORE');
    expect(e.message).toBe(`${file}: database schema version ${latestSchemaVersion() + 5} is newer than this tesa supports (${latestSchemaVersion()})`);
    expect(e.hint).toMatch(/upgrade tesa or use another --db/);
  });

  it('refuses a file that is not a database and leaves it byte-identical', () => {
    const file = join(dir, 'garbage.db');
    const bytes = Buffer.alloc(8192);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 37 + 11) & 0xff;
    writeFileSync(file, bytes);
    const e = catchError(() => openStore(file));
    expect(e.code).toBe('STORE');
    expect(e.message).toContain(`${file}: not a tesa database or corrupt (SQLITE_NOTADB`);
    expect(e.hint).toMatch(/never re-creates/);
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(readdirSync(dir)).toEqual(['garbage.db']);
    // read-only opening says the same
    expect(catchError(() => openStore(file, { readonly: true })).message).toContain('SQLITE_NOTADB');
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it('refuses a corrupt database (valid header, garbage pages) without touching it', () => {
    const file = join(dir, 'corrupt.db');
    const s = openStore(file);
    for (let i = 0; i < 50; i++) s.addEvent({ kind: 'fill', message: 'x'.repeat(500) });
    s.close();
    // checkpoint the WAL into the main file, then scribble over the schema page
    const raw = new Database(file);
    raw.pragma('wal_checkpoint(TRUNCATE)');
    raw.pragma('journal_mode = DELETE');
    raw.close();
    const bytes = readFileSync(file);
    bytes.fill(0xa5, 100, 4096);
    writeFileSync(file, bytes);
    const e = catchError(() => openStore(file));
    expect(e.code).toBe('STORE');
    expect(e.message).toMatch(/not a tesa database or corrupt \(SQLITE_(CORRUPT|NOTADB)/);
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it('read-only: a missing database is NOT_FOUND and nothing is created', () => {
    const file = join(dir, 'none', 'tesa.db');
    const e = catchError(() => openStore(file, { readonly: true }));
    expect(e.code).toBe('NOT_FOUND');
    expect(existsSync(join(dir, 'none'))).toBe(false);
  });

  it('read-only: reads work, writes fail with a STORE error', () => {
    const file = join(dir, 'ro.db');
    const w = openStore(file);
    const s = w.createSearch({ model: 'zoo:mlp', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 } });
    store = openStore(file, { readonly: true });
    expect(store.getSearch(s.id)?.status).toBe('queued');
    const e = catchError(() => store!.addEvent({ kind: 'x', message: 'y' }));
    expect(e.code).toBe('STORE');
    expect(e.message).toMatch(/read-only|readonly/);
    w.close();
    store.close();
    // after the writer closed cleanly (no -wal / -shm left) a reader still opens it
    store = openStore(file, { readonly: true });
    expect(store.listSearches().map((x) => x.id)).toEqual([s.id]);
  });

  it('a folder that cannot be created is a STORE error naming it', () => {
    // a regular file where the folder should be: fails for root too (ENOTDIR)
    const blocker = join(dir, 'blocker');
    writeFileSync(blocker, 'not a folder');
    const e = catchError(() => openStore(join(blocker, 'state', 'tesa.db')));
    expect(e.code).toBe('STORE');
    expect(e.message).toContain(join(blocker, 'state'));
    expect(readFileSync(blocker, 'utf8')).toBe('not a folder');
  });
});

describe('searches', () => {
  beforeEach(() => {
    store = openStore(join(dir, 'tesa.db'));
  });

  it('creates, reads, updates and lists with JSON columns parsed', () => {
    const s = store!.createSearch({
      model: 'zoo:bert-mini',
      target: 'cpu',
      strategy: 'sa',
      budget: { ms: 12 },
      options: { seed: 7, maxTrials: 40, patterns: ['block:1x32'] },
      fingerprint: { target: 'cpu', id: 'fp1', details: { cpu: 'x' } },
    });
    expect(s).toMatchObject({ status: 'queued', budget: { ms: 12 }, options: { seed: 7, maxTrials: 40, patterns: ['block:1x32'] }, fingerprintId: 'fp1', control: 'none', elapsedMs: 0, baseline: null });
    const u = store!.updateSearch(s.id, { status: 'running', baseline: { medianMs: 3, madMs: 0.1, ciLowMs: 2.9, ciHighMs: 3.1, n: 30 }, elapsedMs: 1234, startedAt: 5 });
    expect(u).toMatchObject({ status: 'running', baseline: { medianMs: 3, n: 30 }, elapsedMs: 1234, startedAt: 5 });
    expect(u.updatedAt).toBeGreaterThanOrEqual(s.updatedAt);
    const s2 = store!.createSearch({ model: 'zoo:mlp', target: 'cuda', strategy: 'random', budget: { ratio: 0.5 } });
    expect(store!.listSearches().map((x) => x.id)).toEqual([s2.id, s.id]);
    expect(store!.listSearches({ status: 'running' }).map((x) => x.id)).toEqual([s.id]);
    expect(store!.listSearches({ status: ['queued', 'running'] }).length).toBe(2);
    expect(store!.nextQueued()?.id).toBe(s2.id);
    expect(store!.nextQueued('cpu')).toBeUndefined();
    expect(() => store!.updateSearch(999, { status: 'done' })).toThrow(/no search 999/);
    expect(() => store!.updateSearch(s.id, { status: 'bogus' as never })).toThrow(TesaError);
  });

  it('requireSearch names the id and the database', () => {
    const e = catchError(() => store!.requireSearch(42));
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toBe(`no search 42 in ${store!.path}`);
  });

  it('control requests are read and cleared once', () => {
    const s = store!.createSearch({ model: 'm', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 } });
    expect(store!.takeControl(s.id)).toBe('none');
    store!.setControl(s.id, 'pause');
    expect(store!.getSearch(s.id)?.control).toBe('pause');
    expect(store!.takeControl(s.id)).toBe('pause');
    expect(store!.takeControl(s.id)).toBe('none');
    expect(() => store!.setControl(77, 'stop')).toThrow(/no search 77/);
  });
});

describe('trials, checkpoints, measurements, events', () => {
  beforeEach(() => {
    store = openStore(join(dir, 'tesa.db'));
  });

  it('records a trial with its checkpoint and search update in one go, and abandons running trials', () => {
    const s = store!.createSearch({ model: 'm', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 } });
    store!.putCheckpoint(s.id, -1, { rng: 'initial' });
    expect(store!.nextTrialSeq(s.id)).toBe(0);
    const t0 = store!.startTrial(s.id, 0, candidate, 'h0');
    expect(store!.getTrial(t0)).toMatchObject({ status: 'running', seq: 0, candidate, candidateHash: 'h0', feasible: false });
    store!.recordTrialAndCheckpoint(
      {
        trialId: t0,
        status: 'ok',
        latencyMs: 2,
        ciLowMs: 1.9,
        ciHighMs: 2.1,
        latencyRatio: 0.6,
        quality: 0.93,
        feasible: true,
        sparsity: { fc1: { before: 0.5, after: 0.55 } },
        kernelsBuilt: 3,
        kernelsCached: 1,
        measurement: { samplesMs: [2, 2.1, 1.9], medianMs: 2, madMs: 0.1, ciLowMs: 1.9, ciHighMs: 2.1, n: 3 },
      },
      { state: { rng: 'after0', temperature: 90 } },
      { bestTrialId: t0, elapsedMs: 100 },
    );
    expect(store!.getTrial(t0)).toMatchObject({ status: 'ok', latencyRatio: 0.6, feasible: true, sparsity: { fc1: { before: 0.5, after: 0.55 } } });
    expect(store!.latestCheckpoint(s.id)).toMatchObject({ seq: 0, state: { rng: 'after0', temperature: 90 } });
    expect(store!.getSearch(s.id)).toMatchObject({ bestTrialId: t0, elapsedMs: 100 });
    expect(store!.listMeasurements(s.id, { trialId: t0 })).toMatchObject([{ kind: 'trial', samplesMs: [2, 2.1, 1.9], n: 3 }]);

    // a failing part rolls the whole record back: the trial stays running, no checkpoint 1
    const t1 = store!.startTrial(s.id, 1, candidate, 'h0');
    expect(() => store!.recordTrialAndCheckpoint({ trialId: t1, status: 'failed', feasible: false, reason: 'x' }, { state: {} }, { status: 'nope' as never })).toThrow(TesaError);
    expect(store!.getTrial(t1)?.status).toBe('running');
    expect(store!.latestCheckpoint(s.id)?.seq).toBe(0);

    expect(() => store!.startTrial(s.id, 1, candidate, 'dup')).toThrow(TesaError); // UNIQUE(search_id, seq)
    expect(store!.trialCounts(s.id)).toEqual({ total: 2, running: 1, ok: 1, failed: 0, feasible: 1 });
    expect(store!.deleteRunningTrials(s.id)).toBe(1);
    expect(store!.getTrial(t1)).toBeUndefined();
    expect(store!.nextTrialSeq(s.id)).toBe(1);
    expect(store!.findTrialsByCandidate(s.id, 'h0').map((t) => t.id)).toEqual([t0]);

    for (let seq = 1; seq < 6; seq++) {
      const id = store!.startTrial(s.id, seq, candidate, `h${seq}`);
      store!.recordTrialAndCheckpoint({ trialId: id, status: seq % 2 ? 'failed' : 'ok', feasible: false, reason: seq % 2 ? 'build failed' : null }, { state: { seq } });
    }
    expect(store!.listTrials(s.id).map((t) => t.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(store!.listTrials(s.id, { afterSeq: 3 }).map((t) => t.seq)).toEqual([4, 5]);
    expect(store!.listTrials(s.id, { limit: 2 }).map((t) => t.seq)).toEqual([0, 1]);
    expect(store!.listTrials(s.id, { tail: 2 }).map((t) => t.seq)).toEqual([4, 5]);
    expect(store!.listTrials(s.id, { status: 'failed' }).map((t) => t.seq)).toEqual([1, 3, 5]);
    expect(store!.trialCounts(s.id)).toEqual({ total: 6, running: 0, ok: 3, failed: 3, feasible: 1 });
    expect(store!.latestCheckpoint<{ seq: number }>(s.id)?.state.seq).toBe(5);
  });

  it('stores measurements and events and reads them incrementally', () => {
    const s = store!.createSearch({ model: 'm', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 } });
    store!.addMeasurement({ searchId: s.id, kind: 'baseline', samplesMs: [1, 2], medianMs: 1.5, madMs: 0.5, ciLowMs: 1, ciHighMs: 2, n: 2 });
    store!.addMeasurement({ searchId: null, kind: 'bench', samplesMs: [1], medianMs: 1, madMs: 0, ciLowMs: 1, ciHighMs: 1, n: 1 });
    expect(store!.listMeasurements(s.id, { kind: 'baseline' }).map((m) => m.medianMs)).toEqual([1.5]);
    expect(store!.listMeasurements(null).map((m) => m.kind)).toEqual(['bench']);
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(store!.addEvent({ searchId: s.id, kind: 'trial', message: `t${i}`, data: { i } }));
    store!.addEvent({ kind: 'daemon', level: 'warn', message: 'started' });
    expect(store!.listEvents(s.id).map((e) => e.message)).toEqual(['t0', 't1', 't2', 't3', 't4']);
    expect(store!.listEvents(s.id, { afterId: ids[2] }).map((e) => e.data)).toEqual([{ i: 3 }, { i: 4 }]);
    expect(store!.listEvents(s.id, { tail: 2 }).map((e) => e.message)).toEqual(['t3', 't4']);
    expect(store!.listEvents(s.id, { limit: 1 }).map((e) => e.message)).toEqual(['t0']);
    expect(store!.listEvents(null)).toMatchObject([{ level: 'warn', kind: 'daemon', searchId: null }]);
  });
});

describe('kernels and plan decisions', () => {
  beforeEach(() => {
    store = openStore(join(dir, 'tesa.db'));
  });

  it('implements KernelIndex with LRU accounting', async () => {
    const base = { fingerprintId: 'fp', language: 'c' as const, entry: 'k', sourcePath: '/s.c', libraryPath: '/s.so', buildMs: 10, status: 'ok' as const, maxRelError: null, error: null };
    store!.putKernel({ ...base, hash: 'a', sizeBytes: 100 });
    await new Promise((r) => setTimeout(r, 5));
    store!.putKernel({ ...base, hash: 'b', sizeBytes: 200 });
    await new Promise((r) => setTimeout(r, 5));
    store!.putKernel({ ...base, hash: 'c', sizeBytes: 300, fingerprintId: 'other' });
    expect(store!.getKernel('a')).toMatchObject({ hash: 'a', sizeBytes: 100, maxRelError: null, status: 'ok' });
    expect(store!.getKernel('zzz')).toBeUndefined();
    expect(store!.totalKernelBytes()).toBe(600);
    expect(store!.totalKernelBytes('fp')).toBe(300);
    expect(store!.lruKernels(10).map((k) => k.hash)).toEqual(['a', 'b', 'c']);
    await new Promise((r) => setTimeout(r, 5));
    store!.touchKernel('a');
    expect(store!.lruKernels(2).map((k) => k.hash)).toEqual(['b', 'c']);
    store!.putKernel({ ...base, hash: 'b', sizeBytes: 200, status: 'wrong', maxRelError: 0.5 });
    expect(store!.getKernel('b')).toMatchObject({ status: 'wrong', maxRelError: 0.5 });
    store!.deleteKernel('b');
    expect(store!.totalKernelBytes()).toBe(400);
  });

  it('remembers plan decisions', () => {
    expect(store!.getPlanDecision('k')).toBeUndefined();
    store!.putPlanDecision('k', 'fp', { kernel: 'gemm-bsr', block: [1, 32] });
    expect(store!.getPlanDecision('k')).toEqual({ kernel: 'gemm-bsr', block: [1, 32] });
    store!.putPlanDecision('k', 'fp', { kernel: 'gemm-dense' });
    expect(store!.getPlanDecision<{ kernel: string }>('k')?.kernel).toBe('gemm-dense');
  });

  it('dataVersion moves when another connection commits', () => {
    const other = openStore(store!.path);
    try {
      const v0 = store!.dataVersion();
      other.addEvent({ kind: 'x', message: 'y' });
      expect(store!.dataVersion()).not.toBe(v0);
    } finally {
      other.close();
    }
  });
});

describe('transaction', () => {
  it('groups calls atomically and lets the caller’s own error through untouched', () => {
    store = openStore(join(dir, 'tesa.db'));
    const s = store.createSearch({ model: 'm', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 } });
    class Mine extends Error {}
    expect(() =>
      store!.transaction(() => {
        store!.addEvent({ searchId: s.id, kind: 'a', message: 'one' });
        store!.updateSearch(s.id, { status: 'running' });
        throw new Mine('boom');
      }),
    ).toThrow(Mine);
    expect(store.listEvents(s.id)).toEqual([]);
    expect(store.getSearch(s.id)?.status).toBe('queued');
    store.transaction(() => {
      store!.addEvent({ searchId: s.id, kind: 'a', message: 'one' });
      store!.updateSearch(s.id, { status: 'running' });
    });
    expect(store.listEvents(s.id).length).toBe(1);
    expect(store.getSearch(s.id)?.status).toBe('running');
  });
});
