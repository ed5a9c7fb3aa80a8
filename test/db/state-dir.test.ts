import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cacheDir, dbPath, stateDir } from '../../src/util/state-dir.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-state-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('dbPath', () => {
  it('explicit path > TESA_DB > XDG_STATE_HOME > ~/.local/state', () => {
    const env = { TESA_DB: '/a/env.db', XDG_STATE_HOME: '/xdg' };
    expect(dbPath('rel/x.db', env)).toBe(resolve('rel/x.db'));
    expect(dbPath(undefined, env)).toBe('/a/env.db');
    expect(dbPath(undefined, { XDG_STATE_HOME: '/xdg' })).toBe('/xdg/tesa/tesa.db');
    expect(dbPath(undefined, {})).toBe(join(homedir(), '.local', 'state', 'tesa', 'tesa.db'));
    // a relative XDG_STATE_HOME is invalid by the XDG spec and ignored
    expect(dbPath(undefined, { XDG_STATE_HOME: 'relative' })).toBe(join(homedir(), '.local', 'state', 'tesa', 'tesa.db'));
    expect(dbPath('', { TESA_DB: '/a/env.db' })).toBe('/a/env.db');
  });
});

describe('stateDir and cacheDir', () => {
  it('are the database folder and its kernels/ (or TESA_CACHE_DIR), created on demand', () => {
    const env = { XDG_STATE_HOME: dir };
    expect(stateDir(undefined, env)).toBe(join(dir, 'tesa'));
    expect(existsSync(join(dir, 'tesa'))).toBe(true);
    expect(cacheDir(undefined, env)).toBe(join(dir, 'tesa', 'kernels'));
    expect(existsSync(join(dir, 'tesa', 'kernels'))).toBe(true);
    expect(cacheDir(join(dir, 'other', 't.db'), {})).toBe(join(dir, 'other', 'kernels'));
    expect(cacheDir(undefined, { ...env, TESA_CACHE_DIR: join(dir, 'cache') })).toBe(join(dir, 'cache'));
    expect(existsSync(join(dir, 'cache'))).toBe(true);
  });
});
