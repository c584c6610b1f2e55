// A media worker thread (media-workers.ts starts it). It owns an SFU of its own (@colloquy/sfu's
// MediaEngine: its UDP sockets, routers and subscriber transports, on its own core) and serves
// subscribers for the main thread as an edge of a media span: the main thread, home of every
// session, pipes each stream such a subscriber watches here once over loopback UDP, and drives
// the subscriber's negotiation with the span's requests (media-span/media-span.ts) over the
// thread's message channel (thread-link.ts). What the worker says back (a subscriber lost, its
// video quality, its figures) goes the same way.

import { parentPort, workerData } from 'node:worker_threads';
import { TypedEmitter, type ConsumerStats, type MediaEngine } from '@colloquy/sfu';
import { createLogger } from '../logger.js';
import { MediaSpan } from '../media-span/media-span.js';
import { lagHistogram, lagMs } from '../ops/load-monitor.js';
import { openMediaEngine, routerMediaStats, type MediaThreadNetwork } from './engine.js';
import { ThreadLink } from './thread-link.js';
import { every } from '../ops/thread-clock.js';

/** What the main thread gives a worker: its engine's network settings and the span's. */
export interface MediaWorkerData {
  /** Marks a media worker's data (a module imported by another kind of worker thread does nothing). */
  kind: 'colloquy-media-worker';
  /** The worker's name, as the main thread's span knows it (e.g. "worker-1"). */
  name: string;
  /** Its engine's network settings, with its share of the ports. */
  engine: MediaThreadNetwork;
  pipeIp: string;
  statsIntervalMs: number;
  logLevel: string;
  logPretty: boolean;
}

/** Worker → main, besides requests and answers. */
export type MediaWorkerNotice =
  | { t: 'ready'; udpPort: number | null; tcpPort: number | null }
  | { t: 'failed'; message: string }
  /** Every second: what this worker's SFU carries, for metrics and placement. */
  | { t: 'load'; transports: number; routers: number; consumers: ConsumerStats[]; lagMs: number }
  | { t: 'closed' };

/** The home, as the worker's span names it. */
export const HOME = 'home';
const LOAD_INTERVAL_MS = 1000;

async function run(port: NonNullable<typeof parentPort>, data: MediaWorkerData): Promise<void> {
  const logger = createLogger({ logLevel: data.logLevel, logPretty: data.logPretty }).child({ thread: data.name });
  TypedEmitter.listenerError = (err, event, emitter) => logger.error({ err, event, emitter }, 'event listener threw');
  const link = new ThreadLink(port, 'the main thread');
  let engine: MediaEngine;
  try {
    engine = await openMediaEngine(data.engine, logger);
  } catch (err) {
    port.postMessage({ t: 'failed', message: (err as Error).message } satisfies MediaWorkerNotice);
    return;
  }
  const span = new MediaSpan({
    nodeId: data.name,
    link: { post: (peer, body) => (peer === HOME ? link.request(body) : Promise.reject(new Error(`unknown peer ${peer}`))) },
    sessions: null,
    engine,
    pipeIp: data.pipeIp,
    statsIntervalMs: data.statsIntervalMs,
    logger,
  });
  link.handler = (body) => span.handle(HOME, body);
  // This thread's event-loop lag (p99 of each second, as the main thread's LoadMonitor measures its
  // own): a saturated worker gets no new subscribers.
  const lag = lagHistogram();
  const loadTimer = every(LOAD_INTERVAL_MS, () => {
    const lagNowMs = lag.count > 0 ? lagMs(lag.percentile(99)) : 0;
    lag.reset();
    const routers = engine.routers;
    const { consumers } = routerMediaStats(routers);
    port.postMessage({ t: 'load', transports: routers.reduce((n, r) => n + r.transportCount, 0), routers: routers.length, consumers, lagMs: Math.round(lagNowMs) } satisfies MediaWorkerNotice);
  });
  link.onNotice = (m) => {
    if (m['t'] !== 'close') return;
    loadTimer.cancel();
    lag.disable();
    span.close();
    void engine.close().finally(() => {
      link.close('closed');
      port.postMessage({ t: 'closed' } satisfies MediaWorkerNotice);
    });
  };
  port.postMessage({ t: 'ready', udpPort: engine.udpMux?.port ?? null, tcpPort: engine.tcpMux?.port ?? null } satisfies MediaWorkerNotice);
}

if (parentPort && (workerData as Partial<MediaWorkerData> | null)?.kind === 'colloquy-media-worker') void run(parentPort, workerData as MediaWorkerData);
