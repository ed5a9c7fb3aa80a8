/** Strategy name → factory. The CLI validates `--strategy` against `strategyNames()`. */
import { badInput } from '../src/errors.js';
import { createAutoCompress } from './autocompress.js';
import { createRandom } from './random.js';
import { createSa } from './sa.js';
import type { Strategy, StrategyFactory, StrategyInit } from './strategy.js';

const factories = new Map<string, StrategyFactory>([
  ['sa', createSa],
  ['autocompress', createAutoCompress],
  ['random', createRandom],
]);

export function registerStrategy(name: string, factory: StrategyFactory): void {
  factories.set(name, factory);
}

export function strategyNames(): string[] {
  return [...factories.keys()];
}

export function createStrategy(name: string, init: StrategyInit): Strategy {
  const f = factories.get(name);
  if (!f) throw badInput(`--strategy: unknown strategy '${name}'`, `use one of ${strategyNames().join(', ')}`);
  return f(init);
}
