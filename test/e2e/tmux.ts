/**
 * Driving the real CLI in a real terminal: a private tmux server (its own socket, so other
 * sessions on the machine are never touched), send-keys and capture-pane.
 */
import { spawnSync } from 'node:child_process';

export function tmuxAvailable(): boolean {
  return spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0;
}

export class Tmux {
  readonly socket = `tesa-e2e-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  readonly captures: string[] = [];

  private tmux(args: string[]): string {
    const r = spawnSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** A detached session of cols×rows running `command` (through bash); the pane stays after it exits. */
  start(command: string, cols: number, rows: number, env: Record<string, string> = {}): void {
    // A person's terminal, not a CI log: ink draws only the last frame when it sees CI variables
    // (is-in-ci), and CI runs this suite with CI=true.
    const unsetCi = 'for v in $(compgen -e | grep -E "^(CI|CONTINUOUS_INTEGRATION|CI_.*)$"); do unset "$v"; done; ';
    const exports = unsetCi + Object.entries(env).map(([k, v]) => `export ${k}=${JSON.stringify(v)}; `).join('');
    this.tmux(['new-session', '-d', '-s', 'e2e', '-x', String(cols), '-y', String(rows), 'bash', '--noprofile', '--norc', '-c', `${exports}${command}; echo "[exit $?]"; sleep 600`]);
  }

  keys(...keys: string[]): void {
    this.tmux(['send-keys', '-t', 'e2e', ...keys]);
  }

  /** The visible screen; with `history`, the scrollback above it too. */
  capture(history = false): string {
    return this.tmux(['capture-pane', '-p', '-t', 'e2e', ...(history ? ['-S', '-200'] : [])]);
  }

  /** Polls the screen until `ok` holds; throws with the last screen when it does not in time. */
  async waitFor(what: string, ok: (screen: string) => boolean, timeoutMs = 90_000, history = false): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let screen = '';
    while (Date.now() < deadline) {
      screen = this.capture(history);
      if (ok(screen)) {
        this.captures.push(`--- ${what} ---\n${screen}`);
        return screen;
      }
      // The command ended (start() prints "[exit N]") without ever showing it: no use waiting.
      if (/^\[exit \d+\]$/m.test(screen)) throw new Error(`the command ended before the screen showed ${what}; last screen:\n${screen}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`screen never showed ${what} within ${timeoutMs / 1000} s; last screen:\n${screen}`);
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server']);
  }
}

/** "trials 3/40" on the progress line → 3. */
export function trialsDone(screen: string): number | null {
  const m = /^trials (\d+)\/\d+/m.exec(screen);
  return m ? Number(m[1]) : null;
}

export function headerLine(screen: string): string {
  return screen.split('\n').find((l) => l.startsWith('tesa · search #')) ?? '';
}
