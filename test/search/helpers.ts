/** Real CLI processes for the search tests: spawn, kill at an instant, read the store file. */
import { spawn, type ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { cliPath } from '../cli/run-cli.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function startCli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<Exit> } {
  const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

export async function runToEnd(args: string[], env: Record<string, string> = {}): Promise<Exit> {
  return startCli(args, env).done;
}

export interface TrialRow {
  seq: number;
  candidate_hash: string;
  status: string;
  latency_ms: number | null;
  ci_high_ms: number | null;
  quality: number | null;
  feasible: number;
}

/** What must be identical between two runs: the trial history, in order. */
export function trialHistory(db: string, searchId = 1): TrialRow[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT seq, candidate_hash, status, latency_ms, ci_high_ms, quality, feasible FROM trials WHERE search_id = ? ORDER BY seq').all(searchId) as TrialRow[];
  } finally {
    d.close();
  }
}

export function sqlite<T>(db: string, fn: (d: Database.Database) => T): T {
  const d = new Database(db);
  try {
    return fn(d);
  } finally {
    d.close();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
