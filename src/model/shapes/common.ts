/**
 * What every shape rule needs: the node's input tensors, constant values of shape-like inputs,
 * broadcasting, axis normalisation, and errors that name the file, the node and the shapes.
 */
import { TesaError } from '../../errors.js';
import { toNumbers, type DType, type Graph, type Node, type Tensor, type TensorData } from '../graph.js';

export interface ShapeContext {
  graph: Graph;
  /** Where the model came from (file path or zoo:NAME): every error names it. */
  source: string;
  /**
   * Values computed for non-constant tensors when shapes are inferred without folding (the
   * graph keeps its shape sub-graphs, yet a Reshape still needs its target's value).
   */
  values?: Map<string, TensorData>;
}

/** A tensor's constant value: its data, or a value the inference pass computed. */
export function valueOf(ctx: ShapeContext, name: string): TensorData | undefined {
  return ctx.graph.tensors.get(name)?.data ?? ctx.values?.get(name);
}

/** Output dtype and shape of one node output. */
export interface OutInfo {
  dtype: DType;
  shape: number[];
}

export type ShapeRule = (node: Node, ctx: ShapeContext) => OutInfo[];

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

export function shapeError(ctx: ShapeContext, node: Node, what: string): TesaError {
  return new TesaError(
    'BAD_MODEL',
    `${ctx.source}: node '${node.name}' (${node.opType}) ${what}`,
    'the model is malformed or a --dim value does not fit it: check the --dim values or re-export the model',
  );
}

/** The tensor of input `i`; an omitted or undefined input is an error naming the node. */
export function input(ctx: ShapeContext, node: Node, i: number): Tensor {
  const name = node.inputs[i];
  if (!name) throw shapeError(ctx, node, `lacks its required input #${i}`);
  const t = ctx.graph.tensors.get(name);
  if (!t) throw shapeError(ctx, node, `reads tensor '${name}' that nothing defines`);
  return t;
}

export function hasInput(node: Node, i: number): boolean {
  return node.inputs.length > i && node.inputs[i] !== '';
}

/** Values of a constant input (shapes, axes, split sizes), or an error if it is not constant. */
export function constInput(ctx: ShapeContext, node: Node, i: number, role: string): number[] {
  const t = input(ctx, node, i);
  const data = valueOf(ctx, t.name);
  if (data === undefined) {
    throw new TesaError(
      'BAD_MODEL',
      `${ctx.source}: node '${node.name}' (${node.opType}) takes its ${role} from '${t.name}', which is not a constant after folding`,
      'tesa needs static shapes: export the model with fixed input sizes or bind the symbolic dims with --dim name=value',
    );
  }
  return toNumbers(data);
}

export function normAxis(ctx: ShapeContext, node: Node, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw shapeError(ctx, node, `has axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Multidirectional (numpy) broadcasting of any number of shapes. */
export function broadcast(ctx: ShapeContext, node: Node, shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    const off = rank - s.length;
    for (let i = 0; i < s.length; i++) {
      const d = s[i];
      const o = out[off + i];
      if (d === o || d === 1) continue;
      if (o === 1) out[off + i] = d;
      else throw shapeError(ctx, node, `cannot broadcast shapes ${shapes.map(fmtShape).join(' and ')}`);
    }
  }
  return out;
}
