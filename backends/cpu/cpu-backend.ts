/**
 * The CPU backend: plan → lower → build (pool, cached) → manifest → verify once per kernel
 * (check mode) → time whole-model runs in the runner child process, one at a time.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TesaError, isTesaError } from '../../src/errors.js';
import { dtypeBytes, numel, type DType, type Graph, type TensorData } from '../../src/model/graph.js';
import { randomInputs } from '../../src/model/inputs.js';
import { cacheDir as defaultCacheDir } from '../../src/util/state-dir.js';
import type { Backend, Capabilities, CompileOptions, CompiledModel, KernelArtifact, KernelIndex, KernelRecord, MeasureProtocol, OpPlan, RunOptions, RunResult } from '../backend.js';
import { KernelBuilder, kernelHash, kernelPaths, readRecord, writeRecord } from './build.js';
import { cpuFingerprint, type CpuFingerprint } from './fingerprint.js';
import { layoutModel, writeManifest, writeWeights, type ManifestOp } from './manifest.js';
import { deviceLock } from './mutex.js';
import { planGraph } from './planner.js';
import { int8IsaFor } from './kernels/int8/emit.js';
import { chooseInt8Plans } from './kernels/int8/choose.js';
import type { Precision } from '../../src/plan/sparsity.js';
import { ensureRunner, RunnerFailure, RunnerProcess } from './runner-process.js';
import { applyKernelCacheCap, trimPlanTimers } from '../../src/util/kernel-cache-gc.js';
import { converged, DEFAULT_PROTOCOL } from '../../src/evaluate/measure.js';
import { chooseSparsePlans, type OpPlanChoice } from '../../src/plan/transform.js';
import type { PlanDecisionStore } from '../../src/plan/picker.js';
import { shrinkForCompile, type ShrunkModel } from './shrink-pass.js';

/** A deliberately broken kernel, for testing that verification and crash containment work. */
export interface PlantedFault {
  node: string;
  kind: 'wrong' | 'crash' | 'hang';
}

export interface CpuBackendOptions {
  threads?: number;
  cacheDir?: string;
  /** Force the micro-kernel ISA ('avx512' | 'avx2' | 'generic'); default from the CPU (or $TESA_ISA). */
  isa?: string;
}

/** Extra compile options this backend understands (additive to CompileOptions). */
export interface CpuCompileOptions extends CompileOptions {
  /** Plant a fault into one node's kernel (tests). $TESA_PLANT="wrong:<node>" does the same. */
  plant?: PlantedFault;
  /** Max relative error (vs. the naive reference) a kernel may have to be accepted. */
  tolerance?: number;
  /** How long verification (check mode over the whole model) may take before the kernel running is declared hung. */
  checkTimeoutMs?: number;
  /**
   * Pick each sparse op's plan by timing its candidates against dense (default true). Off,
   * decisions already cached are used and other sparse ops fall back to gemm-sparse's
   * density thresholds (for tests of the kernels themselves).
   */
  pickPlans?: boolean;
  /** Where plan decisions persist; default: `kernelIndex` when it is the store (it has plan_decisions). */
  planStore?: PlanDecisionStore;
  /** Timing budget per sparse op when picking its plan, ms (the candidates' build comes on top). */
  planBudgetMs?: number;
  /**
   * With row / col / channel masks, compile the shrunk model (dead channels physically removed
   * across their layer groups: shrink-pass.ts) instead of dense kernels over zeroed channels.
   * Default true; false compiles the masked graph as given (the peer in benchmarks).
   */
  shrink?: boolean;
}

/** Timing budget per op for plans picked during compile: enough for ~7 interleaved rounds of a big GEMM. */
export const COMPILE_PLAN_BUDGET_MS = 400;

function asPlanStore(index: KernelIndex | undefined): PlanDecisionStore | undefined {
  const s = index as Partial<PlanDecisionStore> | undefined;
  return s && typeof s.getPlanDecision === 'function' && typeof s.putPlanDecision === 'function' ? (s as PlanDecisionStore) : undefined;
}

interface ModelIo {
  threads: number;
  inputs: Array<{ name: string; dtype: DType; shape: number[] }>;
  outputs: Array<{ name: string; dtype: DType; shape: number[] }>;
  /** Node name per manifest op index (for blaming a failure). */
  opNodes: string[];
  opKernels: string[];
}

export const DEFAULT_TOLERANCE = 1e-4;
/** Seed of the inputs used for verification and for runs given no inputs. */
export const DEFAULT_INPUT_SEED = 1234;

function plantFromEnv(): PlantedFault | undefined {
  const v = process.env.TESA_PLANT;
  if (!v) return undefined;
  const m = /^(wrong|crash|hang):(.+)$/.exec(v);
  if (!m) throw new TesaError('BAD_INPUT', `TESA_PLANT='${v}' is not kind:node`, 'use wrong:<node>, crash:<node> or hang:<node>');
  return { kind: m[1] as PlantedFault['kind'], node: m[2] };
}

/** Wraps a kernel so that it corrupts its output, crashes or hangs after computing. */
export function plantFault(code: string, kind: PlantedFault['kind']): string {
  const sig = 'void tesa_kernel(tesa_in in, tesa_out out, void *state) {';
  if (!code.includes(sig)) throw new TesaError('INTERNAL', 'cannot plant a fault: kernel entry not found');
  const action =
    kind === 'wrong' ? '((unsigned char *)out[0])[3] ^= 0x40; /* flips an exponent bit of the first element */'
    : kind === 'crash' ? '*(volatile int *)(uintptr_t)8 = 1; /* segfault */'
    : 'for (volatile int spin = 1; spin;) {} /* hang */';
  return code.replace(sig, 'static void tesa_kernel_unplanted(tesa_in in, tesa_out out, void *state) {') +
    `\n/* PLANTED FAULT (${kind}) for testing verification */\nvoid tesa_kernel(tesa_in in, tesa_out out, void *state) {\n  tesa_kernel_unplanted(in, out, state);\n  ${action}\n}\n`;
}

let modelCounter = 0;

export class CpuBackend implements Backend {
  readonly name = 'cpu';
  readonly cacheDir: string;
  private readonly threads: number;
  private readonly isa: string | undefined;
  private fps = new Map<number, CpuFingerprint>();
  private builders = new Map<string, KernelBuilder>();
  private modelDirs: string[] = [];
  /** Kernel hashes of every model compiled and not yet released, by model folder: eviction spares them. */
  private liveKernels = new Map<string, ReadonlySet<string>>();
  /** Compiler invocations by this backend (kernels and runner). */
  compilerCalls = 0;
  /** The plan decision of every sparse GEMM in the last compile (from cache or timed then). */
  lastPlanChoices: OpPlanChoice[] = [];
  /** What the last compile removed by shrinking coarse-pruned channels (null: nothing). */
  lastShrink: ShrunkModel | null = null;
  /** Wall time the last compile spent picking sparse plans (timing candidates), ms. */
  lastPlanPickMs = 0;

  constructor(opts: CpuBackendOptions = {}) {
    this.threads = Math.max(1, Math.floor(opts.threads ?? 1));
    this.cacheDir = opts.cacheDir ?? defaultCacheDir();
    this.isa = opts.isa;
    mkdirSync(this.cacheDir, { recursive: true });
  }

  cpuFingerprint(threads = this.threads): CpuFingerprint {
    let fp = this.fps.get(threads);
    if (!fp) {
      fp = cpuFingerprint({ threads, isa: this.isa });
      this.fps.set(threads, fp);
    }
    return fp;
  }

  async fingerprint(): Promise<CpuFingerprint> {
    return this.cpuFingerprint();
  }

  capabilities(): Capabilities {
    const fp = this.cpuFingerprint();
    // int8 (gemm-int8) needs AVX2 at least; VNNI when the flags have it.
    const precisions: Precision[] = int8IsaFor(fp.cpuFlags, fp.isa) ? ['fp32', 'int8'] : ['fp32'];
    // The gemm-sparse family (kernels/gemm-sparse.ts) serves MatMul/Gemm weights in these
    // patterns; convolutions with coarse masks run on the dense kernels with zeroed channels.
    const blockShapes: Array<[number, number]> = [
      [1, 4], [1, 8], [1, 16], [1, 32], [1, 64], [1, 128], [1, 256],
      [4, 1], [8, 1], [16, 1], [32, 1],
      [4, 4], [8, 8], [16, 16], [32, 32], [64, 64],
    ];
    return {
      patterns: ['dense', 'fine', 'block', 'row', 'col', 'channel', 'tile'],
      blockShapes,
      precisions,
      channelMultiple: fp.isa === 'avx512' ? 16 : 8,
    };
  }

  private builder(fp: CpuFingerprint): KernelBuilder {
    let b = this.builders.get(fp.id);
    if (!b) {
      b = new KernelBuilder(this.cacheDir, fp);
      this.builders.set(fp.id, b);
    }
    return b;
  }

  async compile(graph: Graph, options: CpuCompileOptions = {}): Promise<CompiledModel> {
    const t0 = performance.now();
    const threads = Math.max(1, Math.floor(options.threads ?? this.threads));
    const fp = this.cpuFingerprint(threads);
    const plant = options.plant ?? plantFromEnv();
    this.lastPlanChoices = [];
    this.lastShrink = null;
    this.lastPlanPickMs = 0;
    let sparsity = options.sparsity;
    if (sparsity && options.shrink !== false) {
      const shrunk = shrinkForCompile(graph, sparsity);
      if (shrunk) {
        this.lastShrink = shrunk;
        graph = shrunk.graph;
        sparsity = shrunk.sparsity;
      }
    }
    if (sparsity && sparsity.size > 0 && options.pickPlans !== false) {
      const sp = sparsity;
      const tp = performance.now();
      // Timing holds the machine like a run: no build or run of this process beside it.
      this.lastPlanChoices = await deviceLock.withRun(() =>
        chooseSparsePlans(graph, sp, fp, { store: options.planStore ?? asPlanStore(options.kernelIndex), budgetMs: options.planBudgetMs ?? COMPILE_PLAN_BUDGET_MS, reps: 9, forCompile: true, timerCacheDir: this.cacheDir }),
      );
      this.lastPlanPickMs = performance.now() - tp;
    }
    // int8 weights with fp32 outliers: decomposed or assimilated, timed once per weight (kernels/int8/choose.ts).
    if (sparsity && options.pickPlans !== false && [...sparsity.values()].some((w) => w.precision === 'int8' && (w.outliers ?? 0) > 0)) {
      const sp = sparsity;
      await deviceLock.withRun(() => chooseInt8Plans(graph, sp, fp, { reps: 7, budgetMs: options.planBudgetMs ?? COMPILE_PLAN_BUDGET_MS }));
    }
    const plan = planGraph(graph, fp, sparsity);
    if (plant && !plan.ops.some((o) => o.plan.node === plant.node && o.family)) {
      throw new TesaError('BAD_INPUT', `cannot plant a fault in '${plant.node}': no kernel runs that node`, `nodes with kernels: ${plan.ops.filter((o) => o.family).slice(0, 5).map((o) => o.plan.node).join(', ')}, …`);
    }

    // Lower every kernel op; identical sources share one hash, one library.
    const lowered = plan.ops.map((op) => {
      if (!op.family) return null;
      const k = op.family.lower(op.plan, { isa: fp.isa, threads });
      const code = plant && plant.node === op.plan.node ? plantFault(k.code, plant.kind) : k.code;
      const hash = kernelHash('c', code, fp.id);
      return { ...k, code, hash, op };
    });
    const unique = new Map<string, NonNullable<(typeof lowered)[number]>>();
    for (const l of lowered) if (l && !unique.has(l.hash)) unique.set(l.hash, l);

    const builder = this.builder(fp);
    const before = builder.compilerCalls;
    let built = 0;
    let cached = 0;
    const artifacts = new Map<string, KernelArtifact>();
    const runner = await deviceLock.withBuild(async () => {
      const runnerP = ensureRunner(this.cacheDir, fp);
      // When a kernel fails below, this promise is abandoned: its own failure must not become an unhandled rejection.
      runnerP.catch(() => undefined);
      // allSettled: a failed kernel must not leave its siblings building after compile() returns
      // (closing the pool under a build in flight crashes piscina). The first failure is thrown.
      const settled = await Promise.allSettled(
        [...unique.values()].map(async (l) => {
          const banner = `/* first built for node '${l.op.plan.node.replace(/\*\//g, '* /')}' (${l.op.plan.opType}) of graph '${graph.name.replace(/\*\//g, '* /')}'; fused: ${(l.op.plan.params.fused as string[]).join(', ') || 'none'} */\n`;
          try {
            const a = await builder.ensure({ hash: l.hash, code: l.code, banner, entry: 'tesa_kernel' }, options.kernelIndex);
            artifacts.set(l.hash, a);
            if (a.cached) cached++;
            else built++;
          } catch (e) {
            if (isTesaError(e) && e.code === 'BUILD_FAILED') {
              throw new TesaError('BUILD_FAILED', `kernel for node '${l.op.plan.node}' (${l.op.plan.kernel}): ${e.message}`, e.hint);
            }
            throw e;
          }
          options.onProgress?.({ built: built + cached, total: unique.size, cached });
        }),
      );
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      return runnerP;
    });
    this.compilerCalls += builder.compilerCalls - before + (runner.built ? 1 : 0);
    // $TESA_KERNEL_CACHE_MB: evict least-recently-used kernels, never this model's nor those of
    // a model compiled earlier and still in use (the dense peer every trial is timed against).
    const inUse = new Set(unique.keys());
    for (const live of this.liveKernels.values()) for (const h of live) inUse.add(h);
    applyKernelCacheCap(options.kernelIndex, inUse);
    trimPlanTimers(this.cacheDir);

    // Lay out the model and write what the runner reads.
    const dir = join(this.cacheDir, 'models', `${process.pid}-${++modelCounter}-${Date.now().toString(36)}`);
    mkdirSync(dir, { recursive: true });
    this.modelDirs.push(dir);
    this.liveKernels.set(dir, new Set(unique.keys()));
    const layout = layoutModel(graph, plan);
    const libs = [...unique.keys()];
    const libIndex = new Map(libs.map((h, i) => [h, i]));
    const manifestOps: ManifestOp[] = [];
    const opNodes: string[] = [];
    const opKernels: string[] = [];
    lowered.forEach((l) => {
      if (!l) return;
      manifestOps.push({ index: manifestOps.length, name: l.op.plan.node, lib: libIndex.get(l.hash)!, hasInit: l.hasInit, hasRef: l.hasRef, stateBytes: l.stateBytes, inputs: l.op.inputs, outputs: l.op.outputs });
      opNodes.push(l.op.plan.node);
      opKernels.push(l.hash);
    });
    writeWeights(join(dir, 'weights.bin'), layout);
    writeManifest(join(dir, 'manifest.txt'), graph, plan, layout, join(dir, 'weights.bin'), libs.map((h) => artifacts.get(h)!.libraryPath), manifestOps);
    const io: ModelIo = {
      threads,
      inputs: graph.inputs.map((n) => ({ name: n, dtype: graph.tensors.get(n)!.dtype, shape: [...graph.tensors.get(n)!.shape] })),
      outputs: graph.outputs.map((n) => {
        const t = graph.tensors.get(n) ?? plan.constants.get(n)!;
        return { name: n, dtype: t.dtype, shape: [...t.shape] };
      }),
      opNodes,
      opKernels,
    };
    writeFileSync(join(dir, 'io.json'), JSON.stringify(io));
    writeFileSync(join(dir, 'runner-path'), runner.path);
    const defaults = randomInputs(graph, DEFAULT_INPUT_SEED);
    writeFileSync(join(dir, 'inputs-default.bin'), Buffer.concat(io.inputs.map((i) => Buffer.from(defaults[i.name].buffer, defaults[i.name].byteOffset, defaults[i.name].byteLength))));

    const model: CompiledModel = {
      target: 'cpu',
      fingerprintId: fp.id,
      dir,
      kernels: [...artifacts.values()],
      plan: plan.ops.map((o) => o.plan),
      stats: { kernelsBuilt: built, kernelsCached: cached, buildMs: performance.now() - t0 },
    };
    await this.verify(model, graph, io, options.kernelIndex, options.tolerance ?? DEFAULT_TOLERANCE, options.checkTimeoutMs ?? 600_000);
    return model;
  }

  /** Check mode once per kernel: every kernel not yet verified is compared against its reference. */
  private async verify(model: CompiledModel, graph: Graph, io: ModelIo, index: KernelIndex | undefined, tolerance: number, timeoutMs: number): Promise<void> {
    const record = (hash: string): KernelRecord | undefined => index?.getKernel(hash) ?? readRecord(kernelPaths(this.cacheDir, hash));
    const bad = io.opKernels.findIndex((h) => {
      const s = record(h)?.status;
      return s === 'wrong' || s === 'crashed';
    });
    if (bad >= 0) throw this.kernelFailure(io, bad, record(io.opKernels[bad])!);
    if (io.opKernels.every((h) => typeof record(h)?.maxRelError === 'number')) return;

    const inputs = randomInputs(graph, DEFAULT_INPUT_SEED);
    const failed = await deviceLock.withRun(async () => {
      const rp = await this.startRunner(model, io, Math.max(timeoutMs, 60_000));
      try {
        await this.sendInputs(rp, model, io, inputs);
        const res = await rp.command('check', timeoutMs);
        return { errors: res.check as Array<[number, number]> };
      } catch (e) {
        if (e instanceof RunnerFailure) return { failure: e };
        throw e;
      } finally {
        await rp.close();
      }
    });
    if ('failure' in failed && failed.failure) {
      const f = failed.failure;
      if (f.opIndex === null) throw new TesaError('RUN_FAILED', `the runner failed before any kernel ran: ${f.message}`, `model folder ${model.dir}`);
      const hash = io.opKernels[f.opIndex];
      const paths = kernelPaths(this.cacheDir, hash);
      const rec = { ...(record(hash) ?? this.blankRecord(hash, model.fingerprintId)), status: 'crashed' as const, error: f.message };
      writeRecord(paths, rec, index);
      throw this.kernelFailure(io, f.opIndex, rec);
    }
    const worst = new Map<string, { err: number; op: number }>();
    for (const [op, err] of failed.errors ?? []) {
      const h = io.opKernels[op];
      const w = worst.get(h);
      if (!w || err > w.err) worst.set(h, { err, op });
    }
    let firstWrong: { op: number; rec: KernelRecord } | null = null;
    for (const [hash, { err, op }] of worst) {
      const prev = record(hash);
      if (typeof prev?.maxRelError === 'number' && prev.status === 'ok') continue;
      const rec: KernelRecord = { ...(prev ?? this.blankRecord(hash, model.fingerprintId)), maxRelError: err, status: err <= tolerance ? 'ok' : 'wrong', error: err <= tolerance ? null : `max relative error ${err.toExponential(2)} > ${tolerance}` };
      writeRecord(kernelPaths(this.cacheDir, hash), rec, index);
      if (rec.status === 'wrong' && !firstWrong) firstWrong = { op, rec };
    }
    if (firstWrong) throw this.kernelFailure(io, firstWrong.op, firstWrong.rec);
  }

  private blankRecord(hash: string, fingerprintId: string): KernelRecord {
    const p = kernelPaths(this.cacheDir, hash);
    return { hash, fingerprintId, language: 'c', entry: 'tesa_kernel', sourcePath: p.sourcePath, libraryPath: p.libraryPath, buildMs: 0, status: 'ok', maxRelError: null, error: null, sizeBytes: 0 };
  }

  private kernelFailure(io: ModelIo, op: number, rec: KernelRecord): TesaError {
    const node = io.opNodes[op];
    if (rec.status === 'wrong') {
      return new TesaError('WRONG_RESULT', `kernel for node '${node}' computes a wrong result (${rec.error ?? 'check failed'})`, `its source is ${rec.sourcePath}`);
    }
    return new TesaError('RUN_FAILED', `kernel for node '${node}' failed: ${rec.error ?? 'crashed'}`, `its source is ${rec.sourcePath}`);
  }

  private readIo(model: CompiledModel): ModelIo {
    try {
      return JSON.parse(readFileSync(join(model.dir, 'io.json'), 'utf8')) as ModelIo;
    } catch (e) {
      throw new TesaError('NOT_FOUND', `compiled model folder ${model.dir} is gone or incomplete`, 'compile the model again', { cause: e });
    }
  }

  private async startRunner(model: CompiledModel, io: ModelIo, timeoutMs: number): Promise<RunnerProcess> {
    const runnerPath = readFileSync(join(model.dir, 'runner-path'), 'utf8').trim();
    try {
      return await RunnerProcess.start(runnerPath, join(model.dir, 'manifest.txt'), { threads: io.threads, timeoutMs });
    } catch (e) {
      if (e instanceof RunnerFailure) throw new TesaError('RUN_FAILED', `the runner could not load ${model.dir}: ${e.message}`, 'compile the model again');
      throw e;
    }
  }

  private async sendInputs(rp: RunnerProcess, model: CompiledModel, io: ModelIo, inputs: Record<string, TensorData> | Map<string, TensorData>): Promise<void> {
    const get = (n: string): TensorData | undefined => (inputs instanceof Map ? inputs.get(n) : inputs[n]);
    const parts = io.inputs.map((inp) => {
      const d = get(inp.name);
      if (!d) throw new TesaError('BAD_INPUT', `no value given for model input '${inp.name}'`, `the model's inputs are ${io.inputs.map((i) => i.name).join(', ')}`);
      const want = numel(inp.shape) * dtypeBytes(inp.dtype);
      if (d.byteLength !== want) throw new TesaError('BAD_INPUT', `input '${inp.name}' has ${d.byteLength} bytes, the model expects ${want} (${inp.dtype}[${inp.shape}])`, 'pass data of the input dtype and shape');
      return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
    });
    const path = join(model.dir, `inputs-${process.pid}.bin`);
    writeFileSync(path, Buffer.concat(parts));
    await rp.command(`inputs ${path}`, 60_000);
  }

  private blame(io: ModelIo, e: unknown, what: string): never {
    if (e instanceof RunnerFailure) {
      const node = e.opIndex !== null ? io.opNodes[e.opIndex] : null;
      throw new TesaError('RUN_FAILED', `${what}: ${e.message}${node ? ` (in the kernel of node '${node}')` : ''}`, node ? `kernel source ${kernelPaths(this.cacheDir, io.opKernels[e.opIndex!]).sourcePath}` : 'run with check to find the kernel at fault');
    }
    throw e;
  }

  /** A runner kept open for many timed batches (e.g. interleaving with a peer); holds the run lock until closed. */
  async openSession(model: CompiledModel, inputs?: Record<string, TensorData> | Map<string, TensorData>): Promise<ModelSession> {
    const io = this.readIo(model);
    const release = await new Promise<() => void>((resolve) => {
      void deviceLock.withRun(() => new Promise<void>((done) => resolve(done)));
    });
    try {
      const rp = await this.startRunner(model, io, 600_000);
      if (inputs) await this.sendInputs(rp, model, io, inputs);
      else await rp.command(`inputs ${join(model.dir, 'inputs-default.bin')}`, 60_000);
      return new ModelSession(rp, io, model, (e, w) => this.blame(io, e, w), release);
    } catch (e) {
      release();
      throw e;
    }
  }

  async run(model: CompiledModel, options: RunOptions): Promise<RunResult> {
    const io = this.readIo(model);
    const protocol: MeasureProtocol = options.protocol ?? DEFAULT_PROTOCOL;
    // Without inputs: the seeded, graph-aware inputs (ids within their tables) saved at compile time.
    const session = await this.openSession(model, options.inputs as Map<string, TensorData> | undefined);
    try {
      const result: RunResult = { samplesMs: [] };
      if (options.check) result.check = await session.check();
      if (protocol.warmup > 0) await session.warmup(protocol.warmup);
      const t0 = performance.now();
      const batch = Math.max(1, Math.min(protocol.minReps, 10));
      while (result.samplesMs.length < protocol.maxReps) {
        const n = Math.min(batch, protocol.maxReps - result.samplesMs.length);
        result.samplesMs.push(...(await session.time(n, Math.max(1000, protocol.timeoutMs - (performance.now() - t0)))));
        if (result.samplesMs.length >= protocol.minReps && converged(result.samplesMs, protocol.ciTarget)) break;
        if (performance.now() - t0 > protocol.timeoutMs) break;
      }
      if (options.wantOutputs) result.outputs = await session.outputs();
      return result;
    } finally {
      await session.close();
    }
  }

  async release(model: CompiledModel): Promise<void> {
    const i = this.modelDirs.indexOf(model.dir);
    if (i < 0) return;
    this.modelDirs.splice(i, 1);
    this.liveKernels.delete(model.dir);
    rmSync(model.dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    await Promise.all([...this.builders.values()].map((b) => b.close()));
    this.builders.clear();
    this.liveKernels.clear();
    for (const d of this.modelDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

export class ModelSession {
  constructor(
    private readonly rp: RunnerProcess,
    private readonly io: ModelIo,
    private readonly model: CompiledModel,
    private readonly blame: (e: unknown, what: string) => never,
    private readonly release: () => void,
  ) {}

  async warmup(n: number): Promise<void> {
    try {
      await this.rp.command(`warmup ${n}`, 600_000);
    } catch (e) {
      this.blame(e, 'warm-up run failed');
    }
  }

  async time(n: number, timeoutMs = 600_000): Promise<number[]> {
    try {
      const r = await this.rp.command(`time ${n}`, timeoutMs);
      return r.samplesMs as number[];
    } catch (e) {
      this.blame(e, 'timed run failed');
    }
  }

  /** Per-op mean milliseconds over n runs, by node name. */
  async profile(n: number): Promise<Array<{ node: string; ms: number }>> {
    try {
      const r = await this.rp.command(`profile ${n}`, 600_000);
      return (r.opsMs as Array<[number, number]>).map(([i, ms]) => ({ node: this.io.opNodes[i], ms }));
    } catch (e) {
      this.blame(e, 'profiling run failed');
    }
  }

  async check(): Promise<{ maxRelError: number; perKernel: Array<{ node: string; maxRelError: number }> }> {
    try {
      const r = await this.rp.command('check', 600_000);
      const perKernel = (r.check as Array<[number, number]>).map(([i, e]) => ({ node: this.io.opNodes[i], maxRelError: e }));
      return { maxRelError: Math.max(0, ...perKernel.map((p) => p.maxRelError)), perKernel };
    } catch (e) {
      this.blame(e, 'check run failed');
    }
  }

  async outputs(): Promise<Map<string, Float32Array>> {
    const path = join(this.model.dir, `outputs-${process.pid}.bin`);
    try {
      await this.rp.command(`outputs ${path}`, 60_000);
    } catch (e) {
      this.blame(e, 'reading outputs failed');
    }
    const buf = readFileSync(path);
    const out = new Map<string, Float32Array>();
    let at = 0;
    for (const o of this.io.outputs) {
      const n = numel(o.shape);
      const bytes = n * dtypeBytes(o.dtype);
      const slice = buf.subarray(at, at + bytes);
      at += bytes;
      const copy = new Uint8Array(slice).buffer;
      if (o.dtype === 'float32') out.set(o.name, new Float32Array(copy));
      else if (o.dtype === 'int64') out.set(o.name, Float32Array.from(new BigInt64Array(copy), (v) => Number(v)));
      else if (o.dtype === 'int32') out.set(o.name, Float32Array.from(new Int32Array(copy)));
      else if (o.dtype === 'float64') out.set(o.name, Float32Array.from(new Float64Array(copy)));
      else out.set(o.name, Float32Array.from(new Uint8Array(copy)));
    }
    rmSync(path, { force: true });
    return out;
  }

  async close(): Promise<void> {
    try {
      await this.rp.close();
    } finally {
      this.release();
    }
  }
}

export type { OpPlan };
