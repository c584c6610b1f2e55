// The load coordinator: spawns worker processes (worker.ts), places participants on them, makes
// them join, publish and subscribe, and adds up what they measured per window (measure()), with
// the server's CPU from /proc when it runs on this machine. `colloquy-load` (cli.ts) and the
// benchmarks (bench/sfu) both drive load through this class.

import { percentile } from '../lib/stats.js';
import { availableParallelism, loadavg } from 'node:os';
import { sampleMachine, sampleProcess, type MachineSample, type ProcSample } from '../lib/proc.js';
import { ensureClip, type ClipFiles, type ClipSpec } from './clip.js';
import type { ReceiveMode } from './subscriber.js';
import { ColloquyTarget } from './targets/colloquy.js';
import { JanusTarget } from './targets/janus.js';
import { describeTarget, type TargetSpec } from './targets/target.js';
import { WorkerClient, type WorkerEvent } from './worker-client.js';
import type { WorkerProgress, WorkerRequest, WorkerWindow } from './worker-protocol.js';

export interface LoadRunOptions {
  target: TargetSpec;
  /** Worker processes for the clients. Default: 2. */
  workers?: number;
  /** Address the clients bind for ICE. Default 127.0.0.1. */
  bindIp?: string;
  receiveMode?: ReceiveMode;
  /** Subscribers send transport feedback as a browser does (light receive path; subscriber.ts). */
  transportCc?: boolean;
  /** Clips publishers may send, by name. */
  clips: Record<string, ClipSpec>;
  /** The server's process id when it runs on this machine: its CPU and memory are then measured. */
  serverPid?: number;
  /** Shortest time between two keyframes a publisher sends on request, ms. Default 200. */
  keyFrameMinIntervalMs?: number;
  /** Most joins/subscriptions in flight at once. Default 8. */
  concurrency?: number;
  /** Extra node options for the workers (e.g. --cpu-prof). */
  workerExecArgv?: string[];
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  count: number;
}

/** The figures of one measurement window, over every worker. */
export interface WindowResult {
  seconds: number;
  publishers: number;
  subscriptions: number;
  sent: { packetsPerSecond: number; bitsPerSecond: number; keyFrames: number; keyFrameRequests: number; nacks: number; skipped: number };
  received: { packetsPerSecond: number; videoPacketsPerSecond: number; audioPacketsPerSecond: number; bitsPerSecond: number; otherPackets: number };
  /** Packets the sequence numbers say went missing, % of expected (video and audio). */
  lossPercent: number;
  /** `negative`: frames that arrived "before" they were sent, which only a clock problem can do. */
  latencyMs: Percentiles & { negative: number };
  videoJitterMs: { p50: number; p95: number };
  audioJitterMs: { p50: number; p95: number };
  /** Whole video frames per second per received stream. */
  fps: { p50: number; min: number };
  /** By subscription id: loss in the window, % (100 when no video arrived), over every worker. */
  subscriptionLossPercent: Record<string, number>;
  /** Whole video frames received per second, all subscriptions together. */
  framesPerSecond: number;
  generator: {
    processes: number;
    /** CPU of all workers, in cores (1.0 = one core busy). */
    cores: number;
    /** The busiest worker, in cores. */
    maxProcessCores: number;
    /** Each worker, in cores (worker order). */
    processCores: number[];
    eventLoopP99Ms: number;
    /** A worker near a full core or skipping frames: the figures are the generator's limit. */
    saturated: boolean;
  };
  /** What went wrong in the window: the server ending streams or subscriptions, dead peer connections. */
  failures: {
    /** By "stream: reason" / "subscription: reason". */
    serverEnded: Record<string, number>;
    publishersDown: number;
    subscriptionsDown: number;
  };
  /** The whole machine in the window: what else ran beside the server and the generator. */
  machine: {
    cores: number;
    /** Busy cores in the window (all processes, kernel included). */
    busyCores: number;
    /** Busy cores not accounted to the server or the generator: other work on the machine. */
    otherCores: number;
    loadAverage1m: number;
  };
  server: null | {
    cores: number;
    rssBytes: number;
    /** Server CPU per packet received by the subscribers, µs. */
    cpuUsPerForwardedPacket: number;
    /** Forwarded packets per second one core of this server sustains (1e6 / µs per packet). */
    forwardedPacketsPerSecondPerCore: number;
  };
}

interface Worker {
  index: number;
  client: WorkerClient;
  load: number;
  progress: WorkerProgress | null;
}

export interface ParticipantRef {
  id: string;
  session: string;
  worker: number;
}

function summarize(values: number[]): Percentiles {
  return { p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99), max: values.length ? Math.max(...values) : NaN, count: values.length };
}

export class LoadRun {
  readonly options: LoadRunOptions;
  readonly clips: Record<string, ClipFiles>;
  /** Time to first frame of every subscription so far, ms, by subscription id. */
  readonly firstFrames = new Map<string, number>();
  /** Why publish and subscribe attempts failed and were retried. */
  readonly subscribeRetries: string[] = [];
  readonly #workers: Worker[] = [];
  readonly #firstFrameWaiters = new Map<string, (ms: number) => void>();
  #nextId = 1;
  #inFlight = 0;
  readonly #queue: (() => void)[] = [];
  #windowStart: { server: ProcSample | null; machine: MachineSample } = { server: null, machine: sampleMachine() };
  #closed = false;

  private constructor(options: LoadRunOptions, clips: Record<string, ClipFiles>) {
    this.options = options;
    this.clips = clips;
  }

  static async start(options: LoadRunOptions): Promise<LoadRun> {
    const clips: Record<string, ClipFiles> = {};
    for (const [name, spec] of Object.entries(options.clips)) clips[name] = ensureClip(spec);
    const run = new LoadRun(options, clips);
    try {
      await run.#spawn();
    } catch (err) {
      await run.close();
      throw err;
    }
    return run;
  }

  get description(): string {
    return describeTarget(this.options.target);
  }

  /** Sessions (Colloquy) or rooms (Janus) made as an app server would. */
  createSessions(count: number, publishersPerSession = 100): Promise<string[]> {
    const t = this.options.target;
    return t.kind === 'janus' ? JanusTarget.createSessions(t, count, { publishers: publishersPerSession }) : ColloquyTarget.createSessions(t, count);
  }

  /**
   * A participant joins `session` on the least loaded worker (`weight`: its expected packet rate
   * share), through `url` when given (another node of a cluster) instead of the target's.
   */
  async join(session: string, weight = 1, url?: string): Promise<ParticipantRef> {
    const worker = this.#workers.reduce((a, b) => (b.load < a.load ? b : a));
    worker.load += weight;
    const ref: ParticipantRef = { id: `p${this.#nextId++}`, session, worker: worker.index };
    await this.#limited(() => this.#request(worker, { op: 'join', participant: ref.id, session, name: ref.id, ...(url !== undefined ? { url } : {}) }));
    return ref;
  }

  /**
   * Publishes `clip` for the participant; resolves with the server's stream id once its peer
   * connection is up. A failed attempt is retried like a subscription (see subscribe).
   */
  async publish(p: ParticipantRef, clip: string, retries = 2): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = (await this.#limited(() => this.#request(this.#workers[p.worker]!, { op: 'publish', participant: p.id, clip }))) as { streamId: string };
        return r.streamId;
      } catch (err) {
        if (attempt >= retries || this.#closed) throw err;
        this.subscribeRetries.push(`publish: ${(err as Error).message}`);
      }
    }
  }

  /**
   * Subscribes the participant to a stream; resolves when the peer connection is up. A failed
   * attempt (an ICE or DTLS timeout on an overloaded machine) is retried `retries` times and
   * counted in `subscribeRetries`.
   */
  async subscribe(p: ParticipantRef, streamId: string, retries = 2): Promise<{ subscription: string; connectedMs: number }> {
    this.#workers[p.worker]!.load += 1;
    for (let attempt = 0; ; attempt++) {
      const subscription = `s${this.#nextId++}`;
      try {
        const r = (await this.#limited(() =>
          this.#request(this.#workers[p.worker]!, { op: 'subscribe', participant: p.id, subscription, streamId }),
        )) as { connectedMs: number };
        return { subscription, connectedMs: r.connectedMs };
      } catch (err) {
        if (attempt >= retries || this.#closed) throw err;
        this.subscribeRetries.push(`${(err as Error).message}`);
      }
    }
  }

  /** Resolves with the subscription's time to first frame (ms), or null after `timeoutMs`. */
  waitFirstFrame(subscription: string, timeoutMs = 10_000): Promise<number | null> {
    const known = this.firstFrames.get(subscription);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#firstFrameWaiters.delete(subscription);
        resolve(null);
      }, timeoutMs);
      this.#firstFrameWaiters.set(subscription, (ms) => {
        clearTimeout(timer);
        resolve(ms);
      });
    });
  }

  async unsubscribe(p: ParticipantRef, subscription: string): Promise<void> {
    await this.#request(this.#workers[p.worker]!, { op: 'unsubscribe', subscription });
  }

  async leave(p: ParticipantRef): Promise<void> {
    await this.#request(this.#workers[p.worker]!, { op: 'leave', participant: p.id });
  }

  /** Latest progress of every worker, summed: for a progress line. */
  progress(): { rxPackets: number; rxBytes: number; rxExpected: number; txPackets: number; cpuUs: number; publishers: number; subscriptions: number; latencies: number[] } {
    const sum = { rxPackets: 0, rxBytes: 0, rxExpected: 0, txPackets: 0, cpuUs: 0, publishers: 0, subscriptions: 0, latencies: [] as number[] };
    for (const w of this.#workers) {
      const p = w.progress;
      if (!p) continue;
      sum.rxPackets += p.rxPackets;
      sum.rxBytes += p.rxBytes;
      sum.rxExpected += p.rxExpected;
      sum.txPackets += p.txPackets;
      sum.cpuUs += p.cpuUs;
      sum.publishers += p.publishers;
      sum.subscriptions += p.subscriptions;
      sum.latencies.push(...p.latencies);
    }
    return sum;
  }

  /** Starts a measurement window now (what came before is discarded). */
  async startWindow(): Promise<void> {
    await Promise.all(this.#workers.map((w) => this.#request(w, { op: 'window' })));
    this.#windowStart = { server: this.options.serverPid ? sampleProcess(this.options.serverPid) : null, machine: sampleMachine() };
  }

  /** Ends the window started by startWindow() and adds up every worker's figures. */
  async endWindow(): Promise<WindowResult> {
    const server = this.options.serverPid ? sampleProcess(this.options.serverPid) : null;
    const machine = sampleMachine();
    const windows = (await Promise.all(this.#workers.map((w) => this.#request(w, { op: 'window' })))) as WorkerWindow[];
    const seconds = Math.max(...windows.map((w) => w.wallMs)) / 1000;
    const add = (f: (w: WorkerWindow) => number): number => windows.reduce((n, w) => n + f(w), 0);
    const rxPackets = add((w) => w.video.packets + w.audio.packets);
    const expected = add((w) => w.video.expected + w.audio.expected);
    const workerCores = windows.map((w) => w.cpuUs / (w.wallMs * 1000));
    const eventLoopP99Ms = Math.max(...windows.map((w) => w.eventLoopP99Ms));
    const skipped = add((w) => w.sent.skipped);
    const videoJitter = windows.flatMap((w) => w.videoJitterMs);
    const audioJitter = windows.flatMap((w) => w.audioJitterMs);
    const fps = windows.flatMap((w) => w.fps);
    const latencies = windows.flatMap((w) => w.latencies);
    let serverFigures: WindowResult['server'] = null;
    const start = this.#windowStart.server;
    if (server && start) {
      const cpuUs = server.cpuUs - start.cpuUs;
      const perPacket = rxPackets > 0 ? cpuUs / rxPackets : NaN;
      serverFigures = {
        cores: cpuUs / ((server.at - start.at) * 1000),
        rssBytes: server.rssBytes,
        cpuUsPerForwardedPacket: perPacket,
        forwardedPacketsPerSecondPerCore: 1e6 / perPacket,
      };
    }
    const machineBusy = (machine.busyUs - this.#windowStart.machine.busyUs) / ((machine.at - this.#windowStart.machine.at) * 1000);
    const generatorCores = workerCores.reduce((a, b) => a + b, 0);
    return {
      seconds,
      publishers: add((w) => w.publishers),
      subscriptions: add((w) => w.subscriptions),
      sent: {
        packetsPerSecond: add((w) => w.sent.videoPackets + w.sent.audioPackets) / seconds,
        bitsPerSecond: (add((w) => w.sent.bytes) * 8) / seconds,
        keyFrames: add((w) => w.sent.keyFrames),
        keyFrameRequests: add((w) => w.sent.keyFrameRequests),
        nacks: add((w) => w.sent.nacks),
        skipped,
      },
      received: {
        packetsPerSecond: rxPackets / seconds,
        videoPacketsPerSecond: add((w) => w.video.packets) / seconds,
        audioPacketsPerSecond: add((w) => w.audio.packets) / seconds,
        bitsPerSecond: (add((w) => w.video.bytes + w.audio.bytes) * 8) / seconds,
        otherPackets: add((w) => w.otherPackets),
      },
      lossPercent: expected > 0 ? (100 * Math.max(0, expected - rxPackets)) / expected : 0,
      latencyMs: { ...summarize(latencies), negative: latencies.filter((l) => l < 0).length },
      videoJitterMs: { p50: percentile(videoJitter, 50), p95: percentile(videoJitter, 95) },
      audioJitterMs: { p50: percentile(audioJitter, 50), p95: percentile(audioJitter, 95) },
      fps: { p50: percentile(fps, 50), min: fps.length ? Math.min(...fps) : NaN },
      subscriptionLossPercent: Object.assign({}, ...windows.map((w) => w.subscriptionLossPercent)) as Record<string, number>,
      framesPerSecond: add((w) => w.video.frames) / seconds,
      generator: {
        processes: windows.length,
        cores: generatorCores,
        maxProcessCores: Math.max(...workerCores),
        processCores: workerCores,
        eventLoopP99Ms,
        // Its own work: near a full core, or more than 2 % behind its schedule. (Event-loop delay
        // and a few late frames can come from other processes on the machine: see machine.otherCores.)
        saturated: Math.max(...workerCores) > 0.85 || skipped > 0.02 * add((w) => w.sent.frames + w.sent.audioPackets),
      },
      failures: {
        serverEnded: windows.reduce<Record<string, number>>((all, w) => {
          for (const [k, n] of Object.entries(w.serverEnded)) all[k] = (all[k] ?? 0) + n;
          return all;
        }, {}),
        publishersDown: add((w) => w.publishersDown),
        subscriptionsDown: add((w) => w.subscriptionsDown),
      },
      machine: {
        cores: availableParallelism(),
        busyCores: machineBusy,
        otherCores: Math.max(0, machineBusy - generatorCores - (serverFigures?.cores ?? 0)),
        loadAverage1m: loadavg()[0]!,
      },
      server: serverFigures,
    };
  }

  /** startWindow, wait, endWindow. */
  async measure(seconds: number): Promise<WindowResult> {
    await this.startWindow();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    return this.endWindow();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A worker leaves its participants, then exits; one that hangs is killed.
    await Promise.all(this.#workers.map((w) => w.client.shutdown()));
  }

  async #spawn(): Promise<void> {
    const count = this.options.workers ?? 2;
    for (let i = 0; i < count; i++) {
      // Events come once the worker runs, after `worker` exists.
      const client = new WorkerClient(`load worker ${i}`, (event) => this.#onEvent(worker, event), this.options.workerExecArgv ?? []);
      const worker: Worker = { index: i, client, load: 0, progress: null };
      this.#workers.push(worker);
    }
    const init = {
      target: this.options.target,
      bindIp: this.options.bindIp ?? '127.0.0.1',
      receiveMode: this.options.receiveMode ?? 'light',
      transportCc: this.options.transportCc === true,
      clips: this.clips,
      keyFrameMinIntervalMs: this.options.keyFrameMinIntervalMs ?? 200,
    };
    await Promise.all(this.#workers.map((w) => this.#request(w, { op: 'init', init })));
  }

  #onEvent(worker: Worker, m: WorkerEvent): void {
    if (m.event === 'progress') {
      worker.progress = m;
      return;
    }
    this.firstFrames.set(m.subscription, m.ms);
    this.#firstFrameWaiters.get(m.subscription)?.(m.ms);
    this.#firstFrameWaiters.delete(m.subscription);
  }

  #request(worker: Worker, request: WorkerRequest): Promise<unknown> {
    return worker.client.request(request);
  }

  /** Runs `fn` when fewer than `concurrency` such calls are in flight. */
  async #limited<T>(fn: () => Promise<T>): Promise<T> {
    const max = this.options.concurrency ?? 8;
    if (this.#inFlight >= max) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#inFlight++;
    try {
      return await fn();
    } finally {
      this.#inFlight--;
      this.#queue.shift()?.();
    }
  }
}
