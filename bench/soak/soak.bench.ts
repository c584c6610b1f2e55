// Soak: the server under hours of ordinary churn, to see whether anything grows. It runs the real
// server in its own process and, until the time is up, media join/leave cycles (a participant
// joins, publishes VP8 + Opus, a resident participant subscribes, waits for the first frame,
// unsubscribes, the publisher leaves) beside signaling churn (connect, one signal, disconnect,
// next to residents that stay). Every --sample-s seconds it reads the server's RSS, heap after a
// full GC, open file descriptors and bound UDP sockets (from /proc), and at the end prints each
// one's first and last value and its slope per hour (least squares over the samples after the
// warm-up). Bounded in time (--minutes) and in cycles (--max-cycles).
//
//   npm run bench:soak                      # 60 minutes
//   npm run bench:soak -- --minutes 5 --json /tmp/soak.json

import { Colloquy } from '@colloquy/sdk-node';
import { descriptors } from '@colloquy/testing/media';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ClipSpec } from '../load/clip.js';
import { LoadRun } from '../load/load-run.js';
import { SignalingClient } from '../load/targets/signaling-client.js';
import { sampleProcess } from '../lib/proc.js';
import { fmt, table } from '../lib/stats.js';
import { startColloquy, type ColloquyProcess } from '../servers/colloquy-process.js';
import { mediaCycle } from '../sfu/join-leave.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    'sample-s': { type: 'string', default: '30' },
    'warmup-s': { type: 'string', default: '60' },
    'media-lanes': { type: 'string', default: '1' },
    'signaling-lanes': { type: 'string', default: '2' },
    'pause-ms': { type: 'string', default: '250' },
    'max-cycles': { type: 'string', default: '200000' },
    json: { type: 'string' },
  },
});

function positive(name: string, value: string | undefined, min = 0): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}`);
  return n;
}

const minutes = positive('minutes', args.minutes, 0.1);
const sampleMs = positive('sample-s', args['sample-s'], 1) * 1000;
const warmupMs = positive('warmup-s', args['warmup-s']) * 1000;
const mediaLanes = Math.floor(positive('media-lanes', args['media-lanes']));
const signalingLanes = Math.floor(positive('signaling-lanes', args['signaling-lanes']));
const pauseMs = positive('pause-ms', args['pause-ms']);
const maxCycles = Math.floor(positive('max-cycles', args['max-cycles'], 1));

const CLIP: ClipSpec = { width: 320, height: 180, bitrate: 300_000, fps: 30, seconds: 10 };

interface Sample {
  atS: number;
  rssMB: number;
  heapMB: number;
  fds: number;
  udpSockets: number;
  transports: number;
  sockets: number;
  mediaCycles: number;
  signalingCycles: number;
}

/** Least-squares slope of y over x (per unit of x); NaN with fewer than two points. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

async function sample(server: ColloquyProcess, started: number, counts: { media: number; signaling: number }): Promise<Sample> {
  const { memory } = await server.controlPost<{ memory: { heapUsed: number } }>('/gc');
  const stats = await server.controlGet<{ signaling: { sockets: number }; media: { transports: number } }>('/stats');
  const { fds, udp } = descriptors(server.pid);
  return {
    atS: Math.round((performance.now() - started) / 1000),
    rssMB: sampleProcess(server.pid).rssBytes / 1048576,
    heapMB: memory.heapUsed / 1048576,
    fds,
    udpSockets: udp,
    transports: stats.media.transports,
    sockets: stats.signaling.sockets,
    mediaCycles: counts.media,
    signalingCycles: counts.signaling,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const server = await startColloquy({ env: { COLLOQUY_SIGNAL_RATE: '1000', COLLOQUY_SIGNAL_BURST: '1000' } });
const run = await LoadRun.start({
  target: { kind: 'colloquy', url: server.url, apiKey: server.apiKey, apiSecret: server.apiSecret },
  workers: 1,
  bindIp: '127.0.0.1',
  clips: { small: CLIP },
  concurrency: Math.max(2, mediaLanes * 2),
});
const sdk = new Colloquy(server.apiKey, server.apiSecret, server.url);
const residents: SignalingClient[] = [];
const counts = { media: 0, signaling: 0 };
const failures: string[] = [];
let failureCount = 0;
let noFrame = 0;
const samples: Sample[] = [];
const started = performance.now();
const deadline = started + minutes * 60_000;
const more = (): boolean => performance.now() < deadline && counts.media + counts.signaling < maxCycles;
const fail = (what: string, err: unknown): void => {
  failureCount++;
  if (failures.length < 20) failures.push(`${what}: ${(err as Error).message}`);
};

try {
  const [mediaSession] = await run.createSessions(1);
  const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
  const resident = await run.join(mediaSession!);
  for (let i = 0; i < 2; i++) {
    const c = new SignalingClient();
    await c.connect({ url: server.url, sessionId, token: sdk.generateToken(sessionId) });
    residents.push(c);
  }
  const mediaLane = async (): Promise<void> => {
    while (more()) {
      try {
        if (!(await mediaCycle(run, mediaSession!, resident, 'small'))) noFrame++;
        counts.media++;
      } catch (err) {
        fail('media cycle', err);
        await sleep(1000);
      }
      await sleep(pauseMs);
    }
  };
  const signalingLane = async (): Promise<void> => {
    while (more()) {
      const c = new SignalingClient();
      try {
        await c.connect({ url: server.url, sessionId, token: sdk.generateToken(sessionId, { data: `soak=${counts.signaling}` }) });
        await c.request<'signal'>({ type: 'signal', signalType: 'soak', data: 'x' });
        counts.signaling++;
      } catch (err) {
        fail('signaling cycle', err);
        await sleep(1000);
      } finally {
        await c.disconnect().catch(() => {});
      }
      await sleep(pauseMs);
    }
  };
  const sampler = async (): Promise<void> => {
    while (more()) {
      const s = await sample(server, started, counts);
      samples.push(s);
      process.stderr.write(
        `[soak ${s.atS}s] rss ${fmt(s.rssMB, 1)} MB, heap ${fmt(s.heapMB, 1)} MB, fds ${s.fds}, udp ${s.udpSockets}, transports ${s.transports}, ` +
          `media cycles ${s.mediaCycles}, signaling cycles ${s.signalingCycles}, failures ${failureCount}\n`,
      );
      const next = Math.min(deadline, performance.now() + sampleMs);
      while (more() && performance.now() < next) await sleep(Math.min(1000, next - performance.now()));
    }
  };
  await Promise.all([
    sampler(),
    ...Array.from({ length: mediaLanes }, mediaLane),
    ...Array.from({ length: signalingLanes }, signalingLane),
  ]);
  // Everything has left but the residents: one last sample once closing sockets have finished.
  await sleep(2000);
  samples.push(await sample(server, started, counts));
} finally {
  for (const c of residents) await c.disconnect().catch(() => {});
  await run.close();
  await server.stop();
}

const steady = samples.filter((s) => s.atS * 1000 >= warmupMs);
const fit = steady.length >= 2 ? steady : samples;
const metrics: Array<[string, keyof Sample, number]> = [
  ['RSS MB', 'rssMB', 1],
  ['heap after GC MB', 'heapMB', 1],
  ['file descriptors', 'fds', 0],
  ['UDP sockets', 'udpSockets', 0],
  ['SFU transports', 'transports', 0],
];
const first = samples[0]!;
const last = samples[samples.length - 1]!;
const rows: (string | number)[][] = [['', 'start', `after warm-up (${Math.round(warmupMs / 1000)} s)`, 'end', 'slope per hour']];
const slopes: Record<string, number> = {};
for (const [label, key, digits] of metrics) {
  const perHour = slope(fit.map((s) => [s.atS / 3600, s[key]])) ;
  slopes[key] = perHour;
  rows.push([label, fmt(first[key], digits), fmt(fit[0]![key], digits), fmt(last[key], digits), fmt(perHour, 2)]);
}
const seconds = Math.round((performance.now() - started) / 1000);
console.log(
  `\nSoak: ${fmt(seconds / 60, 1)} minutes, ${counts.media} media join/leave cycles (${mediaLanes} at once), ` +
    `${counts.signaling} signaling connect/signal/disconnect cycles (${signalingLanes} at once), ${failureCount} failed cycles, ` +
    `${noFrame} media cycles without a first frame within 5 s; ${samples.length} samples every ${sampleMs / 1000} s\n`,
);
console.log(table(rows));
if (failures.length) console.log(`\nfirst failures:\n  ${failures.join('\n  ')}`);
if (args.json) {
  writeFileSync(args.json, JSON.stringify({ minutes: seconds / 60, mediaLanes, signalingLanes, counts, failureCount, failures, noFrame, slopesPerHour: slopes, samples }, null, 2));
  console.log(`\nsamples written to ${args.json}`);
}
