/**
 * The external-program protocol (issue 8): run a shell command, write one JSON request to its
 * stdin, read one JSON object from its stdout. A timeout, a non-zero exit or output that is
 * not a JSON object is a failure with a reason — recorded by the caller, never thrown.
 */
import { spawn } from 'node:child_process';

export type JsonCommandResult = { ok: true; response: Record<string, unknown>; ms: number } | { ok: false; reason: string; ms: number };

export function runJsonCommand(command: string, request: unknown, timeoutMs: number, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<JsonCommandResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, { shell: true, cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: process.platform !== 'win32' });
    let out = '';
    let err = '';
    let settled = false;
    const finish = (r: JsonCommandResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      // Kill the whole process group: a shell's children must not outlive the timeout.
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      finish({ ok: false, reason: `timed out after ${timeoutMs} ms`, ms: Date.now() - started });
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (out.length < 1_000_000) out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 10_000) err += d;
    });
    child.on('error', (e) => finish({ ok: false, reason: `could not start: ${e.message}`, ms: Date.now() - started }));
    child.on('close', (code, signal) => {
      const ms = Date.now() - started;
      if (code !== 0) {
        const tail = err.trim().split('\n').slice(-1)[0] ?? '';
        finish({ ok: false, reason: `exited with ${code ?? signal}${tail ? `: ${tail.slice(0, 200)}` : ''}`, ms });
        return;
      }
      try {
        const v = JSON.parse(out.trim()) as unknown;
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
        finish({ ok: true, response: v as Record<string, unknown>, ms });
      } catch (e) {
        finish({ ok: false, reason: `answered something that is not a JSON object (${(e as Error).message}): ${JSON.stringify(out.slice(0, 80))}`, ms });
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(JSON.stringify(request));
  });
}
