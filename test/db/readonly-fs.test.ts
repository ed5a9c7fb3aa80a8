/**
 * A database on a read-only file system (a real read-only bind mount, in a private mount
 * namespace so nothing leaks to the machine): every command says so in one line and leaves
 * the file as it was.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../db/store.js';
import { cliPath } from '../cli/run-cli.js';

/** Private mount namespaces need root (or CAP_SYS_ADMIN); CI and the dev machines run as root. */
const canMount = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs none /mnt && umount /mnt'], { stdio: 'ignore' }).status === 0;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-rofs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `tesa args…` with `dir` mounted read-only for that process only. */
function tesaOnReadOnly(args: string[]) {
  const script = `mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"`;
  return spawnSync('unshare', ['-m', 'sh', '-c', script, 'sh', dir, process.execPath, cliPath, ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe.skipIf(!canMount)('database on a read-only file system', () => {
  // Readers open a database they cannot write read-only (an archived result on a read-only
  // mount still shows); writers refuse in one line (test/reliability/read-only-db.test.ts).
  it('list and show read it as it is, and the database is untouched', () => {
    const db = join(dir, 'tesa.db');
    const s = openStore(db);
    s.createSearch({ model: 'zoo:mlp', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 } });
    s.close();
    const before = readFileSync(db);
    for (const args of [['list'], ['show', '1']]) {
      const r = tesaOnReadOnly([...args, '--db', db]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('zoo:mlp');
    }
    const w = tesaOnReadOnly(['resume', '1', '--db', db]);
    expect(w.status, w.stderr).toBe(2);
    expect(w.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(w.stderr).toContain(`tesa: ${db}: cannot write the database:`);
    expect(w.stderr).toContain('copy it to a writable folder and pass --db');
    expect(readFileSync(db).equals(before)).toBe(true);
    expect(readdirSync(dir)).toEqual(['tesa.db']);
  });

  it('a new database in a read-only folder is refused in one line', () => {
    const r = tesaOnReadOnly(['list', '--db', join(dir, 'tesa.db')]);
    // list never creates a database: it says there is none
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('no searches yet');
    const w = spawnSync(
      'unshare',
      ['-m', 'sh', '-c', `mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"`, 'sh', dir, process.execPath, '--input-type=module', '-e',
        `const { openStore } = await import(${JSON.stringify(new URL('../../dist/db/store.js', import.meta.url).href)}); try { openStore(${JSON.stringify(join(dir, 'tesa.db'))}); } catch (e) { console.log(e.code + ' ' + e.oneLine()); }`],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(w.stdout).toContain(`STORE ${join(dir, 'tesa.db')}: cannot use the database: its folder ${dir} is on a read-only file system`);
    expect(readdirSync(dir)).toEqual([]);
  });
});
