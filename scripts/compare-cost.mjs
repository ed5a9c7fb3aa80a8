// The paper's Figure 18 as one command: the same search judged by FLOPs (--cost flops) and by
// measured latency (--cost latency) at one latency budget, each result re-measured against
// the dense model (interleaved pairs, 95% CI). Prints how far the FLOPs-chosen result misses.
//   npm run build && node scripts/compare-cost.mjs --models zoo:bert-mini,zoo:mobilenet-v2 \
//     --budget 0.7 --seed 1 --max-trials 40 --time-limit zoo:mobilenet-v2=8m,zoo:bert-mini=6m --out /tmp/tesa-compare [--extra '--plan-picking off']
// A database already in --out holding a finished search is read, not run again (so
// compare-groups.mjs can share the latency runs).
import { join } from 'node:path';
import { extra, f3, mins, parseArgs, pct, perModel, ratioCi, runOrReuse, slug, table } from './compare-lib.mjs';

const o = parseArgs(process.argv.slice(2), { models: 'zoo:bert-mini,zoo:mobilenet-v2', budget: '0.7', seed: '1', 'max-trials': '40', 'time-limit': '6m', out: '/tmp/tesa-compare', 'final-rounds': '6', strategy: 'sa' });
const rows = [['model', 'cost', 'trials (feasible)', 'quality', 'search predicted', 'measured ratio [95% CI]', 'misses budget by', 'fallbacks → held', 'wall']];
const results = [];
for (const model of String(o.models).split(',')) {
  for (const cost of ['latency', 'flops']) {
    const args = ['--model', model, '--cost', cost, '--latency-budget', String(o.budget), '--seed', String(o.seed), '--strategy', String(o.strategy), '--max-trials', perModel(o['max-trials'], model, '40'), '--time-limit', perModel(o['time-limit'], model, '6m'), '--final-rounds', perModel(o['final-rounds'], model, '6'), '--groups', 'on', ...extra(o)];
    const db = join(String(o.out), `${slug(model)}-${cost}-groups-on-seed${o.seed}`, 't.db');
    const r = await runOrReuse(db, args);
    results.push(r);
    const c = r.chosen;
    const budget = Number(o.budget);
    rows.push([
      model,
      cost,
      `${r.trials} (${r.feasibleTrials})`,
      f3(c?.quality ?? r.best?.quality),
      r.best ? `${f3(r.best.predictedRatio)}× ${cost === 'flops' ? 'FLOPs' : 'lat. (CI upper)'}` : '-',
      ratioCi(c),
      c ? `${c.ratio > budget ? pct(c.ratio / budget - 1) : 'meets'} (upper ${c.ciHighRatio > budget ? pct(c.ciHighRatio / budget - 1) : 'meets'})` : '-',
      r.attempts.length === 0 ? '-' : r.held ? `${r.attempts.length - 1} → trial ${r.held.seq + 1} ${f3(r.held.ratio)}× q ${f3(r.held.quality)}` : `${r.attempts.length - 1} → none held`,
      mins(r.wallMs ?? r.elapsedMs),
    ]);
  }
}
console.log(`${extra(o).length ? `optimize ${extra(o).join(' ')}; ` : ''}budget ${o.budget}× dense, seed ${o.seed}; "measured" = the search's own choice re-measured in interleaved pairs with dense`);
console.log(table(rows));
if (o.json) console.log(JSON.stringify(results, null, 1));
