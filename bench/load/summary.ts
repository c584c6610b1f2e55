// The summary table `colloquy-load` prints at the end of a run.

import { fmt } from '../lib/stats.js';
import type { LoadTestResult } from './run-load.js';

export function summaryTable(r: LoadTestResult): string {
  const w = r.window;
  const o = r.options;
  const rows: [string, string][] = [
    ['target', r.target],
    ['sessions x (publishers, subscribers)', `${o.sessions} x (${o.publishers}, ${o.subscribers})${o.mesh ? ', publishers subscribe to each other' : ''}`],
    ['video', `${o.clip.width}x${o.clip.height} ${o.clip.fps} fps, ${fmt(r.clipVideoBitrate / 1000)} kbps VP8 (clip) + Opus 32 kbps`],
    ['subscriptions up', `${w.subscriptions} in ${fmt(r.joinSeconds, 1)} s${r.errors.length ? ` (${r.errors.length} failed)` : ''}`],
    ['measured', `${fmt(w.seconds, 1)} s after ${o.warmup} s warm-up`],
    ['sent by publishers', `${fmt(w.sent.packetsPerSecond)} pkt/s, ${fmt(w.sent.bitsPerSecond / 1e6, 2)} Mbps; keyframes ${w.sent.keyFrames} (requests ${w.sent.keyFrameRequests}), NACKs ${w.sent.nacks}`],
    [
      'received by subscribers',
      `${fmt(w.received.packetsPerSecond)} pkt/s (video ${fmt(w.received.videoPacketsPerSecond)}, audio ${fmt(w.received.audioPacketsPerSecond)}), ${fmt(w.received.bitsPerSecond / 1e6, 2)} Mbps`,
    ],
    ['packet loss', `${fmt(w.lossPercent, 2)} %`],
    ['frame latency (ms)', `p50 ${fmt(w.latencyMs.p50, 1)}  p95 ${fmt(w.latencyMs.p95, 1)}  p99 ${fmt(w.latencyMs.p99, 1)}  max ${fmt(w.latencyMs.max, 1)}  (${w.latencyMs.count} frames${w.latencyMs.negative ? `, ${w.latencyMs.negative} negative: clock problem` : ''})`],
    ['jitter (ms)', `video p50 ${fmt(w.videoJitterMs.p50, 2)} p95 ${fmt(w.videoJitterMs.p95, 2)}; audio p50 ${fmt(w.audioJitterMs.p50, 2)} p95 ${fmt(w.audioJitterMs.p95, 2)}`],
    ['frame rate per stream', `p50 ${fmt(w.fps.p50, 1)}  min ${fmt(w.fps.min, 1)} fps`],
    [
      'time to first frame (ms)',
      `p50 ${fmt(r.timeToFirstFrameMs.p50)}  p95 ${fmt(r.timeToFirstFrameMs.p95)}  max ${fmt(r.timeToFirstFrameMs.max)}` +
        (r.timeToFirstFrameMs.missing ? `  (${r.timeToFirstFrameMs.missing} without a frame)` : ''),
    ],
    [
      'load generator',
      `${w.generator.processes} processes, ${fmt(w.generator.cores * 100)} % cpu (busiest ${fmt(w.generator.maxProcessCores * 100)} %), event-loop p99 ${fmt(w.generator.eventLoopP99Ms, 1)} ms` +
        (w.generator.saturated ? '  ** SATURATED: figures are the generator\'s limit, not the server\'s **' : ''),
    ],
  ];
  const f = w.failures;
  if (f.publishersDown || f.subscriptionsDown || Object.keys(f.serverEnded).length) {
    rows.push([
      'failures',
      `${f.publishersDown} publishers and ${f.subscriptionsDown} subscriptions not connected at the end; ended by the server: ` +
        (Object.entries(f.serverEnded).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'),
    ]);
  }
  if (w.server) {
    rows.push([
      'server',
      `${fmt(w.server.cores * 100)} % cpu, rss ${fmt(w.server.rssBytes / 1048576)} MB, ${fmt(w.server.cpuUsPerForwardedPacket, 1)} µs cpu per forwarded packet (${fmt(w.server.forwardedPacketsPerSecondPerCore)} pkt/s per core)`,
    ]);
  }
  if (r.retriedSubscribes.length) rows.push(['retried subscribes', `${r.retriedSubscribes.length} (${r.retriedSubscribes[0]})`]);
  if (r.errors.length) rows.push(['errors', r.errors.slice(0, 3).join('; ') + (r.errors.length > 3 ? ` (+${r.errors.length - 3})` : '')]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
