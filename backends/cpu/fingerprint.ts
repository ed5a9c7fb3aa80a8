/**
 * What makes a CPU kernel's timing and correctness specific to this machine: the CPU model
 * and its vector extensions, the C compiler and its version, and the flags we build with.
 * Its hash is part of every kernel's cache key, so a new compiler or machine rebuilds.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TesaError } from '../../src/errors.js';
import type { Fingerprint } from '../backend.js';

export type Isa = 'avx512' | 'avx2' | 'generic';

export interface CpuFingerprint extends Fingerprint {
  compiler: string;
  /** Flags every kernel library is built with. */
  flags: string[];
  isa: Isa;
  cpuFlags: string[];
  threads: number;
}

const INTERESTING_FLAGS = ['sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512dq', 'avx512vl', 'avx512_vnni', 'avx512_bf16', 'avx_vnni', 'amx_tile'];

export interface CpuInfo {
  model: string;
  flags: string[];
}

export function readCpuInfo(text?: string): CpuInfo {
  let src = text;
  if (src === undefined) {
    try {
      src = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      src = '';
    }
  }
  const model = /^model name\s*:\s*(.*)$/m.exec(src)?.[1]?.trim() ?? 'unknown cpu';
  const flagLine = /^flags\s*:\s*(.*)$/m.exec(src)?.[1] ?? '';
  const all = new Set(flagLine.split(/\s+/).filter(Boolean));
  return { model, flags: INTERESTING_FLAGS.filter((f) => all.has(f)) };
}

export interface CompilerInfo {
  path: string;
  version: string;
}

/** $CC, then cc, then gcc: the first that answers --version. */
export function findCompiler(env: NodeJS.ProcessEnv = process.env): CompilerInfo {
  const tried: string[] = [];
  const candidates = [env.CC, 'cc', 'gcc'].filter((c): c is string => typeof c === 'string' && c.trim() !== '');
  for (const cand of candidates) {
    tried.push(cand);
    try {
      const out = execFileSync(cand, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000, env });
      return { path: cand, version: out.split('\n')[0].trim() };
    } catch {
      // try the next one
    }
  }
  throw new TesaError('UNSUPPORTED', `no C compiler found (tried ${tried.length ? tried.join(', ') : '$CC, cc, gcc'})`, 'install gcc (apt-get install gcc) or set $CC');
}

export function chooseIsa(cpuFlags: string[], forced?: string): Isa {
  const want = forced ?? process.env.TESA_ISA;
  const has = (f: string): boolean => cpuFlags.includes(f);
  if (want !== undefined && want !== '') {
    if (want !== 'avx512' && want !== 'avx2' && want !== 'generic') {
      throw new TesaError('BAD_INPUT', `unknown ISA '${want}' (from --isa or TESA_ISA)`, 'use avx512, avx2 or generic');
    }
    if (want === 'avx512' && !has('avx512f')) throw new TesaError('UNSUPPORTED', 'this CPU has no AVX-512 (asked by --isa or TESA_ISA)', 'use --isa avx2');
    if (want === 'avx2' && !(has('avx2') && has('fma'))) throw new TesaError('UNSUPPORTED', 'this CPU has no AVX2/FMA (asked by --isa or TESA_ISA)', 'use --isa generic');
    return want;
  }
  if (has('avx512f')) return 'avx512';
  if (has('avx2') && has('fma')) return 'avx2';
  return 'generic';
}

export function kernelFlags(threads: number): string[] {
  const flags = ['-O3', '-march=native', '-fPIC', '-shared', '-fopenmp-simd', '-std=gnu11'];
  if (threads > 1) flags.push('-fopenmp');
  return flags;
}

export function cpuFingerprint(opts: { threads?: number; isa?: string; env?: NodeJS.ProcessEnv; cpuinfo?: string } = {}): CpuFingerprint {
  const threads = Math.max(1, Math.floor(opts.threads ?? 1));
  const cpu = readCpuInfo(opts.cpuinfo);
  const compiler = findCompiler(opts.env);
  const flags = kernelFlags(threads);
  const isa = chooseIsa(cpu.flags, opts.isa);
  const details: Record<string, string> = {
    cpu: cpu.model,
    cpuFlags: cpu.flags.join(' '),
    compiler: compiler.path,
    compilerVersion: compiler.version,
    flags: flags.join(' '),
    isa,
    threads: String(threads),
  };
  const id = createHash('sha256')
    .update(JSON.stringify(Object.entries(details).sort(([a], [b]) => a.localeCompare(b))))
    .digest('hex')
    .slice(0, 16);
  return { target: 'cpu', id, details, compiler: compiler.path, flags, isa, cpuFlags: cpu.flags, threads };
}
