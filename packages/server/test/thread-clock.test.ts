// Housekeeping timers share the thread's clock (the SFU's media clock) when their period is whole
// ticks, and keep a timer of their own otherwise; the load monitor's lag comes from the ticks.

import { mediaClockTasks } from '@colloquy/sfu/media-clock';
import { describe, expect, it } from 'vitest';
import { lagHistogram, lagMs, LAG_RESOLUTION_MS } from '../src/ops/load-monitor.js';
import { every, onThreadClock } from '../src/ops/thread-clock.js';

describe('thread clock', () => {
  it('puts whole-tick periods on the shared clock and the rest on timers of their own; both run and cancel', async () => {
    expect(onThreadClock(1000)).toBe(true);
    expect(onThreadClock(500)).toBe(true);
    expect(onThreadClock(30)).toBe(false);
    expect(onThreadClock(1100)).toBe(false);
    const before = mediaClockTasks();
    let onClock = 0;
    let own = 0;
    const a = every(250, () => onClock++);
    const b = every(30, () => own++);
    expect(mediaClockTasks()).toBe(before + 1);
    const deadline = Date.now() + 10_000;
    while ((onClock < 2 || own < 5) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(onClock).toBeGreaterThanOrEqual(2);
    expect(own).toBeGreaterThanOrEqual(5);
    a.cancel();
    b.cancel();
    expect(mediaClockTasks()).toBe(before);
    const stopped = { onClock, own };
    await new Promise((r) => setTimeout(r, 600));
    expect({ onClock, own }).toEqual(stopped);
  });

  it('reads event-loop lag from the clock ticks: a blocked loop shows in lagMs, the period taken off', async () => {
    const lag = lagHistogram();
    try {
      const ticks = async (n: number): Promise<void> => {
        const until = lag.count + n;
        while (lag.count < until) await new Promise((r) => setTimeout(r, 20));
      };
      await ticks(1);
      lag.reset();
      const blockedUntil = performance.now() + 2 * LAG_RESOLUTION_MS;
      while (performance.now() < blockedUntil) {
        // blocked: the next tick comes late
      }
      await ticks(2);
      // The tick due during the block came at least (block - period) late.
      expect(lagMs(lag.max)).toBeGreaterThanOrEqual(LAG_RESOLUTION_MS - 5);
    } finally {
      lag.disable();
    }
  });
});
