import type { Command } from 'commander';

/**
 * Every command module exports `register(program)`. Add one import and one line below per
 * command; keep the list sorted by command name.
 */
export function registerCommands(program: Command): void {
  void program;
}
