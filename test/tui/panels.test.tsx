import { vi, describe, it, expect, afterEach } from 'vitest';
// Colour must be on in this process to prove NO_COLOR turns it off (vitest's stdout is no TTY).
vi.hoisted(() => {
  process.env['FORCE_COLOR'] = '1';
});
import { render, cleanup } from 'ink-testing-library';
import { Box } from 'ink';
import type { ReactElement } from 'react';
import { ThemeProvider } from '../../src/tui/theme.js';
import { Header } from '../../src/tui/components/Header.js';
import { Progress } from '../../src/tui/components/Progress.js';
import { Best } from '../../src/tui/components/Best.js';
import { GroupsTable } from '../../src/tui/components/GroupsTable.js';
import { Scatter } from '../../src/tui/components/Scatter.js';
import { Pipeline } from '../../src/tui/components/Pipeline.js';
import { Events } from '../../src/tui/components/Events.js';
import { Trials } from '../../src/tui/components/Trials.js';
import { midSearch, starting, plain, widthOf } from './fixtures.js';

afterEach(() => cleanup());

// eslint-disable-next-line no-control-regex
const COLOR_ESCAPE = /\x1b\[(3[0-7]|9[0-7]|2|38;[0-9;]+)m/;

function draw(node: ReactElement, width: number, color = true): { lines: string[]; raw: string } {
  const { lastFrame } = render(
    <ThemeProvider color={color}>
      <Box width={width}>{node}</Box>
    </ThemeProvider>,
  );
  const raw = lastFrame() ?? '';
  return { lines: plain(raw), raw };
}

function expectFits(lines: string[], width: number, maxRows: number): void {
  expect(lines.length).toBeLessThanOrEqual(maxRows);
  for (const l of lines) expect(widthOf(l), l).toBeLessThanOrEqual(width);
}

const s = midSearch();
const narrow = 80;
// ink-testing-library's terminal is 100 columns; the wide screen test (screen.test.tsx) resizes it.
const wide = 100;

describe('Header', () => {
  for (const width of [narrow, wide]) {
    it(`names the search, model, target, strategy, budget, status and times at ${width} columns`, () => {
      const { lines } = draw(<Header header={s.header} width={width} lines={2} />, width);
      expectFits(lines, width, 2);
      expect(lines[0]).toContain('#7');
      expect(lines[0]).toContain('zoo:mlp → cpu');
      expect(lines[0]).toContain('RUNNING');
      expect(lines[0]).toContain('0.70×');
      expect(lines[1]).toContain('Intel Xeon');
      expect(lines[1]).toContain('elapsed 1m02s');
      expect(lines[1]).toContain('ETA 2m10s');
    });
  }
  it('shows a pending control request before the runner acts on it', () => {
    const { lines } = draw(<Header header={{ ...s.header, control: 'pause' }} width={narrow} lines={1} />, narrow);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('PAUSING…');
    const paused = draw(<Header header={{ ...s.header, status: 'paused' }} width={narrow} lines={1} />, narrow);
    expect(paused.lines[0]).toContain('PAUSED');
  });
  it('keeps the status visible when the title is too long', () => {
    const { lines } = draw(<Header header={{ ...s.header, model: 'x'.repeat(120) }} width={narrow} lines={1} />, narrow);
    expectFits(lines, narrow, 1);
    expect(lines[0]).toContain('RUNNING');
  });
});

describe('Progress', () => {
  it('draws trials done of the maximum with a bar, the percentage and the SA temperature', () => {
    const { lines } = draw(<Progress progress={s.progress} width={narrow} />, narrow);
    expectFits(lines, narrow, 1);
    expect(lines[0]).toMatch(/^trials 23\/60 /);
    expect(lines[0]).toContain('█');
    expect(lines[0]).toContain('38%');
    expect(lines[0]).toContain('T=42.1');
  });
  it('shows the AutoCompress round and a time limit', () => {
    const p = { ...s.progress, maxTrials: null, timeLimitMs: 600_000, timeUsedMs: 300_000, strategy: { round: 2, rounds: 4 } };
    const { lines } = draw(<Progress progress={p} width={wide} />, wide);
    expect(lines[0]).toContain('time 5m00s/10m00s');
    expect(lines[0]).toContain('50%');
    expect(lines[0]).toContain('round 2/4');
  });
});

describe('Best', () => {
  it('shows the best latency with its CI, ratio and quality', () => {
    const { lines } = draw(<Best best={s.best} width={narrow} />, narrow);
    expectFits(lines, narrow, 1);
    expect(lines[0]).toContain('#17');
    expect(lines[0]).toContain('1.52ms [1.49ms–1.55ms]');
    expect(lines[0]).toContain('0.62×');
    expect(lines[0]).toContain('0.973');
  });
  it('says so when nothing is feasible yet', () => {
    expect(draw(<Best best={null} width={narrow} />, narrow).lines[0]).toContain('no feasible trial yet');
  });
});

describe('GroupsTable', () => {
  it('lists groups with pattern, ratio, precision and propagated sparsity, and counts the ones cut off', () => {
    const { lines } = draw(<GroupsTable groups={s.groups} width={40} rows={7} />, narrow);
    expectFits(lines, 40, 7);
    expect(lines[0]).toMatch(/group.*pattern.*ratio.*prec.*prop/);
    expect(lines[1]).toContain('fine');
    expect(lines[1]).toContain('30%');
    expect(lines[1]).toContain('32%');
    expect(lines[2]).toContain('block:1x32');
    expect(lines[6]).toContain('… 7 more');
  });
  it('shows every group when there is room', () => {
    const { lines } = draw(<GroupsTable groups={s.groups} width={64} rows={20} />, wide);
    expect(lines.filter((l) => l.includes('fp32'))).toHaveLength(12);
  });
  it('says there is no best candidate yet', () => {
    expect(draw(<GroupsTable groups={[]} width={40} rows={4} />, narrow).lines[1]).toContain('no best candidate yet');
  });
});

describe('Scatter', () => {
  it('plots every trial in braille with the budget line, axes and the best marked', () => {
    const { lines } = draw(<Scatter scatter={s.scatter} cols={30} rows={6} />, narrow);
    expectFits(lines, 37, 7);
    const plot = lines.slice(0, 6).join('\n');
    expect(plot).toMatch(/[\u2801-\u28ff]/);
    expect(plot).toContain('│');
    expect(plot).toContain('◆');
    expect(lines[6]).toContain('latency');
    expect(lines[6]).toContain('│=0.70');
  });
  it('draws only the budget line before any trial', () => {
    const { lines } = draw(<Scatter scatter={starting().scatter} cols={30} rows={4} />, narrow);
    expect(lines.slice(0, 4).join('')).not.toMatch(/[\u2801-\u28ff]/);
    expect(lines[0]).toContain('│');
  });
});

describe('Pipeline', () => {
  it('shows what is being built and the cache hit rate', () => {
    const { lines } = draw(<Pipeline pipeline={s.pipeline} width={narrow} />, narrow);
    expectFits(lines, narrow, 1);
    expect(lines[0]).toContain('building 4 kernels');
    expect(lines[0]).toContain('63% (30/48)');
    expect(lines[0]).toContain('dense 2.50ms');
  });
  it('names the measuring phase', () => {
    expect(draw(<Pipeline pipeline={{ ...s.pipeline, phase: 'measuring' }} width={narrow} />, narrow).lines[0]).toContain('measuring');
  });
});

describe('Events', () => {
  it('shows the newest events that fit, oldest first', () => {
    const { lines } = draw(<Events events={s.events} width={narrow} rows={2} />, narrow);
    expectFits(lines, narrow, 3);
    expect(lines[0]).toBe('events');
    expect(lines[1]).toContain('new best: trial 17');
    expect(lines[2]).toContain('trial 23 measured');
  });
});

describe('Trials', () => {
  it('lists the newest trials first with status, latency, ratio, quality and feasibility', () => {
    const { lines } = draw(<Trials trials={s.trials} width={narrow} rows={5} scroll={0} />, narrow);
    expectFits(lines, narrow, 7);
    expect(lines[0]).toContain('1–5 of 24');
    expect(lines[2]).toMatch(/^\s+24 running/);
    expect(lines[3]).toMatch(/^\s+23 ok/);
  });
  it('scrolls, and never past the end', () => {
    const { lines } = draw(<Trials trials={s.trials} width={narrow} rows={5} scroll={3} />, narrow);
    expect(lines[0]).toContain('4–8 of 24');
    expect(lines[2]).toMatch(/^\s+21 /);
    const end = draw(<Trials trials={s.trials} width={narrow} rows={5} scroll={500} />, narrow);
    expect(end.lines[0]).toContain('20–24 of 24');
    expect(end.lines[6]).toMatch(/^\s+1 /);
  });
  it('shows why a trial failed', () => {
    const { lines } = draw(<Trials trials={s.trials} width={wide} rows={24} scroll={0} />, wide);
    expect(lines.find((l) => /^\s+22 failed/.test(l))).toContain('build failed: cc exited 1');
  });
});

describe('NO_COLOR', () => {
  const panels: [string, ReactElement][] = [
    ['Header', <Header header={s.header} width={narrow} lines={2} />],
    ['Progress', <Progress progress={s.progress} width={narrow} />],
    ['Best', <Best best={s.best} width={narrow} />],
    ['GroupsTable', <GroupsTable groups={s.groups} width={40} rows={6} />],
    ['Scatter', <Scatter scatter={s.scatter} cols={30} rows={6} />],
    ['Pipeline', <Pipeline pipeline={s.pipeline} width={narrow} />],
    ['Events', <Events events={s.events} width={narrow} rows={3} />],
    ['Trials', <Trials trials={s.trials} width={narrow} rows={6} scroll={0} />],
  ];
  for (const [name, node] of panels) {
    it(`${name} uses colour normally and none without it`, () => {
      const coloured = draw(node, narrow, true);
      const bare = draw(node, narrow, false);
      expect(coloured.raw).toMatch(COLOR_ESCAPE);
      expect(bare.raw).not.toMatch(COLOR_ESCAPE);
      expect(bare.lines).toEqual(coloured.lines);
    });
  }
});
