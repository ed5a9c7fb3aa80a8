/**
 * What makes a CUDA kernel's build and timing specific to a machine: the GPU (name, SM,
 * driver), nvcc's version and the flags we build with. Its hash is part of every kernel's
 * cache key. Read once per process (nvidia-smi and nvcc take a while to answer).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { TesaError } from '../../src/errors.js';
import type { Fingerprint } from '../backend.js';

export interface CudaFingerprint extends Fingerprint {
  gpu: string;
  /** Compute capability without the dot, e.g. '90'. */
  sm: string;
  driver: string;
  nvcc: string;
  /** -gencode for the detected SM: the arch-specific sm_90a on Hopper (wgmma, setmaxnreg). */
  gencode: string;
  flags: string[];
}

function tryRun(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 });
  } catch {
    return null;
  }
}

/** Why this machine cannot run the CUDA backend, or null when it can (nvidia-smi sees a GPU and nvcc answers). */
export function cudaUnavailableReason(): string | null {
  const smi = tryRun('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader']);
  if (smi === null || smi.trim() === '') return 'no NVIDIA GPU (nvidia-smi absent or sees none)';
  if (tryRun('nvcc', ['--version']) === null) return 'no CUDA compiler (nvcc not on PATH)';
  return null;
}

export function gencodeFor(sm: string): string {
  return sm === '90' ? '-gencode=arch=compute_90a,code=sm_90a' : `-gencode=arch=compute_${sm},code=sm_${sm}`;
}

/** Parses nvidia-smi's `name, compute_cap, driver_version` line (first GPU). */
export function parseSmi(line: string): { gpu: string; sm: string; driver: string } {
  const parts = line.split('\n')[0]!.split(',').map((s) => s.trim());
  if (parts.length < 3 || !/^\d+\.\d+$/.test(parts[1]!)) throw new TesaError('UNSUPPORTED', `cannot read the GPU from nvidia-smi: '${line.trim()}'`, 'check that the NVIDIA driver works (nvidia-smi)');
  return { gpu: parts[0]!, sm: parts[1]!.replace('.', ''), driver: parts[2]! };
}

let cached: CudaFingerprint | null = null;

export function cudaFingerprint(): CudaFingerprint {
  if (cached) return cached;
  const smi = tryRun('nvidia-smi', ['--query-gpu=name,compute_cap,driver_version', '--format=csv,noheader']);
  if (smi === null) throw new TesaError('UNSUPPORTED', 'the CUDA target needs an NVIDIA GPU, and nvidia-smi is not available here', 'run on a machine with an NVIDIA GPU and driver, or use --target cpu');
  const nvccOut = tryRun('nvcc', ['--version']);
  if (nvccOut === null) throw new TesaError('UNSUPPORTED', 'the CUDA target needs nvcc, and it is not on PATH', 'install the CUDA toolkit or add its bin/ to PATH');
  const { gpu, sm, driver } = parseSmi(smi);
  const nvcc = (/release [^\n]*/.exec(nvccOut)?.[0] ?? nvccOut.trim().split('\n').pop() ?? 'unknown').trim();
  const gencode = gencodeFor(sm);
  const flags = ['-O3', '-std=c++17', gencode];
  const details: Record<string, string> = { gpu, sm, driver, nvcc, flags: flags.join(' ') };
  const id = createHash('sha256')
    .update(JSON.stringify(Object.entries(details).sort(([a], [b]) => a.localeCompare(b))))
    .digest('hex')
    .slice(0, 16);
  cached = { target: 'cuda', id, details, gpu, sm, driver, nvcc, gencode, flags };
  return cached;
}
