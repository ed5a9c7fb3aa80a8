/**
 * Schema migrations: `db/migrations/NNN_name.sql`, applied in order on open and tracked with
 * PRAGMA user_version (= the number of the last one applied). Found through packageRoot() so
 * they are read from the same place whether tesa runs from src/ (tests) or dist/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/util/package-root.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

let cached: Migration[] | undefined;

export function migrationsDir(): string {
  return join(packageRoot(), 'db', 'migrations');
}

/** All migrations, in version order; the numbers must run 1, 2, 3, … without a gap. */
export function loadMigrations(): Migration[] {
  if (cached) return cached;
  const dir = migrationsDir();
  const found: Migration[] = [];
  for (const name of readdirSync(dir)) {
    const m = /^(\d+)_[\w-]+\.sql$/.exec(name);
    if (!m) continue;
    found.push({ version: Number(m[1]), name, sql: readFileSync(join(dir, name), 'utf8') });
  }
  found.sort((a, b) => a.version - b.version);
  found.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`tesa: migrations in ${dir} must be numbered 1, 2, 3, … (found ${m.name} at position ${i + 1})`);
  });
  return (cached = found);
}

export function latestSchemaVersion(): number {
  const all = loadMigrations();
  return all.length === 0 ? 0 : all[all.length - 1]!.version;
}
