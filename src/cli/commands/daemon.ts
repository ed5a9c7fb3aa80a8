/** `tesa daemon start|stop|status|run`: the background runner of queued searches. */
import type { Command } from 'commander';
import { assertStoreWritable, openStore, ownerState } from '../../../db/store.js';
import { runDaemon } from '../../daemon/daemon.js';
import { daemonStatus, startDaemon, stopDaemon } from '../../daemon/supervise.js';
import { parseDuration } from '../../search/config.js';
import { parseCount } from '../options.js';

const DB_HELP = 'database file (default: $TESA_DB or ~/.local/state/tesa/tesa.db)';

export function register(program: Command): void {
  const daemon = program.command('daemon').description('run queued searches in the background (tesa optimize --detach queues them)');

  daemon
    .command('start')
    .description('start the daemon (detached; it outlives this terminal)')
    .option('--db <path>', DB_HELP)
    .action(async (opts: { db?: string }) => {
      assertStoreWritable(opts.db);
      // A folder or a file that is not a tesa database: one line here, not a daemon that dies at once.
      openStore(opts.db).close();
      const r = await startDaemon(opts.db);
      process.stdout.write(r.already ? `daemon already running (pid ${r.pid}); log ${r.files.logFile}\n` : `daemon started (pid ${r.pid}); log ${r.files.logFile}\n`);
    });

  daemon
    .command('stop')
    .description('stop the daemon; its searches stop after their current trial and wait in the queue')
    .option('--db <path>', DB_HELP)
    .option('--timeout <duration>', 'how long to wait for it to exit', '2m')
    .action(async (opts: { db?: string; timeout: string }) => {
      const r = await stopDaemon(opts.db, { waitMs: parseDuration(opts.timeout, '--timeout') });
      process.stdout.write(r.pid === null ? 'no daemon running\n' : `daemon stopped (pid ${r.pid})\n`);
    });

  daemon
    .command('status')
    .description('whether the daemon runs, and what it runs')
    .option('--db <path>', DB_HELP)
    .action((opts: { db?: string }) => {
      const st = daemonStatus(opts.db);
      const lines = [st.running ? `daemon running (pid ${st.pid})` : `daemon not running${st.stalePidFile ? ' (stale pid file; the next start takes it over)' : ''}`];
      lines.push(`log ${st.files.logFile}`);
      const store = openStore(st.files.db, { readOnlyFallback: true });
      try {
        const active = store.listSearches({ status: ['running', 'stopping', 'paused'] });
        for (const s of active.reverse()) lines.push(`  search ${s.id} ${s.status} (${s.model} on ${s.target}${ownerState(s) === 'live' ? `, pid ${s.ownerPid}` : ', no live runner'})`);
        const queued = store.listSearches({ status: 'queued' });
        lines.push(`queued: ${queued.length === 0 ? 'none' : queued.reverse().map((s) => s.id).join(', ')}`);
      } finally {
        store.close();
      }
      process.stdout.write(`${lines.join('\n')}\n`);
      process.exitCode = st.running ? 0 : 3;
    });

  daemon
    .command('run', { hidden: true })
    .description('the daemon itself, in the foreground (what start launches)')
    .option('--db <path>', DB_HELP)
    .option('--poll <ms>', 'how often to look at the queue', '1000')
    .action(async (opts: { db?: string; poll: string }) => {
      const pollMs = Math.max(50, parseCount(opts.poll, '--poll', 1));
      assertStoreWritable(opts.db);
      await runDaemon({ ...(opts.db !== undefined ? { db: opts.db } : {}), pollMs });
    });
}
