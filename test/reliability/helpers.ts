/** Shared by the reliability suites: case counts, seeded generators, a CLI run with a hard timeout. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
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

/** Runs the built CLI (asynchronously: a blocked test worker loses vitest's RPC); a case that outlives `timeoutMs` is killed and reported as a hang. */
export function tesa(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 30_000): Promise<Outcome> {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run 'npx tsc -p .' first`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
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
