/**
 * The plug-in point for targets (DESIGN.md, "Backend"). A backend turns a graph plus its
 * sparsity into kernels specialised to that sparsity, builds them, and times the whole model
 * on the real machine. `lower` is pure and deterministic so kernels can be cached by
 * hash(source, fingerprint); `build` runs the compiler (in a worker pool); `run` executes a
 * compiled model in a child process, strictly one at a time.
 */
import type { Graph } from '../src/model/graph.js';
import type { ModelSparsity, Pattern, Precision } from '../src/plan/sparsity.js';

export interface Fingerprint {
  target: string;
  /** Stable short hash of everything below; part of every kernel cache key. */
  id: string;
  /** Human-readable facts: CPU model and flags, compiler and version and flags / GPU, SM, driver, nvcc. */
  details: Record<string, string>;
}

export interface Capabilities {
  /** Pattern families this backend has kernels for ('fine', 'block', 'row', 'col', 'channel', 'tile', 'nm'). */
  patterns: string[];
  /** Block shapes [R, C] it specialises for. */
  blockShapes: Array<[number, number]>;
  precisions: Precision[];
  /** Coarse pruning keeps channel counts at multiples of this (8 for AVX2 fp32, 16 for tensor cores). */
  channelMultiple: number;
  /** Patterns a search offers when --patterns is not given; absent: the generic CPU-minded default. */
  defaultPatterns?: Pattern[];
}

/** One op's chosen implementation, produced by the planner; enough to lower it. */
export interface OpPlan {
  /** Node name in the graph. */
  node: string;
  opType: string;
  /** Kernel family, e.g. 'gemm-dense', 'gemm-bsr', 'gemm-csr', 'conv-direct', 'layernorm', 'view'. */
  kernel: string;
  /** Constants baked into the kernel (shapes, block shape, pattern, epilogue), JSON-serialisable. */
  params: Record<string, unknown>;
}

export interface KernelSource {
  /** hash(language, code, fingerprint.id): the cache key. */
  hash: string;
  language: 'c' | 'cuda';
  /** Exported symbol the runner calls. */
  entry: string;
  code: string;
}

export interface KernelArtifact {
  hash: string;
  /** Path of the built shared library (kept on disk beside its source). */
  libraryPath: string;
  sourcePath: string;
  /** True when served from the cache without a compiler call. */
  cached: boolean;
  buildMs: number;
}

/** One row of the kernel cache (the store's `kernels` table implements KernelIndex). */
export interface KernelRecord {
  hash: string;
  fingerprintId: string;
  language: 'c' | 'cuda';
  entry: string;
  sourcePath: string;
  libraryPath: string;
  buildMs: number;
  status: 'ok' | 'build_failed' | 'wrong' | 'crashed';
  /** Max relative error found by check mode; null until verified. */
  maxRelError: number | null;
  error: string | null;
  sizeBytes: number;
}

/** Where built kernels are remembered across processes (the store), so none is built or verified twice. */
export interface KernelIndex {
  getKernel(hash: string): KernelRecord | undefined;
  putKernel(record: KernelRecord): void;
  touchKernel(hash: string): void;
}

export interface CompileOptions {
  sparsity?: ModelSparsity;
  /** The store's kernel table; without it only the on-disk cache is used. */
  kernelIndex?: KernelIndex;
  threads?: number;
  /** Called as kernels are built, for progress display. */
  onProgress?: (event: { built: number; total: number; cached: number }) => void;
}

/** A model ready to run: the manifest on disk and what it references. */
export interface CompiledModel {
  target: string;
  fingerprintId: string;
  /** Folder holding manifest.json, weights.bin and links to kernel libraries. */
  dir: string;
  kernels: KernelArtifact[];
  plan: OpPlan[];
  stats: { kernelsBuilt: number; kernelsCached: number; buildMs: number };
}

export interface MeasureProtocol {
  warmup: number;
  minReps: number;
  maxReps: number;
  /** Stop when the 95% CI of the median is within ±this fraction (0.02 = ±2%). */
  ciTarget: number;
  /** Wall-clock cap for one run, ms. */
  timeoutMs: number;
}

export interface RunOptions {
  protocol: MeasureProtocol;
  /** Inputs by graph input name; random (seeded) when absent. */
  inputs?: Map<string, Float32Array | BigInt64Array | Int32Array>;
  /** Return the graph outputs. */
  wantOutputs?: boolean;
  /** Compare every kernel against the naive reference and report the max relative error. */
  check?: boolean;
  seed?: number;
}

export interface RunResult {
  /** Whole-model latency samples, ms, one per timed repetition. */
  samplesMs: number[];
  outputs?: Map<string, Float32Array>;
  check?: { maxRelError: number; perKernel: Array<{ node: string; maxRelError: number }> };
}

export interface Backend {
  readonly name: string;
  fingerprint(): Promise<Fingerprint>;
  capabilities(): Capabilities;
  /**
   * Throws a TesaError (UNSUPPORTED, naming the node) when this backend cannot run the graph at
   * all; pure and quick, so a search refuses such a model before it records anything.
   */
  validate?(graph: Graph): void;
  /** Plans and lowers every op, builds what the cache lacks, writes the manifest. */
  compile(graph: Graph, options?: CompileOptions): Promise<CompiledModel>;
  /** Runs a compiled model in a child process and returns its timings (and outputs). */
  run(model: CompiledModel, options: RunOptions): Promise<RunResult>;
  /**
   * Forgets a compiled model this backend made: its folder goes and its kernels are no longer
   * protected from the cache cap's eviction. A search releases every trial's model, so a run of
   * hours keeps neither folders nor pinned kernels growing.
   */
  release?(model: CompiledModel): Promise<void>;
  /** Frees worker pools. */
  close(): Promise<void>;
}

export type PatternName = Pattern;
