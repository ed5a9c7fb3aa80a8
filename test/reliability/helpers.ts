/** Shared by the reliability suites: case counts, seeded generators, a CLI run with a hard timeout. */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { cliPath } from '../cli/run-cli.js';

/** Set by vitest.reliability.config.ts: the long version of every suite. */
export const FULL = process.env.TESA_RELIABILITY_FULL === '1';

/** `quick` cases in the normal test run, `full` under npm run test:reliability. */
export function cases(quick: number, full: number): number {
  return FULL ? full : quick;
}

export type Rng = () => number;
export function rng(seed: string): Rng {
  return seedrandom(seed);
}
export function pick<T>(r: Rng, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}
export function int(r: Rng, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI (asynchronously: a blocked test worker loses vitest's RPC); a case that
 * outlives `timeoutMs` is killed and reported as a hang. `wrap` is a command line the CLI runs
 * under (e.g. a private mount namespace).
 */
export function tesa(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 30_000, wrap: string[] = []): Promise<Outcome> {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run 'npx tsc -p .' first`);
  const argv = [...wrap, process.execPath, cliPath, ...args];
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...process.env, NO_COLOR: '1', TESA_NO_TUI: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal: timedOut ? null : signal, timedOut, stdout, stderr });
    });
  });
}

/** What a rejected input must look like: exit 2, one `tesa: …` line on stderr, no stack. */
export function rejectionProblem(o: Outcome): string | null {
  if (o.timedOut) return 'hung (killed after the timeout)';
  if (o.signal) return `died by ${o.signal}`;
  if (o.code !== 2) return `exit code ${o.code}, expected 2`;
  const lines = o.stderr.trimEnd().split('\n');
  if (lines.length !== 1) return `${lines.length} lines on stderr: ${o.stderr.slice(0, 400)}`;
  if (!lines[0].startsWith('tesa: ')) return `stderr is not a tesa line: ${lines[0].slice(0, 200)}`;
  if (/\n\s+at |Error:\s/.test(o.stderr) && !lines[0].startsWith('tesa: ')) return 'stack trace on stderr';
  return null;
}

/** A crash is anything not a clean exit: a signal, a hang, or a JS stack on stderr. */
export function isCrash(o: Outcome): boolean {
  return o.timedOut || o.signal !== null || /^\s+at .+:\d+:\d+\)?$/m.test(o.stderr) || (o.code !== 0 && o.code !== 2);
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Size and mtime of a file, or null: "the store is unchanged" compares these. */
export function fileStamp(path: string): string | null {
  if (!existsSync(path)) return null;
  const s = statSync(path);
  return `${s.size}:${s.mtimeMs}`;
}

/** One line of the suite's summary table (the closing note's table for issue 11). */
export interface SummaryRow {
  suite: string;
  faultsInjected?: number;
  survived?: number;
  dataLost?: number;
  badInputs?: number;
  crashes?: number;
  note?: string;
}

/**
 * Adds a row to the summary that test/reliability/summary.ts prints at the end of
 * `npm run test:reliability` ($TESA_RELIABILITY_SUMMARY, set by its global setup); a no-op in
 * the quick run. Suites call it after their assertions' inputs are known, before asserting.
 */
export function recordSummary(row: SummaryRow): void {
  const file = process.env.TESA_RELIABILITY_SUMMARY;
  if (!file) return;
  appendFileSync(file, `${JSON.stringify({ ...row, full: FULL })}\n`);
}

/**
 * How this machine can make a path read-only even for root (chmod does not stop root): a
 * read-only bind mount in a private mount namespace (nothing outside sees it, nothing to undo),
 * else the immutable attribute (chattr +i, undone after the run), else none.
 */
export type ReadOnlyWay = 'bind mount' | 'chattr +i' | null;

function probeReadOnlyWay(): ReadOnlyWay {
  const dir = mkdtempSync(join(tmpdir(), 'tesa-ro-probe-'));
  try {
    const bind = spawnSync('unshare', ['-m', 'sh', '-c', `${BIND_RO} && ! touch "$1/x" 2>/dev/null`, 'sh', dir], { stdio: 'ignore', timeout: 10_000 });
    if (bind.status === 0) return 'bind mount';
    const f = join(dir, 'f');
    writeFileSync(f, 'x');
    if (spawnSync('chattr', ['+i', f], { stdio: 'ignore' }).status === 0) {
      const blocked = spawnSync('sh', ['-c', 'echo y >> "$1"', 'sh', f], { stdio: 'ignore' }).status !== 0;
      spawnSync('chattr', ['-i', f], { stdio: 'ignore' });
      if (blocked) return 'chattr +i';
    }
    return null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const BIND_RO = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1"';
export const readOnlyWay: ReadOnlyWay = probeReadOnlyWay();

/** Runs the CLI with `path` (a file or a folder) read-only for it, by readOnlyWay; throws when there is none. */
export async function tesaReadOnly(path: string, args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 60_000): Promise<Outcome> {
  if (readOnlyWay === 'bind mount') return tesa(args, env, timeoutMs, ['unshare', '-m', 'sh', '-c', `${BIND_RO} && shift && exec "$@"`, 'sh', path]);
  if (readOnlyWay === 'chattr +i') {
    if (spawnSync('chattr', ['+i', path]).status !== 0) throw new Error(`chattr +i ${path} failed`);
    try {
      return await tesa(args, env, timeoutMs);
    } finally {
      spawnSync('chattr', ['-i', path]);
    }
  }
  throw new Error('no way to make a path read-only here');
}
