/**
 * Layer groups: the prunable dimensions that must share a mask for sparsity to pass through an
 * aggregation (residual Add, Concat, attention Q·Kᵀ, V→output projection, FFN up→down).
 * `findLayerGroups` (src/tesa/groups.ts) computes them; the search decides one value per group.
 */

/** One weight axis tied into a group. */
export interface GroupMember {
  /** Initializer name of the weight. */
  weight: string;
  /** The node that consumes the weight (MatMul, Gemm, Conv). */
  node: string;
  /** Axis of the weight tensor (as stored in the graph) that the group couples. */
  axis: number;
}

export interface LayerGroup {
  /** Stable, readable id, e.g. 'layer3.ffn', 'layer3.attn.qk', 'hidden', 'features.4.expand'. */
  id: string;
  /** 'ffn' | 'attention-qk' | 'attention-vo' | 'residual' | 'chain' | 'single' | … */
  kind: string;
  members: GroupMember[];
  /** Length of the coupled axis; equal for every member. */
  size: number;
  /** Heads (or other units) that coarse pruning must keep whole: head-aligned Q/K and V/O groups have size/heads per unit. 1 when free. */
  unit: number;
  /** False when a barrier (LayerNorm or Softmax over the axis, a graph output) makes removing whole channels inexact. */
  coarsePrunable: boolean;
  /**
   * Weights the search decides through this group. Every prunable weight is owned by exactly
   * one group: the smallest non-global group that has one of its axes (ties: the output axis).
   */
  owned: string[];
}
