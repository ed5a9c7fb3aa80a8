#!/usr/bin/env node
/**
 * The tesa command line. Each command lives in `commands/<name>.ts` and registers itself on
 * the program; this file only wires them up and turns errors into one line and an exit code.
 */
import { Command, CommanderError } from 'commander';
import { TesaError } from '../errors.js';
import { registerCommands } from './commands/index.js';
import { packageVersion } from '../util/package-root.js';

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const program = new Command();
  program
    .name('tesa')
    .description('Makes neural networks faster by sparsity and lower precision, judged by compiled kernels timed on the real machine.')
    .version(packageVersion(), '-V, --version')
    .option('--debug', 'print stack traces on errors')
    .exitOverride();
  program.configureOutput({
    // One line, like every other tesa error: commander's message plus a hint.
    outputError: (str, write) => write(`tesa: ${str.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (hint: run with --help for usage)\n`),
  });
  registerCommands(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return reportError(e, debug);
  }
}

export function reportError(e: unknown, debug: boolean): number {
  if (e instanceof CommanderError) {
    // help and version exit through here with code 0; usage errors were already printed.
    if (e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
    return 2;
  }
  if (e instanceof TesaError) {
    process.stderr.write(`tesa: ${e.oneLine()}\n`);
    if (debug && e.stack) process.stderr.write(`${e.stack}\n`);
    return e.exitCode;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`tesa: internal error: ${err.message.split('\n')[0]} (hint: run again with --debug and report the trace)\n`);
  if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
  return 1;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === (await import('node:url')).pathToFileURL((await import('node:fs')).realpathSync(process.argv[1])).href;
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => process.exit(reportError(e, process.argv.includes('--debug'))),
  );
}
