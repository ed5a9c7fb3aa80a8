#!/usr/bin/env node
/**
 * The long-run harness: a search run by the daemon under a time limit, with the resident memory
 * (VmRSS) and open file descriptors of the daemon and of every process under it (the search
 * runner, kernel runners, build workers) sampled at a fixed interval into a CSV. At the end it
 * prints a summary table and checks the stated bound; exit 1 when the bound is broken.
 *
 *   node scripts/long-run.mjs [--minutes 120] [--interval 60] [--dir DIR] [--model zoo:mlp]
 *        [--rss-growth-mb 64] [--fd-growth 16] [-- <extra tesa optimize options>]
 *
 * The bound: for the daemon and for the search runner, the mean RSS over the last hour minus
 * the mean over the first hour (first and last third for runs under 3 hours) is at most
 * --rss-growth-mb, and the open descriptors never exceed their first sample by more than
 * --fd-growth. Linux only (/proc).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

function parseArgs(argv) {
  const o = { minutes: 120, interval: 60, dir: '', model: 'zoo:mlp', rssGrowthMb: 64, fdGrowth: 16, extra: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    const num = (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) fail(`${a} ${v}: not a positive number`);
      return n;
    };
    if (a === '--') {
      o.extra = argv.slice(i + 1);
      break;
    } else if (a === '--minutes') o.minutes = num(next());
    else if (a === '--interval') o.interval = num(next());
    else if (a === '--dir') o.dir = next();
    else if (a === '--model') o.model = next();
    else if (a === '--rss-growth-mb') o.rssGrowthMb = num(next());
    else if (a === '--fd-growth') o.fdGrowth = num(next());
    else fail(`unknown option ${a} (see the header of scripts/long-run.mjs)`);
  }
  return o;
}

function fail(msg) {
  console.error(`long-run: ${msg}`);
  process.exit(2);
}

function tesa(args) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', TESA_NO_TUI: '1' }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** pid → { ppid, comm } for every process, from /proc. */
function processTable() {
  const t = new Map();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      t.set(Number(e), { ppid, comm });
    } catch {
      // exited meanwhile
    }
  }
  return t;
}

function descendants(pid, table) {
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    for (const [c, info] of table) if (info.ppid === p) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

function sampleOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => Number((new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status) ?? [])[1] ?? NaN);
    const fds = readdirSync(`/proc/${pid}/fd`).length;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), threads: kb('Threads'), fds, cmdline };
  } catch {
    return null;
  }
}

/** What a process is, from its command line: the daemon itself, a search runner, a kernel runner, a compiler… */
function roleOf(pid, daemonPid, cmdline) {
  if (pid === daemonPid) return 'daemon';
  const s = cmdline.join(' ');
  if (/main\.js/.test(s) || /\bnode\b/.test(cmdline[0] ?? '')) return /build-worker|piscina/.test(s) ? 'build-worker' : 'search';
  if (/runner/.test(s)) return 'kernel-runner';
  if (/\b(cc|gcc|clang)\b/.test(s)) return 'compiler';
  return 'other';
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!existsSync(cli)) fail(`${cli} is missing: run 'npx tsc -p .' first`);
  const dir = o.dir ? resolve(o.dir) : mkdtempSync(join(tmpdir(), 'tesa-long-run-'));
  mkdirSync(dir, { recursive: true });
  const db = join(dir, 'tesa.db');
  const csv = join(dir, 'samples.csv');
  writeFileSync(csv, 't_s,role,pid,rss_kb,hwm_kb,threads,fds\n');
  console.log(`long-run: state in ${dir}; samples every ${o.interval}s for ${o.minutes} min into ${csv}`);

  const started = tesa(['daemon', 'start', '--db', db]);
  if (started.code !== 0) fail(`daemon start failed: ${started.stderr.trim()}`);
  const pidFile = join(dir, 'daemon.pid');
  const daemonPid = Number(readFileSync(pidFile, 'utf8').trim().split(/\s/)[0]);
  const queued = tesa(['optimize', '--detach', '--db', db, '--model', o.model, '--time-limit', `${o.minutes}m`, '--max-trials', '1000000', ...o.extra]);
  if (queued.code !== 0) fail(`optimize --detach failed: ${queued.stderr.trim()}`);
  console.log(`long-run: daemon pid ${daemonPid}; ${queued.stdout.trim().split('\n').pop()}`);

  const t0 = Date.now();
  const endAt = t0 + o.minutes * 60_000 + 5 * 60_000; // the time limit plus the final re-measurement
  const rows = [];
  let status = 'running';
  for (;;) {
    const t = (Date.now() - t0) / 1000;
    const table = processTable();
    for (const pid of [daemonPid, ...descendants(daemonPid, table)]) {
      const s = sampleOf(pid);
      if (!s) continue;
      const role = roleOf(pid, daemonPid, s.cmdline);
      rows.push({ t, role, pid, ...s });
      appendFileSync(csv, `${t.toFixed(1)},${role},${pid},${s.rssKb},${s.hwmKb},${s.threads},${s.fds}\n`);
    }
    const list = tesa(['list', '--json', '--db', db]);
    try {
      const searches = JSON.parse(list.stdout);
      const arr = Array.isArray(searches) ? searches : (searches.searches ?? []);
      status = arr.length ? String(arr[0].status) : 'unknown';
    } catch {
      status = 'unknown';
    }
    if (!['running', 'queued', 'unknown'].includes(status) || Date.now() > endAt) break;
    if (!existsSync(`/proc/${daemonPid}`)) {
      status = 'daemon died';
      break;
    }
    await sleep(o.interval * 1000);
  }
  tesa(['daemon', 'stop', '--db', db]);

  // Summary per role: the daemon and the search runner carry the bound; short-lived children are shown.
  const lastT = rows.length ? rows[rows.length - 1].t : 0;
  const windowS = lastT >= 3 * 3600 ? 3600 : lastT / 3;
  const summary = [];
  let broken = [];
  for (const role of [...new Set(rows.map((r) => r.role))]) {
    const rs = rows.filter((r) => r.role === role);
    const first = rs.filter((r) => r.t <= windowS).map((r) => r.rssKb);
    const last = rs.filter((r) => r.t >= lastT - windowS).map((r) => r.rssKb);
    const growthMb = (mean(last) - mean(first)) / 1024;
    const fds = rs.map((r) => r.fds);
    const line = {
      role,
      samples: rs.length,
      pids: new Set(rs.map((r) => r.pid)).size,
      peakRssMb: Math.max(...rs.map((r) => r.hwmKb)) / 1024,
      rssGrowthMb: growthMb,
      fdsMin: Math.min(...fds),
      fdsMax: Math.max(...fds),
    };
    summary.push(line);
    if (role === 'daemon' || role === 'search') {
      if (growthMb > o.rssGrowthMb) broken.push(`${role}: RSS grew ${growthMb.toFixed(1)} MB > ${o.rssGrowthMb} MB`);
      if (line.fdsMax - fds[0] > o.fdGrowth) broken.push(`${role}: fds rose from ${fds[0]} to ${line.fdsMax} (> +${o.fdGrowth})`);
    }
  }
  console.log(`\nlong-run: ${(lastT / 60).toFixed(1)} min sampled, search status '${status}', growth window ${(windowS / 60).toFixed(1)} min`);
  console.log('role           samples  pids  peak RSS MB  RSS growth MB  fds min  fds max');
  for (const s of summary) {
    console.log(`${s.role.padEnd(14)} ${String(s.samples).padStart(7)} ${String(s.pids).padStart(5)} ${s.peakRssMb.toFixed(1).padStart(12)} ${(Number.isNaN(s.rssGrowthMb) ? '-' : s.rssGrowthMb.toFixed(1)).padStart(14)} ${String(s.fdsMin).padStart(8)} ${String(s.fdsMax).padStart(8)}`);
  }
  console.log(`bound: RSS growth <= ${o.rssGrowthMb} MB and fds <= first + ${o.fdGrowth}, for daemon and search`);
  const show = tesa(['list', '--db', db]);
  console.log(show.stdout.trim());
  if (broken.length) {
    console.log(`BOUND BROKEN: ${broken.join('; ')}`);
    process.exit(1);
  }
  console.log('bound held');
}

main().catch((e) => fail(e.stack ?? String(e)));
