// How busy this server process is, measured once a second: event-loop lag (p99 over the window of
// how late the thread's clock ticks came: ops/thread-clock.ts, sfu's clockLagHistogram) and CPU (process.cpuUsage over the window, in
// percent of one core, the limit counted per media thread running). Above either configured limit for
// SUSTAINED_WINDOWS windows in a row (a GC pause or one slow request is not saturation) the server
// counts as saturated: new publishes and subscribes are refused and /readyz answers 503, so
// the calls already running keep their quality (LiveKit's "node full") instead of all degrading.

import { clockLagHistogram, MEDIA_CLOCK_TICK_MS, type ClockLagHistogram } from '@colloquy/sfu/media-clock';
import type { OverloadConfig } from '../config.js';
import { every, type ClockTask } from './thread-clock.js';

/** Consecutive 1 s windows over a limit before the server counts as saturated. */
export const SUSTAINED_WINDOWS = 3;

/**
 * The lag histogram's sampling period, ms: the thread clock's tick, each recording how late it
 * ran. A lone stall can read up to this much short, but saturation, which the guard is for, is a
 * loop late at every sample and reads true. A sampling timer of its own (monitorEventLoopDelay) is
 * an event-loop wake-up per sample when the loop is idle, and on this project's 2-core VM a
 * wake-up costs ~140 µs of CPU: at 50 ms (this histogram and prom-client's) an idle server used
 * 7.8 ms of CPU a second, at 1 s 2.5 ms, and a 1→1 call's server CPU ~16 % more (3 alternated
 * runs, medians). The clock's ticks wake the thread anyway: 4 samples in each 1 s window, free.
 */
export const LAG_RESOLUTION_MS = MEDIA_CLOCK_TICK_MS;

/** An event-loop delay histogram fed by this thread's clock ticks (every LAG_RESOLUTION_MS), enabled. */
export function lagHistogram(): ClockLagHistogram {
  return clockLagHistogram();
}

/** A lag figure in ms from one of lagHistogram()'s values (ns): its sampling period, part of every sample, taken off. */
export function lagMs(ns: number): number {
  return Math.max(0, Math.round((ns / 1e6 - LAG_RESOLUTION_MS) * 10) / 10);
}

export interface LoadSample {
  /** p99 event-loop delay over the last window, ms. */
  eventLoopLagMs: number;
  /** Largest event-loop delay over the last window, ms. */
  eventLoopLagMaxMs: number;
  /** Process CPU over the last window, percent of one core. */
  cpuPercent: number;
}

export class LoadMonitor {
  readonly limits: OverloadConfig;
  readonly #histogram: ClockLagHistogram;
  readonly #timer: ClockTask;
  #lastCpu = process.cpuUsage();
  #lastAt = performance.now();
  #sample: LoadSample = { eventLoopLagMs: 0, eventLoopLagMaxMs: 0, cpuPercent: 0 };
  /** Windows in a row over a limit, and why the last one was. */
  #overWindows = 0;
  #reason: string | null = null;
  /**
   * Media threads running (media-workers/): the CPU limit is per thread, so a process spread over
   * two cores is not taken as saturated at one core's worth. The main thread's own saturation
   * shows as event-loop lag.
   */
  threads: () => number = () => 1;
  /** Every lag sample (ms) taken, for the metrics histogram. */
  onSample: ((sample: LoadSample) => void) | null = null;

  constructor(limits: OverloadConfig, windowMs = 1000) {
    this.limits = limits;
    this.#histogram = lagHistogram();
    this.#timer = every(windowMs, () => this.#measure());
  }

  #measure(): void {
    const now = performance.now();
    const cpu = process.cpuUsage(this.#lastCpu);
    const elapsedUs = (now - this.#lastAt) * 1000;
    this.#lastCpu = process.cpuUsage();
    this.#lastAt = now;
    this.#sample = {
      eventLoopLagMs: this.#histogram.count > 0 ? lagMs(this.#histogram.percentile(99)) : 0,
      eventLoopLagMaxMs: this.#histogram.count > 0 ? lagMs(this.#histogram.max) : 0,
      cpuPercent: elapsedUs > 0 ? Math.round(((cpu.user + cpu.system) / elapsedUs) * 1000) / 10 : 0,
    };
    this.#histogram.reset();
    this.#reason = this.#overLimit(this.#sample);
    this.#overWindows = this.#reason ? this.#overWindows + 1 : 0;
    this.onSample?.(this.#sample);
  }

  #overLimit({ eventLoopLagMs, cpuPercent }: LoadSample): string | null {
    const { maxEventLoopLagMs, maxCpuPercent } = this.limits;
    if (maxEventLoopLagMs > 0 && eventLoopLagMs > maxEventLoopLagMs) return `event-loop lag ${eventLoopLagMs} ms is over ${maxEventLoopLagMs} ms`;
    const cpuLimit = maxCpuPercent * Math.max(1, this.threads());
    if (maxCpuPercent > 0 && cpuPercent > cpuLimit) return `CPU ${cpuPercent} % is over ${cpuLimit} %`;
    return null;
  }

  /** The last window's figures. */
  get sample(): LoadSample {
    return this.#sample;
  }

  /** Why the server is saturated now (the last windows were all over a limit), or null (a limit of 0 is off). */
  overloaded(): string | null {
    return this.#overWindows >= SUSTAINED_WINDOWS ? `${this.#reason}, ${this.#overWindows} s in a row` : null;
  }

  close(): void {
    this.#timer.cancel();
    this.#histogram.disable();
  }
}
