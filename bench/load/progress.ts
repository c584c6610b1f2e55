// The progress line the load tool prints while it runs: rates over the last second from the
// workers' cumulative counters. On a terminal it rewrites one line; otherwise (CI logs) it prints
// a line every few seconds.

import { fmt, percentile } from '../lib/stats.js';
import type { LoadRun } from './load-run.js';

export interface ProgressLine {
  /** Text before the figures (the phase: "joining", "measuring 4/10 s"…). */
  phase: string;
  stop(): void;
}

export function startProgress(run: LoadRun, options: { serverCores?: () => number | null; stream?: NodeJS.WriteStream } = {}): ProgressLine {
  const out = options.stream ?? process.stderr;
  const tty = out.isTTY === true;
  let last = run.progress();
  let lastAt = performance.now();
  let ticks = 0;
  const line: ProgressLine = {
    phase: 'starting',
    stop() {
      clearInterval(timer);
      if (tty) out.write('\n');
    },
  };
  const timer = setInterval(() => {
    const now = run.progress();
    const at = performance.now();
    const s = (at - lastAt) / 1000;
    const rx = (now.rxPackets - last.rxPackets) / s;
    const mbps = ((now.rxBytes - last.rxBytes) * 8) / s / 1e6;
    const expected = now.rxExpected - last.rxExpected;
    const loss = expected > 0 ? (100 * Math.max(0, expected - (now.rxPackets - last.rxPackets))) / expected : 0;
    const genCores = (now.cpuUs - last.cpuUs) / (s * 1e6);
    const server = options.serverCores?.();
    const text =
      `[${line.phase}] pub ${now.publishers} sub ${now.subscriptions} | ` +
      `rx ${fmt(rx / 1000, 1)}k pkt/s ${fmt(mbps, 1)} Mbps loss ${fmt(loss, 1)}% | ` +
      `latency p50 ${fmt(percentile(now.latencies, 50), 1)} ms | ` +
      `generator ${fmt(genCores * 100)}% cpu` +
      (server === null || server === undefined ? '' : ` | server ${fmt(server * 100)}% cpu`);
    last = now;
    lastAt = at;
    ticks++;
    if (tty) out.write(`\r\x1b[2K${text}`);
    else if (ticks % 5 === 0) out.write(`${text}\n`);
  }, 1000);
  timer.unref();
  return line;
}
