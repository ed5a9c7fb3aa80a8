/**
 * Where tesa keeps its state: the database, logs, daemon files and the kernel cache.
 * The database path decides the state folder, so `--db /tmp/x/t.db` keeps everything of
 * that run under /tmp/x.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { TesaError } from '../errors.js';

/** explicit path > $TESA_DB > $XDG_STATE_HOME/tesa/tesa.db > ~/.local/state/tesa/tesa.db */
export function dbPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined && explicit !== '') return resolve(explicit);
  if (env.TESA_DB) return resolve(env.TESA_DB);
  const xdg = env.XDG_STATE_HOME;
  // XDG says a relative XDG_STATE_HOME is invalid and must be ignored.
  const base = xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.local', 'state');
  return join(base, 'tesa', 'tesa.db');
}

/** The folder of the database (created if missing): logs, daemon files and kernels/ live here. */
export function stateDir(explicitDb?: string, env: NodeJS.ProcessEnv = process.env): string {
  return ensureDir(dirname(dbPath(explicitDb, env)));
}

/** Kernel cache: $TESA_CACHE_DIR or <stateDir>/kernels (created if missing). */
export function cacheDir(explicitDb?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.TESA_CACHE_DIR) return ensureDir(resolve(env.TESA_CACHE_DIR));
  return ensureDir(join(stateDir(explicitDb, env), 'kernels'));
}

export function ensureDir(dir: string): string {
  try {
    makeDirs(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new TesaError('STORE', `cannot create state folder ${dir} (${code})`, 'set --db or TESA_DB to a writable path', { cause: e });
  }
  return dir;
}

/**
 * mkdir -p, one level at a time: Node 20's mkdirSync({ recursive: true }) spins forever when
 * mkdir answers ENOENT under an existing parent (e.g. anything under /proc).
 */
function makeDirs(dir: string): void {
  if (existsSync(dir)) {
    if (statSync(dir).isDirectory()) return;
    throw Object.assign(new Error(`${dir} is not a folder`), { code: 'ENOTDIR' });
  }
  const parent = dirname(dir);
  if (parent !== dir) makeDirs(parent);
  try {
    mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}
