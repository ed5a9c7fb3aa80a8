/**
 * The runner as a child process: built once per fingerprint, then spoken to line by line
 * (one JSON line answers each command). A crash or a hang ends only the child; the caller
 * gets a RunnerFailure saying which op was running (check mode prints "@op i" markers).
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TesaError } from '../../src/errors.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { CpuFingerprint } from './fingerprint.js';

export function runnerSourcePath(): string {
  return join(packageRoot(), 'backends', 'cpu', 'runner', 'runner.c');
}

/** Builds the runner for this fingerprint unless the cache has it; returns its path and whether the compiler ran. */
export async function ensureRunner(cacheDir: string, fp: CpuFingerprint): Promise<{ path: string; built: boolean }> {
  const dir = join(cacheDir, `runner-${fp.id}`);
  const path = join(dir, 'tesa-runner');
  if (existsSync(path)) return { path, built: false };
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const flags = ['-O2', '-std=gnu11', ...(fp.threads > 1 ? ['-fopenmp'] : []), '-o', tmp, runnerSourcePath(), '-ldl', '-lm'];
  await new Promise<void>((resolve, reject) => {
    execFile(fp.compiler, flags, { timeout: 120_000 }, (err, _o, stderr) => {
      if (err) {
        rmSync(tmp, { force: true });
        reject(new TesaError('BUILD_FAILED', `cannot build the runner: ${String(stderr).split('\n')[0] || err.message}`, `compiler ${fp.compiler}; source ${runnerSourcePath()}`));
      } else resolve();
    });
  });
  renameSync(tmp, path);
  return { path, built: true };
}

export class RunnerFailure extends Error {
  constructor(
    message: string,
    readonly kind: 'crash' | 'timeout' | 'error',
    /** Index (in the manifest's op numbering) of the op running when it failed, if known. */
    readonly opIndex: number | null,
    readonly signal: string | null,
  ) {
    super(message);
  }
}

type Pending = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class RunnerProcess {
  private pending: Pending[] = [];
  private lastOp: number | null = null;
  private stderrTail = '';
  private exited = false;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    // Writing to a runner that just died must not throw in tesa: the exit handler reports it.
    child.stdin.on('error', () => undefined);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const p = this.pending.shift();
      if (!p) return;
      clearTimeout(p.timer);
      try {
        const msg = JSON.parse(line) as Record<string, unknown>;
        if (typeof msg.error === 'string') p.reject(new RunnerFailure(msg.error, 'error', this.lastOp, null));
        else p.resolve(msg);
      } catch {
        p.reject(new RunnerFailure(`runner printed something that is not JSON: ${line.slice(0, 200)}`, 'error', this.lastOp, null));
      }
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      const m = /^@op (\d+)$/.exec(line);
      if (m) this.lastOp = Number(m[1]);
      else if (line === '@done') this.lastOp = null;
      else this.stderrTail = (this.stderrTail + line + '\n').slice(-2000);
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      const what = signal ? `killed by ${signal}` : `exited with code ${code}`;
      const err = new RunnerFailure(`runner ${what}${this.stderrTail ? `: ${this.stderrTail.trim().split('\n').pop()}` : ''}`, 'crash', this.lastOp, signal);
      for (const p of this.pending.splice(0)) {
        clearTimeout(p.timer);
        p.reject(err);
      }
    });
  }

  static async start(runnerPath: string, manifestPath: string, opts: { threads: number; timeoutMs: number }): Promise<RunnerProcess> {
    const child = spawn(runnerPath, [manifestPath], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, OMP_NUM_THREADS: String(opts.threads), OMP_WAIT_POLICY: 'PASSIVE' },
    });
    const rp = new RunnerProcess(child);
    // The first line ("ready") answers the implicit load command.
    await rp.expect(opts.timeoutMs, 'loading the model');
    return rp;
  }

  private expect(timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      if (this.exited) {
        reject(new RunnerFailure('runner is not running', 'crash', this.lastOp, null));
        return;
      }
      const timer = setTimeout(() => {
        const i = this.pending.findIndex((p) => p.timer === timer);
        if (i >= 0) this.pending.splice(i, 1);
        this.child.kill('SIGKILL');
        reject(new RunnerFailure(`runner took longer than ${timeoutMs} ms while ${what}`, 'timeout', this.lastOp, null));
      }, timeoutMs);
      this.pending.push({ resolve, reject, timer });
    });
  }

  command(cmd: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const p = this.expect(timeoutMs, `running '${cmd.split(' ')[0]}'`);
    if (!this.exited) this.child.stdin.write(`${cmd}\n`);
    return p;
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end('quit\n');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await done;
    clearTimeout(t);
  }
}
