/**
 * TeSA: sparsity attributes, propagation, exactness, layer groups. What other parts call:
 *
 *  - `propagateMasks(graph, initialMasks, opts?)` — masks in (1 = kept), final masks out, with
 *    per-layer sparsity before/after; the search calls it once per candidate.
 *  - `propagate(graph, initialAttributes, opts?)` — the same on SparsityAttr (pruned elements +
 *    bit widths) for every tensor; `applyAttributes(graph, result)` gives the exact pruned graph.
 *  - `findLayerGroups(graph)` — the groups the search decides one value for.
 *  - `registerRule(op, rule)` / `registerResolver(resolver)` — extension points.
 *  - `prepareScrambleRules(graph)` — async; rules for ops without one, pass as `extraRules`.
 */
export { SparsityAttr, DEFAULT_BITS } from './attributes.js';
export { propagate, propagateFrom, initialAttributes, type PropagateOptions, type PropagationResult } from './propagate.js';
export { propagateMasks, type MaskPropagation, type LayerSparsity } from './masks.js';
export { applyAttributes, type AppliedAttributes } from './apply.js';
export type { Fold } from './fold.js';
export { findLayerGroups, groupsJson, renderGroups } from './groups.js';
export type { LayerGroup, GroupMember } from './layer-group.js';
export { registerRule, unregisterRule, getRule, registeredOps, type Rule, type RuleContext, type RuleResult } from './rules/index.js';
export { registerResolver, activeResolver, unionLowerPrecision, type Resolver } from './resolvers.js';
export { prepareScrambleRules, scrambleRelation, ruleFromRelation, type ScrambleOptions } from './scramble.js';
export { propagatePrecision, neighbourWidth } from './precision.js';
export { prunableWeights, prunableOf, type PrunableWeight } from './weights.js';
export { makeInitMasks, parseInitSpec, randomMasks, type InitSpec } from './init-masks.js';
