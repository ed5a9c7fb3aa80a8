/**
 * Kernel cache and builder: a kernel's key is sha256(language, code, fingerprint id); its
 * source and library live in `<cacheDir>/<hash>/` with a record.json (status, verification)
 * so that no kernel is built or verified twice, across processes, with or without a store.
 * Builds run in a piscina pool of compiler workers (size = cores, at most 2 here).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { TesaError } from '../../src/errors.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { KernelArtifact, KernelIndex, KernelRecord } from '../backend.js';
import type { BuildResult, BuildTask } from './build-worker.js';
import type { CpuFingerprint } from './fingerprint.js';

export function kernelHash(language: 'c' | 'cuda', code: string, fingerprintId: string): string {
  return createHash('sha256').update(language).update('\0').update(code).update('\0').update(fingerprintId).digest('hex').slice(0, 32);
}

export interface KernelPaths {
  dir: string;
  sourcePath: string;
  libraryPath: string;
  recordPath: string;
}

export function kernelPaths(cacheDir: string, hash: string): KernelPaths {
  const dir = join(cacheDir, hash);
  return { dir, sourcePath: join(dir, 'kernel.c'), libraryPath: join(dir, 'kernel.so'), recordPath: join(dir, 'record.json') };
}

/** The record kept beside the library; mirrors the store's row. */
export function readRecord(paths: KernelPaths): KernelRecord | undefined {
  try {
    return JSON.parse(readFileSync(paths.recordPath, 'utf8')) as KernelRecord;
  } catch {
    return undefined;
  }
}

export function writeRecord(paths: KernelPaths, record: KernelRecord, index?: KernelIndex): void {
  writeFileSync(paths.recordPath, JSON.stringify(record, null, 2));
  index?.putKernel(record);
}

function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = join(dirname(here), 'build-worker.js');
  if (existsSync(sibling)) return sibling;
  // Running from TypeScript sources (tests): use the built worker.
  const built = join(packageRoot(), 'dist', 'backends', 'cpu', 'build-worker.js');
  if (!existsSync(built)) throw new TesaError('INTERNAL', `build worker not found at ${built}`, 'run `npm run build` first');
  return built;
}

export interface KernelToBuild {
  hash: string;
  code: string;
  /** Prepended to the file on disk only (not hashed), so identical kernels still share a hash. */
  banner: string;
  entry: string;
}

export class KernelBuilder {
  private pool: Piscina | null = null;
  /** Compiler invocations made by this builder (for tests and progress). */
  compilerCalls = 0;

  constructor(
    private readonly cacheDir: string,
    private readonly fingerprint: CpuFingerprint,
    private readonly poolSize = Math.max(1, Math.min(2, availableParallelism())),
  ) {}

  private getPool(): Piscina {
    if (!this.pool) this.pool = new Piscina({ filename: workerFile(), maxThreads: this.poolSize, minThreads: 1, idleTimeout: 5000 });
    return this.pool;
  }

  /** Returns the artifact for a kernel, building it only when neither disk nor index has it. */
  async ensure(k: KernelToBuild, index?: KernelIndex): Promise<KernelArtifact> {
    const paths = kernelPaths(this.cacheDir, k.hash);
    const known = index?.getKernel(k.hash) ?? readRecord(paths);
    if (known && known.status === 'build_failed') {
      throw new TesaError('BUILD_FAILED', `kernel ${k.hash} failed to build before: ${firstLine(known.error)}`, `see ${paths.sourcePath}`);
    }
    if (existsSync(paths.libraryPath) && known) {
      index?.touchKernel(k.hash);
      if (index && !index.getKernel(k.hash)) index.putKernel(known);
      return { hash: k.hash, libraryPath: paths.libraryPath, sourcePath: paths.sourcePath, cached: true, buildMs: 0 };
    }
    try {
      mkdirSync(paths.dir, { recursive: true });
      writeFileSync(paths.sourcePath, k.banner + k.code);
    } catch (e) {
      // A full or read-only cache is the machine's state, not the kernel's: say so in one line.
      const code = (e as NodeJS.ErrnoException).code ?? 'error';
      throw new TesaError('STORE', `cannot write kernel ${k.hash} into the kernel cache ${this.cacheDir} (${code})`, 'free space there or point TESA_CACHE_DIR at a writable folder', { cause: e });
    }
    const task: BuildTask = { compiler: this.fingerprint.compiler, flags: this.fingerprint.flags, sourcePath: paths.sourcePath, libraryPath: paths.libraryPath, timeoutMs: 180_000 };
    this.compilerCalls++;
    const res = (await this.getPool().run(task)) as BuildResult;
    const record: KernelRecord = {
      hash: k.hash,
      fingerprintId: this.fingerprint.id,
      language: 'c',
      entry: k.entry,
      sourcePath: paths.sourcePath,
      libraryPath: paths.libraryPath,
      buildMs: Math.round(res.ms),
      status: res.ok ? 'ok' : 'build_failed',
      maxRelError: null,
      error: res.ok ? null : res.stderr.slice(0, 4000),
      sizeBytes: res.ok ? statSync(paths.libraryPath).size : 0,
    };
    writeRecord(paths, record, index);
    if (!res.ok) throw new TesaError('BUILD_FAILED', `the C compiler rejected kernel ${k.hash}: ${firstLine(res.stderr)}`, `see ${paths.sourcePath}`);
    return { hash: k.hash, libraryPath: paths.libraryPath, sourcePath: paths.sourcePath, cached: false, buildMs: res.ms };
  }

  async close(): Promise<void> {
    if (this.pool) {
      const p = this.pool;
      this.pool = null;
      await p.destroy();
    }
  }
}

function firstLine(s: string | null | undefined): string {
  const lines = (s ?? '').split('\n').filter((l) => /error/i.test(l));
  return (lines[0] ?? (s ?? '').split('\n')[0] ?? '').slice(0, 300);
}
