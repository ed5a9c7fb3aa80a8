import { describe, expect, it } from 'vitest';
import { deviceLock } from '../../../backends/cpu/mutex.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('device lock', () => {
  it('builds overlap each other; a run waits for them and excludes new builds', async () => {
    const events: string[] = [];
    const build = (name: string, ms: number): Promise<void> =>
      deviceLock.withBuild(async () => {
        events.push(`${name}+`);
        await tick(ms);
        events.push(`${name}-`);
      });
    const run = (name: string, ms: number): Promise<void> =>
      deviceLock.withRun(async () => {
        events.push(`${name}+`);
        await tick(ms);
        events.push(`${name}-`);
      });
    const all = [build('b1', 30), build('b2', 30), run('r1', 20), build('b3', 5), run('r2', 5)];
    await Promise.all(all);
    expect(events.slice(0, 2).sort()).toEqual(['b1+', 'b2+']);
    const r1 = events.indexOf('r1+');
    expect(events.indexOf('b1-')).toBeLessThan(r1);
    expect(events.indexOf('b2-')).toBeLessThan(r1);
    expect(events[r1 + 1]).toBe('r1-');
    const r2 = events.indexOf('r2+');
    expect(events[r2 + 1]).toBe('r2-');
    expect(events.indexOf('b3+')).toBeGreaterThan(events.indexOf('r1-'));
  });
});
