/**
 * `<model>` as users write it: a path to an .onnx file or `zoo:NAME`. Either way the result
 * is a Graph with concrete shapes, folded constants and no Identity nodes.
 */
import { readFileSync, statSync } from 'node:fs';
import { TesaError } from '../errors.js';
import type { Graph } from './graph.js';
import { simplifyGraph } from './fold.js';
import { importOnnx } from './onnx/import.js';
import { buildZooModel, zooModelNames } from './zoo/index.js';

export interface LoadOptions {
  /** Values for symbolic input dims (CLI `--dim name=value`). */
  dims?: Record<string, number>;
}

const ZOO_PREFIX = 'zoo:';

function loadZoo(spec: string, opts: LoadOptions): Graph {
  const name = spec.slice(ZOO_PREFIX.length);
  if (opts.dims && Object.keys(opts.dims).length > 0) {
    throw new TesaError('BAD_INPUT', `--dim does not apply to ${spec}: zoo models have fixed shapes`, 'drop --dim, or give an .onnx file');
  }
  let graph: Graph;
  try {
    graph = buildZooModel(name);
  } catch (e) {
    if (e instanceof TesaError) throw e;
    // The zoo reports unknown names itself; anything else it throws is still the user's spec.
    if (!zooModelNames().includes(name)) {
      throw new TesaError('NOT_FOUND', `unknown zoo model '${name}'`, `known: ${zooModelNames().join(', ')}`, { cause: e });
    }
    throw e;
  }
  graph.metadata = { source: spec, ...(graph.metadata ?? {}) };
  // The zoo builds exporter-shaped graphs; run the same clean-up as imports so counts agree.
  simplifyGraph(graph, { source: spec });
  return graph;
}

function loadFile(path: string, opts: LoadOptions): Graph {
  let bytes: Uint8Array;
  try {
    if (statSync(path).isDirectory()) throw new TesaError('BAD_INPUT', `${path} is a directory, not an .onnx file`, 'give the path of an .onnx file or zoo:NAME');
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof TesaError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new TesaError('NOT_FOUND', `${path}: no such file`, `give the path of an .onnx file or zoo:NAME (zoo models: ${zooModelNames().join(', ')})`);
    }
    throw new TesaError('BAD_INPUT', `${path}: cannot read the file (${code ?? (e as Error).message})`, 'check the path and its permissions');
  }
  return importOnnx(bytes, { source: path, dims: opts.dims });
}

/** Loads `spec` (an .onnx path or `zoo:NAME`). */
export async function loadModel(spec: string, opts: LoadOptions = {}): Promise<Graph> {
  return spec.startsWith(ZOO_PREFIX) ? loadZoo(spec, opts) : loadFile(spec, opts);
}
