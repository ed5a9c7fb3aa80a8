/**
 * Global setup of `npm run test:reliability`: gives the suites a file to add summary rows to
 * (recordSummary in helpers.ts) and, once every file has run, prints the table the issue asks
 * for (faults injected, survived, data lost, bad inputs tried, crashes) with the wall time, and
 * leaves it as summary.md beside the rows.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SummaryRow } from './helpers.js';

const cell = (n: number | undefined): string => (n === undefined ? '' : String(n));

export function summaryTable(rows: SummaryRow[], wallMs: number): string {
  const sum = (key: keyof SummaryRow): number => rows.reduce((a, r) => a + (typeof r[key] === 'number' ? (r[key] as number) : 0), 0);
  const lines = [
    '| suite | faults injected | survived | data lost | bad inputs tried | crashes | note |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.suite} | ${cell(r.faultsInjected)} | ${cell(r.survived)} | ${cell(r.dataLost)} | ${cell(r.badInputs)} | ${cell(r.crashes)} | ${r.note ?? ''} |`),
    `| **total** | **${sum('faultsInjected')}** | **${sum('survived')}** | **${sum('dataLost')}** | **${sum('badInputs')}** | **${sum('crashes')}** | wall time ${(wallMs / 60_000).toFixed(1)} min |`,
  ];
  return lines.join('\n');
}

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'tesa-reliability-summary-'));
  const file = join(dir, 'rows.jsonl');
  writeFileSync(file, '');
  process.env.TESA_RELIABILITY_SUMMARY = file;
  const t0 = Date.now();
  return () => {
    const rows = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as SummaryRow);
    const table = summaryTable(rows, Date.now() - t0);
    writeFileSync(join(dir, 'summary.md'), `${table}\n`);
    process.stdout.write(`\nreliability summary (${rows.length} rows; also in ${join(dir, 'summary.md')}):\n${table}\n`);
  };
}
