/**
 * onnxruntime-node as the dense reference: a Graph is exported to ONNX bytes and loaded into an
 * InferenceSession. Everybody who compares "ours vs onnxruntime" goes through here so that the
 * session options (threads, optimization level) are the same everywhere.
 */
import * as ort from 'onnxruntime-node';
import { TesaError } from '../errors.js';
import { cloneGraph, type DType, type Graph, type TensorData } from './graph.js';
import { exportOnnx } from './onnx/export.js';

/** A feed is a typed array (shape and dtype taken from the graph's input) or data with a shape. */
export type OrtFeed = TensorData | { data: TensorData; shape: number[] };

export interface OrtOutput {
  data: TensorData;
  shape: number[];
  dtype: DType;
}

export interface OrtOptions {
  /** intra-op threads; default 1 so timings compare with single-threaded kernels. */
  threads?: number;
  /** Tensors to fetch; default the graph's outputs. Intermediate tensors are added as outputs. */
  outputs?: string[];
  /** Graph optimization level; default 'all'. QDQ graphs run at 'basic': 'all' fuses them into integer kernels with other rounding. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtFeed>): Promise<Map<string, OrtOutput>>;
  release(): Promise<void>;
}

const ORT_TYPE: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float16: 'float16',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

function withOutputs(graph: Graph, outputs: string[] | undefined): Graph {
  if (!outputs) return graph;
  const g = cloneGraph(graph);
  for (const name of outputs) {
    if (!g.tensors.has(name)) throw new TesaError('BAD_INPUT', `graph '${graph.name}' has no tensor '${name}' to fetch`, 'name a tensor of the graph');
  }
  g.outputs = [...outputs];
  return g;
}

function toOrtTensor(graph: Graph, name: string, feed: OrtFeed): ort.Tensor {
  const t = graph.tensors.get(name);
  if (!t || !graph.inputs.includes(name)) {
    throw new TesaError('BAD_INPUT', `graph '${graph.name}' has no input '${name}'`, `its inputs are: ${graph.inputs.join(', ')}`);
  }
  const isBare = ArrayBuffer.isView(feed);
  const data = isBare ? (feed as TensorData) : (feed as { data: TensorData }).data;
  const shape = isBare ? t.shape : (feed as { shape: number[] }).shape;
  return new ort.Tensor(ORT_TYPE[t.dtype], data as ort.Tensor.DataType, shape);
}

function fromOrtTensor(v: ort.Tensor): OrtOutput {
  const dtype = (Object.keys(ORT_TYPE) as DType[]).find((k) => ORT_TYPE[k] === v.type);
  if (!dtype) throw new TesaError('INTERNAL', `onnxruntime returned a tensor of type ${v.type}`);
  return { data: v.data as TensorData, shape: [...v.dims], dtype };
}

export async function createOrtSession(graph: Graph, opts: OrtOptions = {}): Promise<OrtSession> {
  const g = withOutputs(graph, opts.outputs);
  const bytes = exportOnnx(g);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: opts.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: opts.optimization ?? 'all',
      executionMode: 'sequential',
      logSeverityLevel: 3,
    });
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw new TesaError('BAD_MODEL', `onnxruntime cannot load graph '${graph.name}': ${msg}`, 'the exported graph is invalid: run with --debug and report it', { cause: e });
  }
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, feed] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(g, name, feed);
      let result: ort.InferenceSession.OnnxValueMapType;
      try {
        result = await session.run(ortFeeds);
      } catch (e) {
        const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
        throw new TesaError('RUN_FAILED', `onnxruntime failed to run graph '${graph.name}': ${msg}`, 'check the feeds match the graph inputs', { cause: e });
      }
      const out = new Map<string, OrtOutput>();
      for (const name of session.outputNames) out.set(name, fromOrtTensor(result[name] as ort.Tensor));
      return out;
    },
    release: () => session.release(),
  };
}

/** Runs the graph once in onnxruntime and returns the requested outputs by name. */
export async function runOrt(graph: Graph, feeds: Record<string, OrtFeed>, opts: OrtOptions = {}): Promise<Map<string, OrtOutput>> {
  const session = await createOrtSession(graph, opts);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}
