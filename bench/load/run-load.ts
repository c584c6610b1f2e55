// One load test as `colloquy-load` runs it (LiveKit's `lk load-test` shape): S sessions, each with
// P publishers and M subscribers that subscribe to every publisher of their session (and, with
// `mesh`, publishers that subscribe to each other: N<->N), then a warm-up and one measured window.

import { coreShare, sampleProcess } from '../lib/proc.js';
import { percentile } from '../lib/stats.js';
import type { ClipSpec } from './clip.js';
import { LoadRun, type Percentiles, type WindowResult } from './load-run.js';
import { startProgress } from './progress.js';
import type { ReceiveMode } from './subscriber.js';
import type { TargetSpec } from './targets/target.js';

export interface LoadTestOptions {
  target: TargetSpec;
  sessions: number;
  publishers: number;
  subscribers: number;
  mesh: boolean;
  clip: ClipSpec;
  /** Measured seconds, after everyone joined and the warm-up. */
  duration: number;
  warmup: number;
  workers: number;
  bindIp: string;
  receiveMode: ReceiveMode;
  /** Subscribers send transport feedback (light receive path only; subscriber.ts). */
  transportCc?: boolean;
  serverPid?: number;
  concurrency: number;
  progress: boolean;
}

export interface LoadTestResult {
  target: string;
  options: Omit<LoadTestOptions, 'target'> & { target: { kind: string; url: string } };
  /** Seconds from the first join to the last subscription up. */
  joinSeconds: number;
  /** Time from each subscribe request to its first whole keyframe, ms. */
  timeToFirstFrameMs: Percentiles & { missing: number };
  /** Subscribe request to connected peer connection, ms. */
  connectMs: Percentiles;
  window: WindowResult;
  clipVideoBitrate: number;
  /** Subscriptions that failed and were retried. */
  retriedSubscribes: string[];
  /** Subscriptions that failed for good. */
  errors: string[];
}

function summarize(values: number[]): Percentiles {
  return { p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99), max: values.length ? Math.max(...values) : NaN, count: values.length };
}

export async function runLoadTest(options: LoadTestOptions): Promise<LoadTestResult> {
  const run = await LoadRun.start({
    target: options.target,
    workers: options.workers,
    bindIp: options.bindIp,
    receiveMode: options.receiveMode,
    transportCc: options.transportCc === true,
    clips: { main: options.clip },
    concurrency: options.concurrency,
    ...(options.serverPid ? { serverPid: options.serverPid } : {}),
  });
  const errors: string[] = [];
  let serverSample = options.serverPid ? sampleProcess(options.serverPid) : null;
  const progress = options.progress
    ? startProgress(run, {
        serverCores: () => {
          if (!serverSample || !options.serverPid) return null;
          const next = sampleProcess(options.serverPid);
          const share = coreShare(serverSample, next);
          serverSample = next;
          return share;
        },
      })
    : null;
  try {
    const started = performance.now();
    if (progress) progress.phase = 'joining';
    const sessions = await run.createSessions(options.sessions, options.publishers);
    const streamWeight = options.subscribers + (options.mesh ? options.publishers : 0);
    const connectMs: number[] = [];
    const subscriptions: string[] = [];
    const subscribe = async (p: Awaited<ReturnType<LoadRun['join']>>, streamId: string): Promise<void> => {
      try {
        const r = await run.subscribe(p, streamId);
        connectMs.push(r.connectedMs);
        subscriptions.push(r.subscription);
      } catch (err) {
        errors.push(`subscribe: ${(err as Error).message}`);
      }
    };
    for (const session of sessions) {
      const pubs = await Promise.all(
        Array.from({ length: options.publishers }, async () => {
          const p = await run.join(session, 2 + streamWeight);
          return { p, streamId: await run.publish(p, 'main') };
        }),
      );
      const subscribers = await Promise.all(Array.from({ length: options.subscribers }, () => run.join(session, pubs.length)));
      const work: Promise<void>[] = [];
      for (const s of subscribers) for (const pub of pubs) work.push(subscribe(s, pub.streamId));
      if (options.mesh) for (const a of pubs) for (const b of pubs) if (a !== b) work.push(subscribe(a.p, b.streamId));
      await Promise.all(work);
    }
    const joinSeconds = (performance.now() - started) / 1000;
    if (progress) progress.phase = 'warm-up';
    await new Promise((r) => setTimeout(r, options.warmup * 1000));
    if (progress) progress.phase = `measuring ${options.duration} s`;
    const window = await run.measure(options.duration);
    const ttff = subscriptions.map((s) => run.firstFrames.get(s)).filter((x): x is number => x !== undefined);
    const { target, ...rest } = options;
    return {
      target: run.description,
      options: { ...rest, target: { kind: target.kind, url: target.url } },
      joinSeconds,
      timeToFirstFrameMs: { ...summarize(ttff), missing: subscriptions.length - ttff.length },
      connectMs: summarize(connectMs),
      window,
      clipVideoBitrate: run.clips['main']!.videoBitrate,
      errors,
      retriedSubscribes: [...run.subscribeRetries],
    };
  } finally {
    progress?.stop();
    await run.close();
  }
}

