import { it } from 'vitest';
import { loadModel } from '../../src/model/load.js';
import { makeInitMasks, parseInitSpec } from '../../src/tesa/init-masks.js';
import { SparsityAttr } from '../../src/tesa/attributes.js';
import { initialAttributes, propagateFrom } from '../../src/tesa/propagate.js';
import { findFolds } from '../../src/tesa/fold.js';

it('scratch', async () => {
  const g = await loadModel('zoo:mlp');
  const masks = makeInitMasks(g, [parseInitSpec(`*=row:0.5`)]);
  let t = performance.now();
  const lap = (s: string) => { const n = performance.now(); console.log(s, (n - t).toFixed(1)); t = n; };
  const init = new Map<string, SparsityAttr>();
  for (const [k, m] of masks) init.set(k, SparsityAttr.fromMask(g.tensors.get(k)!.shape, m));
  lap('fromMask');
  const attrs = initialAttributes(g, init);
  lap('initial');
  const r = propagateFrom(g, attrs);
  lap('fixpoint ' + r.visits);
  const f = findFolds(g, attrs, new Set());
  lap('folds ' + f.length);
  const r2 = propagateFrom(g, attrs);
  lap('fixpoint2 ' + r2.visits);
  const f2 = findFolds(g, attrs, new Set(f.map((x) => `${x.node}#${x.channel}`)));
  lap('folds2 ' + f2.length);
}, 120000);
