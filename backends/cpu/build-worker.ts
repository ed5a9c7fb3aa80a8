/**
 * Piscina worker: runs the C compiler on one kernel source. Writes to a temporary name and
 * renames, so a crash mid-build never leaves a half-written library in the cache.
 */
import { execFile } from 'node:child_process';
import { renameSync, rmSync } from 'node:fs';

export interface BuildTask {
  compiler: string;
  flags: string[];
  sourcePath: string;
  libraryPath: string;
  timeoutMs: number;
}

export interface BuildResult {
  ok: boolean;
  ms: number;
  stderr: string;
}

export default function build(task: BuildTask): Promise<BuildResult> {
  const t0 = performance.now();
  const tmp = `${task.libraryPath}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  return new Promise((resolve) => {
    execFile(task.compiler, [...task.flags, '-o', tmp, task.sourcePath, '-lm'], { timeout: task.timeoutMs, maxBuffer: 4 << 20 }, (err, _stdout, stderr) => {
      const ms = performance.now() - t0;
      if (err) {
        rmSync(tmp, { force: true });
        resolve({ ok: false, ms, stderr: `${stderr}${err.killed ? '\n(compiler timed out)' : ''}`.trim() || String(err.message) });
        return;
      }
      renameSync(tmp, task.libraryPath);
      resolve({ ok: true, ms, stderr: String(stderr) });
    });
  });
}
