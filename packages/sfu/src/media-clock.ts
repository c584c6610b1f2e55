// One timer per thread for the SFU's periodic work: receiver and sender reports, REMB, the
// subscriber allocator's rounds, pipe rate samples. Each setInterval of its own is an event-loop
// wake-up whenever it falls between packets, and a wake-up is the dearest thing a small call does:
// on this project's 2-core VM an idle Node thread pays ~140 µs of CPU per timer wake-up (an idle
// server with two 50 ms lag timers used 7.8 ms of CPU a second, with them at 1 s 2.5 ms). A 1→1
// call had eight timers firing a second at eight different moments; on this clock all of a
// thread's periodic work runs in the same four wake-ups a second, however many transports it has.
//
// Periods are whole ticks (250 ms); a task's first run comes one period after it is scheduled,
// within a tick. The clock is per thread (module state; a media worker thread has its own) and
// keeps the process alive only while a task asks it to (`unref: false`, as a plain setInterval).
// The server puts its own once-a-second housekeeping here too (its ops/thread-clock.ts), and takes
// its event-loop lag from how late the ticks come (clockLagHistogram), which a separate
// monitorEventLoopDelay timer would measure the same way at the cost of wake-ups of its own.

import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** The clock's period, ms: every scheduled period is rounded to a whole number of these. */
export const MEDIA_CLOCK_TICK_MS = 250;

/** A scheduled task; cancel() stops it (idempotent). */
export interface ClockTask {
  cancel(): void;
}

interface Task extends ClockTask {
  readonly every: number;
  left: number;
  readonly run: () => void;
  readonly ref: boolean;
  live: boolean;
}

const tasks = new Set<Task>();
let refs = 0;
let timer: NodeJS.Timeout | undefined;
/** Lag histograms fed by the ticks (clockLagHistogram); each keeps the clock ticking. */
const lagHistograms = new Set<RecordableHistogram>();
/** performance.now() of the last tick, or -1 before the first of a running timer. */
let lastTickAt = -1;

function tick(): void {
  const now = performance.now();
  if (lastTickAt >= 0 && lagHistograms.size > 0) {
    // The interval since the last tick, period included, in ns: what monitorEventLoopDelay records.
    const ns = Math.max(1, Math.round((now - lastTickAt) * 1e6));
    for (const histogram of lagHistograms) histogram.record(ns);
  }
  lastTickAt = now;
  let failure: unknown;
  let failed = false;
  // A snapshot: a task cancelled by an earlier one this tick is skipped; one scheduled this tick waits its period.
  for (const task of [...tasks]) {
    if (!task.live || --task.left > 0) continue;
    task.left = task.every;
    try {
      task.run();
    } catch (err) {
      // The other tasks still run; the first error surfaces as a throwing setInterval's would.
      if (!failed) failure = err;
      failed = true;
    }
  }
  if (failed) throw failure;
}

function settle(): void {
  if (tasks.size === 0 && lagHistograms.size === 0) {
    clearInterval(timer);
    timer = undefined;
    return;
  }
  if (timer === undefined) {
    timer = setInterval(tick, MEDIA_CLOCK_TICK_MS);
    lastTickAt = -1;
  }
  if (refs > 0) timer.ref();
  else timer.unref();
}

/**
 * Runs `run` every `periodMs` (rounded to whole ticks, one at least) on the thread's media clock
 * until the returned task is cancelled. `unref: true` lets the process exit while it is scheduled.
 */
export function everyPeriod(periodMs: number, run: () => void, options: { unref?: boolean } = {}): ClockTask {
  if (!(periodMs > 0)) throw new RangeError(`media clock period must be positive, got ${periodMs}`);
  const every = Math.max(1, Math.round(periodMs / MEDIA_CLOCK_TICK_MS));
  const task: Task = {
    every,
    left: every,
    run,
    ref: options.unref !== true,
    live: true,
    cancel() {
      if (!task.live) return;
      task.live = false;
      tasks.delete(task);
      if (task.ref) refs--;
      settle();
    },
  };
  tasks.add(task);
  if (task.ref) refs++;
  settle();
  return task;
}

/** Tasks scheduled on this thread's clock (tests and dumps). */
export function mediaClockTasks(): number {
  return tasks.size;
}

/** Whether the clock's timer runs now (some task or lag histogram on it). */
export function mediaClockRunning(): boolean {
  return timer !== undefined;
}

/** Whether the clock's timer keeps the process alive now (some task scheduled without `unref`). */
export function mediaClockHoldsProcess(): boolean {
  return timer?.hasRef() ?? false;
}

/** An event-loop lag histogram fed by the clock's ticks (clockLagHistogram). */
export interface ClockLagHistogram {
  /** Samples since the last reset: one per tick. */
  readonly count: number;
  /** ns, the tick period included (as monitorEventLoopDelay's values). */
  readonly max: number;
  percentile(percentile: number): number;
  reset(): void;
  /** Stops feeding it (and lets the clock stop if nothing else runs on it). Idempotent. */
  disable(): void;
}

/**
 * A histogram of the intervals between this thread's clock ticks (ns, the 250 ms period
 * included): how late the event loop ran them, as perf_hooks.monitorEventLoopDelay({resolution:
 * MEDIA_CLOCK_TICK_MS}) measures its own timer's, without a timer of its own. Keeps the clock
 * ticking (not the process alive) until disable().
 */
export function clockLagHistogram(): ClockLagHistogram {
  const histogram = createHistogram();
  lagHistograms.add(histogram);
  settle();
  return {
    get count() {
      return histogram.count;
    },
    get max() {
      return histogram.max;
    },
    percentile: (p) => histogram.percentile(p),
    reset: () => histogram.reset(),
    disable() {
      if (!lagHistograms.delete(histogram)) return;
      settle();
    },
  };
}
