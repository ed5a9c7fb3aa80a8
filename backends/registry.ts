/**
 * `--target` → backend. Each target's module is imported here; unknown names fail with the
 * list of known ones.
 */
import { TesaError } from '../src/errors.js';
import type { Backend } from './backend.js';
import { CpuBackend } from './cpu/cpu-backend.js';
import { CudaBackend } from './cuda/cuda-backend.js';

export interface BackendOptions {
  threads?: number;
  cacheDir?: string;
  /** cpu: force the micro-kernel ISA (avx512 | avx2 | generic). */
  isa?: string;
}

const TARGETS: Record<string, (opts: BackendOptions) => Backend> = {
  cpu: (opts) => new CpuBackend(opts),
  cuda: (opts) => new CudaBackend({ cacheDir: opts.cacheDir }),
};

export function knownTargets(): string[] {
  return Object.keys(TARGETS);
}

export function getBackend(target: string, opts: BackendOptions = {}): Backend {
  const make = TARGETS[target];
  if (!make) throw new TesaError('BAD_INPUT', `unknown --target '${target}'`, `known targets: ${knownTargets().join(', ')}`);
  return make(opts);
}
