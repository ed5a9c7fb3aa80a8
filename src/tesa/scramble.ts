/**
 * Automatic propagation rules by tensor scrambling (§3.2), for ops with no hand-written rule.
 *
 * The op runs alone in onnxruntime-node (a one-node model) with random inputs, several trials:
 *  - with every runtime input at zero, which outputs are zero ("zero at zero");
 *  - perturbing one input element at a time, which outputs change: the dependency relation.
 * The rule then reads: an output element is zero when it is zero at zero and every input
 * element it depends on is pruned (forward); an input element is dead when every output that
 * depends on it is pruned (backward). Both directions follow from the one relation, so no
 * gradient operator is needed.
 *
 * Scrambling needs onnxruntime and is async, propagation is sync: `prepareScrambleRules(graph)`
 * runs first and returns the rules by node name (pass them as `extraRules`). Relations are cached
 * by (op, attributes, input shapes, constant inputs) in memory and in a JSON file under the
 * state folder, so a model's ops are scrambled once per machine.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import seedrandom from 'seedrandom';
import type { Graph, Node, Tensor, TensorData } from '../model/graph.js';
import { createOrtSession } from '../model/ort.js';
import { stateDir } from '../util/state-dir.js';
import { SparsityAttr } from './attributes.js';
import { isTracked } from './propagate.js';
import { getRule, type Rule, type RuleContext, type RuleResult } from './rules/registry.js';

/** output element → the input elements (global index over the runtime float inputs) it depends on. */
export interface ScrambleRelation {
  /** Runtime float input slots, in order, and their element counts. */
  inputSlots: number[];
  inputSizes: number[];
  /** Float output slots and their element counts. */
  outputSlots: number[];
  outputSizes: number[];
  /** Per output slot: 1 where the output is zero when every runtime input is zero. */
  zeroAtZero: number[][];
  /** Per output slot, CSR over its elements: deps[offsets[o] .. offsets[o+1]). */
  offsets: number[][];
  deps: number[][];
}

export interface ScrambleOptions {
  seed?: number;
  /** Random base points per relation (default 3). */
  trials?: number;
  /** Skip ops with more runtime input elements than this (default 4096): one ORT run per element. */
  maxInputElements?: number;
  /** Cache file; default `<state dir>/tesa-scramble-rules.json`; null for no disk cache. */
  cacheFile?: string | null;
}

const memory = new Map<string, ScrambleRelation>();
let diskLoaded: string | null = null;

function defaultCacheFile(): string {
  return join(stateDir(), 'tesa-scramble-rules.json');
}

function loadDisk(file: string): void {
  if (diskLoaded === file) return;
  diskLoaded = file;
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, ScrambleRelation>;
    for (const [k, v] of Object.entries(raw)) if (!memory.has(k)) memory.set(k, v);
  } catch {
    // No cache yet, or an unreadable one: it is rebuilt.
  }
}

function saveDisk(file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(Object.fromEntries(memory)));
  renameSync(tmp, file);
}

/** The cache key: op, attributes, the shapes and dtypes of every input, and constant inputs' bytes. */
export function scrambleSignature(graph: Graph, node: Node): string {
  const h = createHash('sha256');
  h.update(`${node.domain}::${node.opType}\n${JSON.stringify(node.attrs, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Uint8Array) : v))}\n`);
  for (const name of node.inputs) {
    const t = name ? graph.tensors.get(name) : undefined;
    h.update(t ? `${t.dtype}[${t.shape.join(',')}]${t.data ? ':const' : ''}\n` : '-\n');
    if (t?.data) h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  for (const name of node.outputs) {
    const t = name ? graph.tensors.get(name) : undefined;
    h.update(t ? `${t.dtype}[${t.shape.join(',')}]\n` : '-\n');
  }
  return h.digest('hex').slice(0, 32);
}

/** A graph holding only `node`: runtime inputs as graph inputs, constants as initializers. */
function oneNodeGraph(graph: Graph, node: Node): Graph {
  const tensors = new Map<string, Tensor>();
  const inputs: string[] = [];
  for (const name of node.inputs) {
    if (!name || tensors.has(name)) continue;
    const t = graph.tensors.get(name)!;
    tensors.set(name, { ...t, shape: [...t.shape] });
    if (t.data === undefined) inputs.push(name);
  }
  const outputs: string[] = [];
  for (const name of node.outputs) {
    if (!name) continue;
    const t = graph.tensors.get(name)!;
    tensors.set(name, { name, dtype: t.dtype, shape: [...t.shape] });
    outputs.push(name);
  }
  return { name: `scramble_${node.opType}`, inputs, outputs, tensors, nodes: [{ ...node, attrs: { ...node.attrs } }], opsetVersion: graph.opsetVersion };
}

/** Can this node be scrambled: every runtime input is a tracked float tensor, sizes within the cap. */
function scramblable(graph: Graph, node: Node, cap: number): boolean {
  let elements = 0;
  let runtime = 0;
  for (const name of node.inputs) {
    if (!name) continue;
    const t = graph.tensors.get(name);
    if (!t) return false;
    if (t.data !== undefined) continue;
    if (!isTracked(graph, name) || t.dtype !== 'float32') return false;
    runtime++;
    elements += t.shape.reduce((a, b) => a * b, 1);
  }
  const floatOut = node.outputs.some((o) => o && isTracked(graph, o));
  return runtime > 0 && floatOut && elements <= cap;
}

function differs(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) !== Number.isNaN(b);
  return a !== b;
}

/** Builds the relation of one node by running it in onnxruntime. */
export async function scrambleRelation(graph: Graph, node: Node, opts: ScrambleOptions = {}): Promise<ScrambleRelation> {
  const rng = seedrandom(`${opts.seed ?? 0}:${node.opType}`);
  const trials = opts.trials ?? 3;
  const g = oneNodeGraph(graph, node);
  const inputSlots: number[] = [];
  const inputSizes: number[] = [];
  node.inputs.forEach((name, slot) => {
    if (name && g.inputs.includes(name) && !inputSlots.some((s) => node.inputs[s] === name)) {
      inputSlots.push(slot);
      inputSizes.push(g.tensors.get(name)!.shape.reduce((a, b) => a * b, 1));
    }
  });
  const outputSlots: number[] = [];
  const outputSizes: number[] = [];
  node.outputs.forEach((name, slot) => {
    if (name && isTracked(graph, name)) {
      outputSlots.push(slot);
      outputSizes.push(graph.tensors.get(name)!.shape.reduce((a, b) => a * b, 1));
    }
  });
  const session = await createOrtSession(g);
  try {
    const run = async (values: Float32Array[]): Promise<Float32Array[]> => {
      const feeds: Record<string, TensorData> = {};
      inputSlots.forEach((slot, k) => (feeds[node.inputs[slot]] = values[k]));
      const out = await session.run(feeds);
      return outputSlots.map((slot) => {
        const d = out.get(node.outputs[slot])!.data;
        return d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
      });
    };
    const zeros = inputSizes.map((n) => new Float32Array(n));
    const atZero = await run(zeros);
    const zeroAtZero = atZero.map((o) => Array.from(o, (v) => (v === 0 ? 1 : 0)));
    const depSets = outputSizes.map((n) => Array.from({ length: n }, () => new Set<number>()));
    for (let t = 0; t < trials; t++) {
      // Positive values keep Sqrt/Log-like ops in their domain.
      const base = inputSizes.map((n) => Float32Array.from({ length: n }, () => 0.5 + rng() * 1.5));
      const ref = await run(base);
      let global = 0;
      for (let k = 0; k < base.length; k++) {
        for (let i = 0; i < base[k].length; i++, global++) {
          const keep = base[k][i];
          base[k][i] = keep * (1.5 + rng());
          const got = await run(base);
          base[k][i] = keep;
          for (let s = 0; s < got.length; s++) for (let o = 0; o < got[s].length; o++) if (differs(got[s][o], ref[s][o])) depSets[s][o].add(global);
        }
      }
    }
    const offsets: number[][] = [];
    const deps: number[][] = [];
    for (const sets of depSets) {
      const off = [0];
      const flat: number[] = [];
      for (const set of sets) {
        flat.push(...[...set].sort((a, b) => a - b));
        off.push(flat.length);
      }
      offsets.push(off);
      deps.push(flat);
    }
    return { inputSlots, inputSizes, outputSlots, outputSizes, zeroAtZero, offsets, deps };
  } finally {
    await session.release();
  }
}

/** The propagation rule a relation stands for. */
export function ruleFromRelation(rel: ScrambleRelation): Rule {
  const starts: number[] = [];
  let acc = 0;
  for (const n of rel.inputSizes) {
    starts.push(acc);
    acc += n;
  }
  const locate = (global: number): [number, number] => {
    let k = starts.length - 1;
    while (k > 0 && starts[k] > global) k--;
    return [k, global - starts[k]];
  };
  return (ctx: RuleContext): RuleResult => {
    const ins = rel.inputSlots.map((slot) => ctx.inputs[slot]);
    const isPruned = (global: number): boolean => {
      const [k, i] = locate(global);
      return ins[k]?.isPruned(i) ?? false;
    };
    const outputs: (SparsityAttr | undefined)[] = ctx.node.outputs.map(() => undefined);
    rel.outputSlots.forEach((slot, s) => {
      const shape = ctx.outShapes[slot];
      if (!shape) return;
      const a = new SparsityAttr(shape);
      const off = rel.offsets[s];
      for (let o = 0; o < rel.outputSizes[s]; o++) {
        if (!rel.zeroAtZero[s][o]) continue;
        let zero = true;
        for (let j = off[o]; j < off[o + 1] && zero; j++) if (!isPruned(rel.deps[s][j])) zero = false;
        if (zero) a.prune(o);
      }
      outputs[slot] = a.count() > 0 ? a : undefined;
    });
    // Backward: an input element is live when some unpruned output depends on it.
    const live = rel.inputSizes.map((n) => new Uint8Array(n));
    rel.outputSlots.forEach((slot, s) => {
      const y = ctx.outputs[slot];
      const off = rel.offsets[s];
      for (let o = 0; o < rel.outputSizes[s]; o++) {
        if (y?.isPruned(o)) continue;
        for (let j = off[o]; j < off[o + 1]; j++) {
          const [k, i] = locate(rel.deps[s][j]);
          live[k][i] = 1;
        }
      }
    });
    const inputs: (SparsityAttr | undefined)[] = ctx.node.inputs.map(() => undefined);
    rel.inputSlots.forEach((slot, k) => {
      const shape = ctx.inShapes[slot];
      if (!shape) return;
      const a = new SparsityAttr(shape);
      for (let i = 0; i < live[k].length; i++) if (!live[k][i]) a.prune(i);
      inputs[slot] = a.count() > 0 ? a : undefined;
    });
    return { outputs, inputs };
  };
}

/**
 * Scrambling rules for every node of `graph` whose op has no hand-written rule (and that can be
 * scrambled), by node name. Relations come from the caches when present.
 */
export async function prepareScrambleRules(graph: Graph, opts: ScrambleOptions = {}): Promise<Map<string, Rule>> {
  const cap = opts.maxInputElements ?? 4096;
  const file = opts.cacheFile === undefined ? defaultCacheFile() : opts.cacheFile;
  const rules = new Map<string, Rule>();
  const pending = graph.nodes.filter((n) => !getRule(n.opType, n.domain) && scramblable(graph, n, cap));
  if (pending.length === 0) return rules;
  if (file) loadDisk(file);
  let added = false;
  for (const node of pending) {
    const sig = scrambleSignature(graph, node);
    let rel = memory.get(sig);
    if (!rel) {
      rel = await scrambleRelation(graph, node, opts);
      memory.set(sig, rel);
      added = true;
    }
    rules.set(node.name, ruleFromRelation(rel));
  }
  if (added && file) saveDisk(file);
  return rules;
}

/** Forgets the in-memory cache (tests). */
export function clearScrambleMemory(): void {
  memory.clear();
  diskLoaded = null;
}
