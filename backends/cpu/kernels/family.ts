/**
 * The kernel-family registry: the extension point for every way of implementing an op.
 *
 * The planner first groups the graph into FusedOps (an anchor node plus the element-wise
 * nodes fused into its epilogue), then asks every registered family whether it can
 * implement each FusedOp. The matching family with the highest priority wins (dense
 * families have priority 0; a sparse family that matches a pruned weight should use a
 * higher one). `plan` turns the FusedOp into the JSON params baked into the kernel, and
 * `lower` turns those params into C source: pure and deterministic, so identical ops
 * across layers give identical source and share one built library.
 */
import type { Graph, Node, Tensor, DType } from '../../../src/model/graph.js';
import type { ModelSparsity } from '../../../src/plan/sparsity.js';
import type { OpPlan } from '../../backend.js';
import type { CpuFingerprint, Isa } from '../fingerprint.js';
import { TesaError } from '../../../src/errors.js';

/** An element-wise step applied to a kernel's result before it is stored. */
export type EpilogueStep =
  | { kind: 'add'; input: string }
  | { kind: 'mul'; input: string }
  | { kind: 'scale'; value: number }
  | { kind: 'relu' }
  | { kind: 'clip'; min: number; max: number }
  | { kind: 'gelu' }
  | { kind: 'sigmoid' };

/** The unit of planning: one anchor node plus the nodes fused into it. */
export interface FusedOp {
  anchor: Node;
  /** Nodes absorbed into the anchor's epilogue; they disappear from the plan. */
  absorbed: Node[];
  epilogue: EpilogueStep[];
  /** Tensors the fused op finally writes (the last absorbed node's outputs, or the anchor's). */
  outputs: string[];
}

export interface PlanContext {
  graph: Graph;
  fingerprint: CpuFingerprint;
  sparsity?: ModelSparsity;
  tensor(name: string): Tensor;
  isConstant(name: string): boolean;
}

export interface TensorRef {
  name: string;
  dtype: DType;
  shape: number[];
}

export interface PlannedKernel {
  /** Kernel inputs in the order the generated code reads them (tensors of the graph or `constants`). */
  inputs: string[];
  outputs: string[];
  params: Record<string, unknown>;
  /** Constants derived at plan time (e.g. folded BatchNorm weights, sparse value arrays); they go to the weight blob. */
  constants?: Tensor[];
}

export interface LowerContext {
  isa: Isa;
  threads: number;
}

export interface LoweredKernel {
  /** C source; defines `tesa_kernel(in, out, state)`, optionally `tesa_kernel_init(in, state)` and `tesa_kernel_ref(in, out)`. */
  code: string;
  hasInit: boolean;
  /** False only for kernels whose result needs no reference (pure copies are still given one). */
  hasRef: boolean;
  /** Bytes of per-op state the runner allocates (packed weights, scratch). */
  stateBytes: number;
}

export interface KernelFamily {
  /** e.g. 'gemm-dense', 'conv-depthwise', 'layernorm'. Becomes OpPlan.kernel. */
  name: string;
  /** Higher wins when several families match; dense families use 0. */
  priority?: number;
  matches(op: FusedOp, ctx: PlanContext): boolean;
  plan(op: FusedOp, ctx: PlanContext): PlannedKernel;
  lower(plan: OpPlan, ctx: LowerContext): LoweredKernel;
}

const families: KernelFamily[] = [];

export function registerKernelFamily(family: KernelFamily): void {
  const i = families.findIndex((f) => f.name === family.name);
  if (i >= 0) families[i] = family;
  else families.push(family);
}

export function kernelFamilies(): readonly KernelFamily[] {
  return families;
}

export function kernelFamily(name: string): KernelFamily {
  const f = families.find((x) => x.name === name);
  if (!f) throw new TesaError('INTERNAL', `no kernel family '${name}' is registered`, 'import backends/cpu/kernels/index.js');
  return f;
}

/** Families that can implement this op, best first. */
export function familiesFor(op: FusedOp, ctx: PlanContext): KernelFamily[] {
  return families
    .filter((f) => f.matches(op, ctx))
    .sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0));
}

/** Typed access to plan params (they round-trip through JSON). */
export function refs(plan: OpPlan, key: 'inputRefs' | 'outputRefs'): TensorRef[] {
  return plan.params[key] as TensorRef[];
}
