/**
 * Graph → ONNX ModelProto bytes: IR version 8 (newer only where the opset needs it), one opset
 * import for the default domain plus one per custom domain that nodes use. Constants become
 * initializers with raw_data; graph inputs and outputs carry their dtype and concrete shape;
 * metadata becomes metadata_props.
 */
import { TesaError } from '../../errors.js';
import type { Attr, Graph, Node, Tensor } from '../graph.js';
import { encodeTensor, onnxDataType } from './tensor-codec.js';
import { ModelProtoType, OnnxAttrType, type AttributeMsg, type ModelMsg, type NodeMsg, type ValueInfoMsg } from './schema.js';

/** IR version 8 (ONNX 1.10+) unless the opset needs a newer one (as onnx.helper picks it). */
function irVersionFor(opset: number): number {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  return 8;
}
const textEncoder = new TextEncoder();

function encodeAttr(name: string, a: Attr): AttributeMsg {
  switch (a.type) {
    case 'float':
      return { name, type: OnnxAttrType.FLOAT, f: a.value };
    case 'int':
      return { name, type: OnnxAttrType.INT, i: intString(a.value) };
    case 'string':
      return { name, type: OnnxAttrType.STRING, s: textEncoder.encode(a.value) };
    case 'floats':
      return { name, type: OnnxAttrType.FLOATS, floats: [...a.value] };
    case 'ints':
      return { name, type: OnnxAttrType.INTS, ints: a.value.map(intString) };
    case 'strings':
      return { name, type: OnnxAttrType.STRINGS, strings: a.value.map((s) => textEncoder.encode(s)) };
    case 'tensor':
      return { name, type: OnnxAttrType.TENSOR, t: encodeTensor(a.value) };
  }
}

/** int64 attribute values as exact decimal strings; ±huge numbers (INT64 limits) clamp. */
function intString(v: number): string {
  if (v >= 9.2e18) return '9223372036854775807';
  if (v <= -9.2e18) return '-9223372036854775808';
  return BigInt(Math.trunc(v)).toString();
}

function encodeNode(n: Node): NodeMsg {
  return {
    name: n.name,
    op_type: n.opType,
    domain: n.domain,
    input: [...n.inputs],
    output: [...n.outputs],
    attribute: Object.entries(n.attrs).map(([k, a]) => encodeAttr(k, a)),
  };
}

function valueInfo(t: Tensor): ValueInfoMsg {
  return {
    name: t.name,
    type: { tensor_type: { elem_type: onnxDataType(t.dtype), shape: { dim: t.shape.map((d) => ({ dim_value: d })) } } },
  };
}

function tensorOf(graph: Graph, name: string, role: string): Tensor {
  const t = graph.tensors.get(name);
  if (!t) throw new TesaError('INTERNAL', `graph '${graph.name}' lists ${role} '${name}' but has no tensor of that name`);
  return t;
}

/** The ModelProto as a plain message object (what `exportOnnx` encodes). */
export function graphToModelMessage(graph: Graph): ModelMsg {
  const used = new Set<string>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) used.add(i);
  for (const o of graph.outputs) used.add(o);
  const inputSet = new Set(graph.inputs);
  const initializers = [];
  for (const [name, t] of graph.tensors) {
    // Unused constants are dropped: ORT warns about them and they would only bloat the file.
    if (t.data !== undefined && used.has(name) && !inputSet.has(name)) initializers.push(encodeTensor(t));
  }
  const domains = new Set<string>();
  for (const n of graph.nodes) if (n.domain) domains.add(n.domain);
  return {
    ir_version: irVersionFor(graph.opsetVersion),
    producer_name: 'tesa',
    opset_import: [{ domain: '', version: graph.opsetVersion }, ...[...domains].map((d) => ({ domain: d, version: 1 }))],
    graph: {
      name: graph.name,
      node: graph.nodes.map(encodeNode),
      initializer: initializers,
      input: graph.inputs.map((i) => valueInfo(tensorOf(graph, i, 'input'))),
      output: graph.outputs.map((o) => valueInfo(tensorOf(graph, o, 'output'))),
    },
    metadata_props: Object.entries(graph.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
}

export function exportOnnx(graph: Graph): Uint8Array {
  return ModelProtoType.encode(graphToModelMessage(graph) as Record<string, unknown>).finish();
}
