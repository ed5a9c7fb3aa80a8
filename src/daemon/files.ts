/** Where the daemon keeps its pid file and log: next to the database (the state folder). */
import { join } from 'node:path';
import { dbPath, stateDir } from '../util/state-dir.js';

export interface DaemonFiles {
  db: string;
  dir: string;
  pidFile: string;
  logFile: string;
}

export function daemonFiles(explicitDb?: string): DaemonFiles {
  const dir = stateDir(explicitDb);
  return { db: dbPath(explicitDb), dir, pidFile: join(dir, 'daemon.pid'), logFile: join(dir, 'daemon.log') };
}
