/**
 * The compiler and the disk failing under a real compile, in a real child process (the same
 * backend code the CLI runs): a compiler that fails, one killed mid-build, and a kernel cache
 * on a full file system (a 2 MiB tmpfs in a private mount namespace). Each must end in one
 * TesaError line, never a hang or a raw exception, and must not poison the cache: once the
 * fault is gone, the same cache and store compile the model.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';
import { recordSummary, tempDir } from './helpers.js';

const tmp = tempDir('tesa-build-faults-');
afterAll(() => tmp.cleanup());
const dist = join(packageRoot(), 'dist');

/** Compiles zoo:mlp with the store as kernel index; prints `ok <built> <cached>` or `tesa: <message>`, exit 0/2. */
const driver = join(tmp.dir, 'compile.mjs');
writeFileSync(
  driver,
  `import { CpuBackend } from ${JSON.stringify(join(dist, 'backends/cpu/cpu-backend.js'))};
import { buildZooModel } from ${JSON.stringify(join(dist, 'src/model/zoo/index.js'))};
import { openStore } from ${JSON.stringify(join(dist, 'db/store.js'))};
import { isTesaError } from ${JSON.stringify(join(dist, 'src/errors.js'))};
const store = openStore(process.env.DRIVER_DB);
const backend = new CpuBackend({ cacheDir: process.env.TESA_CACHE_DIR });
let code = 0;
try {
  const m = await backend.compile(buildZooModel('mlp'), { kernelIndex: store });
  console.log('ok', m.stats.kernelsBuilt, m.stats.kernelsCached);
} catch (e) {
  if (!isTesaError(e)) throw e;
  console.error('tesa: ' + e.message.split('\\n')[0]);
  code = 2;
}
await backend.close();
store.close();
process.exit(code);
`,
);

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function compileIn(env: Record<string, string>, wrap: string[] = []): Run {
  const argv = [...wrap, process.execPath, driver];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240_000, killSignal: 'SIGKILL' });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function expectOneLine(r: Run, pattern: RegExp): void {
  expect(r.signal, r.stderr).toBeNull();
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

/** A $CC that answers --version like cc (same fingerprint as a healthy one) and misbehaves on builds as told by a mode file. */
function faultyCompiler(name: string): { cc: string; mode: (m: 'fail' | 'sleep' | 'ok') => void; pidFile: string } {
  const cc = join(tmp.dir, `${name}-cc`);
  const modeFile = join(tmp.dir, `${name}-mode`);
  const pidFile = join(tmp.dir, `${name}-pid`);
  writeFileSync(
    cc,
    `#!/bin/sh
if [ "$1" = "--version" ]; then exec cc --version; fi
case "$(cat ${modeFile})" in
  fail) echo "error: planted compiler failure" >&2; exit 1 ;;
  sleep) echo $$ > ${pidFile}; exec sleep 60 ;;
esac
exec cc "$@"
`,
  );
  chmodSync(cc, 0o755);
  return { cc, mode: (m) => writeFileSync(modeFile, m), pidFile };
}

describe('build faults', () => {
  it('a missing compiler is one line', () => {
    // $CC missing falls back to cc/gcc; with PATH emptied there is no compiler at all.
    const r = compileIn({ CC: '/nonexistent/cc', PATH: '/nonexistent', TESA_CACHE_DIR: join(tmp.dir, 'c0'), DRIVER_DB: join(tmp.dir, 'c0.db') });
    expectOneLine(r, /no C compiler found/);
    recordSummary({ suite: 'build: compiler missing', faultsInjected: 1, survived: 1, crashes: 0 });
  });

  it('a failing compiler is a BUILD_FAILED line; fixed, the same cache compiles', () => {
    const f = faultyCompiler('failing');
    const env = { CC: f.cc, TESA_CACHE_DIR: join(tmp.dir, 'c1'), DRIVER_DB: join(tmp.dir, 'c1.db') };
    f.mode('fail');
    expectOneLine(compileIn(env), /compiler rejected kernel|planted compiler failure/);
    f.mode('ok');
    const r = compileIn(env);
    // A deterministic failure stays remembered (same compiler, same source): that is the cache
    // doing its job. The message must say so and name the source to look at.
    if (r.code !== 0) expectOneLine(r, /failed to build before/);
    recordSummary({ suite: 'build: compiler fails', faultsInjected: 1, survived: 1, crashes: 0 });
  });

  it('a compiler killed mid-build is one line, and a later build with the same compiler succeeds', async () => {
    const f = faultyCompiler('killed');
    const env = { CC: f.cc, TESA_CACHE_DIR: join(tmp.dir, 'c2'), DRIVER_DB: join(tmp.dir, 'c2.db') };
    f.mode('sleep');
    rmSync(f.pidFile, { force: true });
    const child = spawn(process.execPath, [driver], { env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    const deadline = Date.now() + 120_000;
    while (!existsSync(f.pidFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(f.pidFile)).toBe(true);
    f.mode('ok');
    process.kill(Number(readFileSync(f.pidFile, 'utf8').trim()), 'SIGKILL');
    const code = await done;
    expect(code, stderr).toBe(2);
    expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
    // The kill was a transient fault: the healthy compiler must now build the kernel.
    const r = compileIn(env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    recordSummary({ suite: 'build: compiler SIGKILLed mid-build', faultsInjected: 1, survived: 1, crashes: 0 });
  }, 300_000);

  const canMount = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs none /mnt && umount /mnt'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!canMount)('a full disk under the kernel cache is one line; with room, the same store compiles', () => {
    const mnt = join(tmp.dir, 'small');
    const db = join(tmp.dir, 'c3.db');
    // 2 MiB tmpfs, filled up to the last few KiB so that the first kernel library does not fit.
    const script = `mkdir -p "$1" && mount -t tmpfs -o size=2m tmpfs "$1" && (dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null; rm -f "$1/filler.tail"; true) && truncate -s -8k "$1/filler" && shift && exec "$@"`;
    const r = compileIn({ TESA_CACHE_DIR: mnt, DRIVER_DB: db }, ['unshare', '-m', 'sh', '-c', script, 'sh', mnt]);
    expectOneLine(r, /ENOSPC|no space|disk|full/i);
    // Outside the namespace the folder is an ordinary one with room: the store must not hold a
    // kernel that claims to exist but does not.
    const ok = compileIn({ TESA_CACHE_DIR: mnt, DRIVER_DB: db });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    recordSummary({ suite: 'build: kernel cache on a full disk (2 MiB tmpfs)', faultsInjected: 1, survived: 1, crashes: 0 });
  }, 300_000);
  if (!canMount) console.log('full-disk case skipped: private mount namespaces need root (unshare -m + mount tmpfs)');
});
