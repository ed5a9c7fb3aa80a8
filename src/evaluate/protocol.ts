/**
 * The external-command protocol (README, "Evaluator protocol"), shared by `--evaluator cmd:…`
 * and AutoCompress's `--finetune-cmd`: the command runs in a shell, gets ONE JSON request on
 * stdin, may print anything (progress, logs), and answers with its LAST stdout line that is a
 * JSON object. A timeout, a non-zero exit, or no JSON object on stdout is a failure with a reason
 * that ends in the tail of stderr — returned, never thrown, so a caller records it and goes on.
 */
import { spawn } from 'node:child_process';

export const PROTOCOL_VERSION = 1;
export const DEFAULT_COMMAND_TIMEOUT_MS = 10 * 60_000;

/** What `cmd:` sends per trial. Paths are absolute and live until the command exits. */
export interface EvaluateRequest {
  version: number;
  kind: 'evaluate';
  /** The pruned model: pruned weights zeroed, propagation applied (same tensor names as the input model). */
  model: string;
  /** Folder with one `<weight>.npy` mask per pruned weight (uint8, 1 = kept) and `index.json`. */
  masks: string;
  /** The sparsity config (same format as `tesa export`'s config.json). */
  config: string;
  candidate: unknown;
  trial: number;
  seed: number;
}

/** What AutoCompress's `--finetune-cmd` sends after each round (its answer is recorded, any fields). */
export interface FinetuneRequest {
  version: number;
  kind: 'finetune';
  searchId: number;
  /** The model as the user gave it (a path or zoo:NAME). */
  model: string;
  round: number;
  rounds: number;
  roundBudget: number;
  /** The round's committed candidate. */
  candidate: unknown;
  quality: number | null;
}

export type CommandResult =
  | { ok: true; response: Record<string, unknown>; ms: number; stderrTail: string }
  | { ok: false; reason: string; ms: number; stderrTail: string; kind: 'timeout' | 'exit' | 'malformed' | 'spawn' };

export interface CommandOptions {
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Cap on what is kept of stdout (the answer must be within it). */
  maxStdoutBytes?: number;
}

const STDERR_KEEP = 4000;

/** The last few lines of stderr, short enough to sit in a trial's reason. */
export function tailOf(text: string, maxChars = 300, maxLines = 3): string {
  const lines = text.trim().split('\n').filter((l) => l.trim().length > 0).slice(-maxLines);
  const t = lines.join(' | ');
  return t.length > maxChars ? `…${t.slice(t.length - maxChars)}` : t;
}

/** The last stdout line that parses as a JSON object, or null. */
export function lastJsonObject(stdout: string): Record<string, unknown> | null {
  const lines = stdout.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!.trim();
    if (!l.startsWith('{')) continue;
    try {
      const v = JSON.parse(l) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // not JSON: keep looking upward
    }
  }
  // A pretty-printed object spanning several lines is fine too when it is all there is.
  try {
    const v = JSON.parse(stdout.trim()) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // no
  }
  return null;
}

export function runProtocolCommand(command: string, request: unknown, opts: CommandOptions = {}): Promise<CommandResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const maxOut = opts.maxStdoutBytes ?? 4_000_000;
  const started = Date.now();
  return new Promise((resolve) => {
    let out = '';
    let err = '';
    let settled = false;
    const withTail = (reason: string): string => {
      const t = tailOf(err);
      return t ? `${reason}; stderr: ${t}` : reason;
    };
    const finish = (r: CommandResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    // Own process group: a timeout kills the shell AND whatever it started.
    const child = spawn(command, { shell: true, cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      killGroup();
      finish({ ok: false, kind: 'timeout', reason: withTail(`evaluator command timed out after ${Math.round(timeoutMs / 100) / 10} s`), ms: Date.now() - started, stderrTail: tailOf(err) });
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.length > maxOut) out = out.slice(out.length - maxOut);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (err.length > STDERR_KEEP) err = err.slice(err.length - STDERR_KEEP);
    });
    child.on('error', (e) => finish({ ok: false, kind: 'spawn', reason: `could not start the command: ${e.message}`, ms: Date.now() - started, stderrTail: '' }));
    child.on('close', (code, signal) => {
      const ms = Date.now() - started;
      if (code !== 0) {
        finish({ ok: false, kind: 'exit', reason: withTail(`command exited with ${code !== null ? `code ${code}` : signal}`), ms, stderrTail: tailOf(err) });
        return;
      }
      const v = lastJsonObject(out);
      if (!v) {
        const shown = out.trim().split('\n').slice(-1)[0] ?? '';
        finish({ ok: false, kind: 'malformed', reason: withTail(`command printed no JSON object on stdout (last line: ${JSON.stringify(shown.slice(0, 80))})`), ms, stderrTail: tailOf(err) });
        return;
      }
      finish({ ok: true, response: v, ms, stderrTail: tailOf(err) });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(`${JSON.stringify(request)}\n`);
  });
}

/** The `score` of an answer: a finite number, else a reason. */
export function scoreOf(response: Record<string, unknown>): { score: number } | { reason: string } {
  const s = response.score;
  if (typeof s !== 'number' || !Number.isFinite(s)) return { reason: `answer has no finite numeric "score" (got ${JSON.stringify(s)?.slice(0, 40) ?? 'nothing'})` };
  return { score: s };
}
