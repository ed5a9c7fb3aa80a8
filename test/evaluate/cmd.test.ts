/**
 * The external-command protocol and the `cmd:` evaluator with real processes: a working
 * evaluator answers a score; one that times out, one that exits 1 and one that prints garbage
 * each become a failed trial with the reason (and stderr tail) while the real search loop
 * completes; the scratch files of each trial are gone afterwards.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../db/store.js';
import { lastJsonObject, runProtocolCommand, tailOf } from '../../src/evaluate/protocol.js';
import { commandOf } from '../../src/evaluate/cmd.js';
import { packageRoot } from '../../src/util/package-root.js';
import { runRealSearch } from '../export/real-search.js';

const MODEL = join(packageRoot(), 'test', 'fixtures', 'onnx', 'mlp_op13.onnx');
const EVAL = join(packageRoot(), 'configs', 'examples', 'constant_evaluator.py');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-cmd-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('protocol', () => {
  it('takes the last JSON object line of stdout and ignores log lines before it', async () => {
    const r = await runProtocolCommand(`cat > ${join(dir, 'req.json')}; echo starting; echo '{"score": 0.5}'; echo '{"score": 0.75, "acc": 1}'; echo done`, { hello: 1 }, { timeoutMs: 10_000 });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.response).toEqual({ score: 0.75, acc: 1 });
    expect(JSON.parse(readFileSync(join(dir, 'req.json'), 'utf8'))).toEqual({ hello: 1 });
    expect(lastJsonObject('x\n[1,2]\n{"a":1}\nnot json')).toEqual({ a: 1 });
    expect(lastJsonObject('no json at all')).toBeNull();
  });

  it('reports a non-zero exit with the stderr tail', async () => {
    const r = await runProtocolCommand('echo one >&2; echo two >&2; exit 3', {}, { timeoutMs: 10_000 });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.kind).toBe('exit');
      expect(r.reason).toMatch(/code 3.*stderr: one \| two/);
    }
    expect(tailOf('a\nb\nc\nd\n', 300, 2)).toBe('c | d');
  });

  it('kills the whole process group on timeout (no grandchild survives)', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const r = await runProtocolCommand(`sleep 60 & echo $! > ${pidFile}; wait`, {}, { timeoutMs: 800 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.kind).toBe('timeout');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    await new Promise((res) => setTimeout(res, 200));
    // Gone, or a zombie waiting for a reaper that this container's init may not be.
    const state = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] : 'gone';
    expect(['gone', 'Z', 'X']).toContain(state);
  });

  it('reports output that is not JSON, and a command that cannot start', async () => {
    const r = await runProtocolCommand('echo "not { json"', {}, { timeoutMs: 10_000 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/no JSON object.*not \{ json/);
    const s = await runProtocolCommand('/nonexistent/evaluator-binary', {}, { timeoutMs: 10_000 });
    expect(s.ok).toBe(false);
    if (!s.ok) expect(s.reason).toMatch(/127|not found/);
  });

  it('accepts cmd:"…" quoted or bare, and refuses an empty command', () => {
    expect(commandOf('"python3 x.py --a 1"')).toBe('python3 x.py --a 1');
    expect(commandOf('python3 x.py')).toBe('python3 x.py');
    expect(() => commandOf('  ')).toThrow(/names no command/);
  });
});

interface Row {
  status: string;
  quality: number | null;
  reason: string | null;
}

function trials(db: string): Row[] {
  const s = openStore(db, { readonly: true });
  try {
    return s.listTrials(1).map((t) => ({ status: t.status, quality: t.quality, reason: t.reason }));
  } finally {
    s.close();
  }
}

describe('cmd: evaluator in the real search loop', () => {
  const search = (name: string, mode: string, timeoutMs?: number) => {
    const db = join(dir, `${name}.db`);
    return runRealSearch(db, { model: MODEL, patterns: 'fine', evaluator: `cmd:python3 ${EVAL} ${mode}`, maxTrials: 2, budget: '1000ms', evaluatorTimeoutMs: timeoutMs }).then((r) => ({ r, db }));
  };

  it('scores every trial from the command’s answer', async () => {
    const { r, db } = await search('ok', 'ok');
    expect(r.status).toBe('done');
    const rows = trials(db);
    expect(rows).toHaveLength(2);
    for (const t of rows) {
      expect(t.status).toBe('ok');
      expect(t.quality).toBeGreaterThan(0);
      expect(t.quality).toBeLessThanOrEqual(1);
    }
    expect(r.bestTrial).not.toBeNull();
  });

  it.each([
    ['exit1', undefined, /exited with code 1.*failing on purpose/],
    ['garbage', undefined, /no JSON object.*this is not json/],
    ['noscore', undefined, /no finite numeric "score"/],
    ['sleep', 1500, /timed out after 1\.5 s/],
  ])('a command that does %s: every trial failed with the reason, the search completes', async (mode, timeout, reason) => {
    const { r, db } = await search(mode, mode, timeout);
    expect(r.status).toBe('done');
    expect(r.bestTrial).toBeNull();
    const rows = trials(db);
    expect(rows).toHaveLength(2);
    for (const t of rows) {
      expect(t.status).toBe('failed');
      expect(t.reason).toMatch(reason);
    }
    // Each trial's scratch folder (model.onnx, masks, config) is gone.
    const work = join(dir, 'work', '1');
    expect(existsSync(work) ? readdirSync(work) : []).toEqual([]);
  });
});

describe('request files', () => {
  it('hands the command a loadable model, masks and config', async () => {
    const probe = join(dir, 'probe.py');
    const seen = join(dir, 'seen.json');
    writeFileSync(
      probe,
      `import json, os, sys, numpy as np
req = json.load(sys.stdin)
idx = json.load(open(os.path.join(req['masks'], 'index.json')))
m = np.load(os.path.join(req['masks'], idx[0]['file']))
cfg = json.load(open(req['config']))
json.dump({'version': req['version'], 'modelBytes': os.path.getsize(req['model']), 'maskShape': list(m.shape), 'shape': idx[0]['shape'], 'layers': len(cfg['layers']), 'trial': req['trial'], 'groups': sorted(req['candidate']['groups'])}, open(${JSON.stringify(seen)}, 'w'))
print(json.dumps({'score': 0.5}))
`,
    );
    const db = join(dir, 'probe.db');
    const r = await runRealSearch(db, { model: MODEL, patterns: 'fine', evaluator: `cmd:"python3 ${probe}"`, maxTrials: 1, budget: '1000ms' });
    expect(r.status).toBe('done');
    const s = JSON.parse(readFileSync(seen, 'utf8')) as { version: number; modelBytes: number; maskShape: number[]; shape: number[]; layers: number; trial: number; groups: string[] };
    expect(s.version).toBe(1);
    expect(s.modelBytes).toBeGreaterThan(1000);
    expect(s.maskShape).toEqual(s.shape);
    expect(s.layers).toBeGreaterThan(0);
    expect(s.trial).toBe(0);
    expect(s.groups.length).toBeGreaterThan(0);
  });
});
