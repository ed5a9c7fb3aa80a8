/**
 * End to end in a real terminal: the watch screen of a real search (zoo:mlp), progress
 * moving, p pausing it, s stopping it; once as `tesa optimize` on a TTY and once as
 * `tesa watch` beside a search running in another process.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../db/store.js';
import { cliPath } from '../cli/run-cli.js';
import { Tmux, tmuxAvailable, trialsDone, headerLine } from './tmux.js';

const hasTmux = tmuxAvailable();
if (!hasTmux) console.warn('test/e2e/watch-tmux: SKIPPED — tmux is not installed (apt-get install -y tmux)');

// Enough trials that the search is still going when the keys arrive; it ends by the s key.
const SEARCH = ['--model', 'zoo:mlp', '--max-trials', '60', '--time-limit', '10m', '--threads', '1'];

let dir: string;
let db: string;
let tmux: Tmux;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-e2e-'));
  db = join(dir, 't.db');
  tmux = new Tmux();
});
afterEach(() => {
  const out = process.env['TESA_E2E_CAPTURE_DIR'];
  if (out) {
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, `${expect.getState().currentTestName?.replace(/\W+/g, '-') ?? 'capture'}.txt`), tmux.captures.join('\n'));
  }
  tmux.kill();
  for (const c of children.splice(0)) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function searchStatus(id = 1): string {
  const store = openStore(db);
  try {
    return store.requireSearch(id).status;
  } finally {
    store.close();
  }
}

describe.skipIf(!hasTmux)('watch screen in tmux', () => {
  it('tesa optimize on a TTY: progress moves, p pauses, s stops, the process ends', async () => {
    tmux.start(`node ${cliPath} optimize ${SEARCH.join(' ')} --db ${db}`, 100, 30);
    const first = await tmux.waitFor('the first finished trial', (s) => (trialsDone(s) ?? 0) >= 1);
    expect(headerLine(first)).toMatch(/zoo:mlp → cpu · sa · budget 0\.70× dense +RUNNING$/);
    const n = trialsDone(first)!;
    await tmux.waitFor('progress moving', (s) => (trialsDone(s) ?? 0) > n);
    tmux.keys('p');
    const paused = await tmux.waitFor('PAUSED', (s) => headerLine(s).endsWith('PAUSED'));
    expect(paused).toContain('p resume · s stop');
    expect(searchStatus()).toBe('paused');
    const atPause = trialsDone(paused)!;
    tmux.keys('s');
    // The last frame stays above the summary the command prints when the screen is left.
    const stopped = await tmux.waitFor('STOPPED and the exit', (s) => s.includes('STOPPED') && s.includes('[exit 0]'), 90_000, true);
    expect(searchStatus()).toBe('stopped');
    expect(trialsDone(stopped)).toBe(atPause);
  }, 600_000);

  it('tesa watch beside a running search: progress moves, p pauses, s stops, q leaves', async () => {
    const logFd = openSync(join(dir, 'optimize.log'), 'w');
    const runner = spawn(process.execPath, [cliPath, 'optimize', ...SEARCH, '--db', db], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    children.push(runner);
    const exited = new Promise<number | null>((r) => runner.on('exit', (code) => r(code)));
    // The search exists once the runner has loaded the model and measured the machine.
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        if (searchStatus() === 'running') break;
      } catch {
        /* not created yet */
      }
      if (runner.exitCode !== null || Date.now() > deadline) throw new Error(`the background search never started:\n${readFileSync(join(dir, 'optimize.log'), 'utf8')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    tmux.start(`node ${cliPath} watch --db ${db}`, 100, 30);
    const first = await tmux.waitFor('the first finished trial', (s) => (trialsDone(s) ?? 0) >= 1);
    const n = trialsDone(first)!;
    await tmux.waitFor('progress moving', (s) => (trialsDone(s) ?? 0) > n);
    tmux.keys('p');
    await tmux.waitFor('PAUSED', (s) => headerLine(s).endsWith('PAUSED'));
    expect(searchStatus()).toBe('paused');
    tmux.keys('s');
    await tmux.waitFor('STOPPED', (s) => headerLine(s).endsWith('STOPPED'));
    expect(await exited).toBe(0);
    expect(searchStatus()).toBe('stopped');
    tmux.keys('q');
    await tmux.waitFor('the watch leaving', (s) => s.includes('[exit 0]'));
  }, 600_000);
});
