/** Loads every hand-written rule family into the registry (each file registers on import). */
import './matmul.js';
import './conv.js';
import './elementwise.js';
import './shape.js';
import './norm.js';
export { registerRule, unregisterRule, getRule, registeredOps, type Rule, type RuleContext, type RuleResult } from './registry.js';
