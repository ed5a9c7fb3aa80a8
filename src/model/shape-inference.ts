/**
 * Shape inference: every node's outputs get a concrete dtype and shape from its inputs. The
 * rules live per op family in `shapes/`; this module dispatches and owns the "unknown op" error.
 */
import { TesaError } from '../errors.js';
import { evaluateNode } from './fold-eval.js';
import type { Graph, Node } from './graph.js';
import type { ShapeContext, ShapeRule } from './shapes/common.js';
import { ELEMENTWISE_RULES } from './shapes/elementwise.js';
import { LAYOUT_RULES } from './shapes/layout.js';
import { LINEAR_RULES } from './shapes/linear.js';

export type { ShapeContext } from './shapes/common.js';

const RULES: Record<string, ShapeRule> = { ...ELEMENTWISE_RULES, ...LINEAR_RULES, ...LAYOUT_RULES };

/** ONNX ops (default domain) tesa can import, sorted. */
export function supportedOps(): string[] {
  return Object.keys(RULES).sort();
}

export function isSupportedOp(node: Node): boolean {
  return (node.domain === '' || node.domain === 'ai.onnx') && Object.prototype.hasOwnProperty.call(RULES, node.opType);
}

export function unsupportedOpError(source: string, node: Node): TesaError {
  const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}::${node.opType}` : node.opType;
  return new TesaError(
    'BAD_MODEL',
    `${source}: node '${node.name}' has op '${op}' that tesa does not support`,
    `supported ops: ${supportedOps().join(', ')}; re-export the model without it (torch.onnx.export at opset 13-17, no custom or contrib ops)`,
  );
}

/** Infers one node's outputs and records them in graph.tensors (constant data is kept). */
export function inferNode(ctx: ShapeContext, node: Node): void {
  if (!isSupportedOp(node)) throw unsupportedOpError(ctx.source, node);
  const outs = RULES[node.opType](node, ctx);
  node.outputs.forEach((name, i) => {
    if (!name) return;
    const info = outs[i];
    if (!info) throw new TesaError('BAD_MODEL', `${ctx.source}: node '${node.name}' (${node.opType}) has ${node.outputs.length} outputs, more than the op defines`, 'the model is malformed: re-export it');
    const prev = ctx.graph.tensors.get(name);
    ctx.graph.tensors.set(name, { name, dtype: info.dtype, shape: info.shape, ...(prev?.data !== undefined ? { data: prev.data } : {}) });
  });
}

/**
 * Infers every node in order without changing the graph's structure; the graph's inputs and
 * constants must have concrete shapes. Shape sub-graphs are evaluated on the side (ctx.values)
 * so that a Reshape fed by Shape→Gather→Concat still gets its target.
 */
export function inferShapes(graph: Graph, source: string = graph.name): void {
  const ctx: ShapeContext = { graph, source, values: new Map() };
  for (const node of graph.nodes) {
    inferNode(ctx, node);
    const values = evaluateNode(ctx, node);
    if (values) node.outputs.forEach((o, i) => values[i] && ctx.values!.set(o, values[i]));
  }
}
