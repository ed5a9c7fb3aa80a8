/** `tesa propagate` and `tesa inspect --groups` through the built CLI (dist/). */
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

interface PropagateJson {
  layers: { name: string; before: number; after: number }[];
  total: { before: number; after: number };
}

describe('tesa propagate', () => {
  it('prints JSON layers before/after and the total; row pruning of the MLP raises the later layers', () => {
    const r = runCli(['propagate', 'zoo:mlp', '--init', '*=row:0.5', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as PropagateJson;
    expect(j.layers.map((l) => l.name)).toEqual(['layers.0.weight', 'layers.2.weight', 'layers.4.weight', 'layers.6.weight']);
    expect(j.layers.map((l) => l.after)).toEqual([0.5, 0.75, 0.75, 0.75]);
    expect(j.total.before).toBe(0.5);
    expect(j.total.after).toBeGreaterThan(0.7);
  });

  it('takes several --init specs, globs over node names, and --groups on', () => {
    const r = runCli(['propagate', 'zoo:bert-mini', '--init', '*intermediate*=row:0.5', '--init', 'encoder.layer.0.attention.self.value.weight=col:0.25', '--groups', 'on']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/encoder\.layer\.0\.intermediate\.dense\.weight\s+50\.0%\s+50\.0%/);
    // the FFN down projection gains its input rows from the pruned up projection
    expect(r.stdout).toMatch(/encoder\.layer\.0\.output\.dense\.weight\s+0\.0%\s+50\.0%\s+\+50\.0/);
    expect(r.stdout).toMatch(/^total\s+/m);
  });

  it('rejects a bad spec, pattern, glob or --groups value with one line and exit 2', () => {
    const cases: [string[], RegExp][] = [
      [['--init', 'nothing-here'], /missing '<layer>='/],
      [['--init', '*=tile:64:0.5'], /not one propagate takes/],
      [['--init', 'no.such.weight=row:0.5'], /matches no prunable weight/],
      [['--init', '*=row:abc'], /not a sparsity ratio/],
      [['--init', '*=row:0.5', '--groups', 'maybe'], /expected on or off/],
    ];
    for (const [args, msg] of cases) {
      const r = runCli(['propagate', 'zoo:mlp', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('tesa inspect --groups', () => {
  it('lists the groups as JSON with every field', () => {
    const r = runCli(['inspect', 'zoo:bert-mini', '--groups', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { groups: { id: string; kind: string; size: number; unit: number; coarsePrunable: boolean; members: { weight: string; node: string; axis: number }[]; owned: string[] }[] };
    expect(j.groups).toHaveLength(13);
    expect(Object.keys(j.groups[0])).toEqual(['id', 'kind', 'size', 'unit', 'coarsePrunable', 'members', 'owned']);
    const hidden = j.groups.find((g) => g.id === 'hidden')!;
    expect(hidden.coarsePrunable).toBe(false);
    expect(j.groups.filter((g) => g.kind === 'ffn').map((g) => g.size)).toEqual([1024, 1024, 1024, 1024]);
  });

  it('prints a readable listing', () => {
    const r = runCli(['inspect', 'zoo:mlp', '--groups']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/layers\.0\.chain\s+\(chain; size 2048\)/);
    expect(r.stdout).toMatch(/\* layers\.0\.weight\s+axis 1/);
  });
});
