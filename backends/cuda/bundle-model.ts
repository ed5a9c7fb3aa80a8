/**
 * bundle/ for a model compiled by the CUDA backend (what `tesa export` writes for a cuda
 * search): the model runner, the glue and kernel libraries, data.bin and the default inputs,
 * the manifest with paths relative to the bundle, and `run`, a POSIX shell script that times
 * the model as one CUDA graph (`bundle/run --json`). Same GPU and driver only: the kernels are
 * built for this SM (fingerprint in config.json).
 */
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { RUN_SCRIPT_ARGS, type BundleInfo } from '../../src/export/bundle.js';
import type { CompiledModel } from '../backend.js';
import { readModelInfo } from './model/model-files.js';

const RUN_SCRIPT = `#!/bin/sh
# Times the pruned model exported by tesa on this GPU: the whole model as one CUDA graph,
# L2 flushed before each repetition. usage: ./run [--json] [--reps N] [--warmup N]
${RUN_SCRIPT_ARGS}manifest=$(mktemp)
trap 'rm -f "$manifest"' EXIT
{ printf 'warmup %s\\nreps %s\\nflush 1\\ngraph 1\\ncheck 0\\n' "$warmup" "$reps"; cat ./model.txt; } > "$manifest"
out=$(./tesa-cuda-model-runner "$manifest")
samples=$(printf '%s\\n' "$out" | sed 's/.*"samplesMs":\\[\\([^]]*\\)\\].*/\\1/')
median=$(printf '%s\\n' "$samples" | tr ',' '\\n' | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.6f", v[(NR + 1) / 2]; else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
if [ "$json" = 1 ]; then
  printf '{"medianMs":%s,"reps":%s,"samplesMs":[%s]}\\n' "$median" "$reps" "$samples"
else
  printf 'median %s ms over %s runs (CUDA graph)\\n' "$median" "$reps"
fi
`;

export function writeCudaBundle(model: CompiledModel, dir: string): BundleInfo {
  const info = readModelInfo(model.dir);
  mkdirSync(join(dir, 'kernels'), { recursive: true });
  copyFileSync(info.runner, join(dir, 'tesa-cuda-model-runner'));
  chmodSync(join(dir, 'tesa-cuda-model-runner'), 0o755);
  copyFileSync(join(model.dir, 'data.bin'), join(dir, 'data.bin'));
  let bytes = 0;
  const libs = new Map<string, string>();
  // Each kernel library once (layers of one mask share one), named by its cache hash.
  const local = (path: string): string => {
    let file = libs.get(path);
    if (!file) {
      file = `./kernels/${basename(dirname(path))}.so`;
      copyFileSync(path, join(dir, file));
      bytes += statSync(join(dir, file)).size;
      libs.set(path, file);
    }
    return file;
  };
  const lines = readFileSync(join(model.dir, 'model.txt'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => {
      const f = line.split(' ');
      if (f[0] === 'data') return 'data ./data.bin';
      if (f[0] === 'glue') return `glue ${local(f[1]!)}`;
      if (f[0] === 'linear' && f[2] === 'lib') return [...f.slice(0, 3), local(f[3]!), ...f.slice(4)].join(' ');
      return line;
    });
  for (const inp of info.inputs) {
    copyFileSync(inp.defaultFile, join(dir, `input-${inp.buf}.bin`));
    lines.push(`input ${inp.buf} ./input-${inp.buf}.bin`);
  }
  writeFileSync(join(dir, 'model.txt'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'run'), RUN_SCRIPT);
  chmodSync(join(dir, 'run'), 0o755);
  return { dir, kernels: readdirSync(join(dir, 'kernels')).length, bytes, threads: 1 };
}
