// The paper's Figure 19 as one command: the same latency-budget search with one value per
// layer group (--groups on) and one per layer (--groups off); prints the quality each reaches
// and its re-measured latency ratio.
//   npm run build && node scripts/compare-groups.mjs --models zoo:bert-mini,zoo:mobilenet-v2 \
//     --budget 0.7 --seed 1 --max-trials 40 --time-limit zoo:mobilenet-v2=8m,zoo:bert-mini=6m --out /tmp/tesa-compare [--extra '--plan-picking off']
// Shares --out with compare-cost.mjs: its latency runs are the groups-on runs here.
import { join } from 'node:path';
import { extra, f3, mins, parseArgs, perModel, ratioCi, runOrReuse, slug, table } from './compare-lib.mjs';

const o = parseArgs(process.argv.slice(2), { models: 'zoo:bert-mini,zoo:mobilenet-v2', budget: '0.7', seed: '1', 'max-trials': '40', 'time-limit': '6m', out: '/tmp/tesa-compare', 'final-rounds': '6', strategy: 'sa' });
const rows = [['model', 'groups', 'trials (feasible)', 'best quality (search)', 're-measured ratio [95% CI]', 'held budget', 'quality of the held result', 'wall']];
const results = [];
for (const model of String(o.models).split(',')) {
  for (const groups of ['on', 'off']) {
    const args = ['--model', model, '--cost', 'latency', '--latency-budget', String(o.budget), '--seed', String(o.seed), '--strategy', String(o.strategy), '--max-trials', perModel(o['max-trials'], model, '40'), '--time-limit', perModel(o['time-limit'], model, '6m'), '--final-rounds', perModel(o['final-rounds'], model, '6'), '--groups', groups, ...extra(o)];
    const db = join(String(o.out), `${slug(model)}-latency-groups-${groups}-seed${o.seed}`, 't.db');
    const r = await runOrReuse(db, args);
    results.push(r);
    rows.push([
      model,
      groups,
      `${r.trials} (${r.feasibleTrials})`,
      f3(r.chosen?.quality ?? r.best?.quality),
      ratioCi(r.chosen),
      r.attempts.length === 0 ? '-' : r.held ? (r.held === r.chosen ? 'yes' : `after ${r.attempts.length - 1} fallback(s)`) : 'no',
      f3(r.held?.quality ?? null),
      mins(r.wallMs ?? r.elapsedMs),
    ]);
  }
}
console.log(`${extra(o).length ? `optimize ${extra(o).join(' ')}; ` : ''}latency budget ${o.budget}× dense, seed ${o.seed}, quality = the proxy evaluator (importance retained)`);
console.log(table(rows));
if (o.json) console.log(JSON.stringify(results, null, 1));
