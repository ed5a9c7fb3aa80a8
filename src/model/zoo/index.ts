/**
 * The model zoo: `zoo:NAME` models built from `configs/zoo/NAME.json` with seeded weights.
 * Nothing is cached on disk; every build is deterministic from the spec's seed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TesaError } from '../../errors.js';
import { packageRoot } from '../../util/package-root.js';
import type { Graph } from '../graph.js';
import { buildBert } from './bert.js';
import { buildMlp } from './mlp.js';
import { buildMobileNetV2 } from './mobilenet-v2.js';
import { buildResNet } from './resnet.js';
import { BertSpec, MlpSpec, MobileNetV2Spec, ResNetSpec, type ZooSpec } from './spec.js';

export type { ZooSpec } from './spec.js';

function zooDir(): string {
  return join(packageRoot(), 'configs', 'zoo');
}

/** Names of the zoo's models (without `zoo:`), sorted. */
export function zooModelNames(): string[] {
  return readdirSync(zooDir())
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

const SCHEMAS = { mlp: MlpSpec, bert: BertSpec, 'mobilenet-v2': MobileNetV2Spec, resnet: ResNetSpec } as const;

/** The parsed, validated spec of a zoo model. */
export function zooSpec(name: string): ZooSpec {
  const known = zooModelNames();
  if (!known.includes(name)) {
    throw new TesaError('NOT_FOUND', `unknown zoo model '${name}'`, `known: ${known.join(', ')}`);
  }
  const file = join(zooDir(), `${name}.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TesaError('BAD_INPUT', `zoo spec ${file} is not valid JSON: ${(e as Error).message}`, 'fix the JSON syntax');
  }
  const family = (raw as { family?: unknown } | null)?.family;
  if (typeof family !== 'string' || !(family in SCHEMAS)) {
    throw new TesaError('BAD_INPUT', `zoo spec ${file} has family ${JSON.stringify(family)}`, `family must be one of ${Object.keys(SCHEMAS).join(', ')}`);
  }
  const parsed = SCHEMAS[family as keyof typeof SCHEMAS].safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TesaError('BAD_INPUT', `zoo spec ${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, `see the ${family} schema in src/model/zoo/spec.ts`);
  }
  return parsed.data;
}

export interface ZooBuildOptions {
  /** Replaces the spec's seed (weights change, structure does not). */
  seed?: number;
}

/** Builds zoo model `name` (no `zoo:` prefix). */
export function buildZooModel(name: string, options: ZooBuildOptions = {}): Graph {
  const spec = zooSpec(name);
  return buildFromSpec(name, options.seed === undefined ? spec : { ...spec, seed: options.seed });
}

/** Builds a model from a spec object (a zoo spec or a variant of one). */
export function buildFromSpec(name: string, spec: ZooSpec): Graph {
  switch (spec.family) {
    case 'mlp':
      return buildMlp(name, spec);
    case 'bert':
      return buildBert(name, spec);
    case 'mobilenet-v2':
      return buildMobileNetV2(name, spec);
    case 'resnet':
      return buildResNet(name, spec);
  }
}
