import { vi, describe, it, expect, afterEach } from 'vitest';
vi.hoisted(() => {
  process.env['FORCE_COLOR'] = '1';
});
import { render, cleanup } from 'ink-testing-library';
import { WatchApp, type ControlAction, type WatchSource } from '../../src/tui/app.js';
import { computeLayout } from '../../src/tui/layout.js';
import type { WatchState } from '../../src/tui/model.js';
import { midSearch, plain, widthOf } from './fixtures.js';

afterEach(() => cleanup());

// eslint-disable-next-line no-control-regex
const COLOR_ESCAPE = /\x1b\[(3[0-7]|9[0-7]|2|38;[0-9;]+)m/;

/** A source over an in-memory state; control requests change the status the way a runner would. */
class FixtureSource implements WatchSource {
  requests: ControlAction[] = [];
  private dirty = true;
  constructor(public state: WatchState) {}
  poll(): WatchState | null {
    if (!this.dirty) return null;
    this.dirty = false;
    return this.state;
  }
  control(action: ControlAction): void {
    this.requests.push(action);
    const status = action === 'pause' ? 'paused' : action === 'resume' ? 'running' : 'stopped';
    this.state = { ...this.state, header: { ...this.state.header, status, control: null } };
    this.dirty = true;
  }
}

/** Sets the fake terminal's size and tells ink and the app, as a real SIGWINCH would. */
function resize(stdout: NodeJS.EventEmitter, cols: number, rows: number): void {
  Object.defineProperty(stdout, 'columns', { configurable: true, get: () => cols });
  Object.defineProperty(stdout, 'rows', { configurable: true, get: () => rows });
  stdout.emit('resize');
}

const tick = () => new Promise((r) => setTimeout(r, 30));

function expectScreenFits(frame: string | undefined, cols: number, rows: number): string[] {
  const lines = plain(frame);
  expect(lines.length).toBeLessThanOrEqual(rows);
  for (const l of lines) expect(widthOf(l), l).toBeLessThanOrEqual(cols);
  return lines;
}

describe('layout', () => {
  it('never plans more rows than the terminal has, at any size', () => {
    for (let cols = 40; cols <= 200; cols += 7) {
      for (let rows = 10; rows <= 60; rows++) {
        const l = computeLayout(cols, rows);
        const middle = l.groupRows > 0 ? 1 + l.groupRows : 0;
        const used = l.headerLines + 3 + middle + (l.pipeline ? 1 : 0) + (l.eventRows > 0 ? 1 + l.eventRows : 0) + (l.trialRows > 0 ? 2 + l.trialRows : 0);
        expect(used, `${cols}x${rows}`).toBeLessThan(rows);
        if (l.scatterRows > 0) expect(l.groupsCols + 1 + 7 + l.scatterCols, `${cols}x${rows}`).toBeLessThanOrEqual(cols);
      }
    }
  });
  it('shows every panel in 80×24 and drops panels on small terminals', () => {
    const l = computeLayout(80, 24);
    expect(l.headerLines).toBe(2);
    expect(l.pipeline).toBe(true);
    expect(l.scatterRows).toBeGreaterThanOrEqual(4);
    expect(l.eventRows).toBeGreaterThanOrEqual(2);
    expect(l.trialRows).toBeGreaterThanOrEqual(3);
    const small = computeLayout(60, 12);
    expect(small.scatterRows).toBe(0);
    expect(small.eventRows).toBe(0);
  });
});

describe('watch screen', () => {
  it('fits all panels in 80×24', async () => {
    const source = new FixtureSource(midSearch());
    const { lastFrame, stdout } = render(<WatchApp source={source} color />);
    resize(stdout, 80, 24);
    await tick();
    const lines = expectScreenFits(lastFrame(), 80, 24);
    const text = lines.join('\n');
    for (const part of ['search #7', 'trials 23/60', 'best  #17', 'groups of the best', 'latency vs quality', 'pipeline', 'events', 'p pause · s stop']) {
      expect(text).toContain(part);
    }
    expect(text).toMatch(/[\u2801-\u28ff]/);
  });

  it('uses the room of 160×50 and follows a resize back to 80×24', async () => {
    const source = new FixtureSource(midSearch());
    const { lastFrame, stdout } = render(<WatchApp source={source} color />);
    resize(stdout, 160, 50);
    await tick();
    const wide = expectScreenFits(lastFrame(), 160, 50);
    expect(wide.filter((l) => l.includes('fp32'))).toHaveLength(12); // every group
    expect(wide.some((l) => widthOf(l) > 100)).toBe(true);
    expect(wide.join('\n')).toContain('trial 11 failed');
    resize(stdout, 80, 24);
    await tick();
    const narrow = expectScreenFits(lastFrame(), 80, 24);
    expect(narrow.length).toBeLessThan(wide.length);
  });

  it('honours NO_COLOR: the same screen with no colour escapes', async () => {
    const coloured = render(<WatchApp source={new FixtureSource(midSearch())} color size={{ cols: 80, rows: 24 }} />);
    const bare = render(<WatchApp source={new FixtureSource(midSearch())} color={false} size={{ cols: 80, rows: 24 }} />);
    await tick();
    expect(coloured.lastFrame()).toMatch(COLOR_ESCAPE);
    expect(bare.lastFrame()).not.toMatch(COLOR_ESCAPE);
    expect(plain(bare.lastFrame())).toEqual(plain(coloured.lastFrame()));
  });

  it('p pauses, p again resumes, s stops, and the keys line follows', async () => {
    const source = new FixtureSource(midSearch());
    const { lastFrame, stdin } = render(<WatchApp source={source} color={false} size={{ cols: 80, rows: 24 }} intervalMs={10} />);
    await tick();
    stdin.write('p');
    await tick();
    expect(source.requests).toEqual(['pause']);
    expect(plain(lastFrame())[0]).toContain('PAUSED');
    expect(lastFrame()).toContain('p resume');
    stdin.write('p');
    await tick();
    expect(source.requests).toEqual(['pause', 'resume']);
    expect(plain(lastFrame())[0]).toContain('RUNNING');
    stdin.write('s');
    await tick();
    expect(source.requests).toEqual(['pause', 'resume', 'stop']);
    expect(plain(lastFrame())[0]).toContain('STOPPED');
    // A finished search takes no more control requests.
    stdin.write('p');
    stdin.write('s');
    await tick();
    expect(source.requests).toHaveLength(3);
    expect(plain(lastFrame()).at(-1)).toBe('stop requested · q quit · ↑↓ scroll');
  });

  it('p while a pause is still pending takes it back', async () => {
    const s = midSearch();
    const source = new FixtureSource({ ...s, header: { ...s.header, control: 'pause' } });
    const { lastFrame, stdin } = render(<WatchApp source={source} color={false} size={{ cols: 80, rows: 24 }} />);
    await tick();
    expect(plain(lastFrame())[0]).toContain('PAUSING…');
    expect(lastFrame()).toContain('p resume');
    stdin.write('p');
    await tick();
    expect(source.requests).toEqual(['resume']);
  });

  it('arrow keys scroll the trial table', async () => {
    const source = new FixtureSource(midSearch());
    const { lastFrame, stdin } = render(<WatchApp source={source} color={false} size={{ cols: 80, rows: 24 }} />);
    await tick();
    expect(lastFrame()).toMatch(/trials 1–\d+ of 24/);
    stdin.write('\u001B[B'); // down
    stdin.write('\u001B[B');
    await tick();
    expect(lastFrame()).toMatch(/trials 3–\d+ of 24/);
    stdin.write('\u001B[A'); // up
    await tick();
    expect(lastFrame()).toMatch(/trials 2–\d+ of 24/);
  });

  it('q leaves without sending any control request', async () => {
    const source = new FixtureSource(midSearch());
    let left = false;
    const { stdin } = render(<WatchApp source={source} color={false} size={{ cols: 80, rows: 24 }} />);
    void left;
    await tick();
    stdin.write('q');
    await tick();
    expect(source.requests).toEqual([]);
  });

  it('redraws when the source reports a change', async () => {
    const source = new FixtureSource(midSearch());
    const { lastFrame } = render(<WatchApp source={source} color={false} size={{ cols: 80, rows: 24 }} intervalMs={10} />);
    await tick();
    source.state = { ...source.state, progress: { ...source.state.progress, trialsDone: 24 } };
    source.control('pause'); // marks it dirty, as a store write would
    await tick();
    expect(lastFrame()).toContain('trials 24/60');
  });
});
