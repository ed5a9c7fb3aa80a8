/**
 * The store: the single source of truth for searches, trials, measurements, kernels,
 * checkpoints and events (DESIGN.md, "Store"). One SQLite file in WAL mode so the TUI and
 * `show` can read while a runner writes. Plain typed objects in and out; JSON columns are
 * parsed here so nobody else sees SQL rows.
 *
 * Opening never re-creates or "repairs" a database: a newer schema or a file that is not a
 * tesa database is refused with a one-line TesaError.
 */
import Database from 'better-sqlite3';
import { accessSync, constants as fsConstants, existsSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { TesaError } from '../src/errors.js';
import { sleepSync } from '../src/util/sleep-sync.js';
import { dbPath, ensureDir } from '../src/util/state-dir.js';
import type { Fingerprint, KernelIndex, KernelRecord } from '../backends/backend.js';
import type { Candidate } from '../src/space/space.js';
import { latestSchemaVersion, loadMigrations } from './migrations.js';

export type SearchStatus = 'queued' | 'running' | 'paused' | 'stopping' | 'stopped' | 'done' | 'failed';
export const SEARCH_STATUSES: readonly SearchStatus[] = ['queued', 'running', 'paused', 'stopping', 'stopped', 'done', 'failed'];
/** Statuses after which a search is never picked up again without an explicit resume. */
export const FINISHED_STATUSES: readonly SearchStatus[] = ['stopped', 'done', 'failed'];

export type Control = 'none' | 'pause' | 'resume' | 'stop';
export type TrialStatus = 'running' | 'ok' | 'failed';
export type MeasurementKind = 'baseline' | 'trial' | 'final' | 'final-baseline' | 'bench';
export type EventLevel = 'info' | 'warn' | 'error';

/** `--latency-budget 0.7` → { ratio: 0.7 }; `--latency-budget 12ms` → { ms: 12 }. */
export type Budget = { ratio: number } | { ms: number };

/** Summary of a set of latency samples (see evaluate/). */
export interface LatencyStats {
  medianMs: number;
  madMs: number;
  ciLowMs: number;
  ciHighMs: number;
  n: number;
}

/** The dense model's latency on this target; `flops` when the search costs by FLOPs. */
export interface Baseline extends LatencyStats {
  flops?: number;
}

/** Everything needed to resume a search (seed, max trials, time limit, patterns, …). */
export type SearchOptions = Record<string, unknown>;

export interface SearchRecord {
  id: number;
  createdAt: number;
  updatedAt: number;
  status: SearchStatus;
  /** What the user gave: a path or `zoo:NAME`. */
  model: string;
  target: string;
  fingerprintId: string | null;
  fingerprint: Fingerprint | null;
  strategy: string;
  budget: Budget;
  options: SearchOptions;
  baseline: Baseline | null;
  bestTrialId: number | null;
  error: string | null;
  control: Control;
  ownerPid: number | null;
  ownerHost: string | null;
  heartbeatAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** Run time accumulated across resumes, ms. */
  elapsedMs: number;
}

export interface NewSearch {
  model: string;
  target: string;
  strategy: string;
  budget: Budget;
  options?: SearchOptions;
  status?: SearchStatus;
  fingerprint?: Fingerprint;
}

/** The fields a runner or a command may change. `updatedAt` is always set to now. */
export interface SearchUpdate {
  status?: SearchStatus;
  fingerprint?: Fingerprint | null;
  options?: SearchOptions;
  baseline?: Baseline | null;
  bestTrialId?: number | null;
  error?: string | null;
  startedAt?: number | null;
  finishedAt?: number | null;
  elapsedMs?: number;
}

/** Per-layer (or per-group) sparsity before and after propagation, as fractions pruned. */
export type SparsitySummary = Record<string, { before: number; after: number }>;

export interface TrialRecord {
  id: number;
  searchId: number;
  /** 0, 1, 2, … per search: the order the strategy asked. */
  seq: number;
  candidateHash: string;
  candidate: Candidate;
  status: TrialStatus;
  latencyMs: number | null;
  ciLowMs: number | null;
  ciHighMs: number | null;
  latencyRatio: number | null;
  quality: number | null;
  feasible: boolean;
  reason: string | null;
  sparsity: SparsitySummary | null;
  flops: number | null;
  kernelsBuilt: number | null;
  kernelsCached: number | null;
  startedAt: number;
  finishedAt: number | null;
}

/** The outcome of a trial, written by finishTrial / recordTrialAndCheckpoint. */
export interface TrialResult {
  trialId: number;
  status: 'ok' | 'failed';
  latencyMs?: number | null;
  ciLowMs?: number | null;
  ciHighMs?: number | null;
  latencyRatio?: number | null;
  quality?: number | null;
  feasible: boolean;
  reason?: string | null;
  sparsity?: SparsitySummary | null;
  flops?: number | null;
  kernelsBuilt?: number | null;
  kernelsCached?: number | null;
  /** The raw samples of the trial, stored as a 'trial' measurement in the same transaction. */
  measurement?: Omit<NewMeasurement, 'searchId' | 'trialId' | 'kind'>;
}

export interface CheckpointInput {
  /** The trial seq after which the state was taken; defaults to the recorded trial's seq. */
  seq?: number;
  state: unknown;
}

export interface Checkpoint<T = unknown> {
  searchId: number;
  seq: number;
  state: T;
  createdAt: number;
}

export interface NewMeasurement extends LatencyStats {
  searchId: number | null;
  trialId?: number | null;
  kind: MeasurementKind;
  samplesMs: number[];
}

export interface MeasurementRecord extends LatencyStats {
  id: number;
  searchId: number | null;
  trialId: number | null;
  kind: MeasurementKind;
  samplesMs: number[];
  createdAt: number;
}

export interface NewEvent {
  searchId?: number | null;
  level?: EventLevel;
  kind: string;
  message: string;
  data?: unknown;
}

export interface EventRecord {
  id: number;
  searchId: number | null;
  at: number;
  level: EventLevel;
  kind: string;
  message: string;
  data: unknown;
}

export interface StoredKernel extends KernelRecord {
  createdAt: number;
  lastUsedAt: number;
}

export interface TrialCounts {
  total: number;
  running: number;
  ok: number;
  failed: number;
  feasible: number;
}

export interface LockOwner {
  pid: number;
  host: string;
  heartbeatAt: number | null;
}

export interface AcquireOptions {
  pid?: number;
  host?: string;
  /** An owner silent for longer than this is presumed dead, whichever host it is on. */
  staleAfterMs?: number;
}

/** How often a runner should call heartbeat(), and when others may take its search over. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
export const DEFAULT_STALE_AFTER_MS = 30_000;
/** On this host, how long a live pid that stopped beating still owns its search (pid reuse guard). */
export const SAME_HOST_STALE_AFTER_MS = 10 * 60_000;

export interface OpenOptions {
  readonly?: boolean;
  /**
   * For readers (list, show, watch, daemon status): when the file or its folder cannot be
   * written (read-only mount, immutable file, another user's), open it read-only instead of
   * failing. Writers never pass this: they call assertStoreWritable before any work.
   */
  readOnlyFallback?: boolean;
}

/**
 * Why tesa cannot write the database file or beside it (WAL files, daemon log), or null when
 * it can. A file not there yet is judged by its folder when that exists (a missing folder is
 * ensureDir's to create or refuse).
 */
export function storeWriteProblem(path?: string): string | null {
  const file = dbPath(path);
  if (!existsSync(file)) {
    const dir = dirname(file);
    const folder = existsSync(dir) && statSync(dir).isDirectory() ? folderWriteProblem(file) : null;
    return folder ? `its folder ${folder}` : null;
  }
  try {
    accessSync(file, fsConstants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return 'the file is on a read-only file system';
    if (code === 'EACCES' || code === 'EPERM') return `the file is not writable (${code})`;
  }
  const folder = folderWriteProblem(file);
  return folder ? `its folder ${folder}` : null;
}

/**
 * Before a writer (optimize, resume, the daemon) does any work: a read-only database is one
 * line naming the file, not a failure half-way (or a kernel folder error) later. Nothing is
 * opened or written.
 */
export function assertStoreWritable(path?: string): void {
  const file = dbPath(path);
  const problem = storeWriteProblem(file);
  if (problem) {
    throw new TesaError('STORE', `${file}: cannot write the database: ${problem}`, "copy it to a writable folder and pass --db, or make it writable; 'tesa list' and 'tesa show' still read it as it is");
  }
}

// ---------------------------------------------------------------------------------------

export function openStore(path?: string, opts: OpenOptions = {}): Store {
  const file = dbPath(path);
  const readonly = opts.readonly === true || (opts.readOnlyFallback === true && storeWriteProblem(file) !== null);
  if (readonly && !existsSync(file)) {
    throw new TesaError('NOT_FOUND', `${file}: no tesa database there`, "run 'tesa optimize' first, or point --db / TESA_DB at an existing database");
  }
  if (!readonly) ensureDir(dirname(file));

  // SQLite answers some lock conflicts with SQLITE_BUSY at once instead of waiting (two
  // processes creating one database: both read, then both want to switch it to WAL or migrate
  // it). Those are retried, with a little jitter, for as long as the busy timeout would wait.
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return openStoreOnce(file, readonly);
    } catch (e) {
      const busy = e instanceof TesaError && e.code === 'STORE' && /SQLITE_BUSY/.test(e.message);
      if (!busy || Date.now() >= deadline) throw e;
      sleepSync(20 + ((attempt * 37) % 80));
    }
  }
}

/** How long opening a database waits for another process's lock (SQLite's busy timeout, and retries of immediate BUSY). */
const BUSY_WAIT_MS = 5_000;

function openStoreOnce(file: string, readonly: boolean): Store {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly, fileMustExist: readonly, timeout: BUSY_WAIT_MS });
  } catch (e) {
    throw storeError(file, e);
  }
  if (readonly) db = readableOrSnapshot(db, file);
  try {
    // Touch the schema first: for a file that is not a database this is where SQLite says so,
    // before any pragma could try to write to it.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    db.pragma('foreign_keys = ON');
    const version = db.pragma('user_version', { simple: true }) as number;
    const latest = latestSchemaVersion();
    if (version > latest) {
      throw new TesaError('STORE', `${file}: database schema version ${version} is newer than this tesa supports (${latest})`, 'upgrade tesa or use another --db');
    }
    if (readonly) {
      if (version < latest) {
        throw new TesaError('STORE', `${file}: database schema version ${version} is older than this tesa (${latest}) and it was opened read-only`, 'run any writing tesa command on it once (e.g. tesa list) to upgrade it');
      }
    } else {
      if ((db.pragma('journal_mode', { simple: true }) as string).toLowerCase() !== 'wal') db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // Only take the write lock when there is something to migrate: list/show stay readers.
      if (version < latest) migrate(db, file);
    }
  } catch (e) {
    db.close();
    throw storeError(file, e);
  }
  return new Store(db, file, readonly);
}

function migrate(db: Database.Database, file: string): void {
  const migrations = loadMigrations();
  // IMMEDIATE: two processes opening a fresh database at once must not both migrate it.
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
    if (current > latest) {
      throw new TesaError('STORE', `${file}: database schema version ${current} is newer than this tesa supports (${latest})`, 'upgrade tesa or use another --db');
    }
    for (const m of migrations) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      db.pragma(`user_version = ${m.version}`);
    }
  }).immediate();
}

/** Turns whatever SQLite or the file system threw into one line a user can act on. */
function storeError(file: string, e: unknown): TesaError {
  if (e instanceof TesaError) return e;
  const code = (e as { code?: unknown }).code;
  const codeText = typeof code === 'string' ? code : 'error';
  const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
  if (codeText === 'SQLITE_NOTADB' || codeText.startsWith('SQLITE_CORRUPT')) {
    return new TesaError('STORE', `${file}: not a tesa database or corrupt (${codeText}: ${message})`, 'move it aside; tesa never re-creates a database silently', { cause: e });
  }
  if (codeText.startsWith('SQLITE_READONLY') || codeText.startsWith('SQLITE_CANTOPEN')) {
    // A WAL database needs to write <db>-wal and <db>-shm beside itself, even to be read.
    const folder = folderWriteProblem(file);
    if (folder) {
      return new TesaError('STORE', `${file}: cannot use the database: its folder ${folder} (${codeText})`, 'tesa writes beside its database (WAL); copy it to a writable folder and pass --db, or make the folder writable', { cause: e });
    }
  }
  if (codeText.startsWith('SQLITE_READONLY')) {
    return new TesaError('STORE', `${file}: database is read-only (${codeText})`, 'make the file and its folder writable, or use another --db', { cause: e });
  }
  if (codeText.startsWith('SQLITE_CANTOPEN')) {
    return new TesaError('STORE', `${file}: cannot open database (${codeText})`, 'check that the folder exists and is writable, or use another --db', { cause: e });
  }
  if (codeText === 'SQLITE_FULL') {
    return new TesaError('STORE', `${file}: disk full while writing the database (${codeText})`, 'free some space; nothing written before this point was lost', { cause: e });
  }
  if (codeText === 'SQLITE_BUSY' || codeText.startsWith('SQLITE_BUSY')) {
    return new TesaError('STORE', `${file}: database stayed locked by another process for 5 s (${codeText})`, 'try again; if it persists, look for a hung tesa process', { cause: e });
  }
  if (codeText.startsWith('SQLITE_IOERR')) {
    return new TesaError('STORE', `${file}: I/O error (${codeText}: ${message})`, 'check the disk and the file system', { cause: e });
  }
  return new TesaError('STORE', `${file}: ${message} (${codeText})`, 'run again with --debug and report the trace', { cause: e });
}

/**
 * A WAL database in a folder nobody may write cannot be opened even read-only: SQLite needs
 * to create <db>-shm beside it (and better-sqlite3 has no immutable=1 URI). When no
 * write-ahead log is pending (-wal absent or empty: the last writer checkpointed), the file
 * alone is the whole database: read it into memory, marked rollback-journal in the copy only,
 * and serve it read-only. The file itself is never opened for writing.
 */
function readableOrSnapshot(db: Database.Database, file: string): Database.Database {
  try {
    // SQLite opens lazily: the first read is where a missing -shm shows.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch (e) {
    db.close();
    const snapshot = readOnlySnapshot(file, e);
    if (!snapshot) throw storeError(file, e);
    return snapshot;
  }
}

function readOnlySnapshot(file: string, openError: unknown): Database.Database | null {
  const code = (openError as { code?: unknown }).code;
  if (code !== 'SQLITE_CANTOPEN' || folderWriteProblem(file) === null) return null;
  try {
    if (existsSync(`${file}-wal`) && statSync(`${file}-wal`).size > 0) return null;
    const bytes = readFileSync(file);
    // Bytes 18 and 19: file format write/read version, 2 = WAL. The in-memory copy cannot do WAL.
    if (bytes.length >= 100 && bytes[18] === 2 && bytes[19] === 2) bytes[18] = bytes[19] = 1;
    return new Database(bytes, { readonly: true });
  } catch {
    return null;
  }
}

/** Why the database's folder cannot be written ("is on a read-only file system"), or null. */
function folderWriteProblem(file: string): string | null {
  const dir = dirname(file);
  try {
    accessSync(dir, fsConstants.W_OK);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return `${dir} is on a read-only file system`;
    if (code === 'EACCES') return `${dir} is not writable by this user`;
    if (code === 'EPERM') return `${dir} may not be written (immutable, or not permitted)`;
    if (code === 'ENOENT') return `${dir} does not exist`;
    return null;
  }
}

// ---------------------------------------------------------------------------------------

interface SearchRow {
  id: number;
  created_at: number;
  updated_at: number;
  status: SearchStatus;
  model: string;
  target: string;
  fingerprint_id: string | null;
  fingerprint_json: string | null;
  strategy: string;
  budget_json: string;
  options_json: string;
  baseline_json: string | null;
  best_trial_id: number | null;
  error: string | null;
  control: Control;
  owner_pid: number | null;
  owner_host: string | null;
  heartbeat_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  elapsed_ms: number;
}

interface TrialRow {
  id: number;
  search_id: number;
  seq: number;
  candidate_hash: string;
  candidate_json: string;
  status: TrialStatus;
  latency_ms: number | null;
  ci_low_ms: number | null;
  ci_high_ms: number | null;
  latency_ratio: number | null;
  quality: number | null;
  feasible: number;
  reason: string | null;
  sparsity_json: string | null;
  flops: number | null;
  kernels_built: number | null;
  kernels_cached: number | null;
  started_at: number;
  finished_at: number | null;
}

interface MeasurementRow {
  id: number;
  search_id: number | null;
  trial_id: number | null;
  kind: MeasurementKind;
  samples_json: string;
  median_ms: number;
  mad_ms: number;
  ci_low_ms: number;
  ci_high_ms: number;
  n: number;
  created_at: number;
}

interface KernelRow {
  hash: string;
  fingerprint_id: string;
  language: 'c' | 'cuda';
  entry: string;
  source_path: string;
  library_path: string;
  build_ms: number;
  status: KernelRecord['status'];
  max_rel_error: number | null;
  error: string | null;
  size_bytes: number;
  created_at: number;
  last_used_at: number;
}

interface EventRow {
  id: number;
  search_id: number | null;
  at: number;
  level: EventLevel;
  kind: string;
  message: string;
  data_json: string | null;
}

function parseJson<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

function toJson(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

function searchFromRow(r: SearchRow): SearchRecord {
  return {
    id: r.id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    status: r.status,
    model: r.model,
    target: r.target,
    fingerprintId: r.fingerprint_id,
    fingerprint: parseJson<Fingerprint>(r.fingerprint_json),
    strategy: r.strategy,
    budget: JSON.parse(r.budget_json) as Budget,
    options: JSON.parse(r.options_json) as SearchOptions,
    baseline: parseJson<Baseline>(r.baseline_json),
    bestTrialId: r.best_trial_id,
    error: r.error,
    control: r.control,
    ownerPid: r.owner_pid,
    ownerHost: r.owner_host,
    heartbeatAt: r.heartbeat_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    elapsedMs: r.elapsed_ms,
  };
}

function trialFromRow(r: TrialRow): TrialRecord {
  return {
    id: r.id,
    searchId: r.search_id,
    seq: r.seq,
    candidateHash: r.candidate_hash,
    candidate: JSON.parse(r.candidate_json) as Candidate,
    status: r.status,
    latencyMs: r.latency_ms,
    ciLowMs: r.ci_low_ms,
    ciHighMs: r.ci_high_ms,
    latencyRatio: r.latency_ratio,
    quality: r.quality,
    feasible: r.feasible !== 0,
    reason: r.reason,
    sparsity: parseJson<SparsitySummary>(r.sparsity_json),
    flops: r.flops,
    kernelsBuilt: r.kernels_built,
    kernelsCached: r.kernels_cached,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

function measurementFromRow(r: MeasurementRow): MeasurementRecord {
  return {
    id: r.id,
    searchId: r.search_id,
    trialId: r.trial_id,
    kind: r.kind,
    samplesMs: JSON.parse(r.samples_json) as number[],
    medianMs: r.median_ms,
    madMs: r.mad_ms,
    ciLowMs: r.ci_low_ms,
    ciHighMs: r.ci_high_ms,
    n: r.n,
    createdAt: r.created_at,
  };
}

function kernelFromRow(r: KernelRow): StoredKernel {
  return {
    hash: r.hash,
    fingerprintId: r.fingerprint_id,
    language: r.language,
    entry: r.entry,
    sourcePath: r.source_path,
    libraryPath: r.library_path,
    buildMs: r.build_ms,
    status: r.status,
    maxRelError: r.max_rel_error,
    error: r.error,
    sizeBytes: r.size_bytes,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
  };
}

function eventFromRow(r: EventRow): EventRecord {
  return { id: r.id, searchId: r.search_id, at: r.at, level: r.level, kind: r.kind, message: r.message, data: parseJson<unknown>(r.data_json) };
}

const SEARCH_UPDATE_COLUMNS: Record<keyof SearchUpdate, string> = {
  status: 'status',
  fingerprint: 'fingerprint_json',
  options: 'options_json',
  baseline: 'baseline_json',
  bestTrialId: 'best_trial_id',
  error: 'error',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  elapsedMs: 'elapsed_ms',
};

/**
 * True when a process with this pid runs on this machine (EPERM: exists, not ours). A zombie
 * (killed, not yet reaped by its parent) counts as dead: it will never beat again.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S …"; comm may hold spaces or parentheses, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux) or it just exited: kill(0) said it was there
  }
}

/**
 * Whether a search's owner still counts: 'none' (no owner), 'live', 'stale' (silent too long)
 * or 'dead' (on this host and its pid is gone).
 *
 * On this host a live pid is trusted over a late heartbeat (a runner busy in a long
 * synchronous step must not get a twin), up to SAME_HOST_STALE_AFTER_MS, past which the pid
 * is presumed reused by another program. On another host only the heartbeat tells.
 */
export function ownerState(
  s: Pick<SearchRecord, 'ownerPid' | 'ownerHost' | 'heartbeatAt'>,
  opts: { now?: number; host?: string; staleAfterMs?: number } = {},
): 'none' | 'live' | 'stale' | 'dead' {
  if (s.ownerPid === null) return 'none';
  const now = opts.now ?? Date.now();
  const host = opts.host ?? hostname();
  const silentMs = s.heartbeatAt === null ? Infinity : now - s.heartbeatAt;
  if (s.ownerHost === host) {
    if (!pidAlive(s.ownerPid)) return 'dead';
    return silentMs > Math.max(SAME_HOST_STALE_AFTER_MS, opts.staleAfterMs ?? 0) ? 'stale' : 'live';
  }
  return silentMs > (opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS) ? 'stale' : 'live';
}

// ---------------------------------------------------------------------------------------

export class Store implements KernelIndex {
  readonly path: string;
  readonly readonly: boolean;
  private readonly db: Database.Database;

  constructor(db: Database.Database, path: string, readonly: boolean) {
    this.db = db;
    this.path = path;
    this.readonly = readonly;
  }

  /** Runs fn; any SQLite failure becomes a TesaError naming the database. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      // SQLite's failures become one line naming the database; anything else (a bug, or a
      // caller's own error inside transaction()) goes through untouched.
      const code = (e as { code?: unknown }).code;
      throw typeof code === 'string' && code.startsWith('SQLITE_') ? storeError(this.path, e) : e;
    }
  }

  /** fn in one IMMEDIATE transaction (takes the write lock up front: no upgrade deadlocks). */
  private write<T>(fn: () => T): T {
    return this.guard(() => this.db.transaction(fn).immediate());
  }

  /** Several store calls as one transaction (nested calls become savepoints). */
  transaction<T>(fn: () => T): T {
    return this.write(fn);
  }

  // --- searches -------------------------------------------------------------------------

  createSearch(s: NewSearch): SearchRecord {
    const now = Date.now();
    const id = this.write(() =>
      Number(
        this.db
          .prepare(
            `INSERT INTO searches (created_at, updated_at, status, model, target, fingerprint_id, fingerprint_json, strategy, budget_json, options_json)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(now, now, s.status ?? 'queued', s.model, s.target, s.fingerprint?.id ?? null, toJson(s.fingerprint), s.strategy, JSON.stringify(s.budget), JSON.stringify(s.options ?? {}))
          .lastInsertRowid,
      ),
    );
    return this.requireSearch(id);
  }

  getSearch(id: number): SearchRecord | undefined {
    return this.guard(() => {
      const row = this.db.prepare('SELECT * FROM searches WHERE id = ?').get(id) as SearchRow | undefined;
      return row && searchFromRow(row);
    });
  }

  /** getSearch, or a NOT_FOUND error naming the id and the database. */
  requireSearch(id: number): SearchRecord {
    const s = this.getSearch(id);
    if (!s) throw new TesaError('NOT_FOUND', `no search ${id} in ${this.path}`, "run 'tesa list' to see the searches there, or pass another --db");
    return s;
  }

  /** Newest first. */
  listSearches(filter: { status?: SearchStatus | SearchStatus[] } = {}): SearchRecord[] {
    return this.guard(() => {
      const statuses = filter.status === undefined ? [] : Array.isArray(filter.status) ? filter.status : [filter.status];
      const where = statuses.length ? `WHERE status IN (${statuses.map(() => '?').join(',')})` : '';
      const rows = this.db.prepare(`SELECT * FROM searches ${where} ORDER BY id DESC`).all(...statuses) as SearchRow[];
      return rows.map(searchFromRow);
    });
  }

  updateSearch(id: number, update: SearchUpdate): SearchRecord {
    this.write(() => this.updateSearchIn(id, update));
    return this.requireSearch(id);
  }

  private updateSearchIn(id: number, update: SearchUpdate): void {
    const sets = ['updated_at = ?'];
    const values: Array<string | number | null> = [Date.now()];
    for (const key of Object.keys(update) as Array<keyof SearchUpdate>) {
      const value = update[key];
      if (value === undefined) continue;
      const column = SEARCH_UPDATE_COLUMNS[key];
      if (column === undefined) continue;
      sets.push(`${column} = ?`);
      if (key === 'fingerprint' || key === 'options' || key === 'baseline') values.push(toJson(value));
      else values.push(value as string | number | null);
      if (key === 'fingerprint') {
        sets.push('fingerprint_id = ?');
        values.push((value as Fingerprint | null)?.id ?? null);
      }
    }
    const info = this.db.prepare(`UPDATE searches SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
    if (info.changes === 0) throw new TesaError('NOT_FOUND', `no search ${id} in ${this.path}`, "run 'tesa list' to see the searches there");
  }

  /** The oldest queued search (optionally for one target) that nobody owns. */
  nextQueued(target?: string): SearchRecord | undefined {
    return this.guard(() => {
      const row = (
        target === undefined
          ? this.db.prepare(`SELECT * FROM searches WHERE status = 'queued' ORDER BY id LIMIT 1`).get()
          : this.db.prepare(`SELECT * FROM searches WHERE status = 'queued' AND target = ? ORDER BY id LIMIT 1`).get(target)
      ) as SearchRow | undefined;
      return row && searchFromRow(row);
    });
  }

  /** A request from any terminal (pause, resume, stop); the runner consumes it with takeControl. */
  setControl(id: number, control: Control): void {
    this.write(() => {
      const info = this.db.prepare('UPDATE searches SET control = ?, updated_at = ? WHERE id = ?').run(control, Date.now(), id);
      if (info.changes === 0) throw new TesaError('NOT_FOUND', `no search ${id} in ${this.path}`, "run 'tesa list' to see the searches there");
    });
  }

  /** Reads and clears the pending control request in one step: each request is seen once. */
  takeControl(id: number): Control {
    // Polled every few hundred ms by every runner: look without the write lock first.
    const pending = this.guard(() => this.db.prepare('SELECT control FROM searches WHERE id = ?').get(id) as { control: Control } | undefined);
    if (pending?.control === 'none') return 'none';
    return this.write(() => {
      const row = this.db.prepare('SELECT control FROM searches WHERE id = ?').get(id) as { control: Control } | undefined;
      if (!row) throw new TesaError('NOT_FOUND', `no search ${id} in ${this.path}`, "run 'tesa list' to see the searches there");
      if (row.control !== 'none') this.db.prepare(`UPDATE searches SET control = 'none' WHERE id = ?`).run(id);
      return row.control;
    });
  }

  // --- lock and heartbeat ---------------------------------------------------------------

  /**
   * Makes this process the one runner of the search. Succeeds when nobody owns it, when the
   * owner is this very process, when the owner was on this host and its pid is gone, or when
   * the owner stopped beating (another host: staleAfterMs; this host, pid alive:
   * SAME_HOST_STALE_AFTER_MS — see ownerState). Atomic across processes (BEGIN IMMEDIATE).
   * Returns the previous owner when it took a dead or stale one over.
   */
  acquireSearch(id: number, opts: AcquireOptions = {}): { tookOverFrom: LockOwner | null } {
    const pid = opts.pid ?? process.pid;
    const host = opts.host ?? hostname();
    const staleAfterMs = opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    return this.write(() => {
      const s = this.requireSearchRow(id);
      const now = Date.now();
      let tookOverFrom: LockOwner | null = null;
      if (s.owner_pid !== null && !(s.owner_pid === pid && s.owner_host === host)) {
        const state = ownerState({ ownerPid: s.owner_pid, ownerHost: s.owner_host, heartbeatAt: s.heartbeat_at }, { now, host, staleAfterMs });
        if (state === 'live') {
          const ago = s.heartbeat_at === null ? 'never' : `${Math.max(0, Math.round((now - s.heartbeat_at) / 1000))} s ago`;
          throw new TesaError(
            'LOCKED',
            `search ${id} is being run by pid ${s.owner_pid} on host ${s.owner_host ?? '?'} (heartbeat ${ago})`,
            `use 'tesa watch ${id}' to follow it, or stop it with 'tesa stop ${id}'`,
          );
        }
        tookOverFrom = { pid: s.owner_pid, host: s.owner_host ?? '', heartbeatAt: s.heartbeat_at };
      }
      this.db.prepare('UPDATE searches SET owner_pid = ?, owner_host = ?, heartbeat_at = ?, updated_at = ? WHERE id = ?').run(pid, host, now, now, id);
      return { tookOverFrom };
    });
  }

  /** Refreshes the owner's heartbeat; false when this process no longer owns the search. */
  heartbeat(id: number, pid: number = process.pid, host: string = hostname()): boolean {
    return this.write(() => {
      const now = Date.now();
      const info = this.db.prepare('UPDATE searches SET heartbeat_at = ? WHERE id = ? AND owner_pid = ? AND owner_host = ?').run(now, id, pid, host);
      return info.changes > 0;
    });
  }

  /** Gives the search up; false when this process did not own it. */
  releaseSearch(id: number, pid: number = process.pid, host: string = hostname()): boolean {
    return this.write(() => {
      const info = this.db
        .prepare('UPDATE searches SET owner_pid = NULL, owner_host = NULL, heartbeat_at = NULL, updated_at = ? WHERE id = ? AND owner_pid = ? AND owner_host = ?')
        .run(Date.now(), id, pid, host);
      return info.changes > 0;
    });
  }

  private requireSearchRow(id: number): SearchRow {
    const row = this.db.prepare('SELECT * FROM searches WHERE id = ?').get(id) as SearchRow | undefined;
    if (!row) throw new TesaError('NOT_FOUND', `no search ${id} in ${this.path}`, "run 'tesa list' to see the searches there");
    return row;
  }

  // --- trials ---------------------------------------------------------------------------

  /** Records that trial `seq` has started (status 'running'); returns its id. */
  startTrial(searchId: number, seq: number, candidate: Candidate, candidateHash: string): number {
    return this.write(() =>
      Number(
        this.db
          .prepare(`INSERT INTO trials (search_id, seq, candidate_hash, candidate_json, status, started_at) VALUES (?, ?, ?, ?, 'running', ?)`)
          .run(searchId, seq, candidateHash, JSON.stringify(candidate), Date.now()).lastInsertRowid,
      ),
    );
  }

  finishTrial(result: TrialResult): void {
    this.write(() => this.finishTrialIn(result));
  }

  private finishTrialIn(r: TrialResult): TrialRow {
    const trial = this.db.prepare('SELECT * FROM trials WHERE id = ?').get(r.trialId) as TrialRow | undefined;
    if (!trial) throw new TesaError('NOT_FOUND', `no trial ${r.trialId} in ${this.path}`, 'the trial was deleted (abandoned by a resume?)');
    this.db
      .prepare(
        `UPDATE trials SET status = ?, latency_ms = ?, ci_low_ms = ?, ci_high_ms = ?, latency_ratio = ?, quality = ?, feasible = ?, reason = ?,
           sparsity_json = ?, flops = ?, kernels_built = ?, kernels_cached = ?, finished_at = ? WHERE id = ?`,
      )
      .run(
        r.status,
        r.latencyMs ?? null,
        r.ciLowMs ?? null,
        r.ciHighMs ?? null,
        r.latencyRatio ?? null,
        r.quality ?? null,
        r.feasible ? 1 : 0,
        r.reason ?? null,
        toJson(r.sparsity),
        r.flops ?? null,
        r.kernelsBuilt ?? null,
        r.kernelsCached ?? null,
        Date.now(),
        r.trialId,
      );
    if (r.measurement) this.addMeasurementIn({ ...r.measurement, searchId: trial.search_id, trialId: trial.id, kind: 'trial' });
    return trial;
  }

  /**
   * The trial's result, the strategy's state after it and (optionally) the search's new
   * fields, in ONE transaction: after a crash either all are there or none is, so a resume
   * restarts exactly after the last recorded trial.
   */
  recordTrialAndCheckpoint(result: TrialResult, checkpoint: CheckpointInput, search?: SearchUpdate): void {
    this.write(() => {
      const trial = this.finishTrialIn(result);
      this.putCheckpointIn(trial.search_id, checkpoint.seq ?? trial.seq, checkpoint.state);
      if (search) this.updateSearchIn(trial.search_id, search);
    });
  }

  /** Deletes the trials a dead runner left 'running' (they are re-run on resume); returns how many. */
  deleteRunningTrials(searchId: number): number {
    return this.write(() => this.db.prepare(`DELETE FROM trials WHERE search_id = ? AND status = 'running'`).run(searchId).changes);
  }

  abandonRunningTrials(searchId: number): number {
    return this.deleteRunningTrials(searchId);
  }

  /** In seq order. `afterSeq` for incremental reads; `tail` for the last N (still in seq order). */
  listTrials(searchId: number, opts: { afterSeq?: number; limit?: number; tail?: number; status?: TrialStatus } = {}): TrialRecord[] {
    return this.guard(() => {
      const where = ['search_id = ?'];
      const values: Array<string | number> = [searchId];
      if (opts.afterSeq !== undefined) {
        where.push('seq > ?');
        values.push(opts.afterSeq);
      }
      if (opts.status !== undefined) {
        where.push('status = ?');
        values.push(opts.status);
      }
      if (opts.tail !== undefined) {
        const rows = this.db.prepare(`SELECT * FROM trials WHERE ${where.join(' AND ')} ORDER BY seq DESC LIMIT ?`).all(...values, opts.tail) as TrialRow[];
        return rows.reverse().map(trialFromRow);
      }
      const limit = opts.limit !== undefined ? ' LIMIT ?' : '';
      if (opts.limit !== undefined) values.push(opts.limit);
      const rows = this.db.prepare(`SELECT * FROM trials WHERE ${where.join(' AND ')} ORDER BY seq${limit}`).all(...values) as TrialRow[];
      return rows.map(trialFromRow);
    });
  }

  getTrial(id: number): TrialRecord | undefined {
    return this.guard(() => {
      const row = this.db.prepare('SELECT * FROM trials WHERE id = ?').get(id) as TrialRow | undefined;
      return row && trialFromRow(row);
    });
  }

  /** Finished trials of this search with the same candidate, newest first (to reuse a measurement). */
  findTrialsByCandidate(searchId: number, candidateHash: string): TrialRecord[] {
    return this.guard(() =>
      (this.db.prepare(`SELECT * FROM trials WHERE search_id = ? AND candidate_hash = ? AND status != 'running' ORDER BY seq DESC`).all(searchId, candidateHash) as TrialRow[]).map(
        trialFromRow,
      ),
    );
  }

  /** The seq the next trial gets: one past the highest recorded. */
  nextTrialSeq(searchId: number): number {
    return this.guard(() => {
      const row = this.db.prepare('SELECT max(seq) AS m FROM trials WHERE search_id = ?').get(searchId) as { m: number | null };
      return row.m === null ? 0 : row.m + 1;
    });
  }

  trialCounts(searchId: number): TrialCounts {
    return this.guard(() => {
      const row = this.db
        .prepare(
          `SELECT count(*) AS total,
                  coalesce(sum(status = 'running'), 0) AS running,
                  coalesce(sum(status = 'ok'), 0) AS ok,
                  coalesce(sum(status = 'failed'), 0) AS failed,
                  coalesce(sum(status = 'ok' AND feasible = 1), 0) AS feasible
             FROM trials WHERE search_id = ?`,
        )
        .get(searchId) as TrialCounts;
      return { total: row.total, running: row.running, ok: row.ok, failed: row.failed, feasible: row.feasible };
    });
  }

  // --- checkpoints ----------------------------------------------------------------------

  /** A checkpoint on its own (e.g. seq -1, the strategy's state before the first trial). */
  putCheckpoint(searchId: number, seq: number, state: unknown): void {
    this.write(() => this.putCheckpointIn(searchId, seq, state));
  }

  private putCheckpointIn(searchId: number, seq: number, state: unknown): void {
    this.db
      .prepare('INSERT INTO checkpoints (search_id, seq, state_json, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (search_id, seq) DO UPDATE SET state_json = excluded.state_json, created_at = excluded.created_at')
      .run(searchId, seq, JSON.stringify(state ?? null), Date.now());
  }

  latestCheckpoint<T = unknown>(searchId: number): Checkpoint<T> | undefined {
    return this.guard(() => {
      const row = this.db.prepare('SELECT * FROM checkpoints WHERE search_id = ? ORDER BY seq DESC LIMIT 1').get(searchId) as
        | { search_id: number; seq: number; state_json: string; created_at: number }
        | undefined;
      return row && { searchId: row.search_id, seq: row.seq, state: JSON.parse(row.state_json) as T, createdAt: row.created_at };
    });
  }

  // --- measurements ---------------------------------------------------------------------

  addMeasurement(m: NewMeasurement): number {
    return this.write(() => this.addMeasurementIn(m));
  }

  private addMeasurementIn(m: NewMeasurement): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO measurements (search_id, trial_id, kind, samples_json, median_ms, mad_ms, ci_low_ms, ci_high_ms, n, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(m.searchId, m.trialId ?? null, m.kind, JSON.stringify(m.samplesMs), m.medianMs, m.madMs, m.ciLowMs, m.ciHighMs, m.n, Date.now()).lastInsertRowid,
    );
  }

  listMeasurements(searchId: number | null, opts: { kind?: MeasurementKind; trialId?: number } = {}): MeasurementRecord[] {
    return this.guard(() => {
      const where = [searchId === null ? 'search_id IS NULL' : 'search_id = ?'];
      const values: Array<string | number> = searchId === null ? [] : [searchId];
      if (opts.kind !== undefined) {
        where.push('kind = ?');
        values.push(opts.kind);
      }
      if (opts.trialId !== undefined) {
        where.push('trial_id = ?');
        values.push(opts.trialId);
      }
      return (this.db.prepare(`SELECT * FROM measurements WHERE ${where.join(' AND ')} ORDER BY id`).all(...values) as MeasurementRow[]).map(measurementFromRow);
    });
  }

  // --- events ---------------------------------------------------------------------------

  addEvent(e: NewEvent): number {
    return this.write(() =>
      Number(
        this.db
          .prepare('INSERT INTO events (search_id, at, level, kind, message, data_json) VALUES (?, ?, ?, ?, ?, ?)')
          .run(e.searchId ?? null, Date.now(), e.level ?? 'info', e.kind, e.message, toJson(e.data)).lastInsertRowid,
      ),
    );
  }

  /**
   * Events of one search (null: events of no search, e.g. the daemon's) in id order.
   * `afterId` for incremental reads; `tail` for the last N.
   */
  listEvents(searchId: number | null, opts: { afterId?: number; limit?: number; tail?: number } = {}): EventRecord[] {
    return this.guard(() => {
      const where = [searchId === null ? 'search_id IS NULL' : 'search_id = ?'];
      const values: number[] = searchId === null ? [] : [searchId];
      if (opts.afterId !== undefined) {
        where.push('id > ?');
        values.push(opts.afterId);
      }
      if (opts.tail !== undefined) {
        const rows = this.db.prepare(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`).all(...values, opts.tail) as EventRow[];
        return rows.reverse().map(eventFromRow);
      }
      const limit = opts.limit !== undefined ? ' LIMIT ?' : '';
      if (opts.limit !== undefined) values.push(opts.limit);
      return (this.db.prepare(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id${limit}`).all(...values) as EventRow[]).map(eventFromRow);
    });
  }

  // --- kernels (KernelIndex) ------------------------------------------------------------

  getKernel(hash: string): StoredKernel | undefined {
    return this.guard(() => {
      const row = this.db.prepare('SELECT * FROM kernels WHERE hash = ?').get(hash) as KernelRow | undefined;
      return row && kernelFromRow(row);
    });
  }

  putKernel(k: KernelRecord): void {
    this.write(() => {
      const now = Date.now();
      this.db
        .prepare(
          `INSERT INTO kernels (hash, fingerprint_id, language, entry, source_path, library_path, build_ms, status, max_rel_error, error, size_bytes, created_at, last_used_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (hash) DO UPDATE SET fingerprint_id = excluded.fingerprint_id, language = excluded.language, entry = excluded.entry,
             source_path = excluded.source_path, library_path = excluded.library_path, build_ms = excluded.build_ms, status = excluded.status,
             max_rel_error = excluded.max_rel_error, error = excluded.error, size_bytes = excluded.size_bytes, last_used_at = excluded.last_used_at`,
        )
        .run(k.hash, k.fingerprintId, k.language, k.entry, k.sourcePath, k.libraryPath, k.buildMs, k.status, k.maxRelError, k.error, k.sizeBytes, now, now);
    });
  }

  touchKernel(hash: string): void {
    this.write(() => {
      this.db.prepare('UPDATE kernels SET last_used_at = ? WHERE hash = ?').run(Date.now(), hash);
    });
  }

  deleteKernel(hash: string): void {
    this.write(() => {
      this.db.prepare('DELETE FROM kernels WHERE hash = ?').run(hash);
    });
  }

  /** Bytes of all cached kernel libraries (optionally of one fingerprint), for the cache cap. */
  totalKernelBytes(fingerprintId?: string): number {
    return this.guard(() => {
      const row = (
        fingerprintId === undefined
          ? this.db.prepare('SELECT coalesce(sum(size_bytes), 0) AS b FROM kernels').get()
          : this.db.prepare('SELECT coalesce(sum(size_bytes), 0) AS b FROM kernels WHERE fingerprint_id = ?').get(fingerprintId)
      ) as { b: number };
      return row.b;
    });
  }

  /** The least recently used kernels first: the eviction order. */
  lruKernels(limit: number): StoredKernel[] {
    return this.guard(() => (this.db.prepare('SELECT * FROM kernels ORDER BY last_used_at, hash LIMIT ?').all(limit) as KernelRow[]).map(kernelFromRow));
  }

  // --- plan decisions -------------------------------------------------------------------

  getPlanDecision<T = unknown>(key: string): T | undefined {
    return this.guard(() => {
      const row = this.db.prepare('SELECT choice_json FROM plan_decisions WHERE key = ?').get(key) as { choice_json: string } | undefined;
      return row && (JSON.parse(row.choice_json) as T);
    });
  }

  putPlanDecision(key: string, fingerprintId: string, choice: unknown): void {
    this.write(() => {
      this.db
        .prepare('INSERT INTO plan_decisions (key, fingerprint_id, choice_json, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET choice_json = excluded.choice_json, fingerprint_id = excluded.fingerprint_id')
        .run(key, fingerprintId, JSON.stringify(choice), Date.now());
    });
  }

  // --- housekeeping ---------------------------------------------------------------------

  /** Changes whenever ANOTHER connection commits: cheap polling for the TUI. */
  dataVersion(): number {
    return this.guard(() => this.db.pragma('data_version', { simple: true }) as number);
  }

  /** 'ok' when SQLite finds nothing wrong; otherwise its findings, one per line. */
  integrityCheck(): string {
    return this.guard(() => (this.db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('\n'));
  }

  schemaVersion(): number {
    return this.guard(() => this.db.pragma('user_version', { simple: true }) as number);
  }

  journalMode(): string {
    return this.guard(() => this.db.pragma('journal_mode', { simple: true }) as string);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
