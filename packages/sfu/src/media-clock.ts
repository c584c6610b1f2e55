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

function tick(): void {
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
  if (tasks.size === 0) {
    clearInterval(timer);
    timer = undefined;
    return;
  }
  timer ??= setInterval(tick, MEDIA_CLOCK_TICK_MS);
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

/** Whether the clock's timer keeps the process alive now (some task scheduled without `unref`). */
export function mediaClockHoldsProcess(): boolean {
  return timer?.hasRef() ?? false;
}
