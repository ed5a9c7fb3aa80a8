/**
 * The propagation-rule registry (the paper's Figure 5 `register_rule`). A rule sees one node with
 * the current attributes of its inputs and outputs and answers two things:
 *  - forward: per output, the elements that are zero once the inputs' pruned elements are zero;
 *  - backward: per input, the elements that no unpruned output of this node depends on ("dead"
 *    as far as this node is concerned).
 * The engine unions forward facts into the outputs and, for a tensor read by several nodes,
 * unions into it only what is dead for every reader. Rules never mutate the attributes they get.
 */
import type { Graph, Node, TensorData } from '../../model/graph.js';
import type { SparsityAttr } from '../attributes.js';

export interface RuleContext {
  node: Node;
  graph: Graph;
  /** Attribute per input slot; undefined for an omitted input or a non-float tensor. */
  inputs: (SparsityAttr | undefined)[];
  /** Attribute per output slot; undefined for an omitted output or a non-float tensor. */
  outputs: (SparsityAttr | undefined)[];
  inShapes: (readonly number[] | undefined)[];
  outShapes: (readonly number[] | undefined)[];
  /** Data of input slot i when it is a constant (initializer or folded value). */
  constant(i: number): TensorData | undefined;
}

export interface RuleResult {
  /** Per output slot: elements that are zero (undefined: nothing known). */
  outputs?: (SparsityAttr | undefined)[];
  /** Per input slot: elements that influence no unpruned output of this node (undefined: none). */
  inputs?: (SparsityAttr | undefined)[];
}

export type Rule = (ctx: RuleContext) => RuleResult;

const rules = new Map<string, Rule>();

function key(opType: string, domain = ''): string {
  return domain === '' || domain === 'ai.onnx' ? opType : `${domain}::${opType}`;
}

/** Registers (or replaces) the rule of an op type; `domain` '' is the default ONNX domain. */
export function registerRule(opType: string, rule: Rule, domain = ''): void {
  rules.set(key(opType, domain), rule);
}

export function unregisterRule(opType: string, domain = ''): boolean {
  return rules.delete(key(opType, domain));
}

export function getRule(opType: string, domain = ''): Rule | undefined {
  return rules.get(key(opType, domain));
}

export function registeredOps(): string[] {
  return [...rules.keys()].sort();
}
