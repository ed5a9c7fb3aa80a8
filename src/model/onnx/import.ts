/**
 * ONNX bytes → Graph: decode the protobuf, bind symbolic input dims, read every initializer,
 * name unnamed nodes, sort topologically, then infer shapes with constant folding and remove
 * Identity and dead nodes (fold.ts), so that the result has concrete shapes everywhere.
 */
import { TesaError } from '../../errors.js';
import { topoSort, type Attr, type Graph, type Node, type Tensor } from '../graph.js';
import { simplifyGraph } from '../fold.js';
import { unsupportedOpError } from '../shape-inference.js';
import { decodeTensor, dtypeFromOnnx } from './tensor-codec.js';
import { ModelProtoType, OnnxAttrType, type AttributeMsg, type ModelMsg, type NodeMsg, type ValueInfoMsg } from './schema.js';

export interface ImportOptions {
  /** Where the bytes came from (file path or zoo:NAME): every error names it. */
  source: string;
  /** Values for symbolic input dims, by dim name (CLI `--dim name=value`). */
  dims?: Record<string, number>;
}

const textDecoder = new TextDecoder();
const BATCH_LIKE = /batch|^N$/i;

/** Decodes the protobuf; anything that is not an ONNX model becomes one BAD_INPUT line. */
export function decodeModel(bytes: Uint8Array, source: string): ModelMsg {
  const notOnnx = (why: string, cause?: unknown): TesaError =>
    new TesaError('BAD_INPUT', `${source}: not a valid ONNX model (${why})`, 'give an .onnx file written by an ONNX exporter, copied completely', cause === undefined ? undefined : { cause });
  if (bytes.byteLength === 0) throw notOnnx('the file is empty');
  let msg: ModelMsg;
  try {
    const decoded = ModelProtoType.decode(bytes);
    msg = ModelProtoType.toObject(decoded, { longs: String, defaults: false }) as ModelMsg;
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    throw notOnnx(`protobuf decoding failed: ${why}`, e);
  }
  if (msg.ir_version === undefined) throw notOnnx('no ir_version');
  if (!msg.graph) throw notOnnx('no graph');
  if (!msg.opset_import || msg.opset_import.length === 0) throw notOnnx('no opset_import');
  return msg;
}

function decodeAttr(source: string, node: Node, a: AttributeMsg): Attr | undefined {
  const what = `${source}: node '${node.name}' attribute '${a.name ?? ''}'`;
  let type = a.type ?? OnnxAttrType.UNDEFINED;
  if (type === OnnxAttrType.UNDEFINED) {
    // IR < 3 files leave the type out; the field that is set says it.
    if (a.floats?.length) type = OnnxAttrType.FLOATS;
    else if (a.ints?.length) type = OnnxAttrType.INTS;
    else if (a.strings?.length) type = OnnxAttrType.STRINGS;
    else if (a.t) type = OnnxAttrType.TENSOR;
    else if (a.s) type = OnnxAttrType.STRING;
    else if (a.f !== undefined) type = OnnxAttrType.FLOAT;
    else if (a.i !== undefined) type = OnnxAttrType.INT;
  }
  switch (type) {
    case OnnxAttrType.FLOAT:
      return { type: 'float', value: a.f ?? 0 };
    case OnnxAttrType.INT:
      return { type: 'int', value: Number(a.i ?? 0) };
    case OnnxAttrType.STRING:
      return { type: 'string', value: textDecoder.decode(a.s ?? new Uint8Array()) };
    case OnnxAttrType.FLOATS:
      return { type: 'floats', value: [...(a.floats ?? [])] };
    case OnnxAttrType.INTS:
      return { type: 'ints', value: (a.ints ?? []).map(Number) };
    case OnnxAttrType.STRINGS:
      return { type: 'strings', value: (a.strings ?? []).map((s) => textDecoder.decode(s)) };
    case OnnxAttrType.TENSOR:
      return { type: 'tensor', value: decodeTensor(a.t ?? {}, what) };
    case OnnxAttrType.GRAPH:
    case OnnxAttrType.GRAPHS:
      // Control flow (If, Loop, Scan) carries sub-graphs; tesa supports none of those ops.
      throw unsupportedOpError(source, node);
    default:
      throw new TesaError('BAD_MODEL', `${what} has attribute type ${type}, which tesa does not read`, 're-export the model with torch.onnx.export at opset 13-17');
  }
}

function uniqueName(base: string, taken: Set<string>): string {
  let name = base;
  for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
  taken.add(name);
  return name;
}

function decodeNodes(source: string, msgs: NodeMsg[]): Node[] {
  const taken = new Set<string>();
  return msgs.map((m, i) => {
    const opType = m.op_type ?? '';
    const node: Node = {
      name: uniqueName(m.name ? m.name : `${opType}_${i}`, taken),
      opType,
      domain: m.domain === 'ai.onnx' ? '' : (m.domain ?? ''),
      inputs: [...(m.input ?? [])],
      outputs: [...(m.output ?? [])],
      attrs: {},
    };
    for (const a of m.attribute ?? []) {
      const v = decodeAttr(source, node, a);
      if (v && a.name) node.attrs[a.name] = v;
    }
    return node;
  });
}

/** A graph input's concrete shape: fixed dims as they are, symbolic ones bound or refused. */
function bindInputShape(source: string, vi: ValueInfoMsg, dims: Record<string, number>, used: Set<string>): number[] {
  const name = vi.name ?? '';
  const shape = vi.type?.tensor_type?.shape;
  if (!shape) {
    throw new TesaError('BAD_MODEL', `${source}: input '${name}' has no shape`, 're-export the model with input shapes (torch.onnx.export records them)');
  }
  return (shape.dim ?? []).map((d, axis) => {
    if (d.dim_value !== undefined && Number(d.dim_value) > 0) return Number(d.dim_value);
    const param = d.dim_param;
    if (!param) {
      throw new TesaError('BAD_MODEL', `${source}: input '${name}' has an unnamed dynamic dim at axis ${axis}`, 're-export with fixed sizes or with named dynamic axes, then bind them with --dim name=value');
    }
    if (Object.prototype.hasOwnProperty.call(dims, param)) {
      used.add(param);
      return dims[param];
    }
    if (BATCH_LIKE.test(param)) return 1;
    throw new TesaError('BAD_INPUT', `${source}: input '${name}' has symbolic dim '${param}' (axis ${axis}) with no value`, `--dim ${param}=<value>`);
  });
}

export function importOnnx(bytes: Uint8Array, opts: ImportOptions): Graph {
  const source = opts.source;
  const dims = opts.dims ?? {};
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v <= 0) throw new TesaError('BAD_INPUT', `--dim ${k}=${v}: a dim must be a positive integer`, `--dim ${k}=<positive integer>`);
  }
  const model = decodeModel(bytes, source);
  const g = model.graph!;
  const opset = model.opset_import!.find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!opset) throw new TesaError('BAD_MODEL', `${source}: imports no opset of the default ONNX domain`, 're-export the model with torch.onnx.export at opset 13-17');

  const tensors = new Map<string, Tensor>();
  for (const init of g.initializer ?? []) {
    const t = decodeTensor(init, `${source}: initializer`);
    tensors.set(t.name, t);
  }
  const inputs: string[] = [];
  const usedDims = new Set<string>();
  for (const vi of g.input ?? []) {
    const name = vi.name ?? '';
    if (tensors.has(name)) continue; // IR < 4: initializers are listed as inputs too
    const elem = vi.type?.tensor_type?.elem_type;
    if (elem === undefined) throw new TesaError('BAD_MODEL', `${source}: input '${name}' is not a tensor`, 'tesa takes models whose inputs are tensors');
    tensors.set(name, { name, dtype: dtypeFromOnnx(elem, `${source}: input '${name}'`), shape: bindInputShape(source, vi, dims, usedDims) });
    inputs.push(name);
  }
  const unused = Object.keys(dims).filter((k) => !usedDims.has(k));
  if (unused.length > 0) {
    const params = new Set<string>();
    for (const vi of g.input ?? []) for (const d of vi.type?.tensor_type?.shape?.dim ?? []) if (d.dim_param) params.add(d.dim_param);
    throw new TesaError('BAD_INPUT', `--dim ${unused[0]}: ${source} has no symbolic input dim '${unused[0]}'`, params.size ? `its symbolic dims are: ${[...params].join(', ')}` : 'its inputs have fixed shapes: drop --dim');
  }

  const nodes = decodeNodes(source, g.node ?? []);
  // Tensors produced by nodes get their shapes from inference; placeholders keep the map complete.
  for (const n of nodes) for (const o of n.outputs) if (o && !tensors.has(o)) tensors.set(o, { name: o, dtype: 'float32', shape: [] });
  const outputs = (g.output ?? []).map((o) => o.name ?? '');
  for (const o of outputs) {
    if (!tensors.has(o)) throw new TesaError('BAD_MODEL', `${source}: graph output '${o}' is produced by no node`, 'the model is malformed: re-export it');
  }

  const metadata: Record<string, string> = { source };
  if (model.producer_name) metadata.producer = `${model.producer_name} ${model.producer_version ?? ''}`.trim();
  for (const p of model.metadata_props ?? []) if (p.key) metadata[p.key] = p.value ?? '';

  const graph: Graph = {
    name: g.name || source,
    inputs,
    outputs,
    tensors,
    nodes,
    opsetVersion: Number(opset.version ?? 1),
    metadata,
  };
  try {
    graph.nodes = topoSort(graph);
  } catch (e) {
    // graph.ts does not know the file name; every import error names it.
    if (e instanceof TesaError) throw new TesaError(e.code, `${source}: ${e.message}`, e.hint, { cause: e });
    throw e;
  }
  simplifyGraph(graph, { source });
  return graph;
}
