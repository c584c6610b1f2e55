// The SFU suite's measurement windows (sfu/sfu-suite.ts windowsTogether), on stand-in runs: how
// long the windows of a slow point are, that every run's windows are taken at the same moments
// and are as long as the slowest run needs, and which windows a busy machine makes it take again.

import { describe, expect, it } from 'vitest';
import type { WindowResult } from '../dist/load/load-run.js';
import { windowsTogether } from '../dist/sfu/sfu-suite.js';

const plan = { warmupSeconds: 0, windowSeconds: 4, windows: 5, minWindowPackets: 4000, maxWindowSeconds: 20 };

/** Every stand-in's windows, as they start ('fast') and end ('fast.'). */
const started: string[] = [];

/** A run whose windows forward `rate` packets/s; `busy` lists the windows (by number) taken on a busy machine. */
function standIn(rate: number, busy: number[] = [], name = '') {
  const asked: { seconds: number }[] = [];
  return {
    asked,
    run: {
      measure: async (seconds: number): Promise<WindowResult> => {
        const n = asked.length;
        asked.push({ seconds });
        started.push(name);
        await new Promise((r) => setTimeout(r, 1));
        started.push(`${name}.`);
        return { seconds, received: { packetsPerSecond: rate }, machine: { otherCores: busy.includes(n) ? 0.9 : 0.05 }, n } as unknown as WindowResult;
      },
    },
  };
}
const forwarded = (w: WindowResult): number => w.received.packetsPerSecond;
const numbers = (ws: WindowResult[]): number[] => ws.map((w) => (w as unknown as { n: number }).n);

describe('SFU suite windows', () => {
  it('a fast point: 5 windows of 4 s, the first one kept', async () => {
    const a = standIn(2300);
    const [got] = await windowsTogether([a.run], plan, forwarded);
    expect(a.asked.map((x) => x.seconds)).toEqual([4, 4, 4, 4, 4]);
    expect(numbers(got!)).toEqual([0, 1, 2, 3, 4]);
  });

  it('a slow point: the first window only sizes the others (4,000 packets, at most 20 s)', async () => {
    const a = standIn(230);
    const [got] = await windowsTogether([a.run], plan, forwarded);
    expect(a.asked.map((x) => x.seconds)).toEqual([4, 18, 18, 18, 18, 18]);
    expect(numbers(got!)).toEqual([1, 2, 3, 4, 5]);
    expect(got!.every((w) => w.seconds === 18)).toBe(true);
    const slowest = standIn(50);
    await windowsTogether([slowest.run], plan, forwarded);
    expect(slowest.asked[1]!.seconds).toBe(20);
  });

  it('runs side by side: every window on both at once, as long as the slower one needs', async () => {
    const fast = standIn(600, [], 'fast');
    const slow = standIn(230, [], 'slow');
    started.length = 0;
    const [f, s] = await windowsTogether([fast.run, slow.run], plan, forwarded);
    // Each window starts on both before either ends.
    expect(started).toEqual(Array.from({ length: 6 }, () => ['fast', 'slow', 'fast.', 'slow.']).flat());
    expect(fast.asked.map((x) => x.seconds)).toEqual([4, 18, 18, 18, 18, 18]);
    expect(slow.asked.map((x) => x.seconds)).toEqual(fast.asked.map((x) => x.seconds));
    expect(f!.length).toBe(5);
    expect(s!.length).toBe(5);
  });

  it('a window on a busy machine is taken again once; each run keeps its own quiet ones', async () => {
    const a = standIn(2300, [2]);
    const b = standIn(2300);
    const [ga, gb] = await windowsTogether([a.run, b.run], plan, forwarded);
    expect(a.asked.length).toBe(6);
    expect(numbers(ga!)).toEqual([0, 1, 3, 4, 5]);
    expect(numbers(gb!)).toEqual([0, 1, 2, 3, 4]);
    // Busy throughout: the noisy windows stay (the point says so through machineOtherCores).
    const noisy = standIn(2300, [0, 1, 2, 3, 4, 5]);
    const [gn] = await windowsTogether([noisy.run], plan, forwarded);
    expect(numbers(gn!)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
