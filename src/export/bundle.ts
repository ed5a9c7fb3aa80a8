/**
 * bundle/: the compiled candidate made portable within its machine — the runner, the kernel
 * libraries, the weights and a manifest whose paths are relative to the bundle, plus `run`, a
 * POSIX shell script that times the model (`bundle/run --json`). Same machine only: the kernels
 * are built for this CPU (fingerprint in config.json).
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CompiledModel } from '../../backends/backend.js';
import { TesaError } from '../errors.js';

export interface BundleInfo {
  dir: string;
  kernels: number;
  bytes: number;
  threads: number;
}

export interface BundleRun {
  medianMs: number;
  samplesMs: number[];
}

/** Threads the runner was compiled for (io.json), so the bundle runs as the search measured. */
function threadsOf(model: CompiledModel): number {
  try {
    const io = JSON.parse(readFileSync(join(model.dir, 'io.json'), 'utf8')) as { threads?: number };
    return io.threads ?? 1;
  } catch {
    return 1;
  }
}

/** Start of every bundle's `run`: into its own folder, then --json / --reps N / --warmup N. */
export const RUN_SCRIPT_ARGS = `set -e
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
cd "$here"
json=0
reps=30
warmup=5
while [ $# -gt 0 ]; do
  case "$1" in
    --json) json=1 ;;
    --reps) shift; reps="$1" ;;
    --warmup) shift; warmup="$1" ;;
    *) echo "usage: ./run [--json] [--reps N] [--warmup N]" >&2; exit 2 ;;
  esac
  shift
done
`;

const RUN_SCRIPT = (threads: number) => `#!/bin/sh
# Times the pruned model exported by tesa with its specialised kernels on this machine.
# usage: ./run [--json] [--reps N] [--warmup N]
${RUN_SCRIPT_ARGS}OMP_NUM_THREADS=\${OMP_NUM_THREADS:-${threads}}
OMP_WAIT_POLICY=PASSIVE
export OMP_NUM_THREADS OMP_WAIT_POLICY
out=$(printf 'inputs ./inputs.bin\\nwarmup %s\\ntime %s\\nquit\\n' "$warmup" "$reps" | ./tesa-runner ./manifest.txt)
if printf '%s\\n' "$out" | grep -q '"error"'; then
  printf '%s\\n' "$out" | grep '"error"' >&2
  exit 1
fi
samples=$(printf '%s\\n' "$out" | grep '"samplesMs"' | sed 's/.*\\[\\(.*\\)\\].*/\\1/')
median=$(printf '%s\\n' "$samples" | tr ',' '\\n' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.6f", v[(NR + 1) / 2]; else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
if [ "$json" = 1 ]; then
  printf '{"medianMs":%s,"reps":%s,"threads":%s,"samplesMs":[%s]}\\n' "$median" "$reps" "$OMP_NUM_THREADS" "$samples"
else
  printf 'median %s ms over %s runs (%s threads)\\n' "$median" "$reps" "$OMP_NUM_THREADS"
fi
`;

export function writeBundle(model: CompiledModel, dir: string): BundleInfo {
  const need = ['manifest.txt', 'weights.bin', 'runner-path', 'inputs-default.bin', 'io.json'];
  for (const f of need) if (!existsSync(join(model.dir, f))) throw new TesaError('INTERNAL', `compiled model ${model.dir} lacks ${f}`, 'the backend changed its folder layout: report it');
  mkdirSync(join(dir, 'kernels'), { recursive: true });
  const runner = readFileSync(join(model.dir, 'runner-path'), 'utf8').trim();
  copyFileSync(runner, join(dir, 'tesa-runner'));
  chmodSync(join(dir, 'tesa-runner'), 0o755);
  copyFileSync(join(model.dir, 'weights.bin'), join(dir, 'weights.bin'));
  copyFileSync(join(model.dir, 'inputs-default.bin'), join(dir, 'inputs.bin'));
  copyFileSync(join(model.dir, 'io.json'), join(dir, 'io.json'));
  let bytes = 0;
  let kernels = 0;
  // The manifest names files by absolute path; the bundle's names them relative to itself.
  const lines = readFileSync(join(model.dir, 'manifest.txt'), 'utf8').split('\n').map((line) => {
    const w = /^weights (\S+) (\d+)$/.exec(line);
    if (w) return `weights ./weights.bin ${w[2]}`;
    const l = /^lib (\d+) (\S+)$/.exec(line);
    if (l) {
      const file = `./kernels/k${l[1]}.so`;
      copyFileSync(l[2]!, join(dir, file));
      bytes += readFileSync(join(dir, file)).length;
      kernels += 1;
      return `lib ${l[1]} ${file}`;
    }
    return line;
  });
  writeFileSync(join(dir, 'manifest.txt'), lines.join('\n'));
  const threads = threadsOf(model);
  writeFileSync(join(dir, 'run'), RUN_SCRIPT(threads));
  chmodSync(join(dir, 'run'), 0o755);
  return { dir, kernels, bytes, threads };
}

/** Runs `bundle/run --json` as a user would (from another folder) and parses its answer. */
export function runBundle(dir: string, opts: { reps?: number; warmup?: number; timeoutMs?: number } = {}): Promise<BundleRun> {
  const args = ['--json', '--reps', String(opts.reps ?? 30), '--warmup', String(opts.warmup ?? 5)];
  return new Promise((resolve, reject) => {
    execFile(join(dir, 'run'), args, { cwd: '/', timeout: opts.timeoutMs ?? 300_000 }, (err, stdout, stderr) => {
      if (err) {
        reject(new TesaError('RUN_FAILED', `bundle ${dir}/run failed: ${String(stderr).trim().split('\n').pop() || err.message}`, 'the bundle runs only on the machine that built it (see config.json fingerprint)'));
        return;
      }
      try {
        const r = JSON.parse(String(stdout).trim().split('\n').pop() ?? '') as BundleRun;
        if (typeof r.medianMs !== 'number' || !Array.isArray(r.samplesMs)) throw new Error('no medianMs');
        resolve(r);
      } catch (e) {
        reject(new TesaError('RUN_FAILED', `bundle ${dir}/run printed no latency JSON: ${(e as Error).message}`, `output: ${String(stdout).slice(0, 200)}`));
      }
    });
  });
}
