/**
 * Registers every built-in kernel family (import for its side effect). A new family is one
 * module calling `registerKernelFamily` plus one import line here.
 */
import './gemm-dense.js';
import './gemm-sparse.js';
import './int8/family.js';
import './elementwise.js';
import './normalization.js';
import './conv-pool.js';
import './data.js';

export { registerKernelFamily, kernelFamilies, kernelFamily, familiesFor } from './family.js';
export type { KernelFamily, FusedOp, EpilogueStep, PlanContext, LowerContext, LoweredKernel, PlannedKernel, TensorRef } from './family.js';
