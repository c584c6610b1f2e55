import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { clockLagHistogram, everyPeriod, MEDIA_CLOCK_TICK_MS, mediaClockHoldsProcess, mediaClockRunning, mediaClockTasks, type ClockTask } from '../src/media-clock.js';

describe('media clock', () => {
  const scheduled: ClockTask[] = [];
  const every = (ms: number, run: () => void, options?: { unref?: boolean }): ClockTask => {
    const task = everyPeriod(ms, run, options);
    scheduled.push(task);
    return task;
  };
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => {
    for (const task of scheduled.splice(0)) task.cancel();
    vi.useRealTimers();
  });

  it('runs every period on one timer, whatever the number of tasks', () => {
    const runs = { quarter: 0, half: 0, second: 0 };
    every(250, () => runs.quarter++);
    every(500, () => runs.half++);
    every(1000, () => runs.second++);
    every(1000, () => {});
    expect(mediaClockTasks()).toBe(4);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(MEDIA_CLOCK_TICK_MS - 1);
    expect(runs).toEqual({ quarter: 0, half: 0, second: 0 });
    vi.advanceTimersByTime(1);
    expect(runs).toEqual({ quarter: 1, half: 0, second: 0 });
    vi.advanceTimersByTime(3000 - MEDIA_CLOCK_TICK_MS);
    expect(runs).toEqual({ quarter: 12, half: 6, second: 3 });
  });

  it('rounds periods to whole ticks, one at least, and refuses a period that is not positive', () => {
    let fast = 0;
    let odd = 0;
    every(20, () => fast++);
    every(600, () => odd++); // 2.4 ticks: every 2
    vi.advanceTimersByTime(1000);
    expect(fast).toBe(4);
    expect(odd).toBe(2);
    expect(() => everyPeriod(0, () => {})).toThrow(RangeError);
    expect(() => everyPeriod(Number.NaN, () => {})).toThrow(RangeError);
  });

  it('stops the timer with the last task; a cancelled task does not run, even from an earlier task in the same tick', () => {
    let ran = 0;
    const second = { task: null as ClockTask | null };
    every(250, () => second.task!.cancel());
    second.task = every(250, () => ran++);
    vi.advanceTimersByTime(1000);
    expect(ran).toBe(0);
    second.task.cancel(); // idempotent
    for (const task of scheduled) task.cancel();
    expect(mediaClockTasks()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a task scheduled during a tick waits its whole period', () => {
    let late = 0;
    let once = false;
    every(250, () => {
      if (once) return;
      once = true;
      every(500, () => late++);
    });
    vi.advanceTimersByTime(250); // scheduled now
    vi.advanceTimersByTime(250);
    expect(late).toBe(0);
    vi.advanceTimersByTime(250);
    expect(late).toBe(1);
  });

  it('a throwing task does not keep the others from running, and its error surfaces from the tick', () => {
    let after = 0;
    every(250, () => {
      throw new Error('report failed');
    });
    every(250, () => after++);
    expect(() => vi.advanceTimersByTime(250)).toThrow('report failed');
    expect(after).toBe(1);
  });

  it('keeps the process alive only while a task asks it to', () => {
    vi.useRealTimers();
    const pipe = every(500, () => {}, { unref: true });
    expect(mediaClockHoldsProcess()).toBe(false);
    const report = every(1000, () => {});
    expect(mediaClockHoldsProcess()).toBe(true);
    report.cancel();
    expect(mediaClockHoldsProcess()).toBe(false);
    expect(mediaClockTasks()).toBe(1);
    pipe.cancel();
    expect(mediaClockTasks()).toBe(0);
  });
});

describe('media clock lag', () => {
  it('records the interval between ticks (period included) while enabled: a blocked loop shows, an idle one reads the period', async () => {
    const lag = clockLagHistogram();
    try {
      expect(mediaClockRunning()).toBe(true);
      expect(mediaClockHoldsProcess()).toBe(false); // ticking, not holding the process
      const ticks = async (n: number): Promise<void> => {
        const until = lag.count + n;
        while (lag.count < until) await new Promise((r) => setTimeout(r, 20));
      };
      await ticks(3);
      // Idle: intervals of about the period (a loaded machine may add a little).
      expect(lag.percentile(50) / 1e6).toBeGreaterThanOrEqual(MEDIA_CLOCK_TICK_MS - 2);
      lag.reset();
      expect(lag.count).toBe(0);
      const blockedUntil = performance.now() + 400;
      while (performance.now() < blockedUntil) {
        // the event loop is blocked 400 ms: the tick due in it comes that late
      }
      await ticks(2);
      expect(lag.max / 1e6).toBeGreaterThanOrEqual(400);
    } finally {
      lag.disable();
      lag.disable(); // idempotent
    }
    // Nothing else on the clock in this file now: it stops.
    expect(mediaClockTasks()).toBe(0);
    expect(mediaClockRunning()).toBe(false);
  });
});
