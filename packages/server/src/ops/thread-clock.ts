// Periodic housekeeping on the thread's one clock: the SFU's media clock (@colloquy/sfu
// media-clock.ts), which already wakes the thread four times a second for reports, REMB and
// allocator rounds. On it, the server's own once-a-second (or twice-a-second) timers (the load
// monitor, the signaling heartbeat sweep, the store's change poll, the Inspector's flush and
// quality samples, the archive and broadcast limits, the metrics' track samples) run in those same
// wake-ups instead of each waking the thread at its own moment: on this project's 2-core VM a
// wake-up of an otherwise idle thread costs ~140 µs of CPU, which at 1→1 is most of what a small
// call costs beyond its packets.
//
// A period that is not a whole number of clock ticks (250 ms), as tests set (a 30 ms heartbeat
// sweep, a 20 ms flush), keeps a setInterval of its own. Everything here is unref'd: housekeeping
// never keeps the process alive. A task that throws does not stop the others on the clock; its
// error surfaces from the tick, as a throwing setInterval's would. The clock is imported by its own
// subpath: the store and the signaling server need it without loading the SFU.

import { everyPeriod, MEDIA_CLOCK_TICK_MS, type ClockTask } from '@colloquy/sfu/media-clock';

export type { ClockTask };

/** Runs `run` every `periodMs` until cancelled: on the thread's clock when the period is whole ticks. */
export function every(periodMs: number, run: () => void): ClockTask {
  if (onThreadClock(periodMs)) return everyPeriod(periodMs, run, { unref: true });
  const timer = setInterval(run, periodMs);
  timer.unref();
  return { cancel: () => clearInterval(timer) };
}

/** Whether `periodMs` runs on the shared clock (tests). */
export function onThreadClock(periodMs: number): boolean {
  return periodMs >= MEDIA_CLOCK_TICK_MS && periodMs % MEDIA_CLOCK_TICK_MS === 0;
}
