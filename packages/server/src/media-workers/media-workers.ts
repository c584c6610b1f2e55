// Media on every core (COLLOQUY_WORKERS). Node runs one JavaScript thread per event loop, and the
// SFU's cost is mostly per forwarded packet (SRTP and a UDP send per subscriber): one thread tops
// out at a few tens of thousands of packets a second. So the main thread keeps every session's
// publishers, signaling and control, and serves subscribers itself while it is lightly loaded;
// past COLLOQUY_WORKERS_FROM peer connections (default 64: an 8↔8 call stays on one thread, where a
// packet costs least), each new subscriber goes to the least loaded media
// thread, the main one included. A subscriber on a worker thread is an edge of a media span
// (media-span/media-span.ts): the main thread pipes the stream to that worker once over loopback
// UDP, and the worker's own SFU, with its own sockets, fans it out. So one 1→300 stream uses both
// cores of a 2-core machine, and a 16↔16 call spreads its 240 subscriptions.
//
// Worker threads start when first needed (half the threshold), so a small server never starts
// one. Each has its share of the UDP port range (or, with one UDP port, the next port: 7883, 7884
// …). A worker that exits takes its subscribers with it (their subscriptions end as a network
// drop, the client subscribes again) and is started afresh when next needed.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ConsumerStats, MediaEngine } from '@colloquy/sfu';
import type { Logger } from '../logger.js';
import { MediaSpan } from '../media-span/media-span.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { RemoteSubscriberMedia, Subscription } from '../sessions/subscription.js';
import type { MediaThreadNetwork } from './engine.js';
import { HOME, type MediaWorkerData, type MediaWorkerNotice } from './media-worker.js';
import { ThreadLink } from './thread-link.js';

export interface MediaWorkersOptions {
  /** Media threads in all, the main one included (COLLOQUY_WORKERS): 1 = no worker thread. */
  threads: number;
  /** Peer connections the main thread carries before subscribers are spread (COLLOQUY_WORKERS_FROM). */
  spreadFrom: number;
  /** A worker whose event loop lags more than this (p99 of its last second, ms) is saturated: it gets no new subscriber. 0: never. */
  saturatedLagMs: number;
  /** The main thread's SFU: its load counts, and its settings are the workers'. */
  engine: MediaEngine;
  /** The network settings each thread's engine gets (ports split by splitPorts). */
  network: MediaThreadNetwork;
  sessions: SessionManager;
  statsIntervalMs: number;
  logLevel: string;
  logPretty: boolean;
  logger: Logger;
}

/** Fewest ports a thread's share of the range may have: below it, the range is not split (workers off). */
export const MIN_PORTS_PER_THREAD = 500;

/**
 * Each media thread's ports: thread 0 is the main one. Range mode: the range in equal parts
 * (null if a part would be smaller than MIN_PORTS_PER_THREAD). One port: port + i (0 stays 0).
 */
export function splitPorts(
  network: Pick<MediaWorkersOptions['network'], 'portRange' | 'port' | 'tcpPort'>,
  threads: number,
): Array<{ portRange: [number, number]; port: number | null; tcpPort: number | null }> | null {
  const [min, max] = network.portRange;
  const size = Math.floor((max - min + 1) / threads);
  const shifted = (p: number | null, i: number): number | null => (p === null || p === 0 ? p : p + i);
  if (network.port === null && size < MIN_PORTS_PER_THREAD) return null;
  for (const p of [network.port, network.tcpPort]) if (p !== null && p !== 0 && p + threads - 1 > 65535) return null;
  return Array.from({ length: threads }, (_, i) => ({
    portRange: network.port === null ? [min + i * size, i === threads - 1 ? max : min + (i + 1) * size - 1] : network.portRange,
    port: shifted(network.port, i),
    tcpPort: shifted(network.tcpPort, i),
  }));
}

/**
 * How much more each of the main thread's peer connections weighs than a worker's subscriber: the
 * main thread also carries signaling for everyone, the publishers' receive path and the pipes to
 * the workers (at 1→300 on two threads it keeps about 100 subscribers and the worker 200).
 */
export const MAIN_THREAD_WEIGHT = 2;

/** The thread a new subscriber goes to: 0 (main) below the threshold, else the least loaded, the main thread's load weighted (main on a tie). */
export function chooseThread(mainLoad: number, workerLoads: ReadonlyArray<number | null>, spreadFrom: number): number {
  if (mainLoad < spreadFrom) return 0;
  let best = 0;
  let bestLoad = mainLoad * MAIN_THREAD_WEIGHT;
  workerLoads.forEach((load, i) => {
    if (load !== null && load < bestLoad) {
      best = i + 1;
      bestLoad = load;
    }
  });
  return best;
}

interface WorkerThread {
  name: string;
  index: number;
  worker: Worker | null;
  link: ThreadLink | null;
  /** Resolves true once its engine is up (false: it failed or exited). */
  ready: Promise<boolean>;
  up: boolean;
  /** Subscriptions placed on it and not yet ended. */
  subscribers: number;
  /** Its last load report: peer connections, consumers, event-loop lag (ms). */
  transports: number;
  lagMs: number;
  consumers: ConsumerStats[];
  udpPort: number | null;
  /** A thread that exited is started again from this time on (ms since epoch). */
  startAfter: number;
}

/** How long after a worker thread exits before it is started again (a thread that cannot bind its port must not be respawned per subscriber). */
const RESTART_DELAY_MS = 5000;

export interface MediaWorkersStats {
  threads: number;
  spreadFrom: number;
  /** Streams piped to worker threads (one per stream and worker), and subscriptions they serve. */
  pipes: number;
  remoteSubscriptions: number;
  workers: Array<{ name: string; up: boolean; subscribers: number; transports: number; lagMs: number; udpPort: number | null }>;
}

export class MediaWorkers {
  readonly #o: MediaWorkersOptions;
  readonly #log: Logger;
  readonly #span: MediaSpan;
  readonly #ports: ReturnType<typeof splitPorts>;
  readonly #threads: WorkerThread[] = [];
  /**
   * Per subscribing connection, the thread serving its subscribers (0: main) and how many: a
   * client's subscribers share its downlink, which the SFU coordinates within one thread only
   * (sfu downlink.ts), so its next subscriber goes where the others are while that thread is up.
   */
  readonly #clientThreads = new Map<string, { thread: number; count: number }>();
  #closed = false;

  constructor(options: MediaWorkersOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'media-workers' });
    this.#ports = options.threads > 1 ? splitPorts(options.network, options.threads) : null;
    if (options.threads > 1 && this.#ports === null) {
      this.#log.warn({ threads: options.threads, portRange: options.network.portRange }, `the UDP port range is too small to share between ${options.threads} media threads (${MIN_PORTS_PER_THREAD} ports each): media stays on the main thread`);
    }
    this.#span = new MediaSpan({
      nodeId: HOME,
      link: { post: (peer, body) => this.#request(peer, body) },
      sessions: options.sessions,
      engine: options.engine,
      pipeIp: '127.0.0.1',
      statsIntervalMs: options.statsIntervalMs,
      logger: this.#log,
    });
    for (let i = 1; this.#ports && i < options.threads; i++) this.#threads.push(this.#blank(i));
  }

  /** The port range of the main thread's engine (its share when workers split the range). */
  static mainPorts(network: MediaWorkersOptions['network'], threads: number): { portRange: [number, number]; port: number | null; tcpPort: number | null } {
    return (threads > 1 ? splitPorts(network, threads)?.[0] : undefined) ?? { portRange: network.portRange, port: network.port, tcpPort: network.tcpPort };
  }

  /** Media threads in use (1: the main thread only). */
  get threads(): number {
    return this.#threads.length + 1;
  }

  /** Media threads running now: the main one and the workers that are up. */
  get runningThreads(): number {
    return 1 + this.#threads.filter((t) => t.up).length;
  }

  #blank(index: number, startAfter = 0): WorkerThread {
    return { name: `worker-${index}`, index, worker: null, link: null, ready: Promise.resolve(false), up: false, subscribers: 0, transports: 0, lagMs: 0, consumers: [], udpPort: null, startAfter };
  }

  /** The main thread's load: its SFU's peer connections (publishers and subscribers). */
  #mainLoad(): number {
    return this.#o.engine.routers.reduce((n, r) => n + r.transportCount, 0);
  }

  /**
   * Where a new subscriber's media is served: null (here, on the main thread) or a worker's
   * RemoteSubscriberMedia. Starts worker threads once the main thread is half way to spreading.
   */
  async place(subscription: Subscription): Promise<RemoteSubscriberMedia | null> {
    if (this.#closed || this.#threads.length === 0) return null;
    const mainLoad = this.#mainLoad();
    if (mainLoad * 2 >= this.#o.spreadFrom) for (const t of this.#threads) if (t.worker === null && Date.now() >= t.startAfter) this.#start(t);
    const saturated = (t: WorkerThread): boolean => this.#o.saturatedLagMs > 0 && t.lagMs > this.#o.saturatedLagMs;
    // Where this client's other subscribers are, while that thread serves.
    const home = this.#clientThreads.get(subscription.connection.id);
    if (home !== undefined) {
      if (home.thread === 0) return this.#serveHere(subscription);
      const thread = this.#threads[home.thread - 1];
      if (thread && thread.up && !saturated(thread)) return this.#serveOn(thread, subscription) ?? this.#serveHere(subscription);
    }
    const choice = chooseThread(mainLoad, this.#threads.map((t) => (t.up && !saturated(t) ? t.subscribers : null)), this.#o.spreadFrom);
    // Spreading from the first subscriber (COLLOQUY_WORKERS_FROM=0) waits for a worker that is starting.
    if (choice === 0 && this.#o.spreadFrom === 0 && mainLoad > 0) {
      const starting = this.#threads.find((t) => !t.up && t.worker !== null);
      if (starting && (await starting.ready) && !subscription.closed) return this.#serveOn(starting, subscription) ?? this.#serveHere(subscription);
    }
    return (choice === 0 ? null : this.#serveOn(this.#threads[choice - 1]!, subscription)) ?? this.#serveHere(subscription);
  }

  /** The main thread serves it (place() answers null). */
  #serveHere(subscription: Subscription): null {
    this.#rememberClient(subscription, 0);
    return null;
  }

  #serveOn(thread: WorkerThread, subscription: Subscription): RemoteSubscriberMedia | null {
    const remote = this.#span.remoteSubscriber(subscription, thread.name);
    if (!remote) return null;
    thread.subscribers++;
    subscription.once('close', () => thread.subscribers--);
    this.#rememberClient(subscription, thread.index);
    return remote;
  }

  #rememberClient(subscription: Subscription, thread: number): void {
    const key = subscription.connection.id;
    const entry = this.#clientThreads.get(key);
    // A client moved (its thread went down): the new thread is its home from now on.
    if (entry === undefined || entry.thread !== thread) this.#clientThreads.set(key, { thread, count: 1 });
    else entry.count++;
    subscription.once('close', () => {
      const now = this.#clientThreads.get(key);
      if (now === undefined || now.thread !== thread) return;
      if (--now.count <= 0) this.#clientThreads.delete(key);
    });
  }

  #start(thread: WorkerThread): void {
    const url = new URL('./media-worker.js', import.meta.url);
    const file = fileURLToPath(url).replace(/\/src\/media-workers\/media-worker\.js$/, '/dist/media-workers/media-worker.js');
    if (!existsSync(file)) {
      this.#log.error({ file }, 'the media worker thread is missing (run the built server: npm run build): media stays on the main thread');
      this.#threads.length = 0;
      return;
    }
    const ports = this.#ports![thread.index]!;
    const data: MediaWorkerData = {
      kind: 'colloquy-media-worker',
      name: thread.name,
      engine: { ...this.#o.network, ...ports },
      pipeIp: '127.0.0.1',
      statsIntervalMs: this.#o.statsIntervalMs,
      logLevel: this.#o.logLevel,
      logPretty: this.#o.logPretty,
    };
    const worker = new Worker(file, { workerData: data, name: `colloquy-media-${thread.index}` });
    const link = new ThreadLink(worker, thread.name);
    thread.worker = worker;
    thread.link = link;
    link.handler = (body) => this.#span.handle(thread.name, body);
    let settle: (up: boolean) => void = () => {};
    thread.ready = new Promise<boolean>((resolve) => (settle = resolve));
    link.onNotice = (m) => {
      const notice = m as MediaWorkerNotice;
      if (notice.t === 'ready') {
        thread.up = true;
        thread.udpPort = notice.udpPort;
        this.#log.info({ worker: thread.name, portRange: ports.port === null ? ports.portRange : undefined, udpPort: notice.udpPort ?? undefined }, 'media worker thread up');
        this.#span.nodesAlive(this.#liveNames());
        settle(true);
      } else if (notice.t === 'failed') {
        this.#log.error({ worker: thread.name, err: notice.message }, 'media worker thread could not start its SFU');
        void worker.terminate();
      } else if (notice.t === 'load') {
        thread.transports = notice.transports;
        thread.lagMs = notice.lagMs;
        thread.consumers = notice.consumers;
      }
    };
    worker.on('error', (err) => this.#log.error({ worker: thread.name, err }, 'media worker thread failed'));
    worker.once('exit', (code) => {
      link.close('the thread exited');
      settle(false);
      const i = this.#threads.indexOf(thread);
      // One that was up is replaced at once (a crash); one that never came up waits (its port may be taken).
      if (i >= 0) this.#threads[i] = this.#blank(thread.index, thread.up ? 0 : Date.now() + RESTART_DELAY_MS);
      if (!this.#closed) this.#log.warn({ worker: thread.name, code, subscribers: thread.subscribers }, 'media worker thread exited: its subscribers are disconnected');
      // Its subscriptions end as a network drop; its pipes close.
      this.#span.nodesAlive(this.#liveNames());
    });
  }

  #liveNames(): Set<string> {
    return new Set(this.#threads.filter((t) => t.up).map((t) => t.name));
  }

  #request(peer: string, body: Record<string, unknown>): Promise<unknown> {
    const thread = this.#threads.find((t) => t.name === peer);
    if (!thread?.link) return Promise.reject(new Error(`media worker ${peer} is not running`));
    return thread.link.request(body);
  }

  /** The consumers the workers last reported (metrics add them to the main thread's). */
  workerConsumers(): ConsumerStats[] {
    return this.#threads.flatMap((t) => (t.up ? t.consumers : []));
  }

  /** Peer connections on worker threads, as last reported. */
  workerTransports(): number {
    return this.#threads.reduce((n, t) => n + (t.up ? t.transports : 0), 0);
  }

  stats(): MediaWorkersStats {
    const span = this.#span.stats();
    return {
      threads: this.threads,
      spreadFrom: this.#o.spreadFrom,
      pipes: span.pipesOut,
      remoteSubscriptions: span.remoteSubscriptions,
      workers: this.#threads.map((t) => ({ name: t.name, up: t.up, subscribers: t.subscribers, transports: t.transports, lagMs: t.lagMs, udpPort: t.udpPort })),
    };
  }

  /** Stops one worker thread as a crash would (tests; an operator's last resort): its subscribers are disconnected. */
  async terminate(name: string): Promise<void> {
    await this.#threads.find((t) => t.name === name)?.worker?.terminate();
  }

  /** Ends the workers' subscribers and stops the threads. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#span.close();
    await Promise.all(
      this.#threads.map(async (t) => {
        const worker = t.worker;
        if (!worker) return;
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        const closed = new Promise<void>((resolve) => {
          worker.on('message', (m: { t?: string }) => m?.t === 'closed' && resolve());
        });
        worker.postMessage({ t: 'close' });
        await Promise.race([closed, exited, new Promise((r) => setTimeout(r, 3000).unref())]);
        await worker.terminate();
        await exited;
      }),
    );
  }
}
