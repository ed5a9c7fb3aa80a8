/**
 * The CLI's shell: --version, --help for EVERY registered command (the list is read from the
 * registry, so new commands are covered without touching this file), and usage errors as one
 * line with exit code 2.
 */
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registerCommands } from '../../src/cli/commands/index.js';
import { packageRoot } from '../../src/util/package-root.js';
import { runCli } from './run-cli.js';

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

describe.each(paths.map((p) => [p.join(' '), p] as const))('tesa %s', (_name, path) => {
  it('--help prints its usage and exits 0', () => {
    const r = runCli([...path, '--help']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: tesa ${path.join(' ')}`);
  });

  it('an unknown option is one line and exit code 2', () => {
    const r = runCli([...path, '--no-such-option']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tesa: /);
  });
});
