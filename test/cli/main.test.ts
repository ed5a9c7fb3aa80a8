/**
 * The CLI's shell: --version, --help for EVERY registered command (the list is read from the
 * registry, so new commands are covered without touching this file), and usage errors as one
 * line with exit code 2.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { registerCommands } from '../../src/cli/commands/index.js';
import { packageRoot } from '../../src/util/package-root.js';
import { cliPath, runCli } from './run-cli.js';

/** Every command path, e.g. ['list'], ['daemon', 'start'], from the same registry main.ts uses. */
function commandPaths(): string[][] {
  const program = new Command();
  registerCommands(program);
  const out: string[][] = [];
  const walk = (cmd: Command, prefix: string[]) => {
    for (const sub of cmd.commands) {
      if (sub.name() === 'help') continue;
      const path = [...prefix, sub.name()];
      out.push(path);
      walk(sub, path);
    }
  };
  walk(program, []);
  return out;
}

const paths = commandPaths();
const version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;

describe('tesa', () => {
  it('registers list and show at least', () => {
    expect(paths.map((p) => p.join(' '))).toEqual(expect.arrayContaining(['list', 'show']));
  });

  it('--version prints the package version and exits 0', () => {
    for (const flag of ['--version', '-V']) {
      const r = runCli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(version);
    }
  });

  it('--help lists every registered command and exits 0', () => {
    const r = runCli(['--help']);
    expect(r.code).toBe(0);
    for (const p of paths.filter((x) => x.length === 1)) expect(r.stdout).toMatch(new RegExp(`^\\s+${p[0]}\\b`, 'm'));
  });

  it('an unknown command is one line and exit code 2', () => {
    const r = runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("tesa: unknown command 'frobnicate' (hint: run with --help for usage)\n");
  });

  it('an unknown top-level option is one line and exit code 2', () => {
    const r = runCli(['--no-such-option']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^tesa: unknown option '--no-such-option' \(hint: /);
  });
});

describe('README and .ci/run', () => {
  const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');
  const setup = /^## Set-up on a fresh machine\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';
  const blocks = [...setup.matchAll(/^```(?:sh|bash)?\n([\s\S]*?)^```/gm)].map((m) => m[1]!.trim());

  it('set-up is exactly two commands: the main job and the tests', () => {
    expect(blocks).toEqual(['npm ci && npm run build && node dist/src/cli/main.js optimize', 'npm ci && npm test']);
  });

  it("the main command's subcommand is registered", () => {
    const sub = blocks[0]!.split(' ').pop()!;
    expect(paths.map((p) => p.join(' '))).toContain(sub);
  });

  it('.ci/run runs exactly the test command, strict and without the ORT download', () => {
    const ci = readFileSync(join(packageRoot(), '.ci', 'run'), 'utf8');
    expect(ci).toMatch(/^set -euo pipefail$/m);
    expect(ci).toMatch(/^export ONNXRUNTIME_NODE_INSTALL=skip$/m);
    const commands = ci.split('\n').filter((l) => l.trim() && !l.startsWith('#') && !/^(set|export|cd) /.test(l));
    expect(commands).toEqual([blocks[1]]);
  });
});

describe('every registered command (run in one process of the built CLI)', () => {
  interface Case {
    argv: string[];
    code: number | string;
    stdout: string;
    stderr: string;
  }
  const cases = paths.flatMap((p) => [
    [...p, '--help'],
    [...p, '--no-such-option'],
  ]);
  let results: Case[] = [];
  const result = (argv: string[]) => results.find((r) => r.argv.join(' ') === argv.join(' '))!;

  beforeAll(() => {
    const r = spawnSync(process.execPath, [join(packageRoot(), 'test', 'cli', 'fixtures', 'run-many.mjs'), pathToFileURL(cliPath).href, JSON.stringify(cases)], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`run-many failed (${r.status}): ${r.stderr}`);
    results = JSON.parse(r.stdout) as Case[];
  });

  it.each(paths.map((p) => [p.join(' '), p] as const))('tesa %s --help prints its usage and exits 0', (_name, path) => {
    const r = result([...path, '--help']);
    expect(r.stderr).toBe('');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Usage: tesa ${path.join(' ')}`);
  });

  it.each(paths.map((p) => [p.join(' '), p] as const))('tesa %s with an unknown option: one line, exit code 2', (_name, path) => {
    const r = result([...path, '--no-such-option']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tesa: /);
  });

  it('a subcommand with an unknown option, end to end in its own process', () => {
    const r = runCli(['list', '--no-such-option']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("tesa: unknown option '--no-such-option' (hint: run with --help for usage)\n");
  });
});
