/**
 * How a running search reports progress to whoever shows it: one progress line per trial on
 * a plain terminal or in logs (`lineObserver`), the ink UI on a TTY (plugged in by the TUI),
 * nothing with --json (`silentObserver`). The store's events carry the same facts for
 * `tesa watch` in another terminal.
 */
import type { Baseline } from '../../db/store.js';
import type { Candidate } from '../space/space.js';

/** What one trial came to: shared by the loop's own record and the observer's report. */
export interface TrialFigures {
  status: 'ok' | 'failed';
  latencyMs: number | null;
  ciHighMs: number | null;
  latencyRatio: number | null;
  quality: number | null;
  feasible: boolean;
  reason: string | null;
  kernelsBuilt: number;
  kernelsCached: number;
  reused: boolean;
}

export interface TrialReport extends TrialFigures {
  seq: number;
  trialId: number;
  maxTrials: number;
  candidateHash: string;
  candidate: Candidate;
  isBest: boolean;
  progress: Record<string, number | string>;
}

export interface SearchObserver {
  searchStarted(info: { searchId: number; model: string; target: string; strategy: string; resumed: boolean; groups: number; fingerprint: string }): void;
  baseline(info: { baseline: Baseline; reused: boolean; unit: 'ms' | 'flops' }): void;
  phase(info: { seq: number; phase: 'building' | 'measuring' | 'evaluating' | 'final' | 'paused'; detail?: string }): void;
  trialFinished(report: TrialReport): void;
  message(text: string): void;
  searchFinished(info: { searchId: number; status: string }): void;
}

export const silentObserver: SearchObserver = {
  searchStarted() {},
  baseline() {},
  phase() {},
  trialFinished() {},
  message() {},
  searchFinished() {},
};

const fmt = (v: number | null, digits = 3): string => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits));

/** One line per trial: `trial 3/16  1.234 ms (ci ≤ 1.260, 0.68×)  quality 0.912  feasible  [built 4, cached 9]  best`. */
export function lineObserver(write: (line: string) => void): SearchObserver {
  return {
    searchStarted(i) {
      write(`search ${i.searchId}: ${i.model} on ${i.target} (${i.fingerprint}), strategy ${i.strategy}, ${i.groups} layer groups${i.resumed ? ', resumed' : ''}`);
    },
    baseline(i) {
      const b = i.baseline;
      if (i.unit === 'flops') write(`dense baseline: ${b.flops ?? b.medianMs} FLOPs${i.reused ? ' (stored)' : ''}`);
      else write(`dense baseline: ${fmt(b.medianMs)} ms (95% CI ${fmt(b.ciLowMs)}–${fmt(b.ciHighMs)}, n=${b.n})${i.reused ? ' (stored)' : ''}`);
    },
    phase(i) {
      if (i.phase === 'paused' || i.phase === 'final') write(`${i.phase}${i.detail ? `: ${i.detail}` : ''}`);
    },
    trialFinished(r) {
      const head = `trial ${r.seq + 1}/${r.maxTrials}`;
      if (r.status === 'failed') {
        write(`${head}  failed: ${r.reason ?? 'unknown reason'}`);
        return;
      }
      const prog = Object.entries(r.progress)
        .filter(([k]) => k === 'temperature' || k === 'round')
        .map(([k, v]) => `${k === 'temperature' ? 'T' : k} ${v}`)
        .join(' ');
      // Under --cost flops nothing is timed: the ratio is of FLOPs.
      const cost = r.latencyMs === null ? `FLOPs ${fmt(r.latencyRatio, 2)}× dense` : `${fmt(r.latencyMs)} ms (ci ≤ ${fmt(r.ciHighMs)}, ${fmt(r.latencyRatio, 2)}×)`;
      write(
        `${head}  ${cost}  quality ${fmt(r.quality, 4)}  ${r.feasible ? 'feasible' : 'over budget'}` +
          `  [${r.reused ? 'reused' : `built ${r.kernelsBuilt}, cached ${r.kernelsCached}`}]${prog ? `  ${prog}` : ''}${r.isBest ? '  best' : ''}`,
      );
    },
    message(text) {
      write(text);
    },
    searchFinished(i) {
      write(`search ${i.searchId} ${i.status}`);
    },
  };
}
