/**
 * `tesa show <id>`: one search from the store — its settings, the dense baseline, the best
 * trial with its per-group choices, trial counts and the last events. Makes sense at every
 * stage, including a queued search with no trial yet.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { openStore, ownerState, type Budget, type EventRecord, type SearchOptions, type SearchStatus, type Store } from '../../../db/store.js';
import { TesaError } from '../../errors.js';
import type { GroupChoice } from '../../space/space.js';
import { dbPath } from '../../util/state-dir.js';
import { fmt, fmtMs, formatBudget, formatDuration, formatTime, table } from '../format.js';
import { addDbOption, addJsonOption, parseCount, parseSearchId, printJson, type DbOption, type JsonOption } from '../options.js';

export interface LatencySummary {
  latencyMs: number;
  ciLowMs: number;
  ciHighMs: number;
  madMs: number;
  n: number;
}

/** What `show --json` prints; a superset of what `optimize --json` prints. */
export interface SearchSummary {
  searchId: number;
  status: SearchStatus;
  model: string;
  target: string;
  fingerprintId: string | null;
  strategy: string;
  budget: Budget;
  options: SearchOptions;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  elapsedMs: number;
  error: string | null;
  owner: { pid: number; host: string | null; heartbeatAt: string | null; state: 'live' | 'stale' | 'dead' } | null;
  baseline: LatencySummary | null;
  best: {
    trialId: number;
    seq: number;
    latencyMs: number | null;
    latencyCiLowMs: number | null;
    latencyCiHighMs: number | null;
    latencyRatio: number | null;
    quality: number | null;
    feasible: boolean;
    groups: Record<string, GroupChoice>;
  } | null;
  /** The best re-measured interleaved with the dense model (A B A B), when the search got that far. */
  final: { best: LatencySummary; dense: LatencySummary | null; ratio: number | null } | null;
  /** The strategy's progress after the last trial (e.g. SA temperature, AutoCompress round), from the loop's events. */
  progress: Record<string, number | string> | null;
  trials: number;
  okTrials: number;
  failedTrials: number;
  feasibleTrials: number;
  runningTrials: number;
  events: Array<{ id: number; at: string; level: EventRecord['level']; kind: string; message: string }>;
}

export function summarizeSearch(store: Store, id: number, opts: { events?: number } = {}): SearchSummary {
  const s = store.requireSearch(id);
  const counts = store.trialCounts(id);
  const bestTrial = s.bestTrialId === null ? undefined : store.getTrial(s.bestTrialId);
  const finals = store.listMeasurements(id, { kind: 'final' });
  const finalDense = store.listMeasurements(id, { kind: 'final-baseline' });
  // The final phase may re-measure several candidates (fallbacks): show the best's own pair.
  const lastFinal = finals.filter((m) => m.trialId === s.bestTrialId).at(-1) ?? finals[finals.length - 1];
  const lastFinalDense = finalDense.filter((m) => m.trialId === s.bestTrialId).at(-1) ?? finalDense[finalDense.length - 1];
  const latency = (m: { medianMs: number; ciLowMs: number; ciHighMs: number; madMs: number; n: number }): LatencySummary => ({
    latencyMs: m.medianMs,
    ciLowMs: m.ciLowMs,
    ciHighMs: m.ciHighMs,
    madMs: m.madMs,
    n: m.n,
  });
  const owner = s.ownerPid === null ? null : { pid: s.ownerPid, host: s.ownerHost, heartbeatAt: s.heartbeatAt === null ? null : new Date(s.heartbeatAt).toISOString(), state: ownerState(s) as 'live' | 'stale' | 'dead' };
  return {
    searchId: s.id,
    status: s.status,
    model: s.model,
    target: s.target,
    fingerprintId: s.fingerprintId,
    strategy: s.strategy,
    budget: s.budget,
    options: s.options,
    createdAt: new Date(s.createdAt).toISOString(),
    updatedAt: new Date(s.updatedAt).toISOString(),
    startedAt: s.startedAt === null ? null : new Date(s.startedAt).toISOString(),
    finishedAt: s.finishedAt === null ? null : new Date(s.finishedAt).toISOString(),
    elapsedMs: s.elapsedMs,
    error: s.error,
    owner,
    baseline: s.baseline && latency(s.baseline),
    best: bestTrial
      ? {
          trialId: bestTrial.id,
          seq: bestTrial.seq,
          latencyMs: bestTrial.latencyMs,
          latencyCiLowMs: bestTrial.ciLowMs,
          latencyCiHighMs: bestTrial.ciHighMs,
          latencyRatio: bestTrial.latencyRatio,
          quality: bestTrial.quality,
          feasible: bestTrial.feasible,
          groups: bestTrial.candidate.groups,
        }
      : null,
    final: lastFinal
      ? {
          best: latency(lastFinal),
          dense: lastFinalDense ? latency(lastFinalDense) : null,
          ratio: lastFinalDense && lastFinalDense.medianMs > 0 ? lastFinal.ciHighMs / lastFinalDense.medianMs : null,
        }
      : null,
    progress: lastProgress(store, id),
    trials: counts.total,
    okTrials: counts.ok,
    failedTrials: counts.failed,
    feasibleTrials: counts.feasible,
    runningTrials: counts.running,
    events: store.listEvents(id, { tail: opts.events ?? 10 }).map((e) => ({ id: e.id, at: new Date(e.at).toISOString(), level: e.level, kind: e.kind, message: e.message })),
  };
}

/** The loop puts the strategy's progress() in the data of each 'trial-finished' event. */
function lastProgress(store: Store, id: number): Record<string, number | string> | null {
  const recent = store.listEvents(id, { tail: 50 });
  for (let i = recent.length - 1; i >= 0; i--) {
    const e = recent[i]!;
    if (e.kind !== 'trial-finished' || typeof e.data !== 'object' || e.data === null) continue;
    const p = (e.data as { progress?: unknown }).progress;
    if (typeof p !== 'object' || p === null) continue;
    const out: Record<string, number | string> = {};
    for (const [k, v] of Object.entries(p)) if (typeof v === 'number' || typeof v === 'string') out[k] = v;
    return out;
  }
  return null;
}

function formatOptions(o: SearchOptions): string {
  const parts = Object.keys(o)
    .sort()
    .map((k) => `${k}=${typeof o[k] === 'string' ? (o[k] as string) : JSON.stringify(o[k])}`);
  return parts.length ? parts.join(' ') : '(defaults)';
}

function formatLatency(l: LatencySummary): string {
  return `${fmtMs(l.latencyMs)} (95% CI ${fmt(l.ciLowMs)}–${fmt(l.ciHighMs)} ms, MAD ${fmt(l.madMs, 4)} ms, n=${l.n})`;
}

export function renderSearch(sum: SearchSummary, path: string): string {
  const out: string[] = [];
  out.push(`search ${sum.searchId}: ${sum.status}   (${path})`);
  const kv = (k: string, v: string) => out.push(`  ${k.padEnd(12)}${v}`);
  kv('model', sum.model);
  kv('target', sum.fingerprintId ? `${sum.target} (fingerprint ${sum.fingerprintId})` : sum.target);
  kv('strategy', sum.strategy);
  kv('budget', `latency ${formatBudget(sum.budget)}`);
  kv('options', formatOptions(sum.options));
  kv('created', formatTime(Date.parse(sum.createdAt)));
  kv('updated', formatTime(Date.parse(sum.updatedAt)));
  kv('elapsed', formatDuration(sum.elapsedMs));
  if (sum.finishedAt) kv('finished', formatTime(Date.parse(sum.finishedAt)));
  if (sum.owner) kv('runner', `pid ${sum.owner.pid} on ${sum.owner.host ?? '?'} (${sum.owner.state}, heartbeat ${sum.owner.heartbeatAt ?? 'never'})`);
  if (sum.error) kv('error', sum.error);
  out.push('');
  out.push(sum.baseline ? `dense baseline: ${formatLatency(sum.baseline)}` : 'dense baseline: not measured yet');
  out.push(
    sum.trials === 0
      ? 'trials: none yet'
      : `trials: ${sum.trials} (ok ${sum.okTrials}, failed ${sum.failedTrials}, feasible ${sum.feasibleTrials}${sum.runningTrials ? `, running ${sum.runningTrials}` : ''})`,
  );
  if (sum.progress && Object.keys(sum.progress).length) {
    out.push(`progress: ${Object.entries(sum.progress).map(([k, v]) => `${k} ${typeof v === 'number' ? fmt(v) : v}`).join(', ')}`);
  }
  if (sum.best) {
    const b = sum.best;
    out.push(`best: trial #${b.seq} (id ${b.trialId})${b.feasible ? '' : ' — not within the budget'}`);
    out.push(`  latency     ${fmtMs(b.latencyMs)} (95% CI ${fmt(b.latencyCiLowMs)}–${fmt(b.latencyCiHighMs)} ms)`);
    out.push(`  ratio       ${fmt(b.latencyRatio)} × dense (upper CI bound / dense median)`);
    out.push(`  quality     ${fmt(b.quality, 4)}`);
    const ids = Object.keys(b.groups).sort();
    if (ids.length === 0) out.push('  groups      all dense fp32');
    else {
      out.push('  groups:');
      const rows = ids.map((g) => [g, fmt(b.groups[g]!.ratio, 3), b.groups[g]!.pattern, b.groups[g]!.precision]);
      out.push(
        table(['GROUP', 'RATIO', 'PATTERN', 'PRECISION'], rows)
          .split('\n')
          .map((l) => `    ${l}`)
          .join('\n'),
      );
    }
  } else {
    out.push(sum.trials === 0 ? 'best: none yet' : 'best: none yet (no trial within the budget)');
  }
  if (sum.final) {
    out.push(`final re-measurement: best ${formatLatency(sum.final.best)}`);
    if (sum.final.dense) out.push(`                      dense ${formatLatency(sum.final.dense)}; ratio ${fmt(sum.final.ratio)} (upper CI / dense)`);
  }
  out.push('');
  if (sum.events.length === 0) out.push('events: none yet');
  else {
    out.push('last events:');
    for (const e of sum.events) out.push(`  ${formatTime(Date.parse(e.at))}  ${e.level.padEnd(5)}  ${e.kind}: ${e.message}`);
  }
  return out.join('\n');
}

interface ShowOptions extends DbOption, JsonOption {
  events: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('show')
    .description('show one search: settings, dense baseline, best trial with per-group choices, trial counts, last events')
    .argument('<id>', 'search id (see tesa list)')
    .option('--events <n>', 'how many of the last events to show', '10');
  addDbOption(cmd);
  addJsonOption(cmd);
  cmd.action((idText: string, opts: ShowOptions) => {
    const id = parseSearchId(idText);
    const events = parseCount(opts.events, '--events');
    const path = dbPath(opts.db);
    if (!existsSync(path)) throw new TesaError('NOT_FOUND', `no search ${id} in ${path} (no database there yet)`, "run 'tesa optimize' first, or pass another --db");
    const store = openStore(path, { readOnlyFallback: true });
    try {
      const sum = summarizeSearch(store, id, { events });
      if (opts.json) printJson(sum);
      else process.stdout.write(`${renderSearch(sum, store.path)}\n`);
    } finally {
      store.close();
    }
  });
}
