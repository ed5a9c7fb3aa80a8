// The README's main command (`tesa optimize`, every default) run once per seed, each on a
// fresh database and kernel cache: wall time, trials per minute, share of kernels served from
// the cache, and the best re-measured against dense (interleaved pairs, 95% CI).
//   npm run build && node scripts/compare-seeds.mjs --seeds 1,2 --out /tmp/tesa-seeds
import { join } from 'node:path';
import { extra, f3, mins, parseArgs, pct, ratioCi, runOrReuse, table } from './compare-lib.mjs';

const o = parseArgs(process.argv.slice(2), { seeds: '1,2', out: '/tmp/tesa-seeds' });
const rows = [['seed', 'wall', 'trials (feasible)', 'trials/min', 'kernels from cache', 'best re-measured [95% CI]', 'budget', 'final attempts', 'held', 'quality']];
const results = [];
for (const seed of String(o.seeds).split(',')) {
  const r = await runOrReuse(join(String(o.out), `default-seed${seed}`, 't.db'), [...(seed === '1' ? [] : ['--seed', seed]), ...extra(o)]);
  results.push(r);
  const held = r.held ?? r.chosen;
  rows.push([seed, mins(r.wallMs ?? r.elapsedMs), `${r.trials} (${r.feasibleTrials})`, r.elapsedMs ? (r.trials / (r.elapsedMs / 60000)).toFixed(2) : '-', `${pct(r.cacheShare)} (${r.kernelsCached}/${r.kernelsBuilt + r.kernelsCached})`, ratioCi(held), f3(r.budgetRatio), String(r.attempts.length), r.held ? 'yes' : 'NO', f3(held?.quality ?? null)]);
}
console.log(table(rows));
if (o.json) console.log(JSON.stringify(results, null, 1));
