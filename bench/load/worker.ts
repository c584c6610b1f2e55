// A load-generator worker process: it holds participants (a target signaling connection each),
// their publishers and subscriptions (werift peer connections), answers the coordinator's requests
// (worker-protocol.ts), reports progress every second, and measures its own CPU and event-loop
// delay so that a saturated generator is never mistaken for a slow server.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadClip, type Clip } from './clip.js';
import { LoadPublisher } from './publisher.js';
import { LoadSubscriber } from './subscriber.js';
import { ColloquyTarget } from './targets/colloquy.js';
import { JanusTarget } from './targets/janus.js';
import type { Participant, Subscription, Target } from './targets/target.js';
import type { ReceiveCounters, SendCounters, SubscriptionSample, WorkerFirstFrame, WorkerInit, WorkerProgress, WorkerReply, WorkerRequestMessage, WorkerWindow } from './worker-protocol.js';

interface SubscriptionState {
  id: string;
  subscriber: LoadSubscriber;
  server: Subscription | null;
  firstFrameReported: boolean;
  /** Counters at the start of the current window, per SSRC. */
  windowBase: Map<number, { packets: number; bytes: number; expected: number; frames: number }>;
}

interface ParticipantState {
  participant: Participant;
  publisher: LoadPublisher | null;
  subscriptions: Set<string>;
}

const MAX_WINDOW_LATENCIES = 20_000;

let init: WorkerInit | null = null;
let target: Target | null = null;
const clips = new Map<string, Clip>();
const participants = new Map<string, ParticipantState>();
const subscriptions = new Map<string, SubscriptionState>();
/** Publishers' counters at the start of the window. */
let sentBase: SendCounters = emptySent();
/** Publishers that left: their counts still belong to the window they sent in. */
let sentByGone: SendCounters = emptySent();
let windowLatencies: number[] = [];
let serverEnded: Record<string, number> = {};
let windowStart = { wall: performance.now(), cpu: cpuUs() };
/** Samples of each subscription not yet taken (the `sample` / `samples` ops), and the timer that takes them. */
const samples = new Map<string, SubscriptionSample[]>();
let sampler: ReturnType<typeof setInterval> | undefined;
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function emptySent(): SendCounters {
  return { videoPackets: 0, audioPackets: 0, bytes: 0, frames: 0, keyFrames: 0, keyFrameRequests: 0, nacks: 0, skipped: 0 };
}

function totalSent(): SendCounters {
  const t = { ...sentByGone };
  for (const p of participants.values()) {
    if (!p.publisher) continue;
    for (const k of Object.keys(t) as (keyof SendCounters)[]) t[k] += p.publisher.counters[k];
  }
  return t;
}

function drainLatencies(): number[] {
  const fresh: number[] = [];
  for (const s of subscriptions.values()) for (const stream of s.subscriber.streams.values()) for (const l of stream.takeLatencies()) fresh.push(l);
  for (const l of fresh) {
    if (windowLatencies.length < MAX_WINDOW_LATENCIES) windowLatencies.push(l);
    else windowLatencies[Math.floor(Math.random() * MAX_WINDOW_LATENCIES)] = l; // keep a uniform sample
  }
  return fresh;
}

function requireParticipant(id: string): ParticipantState {
  const p = participants.get(id);
  if (!p) throw new Error(`no participant ${id} in this worker`);
  return p;
}

async function closeSubscription(s: SubscriptionState): Promise<void> {
  subscriptions.delete(s.id);
  await s.server?.close().catch(() => {});
  await s.subscriber.close();
}

async function handle(message: WorkerRequestMessage): Promise<unknown> {
  switch (message.op) {
    case 'init': {
      init = message.init;
      target = init.target.kind === 'janus' ? new JanusTarget(init.target) : new ColloquyTarget(init.target);
      for (const [name, files] of Object.entries(init.clips)) clips.set(name, loadClip(files));
      return {};
    }
    case 'join': {
      if (!target) throw new Error('not initialised');
      const participant = await target.join(message.session, message.name, message.url);
      participant.onServerEnded = (what, reason) => {
        const key = `${what}: ${reason}`;
        serverEnded[key] = (serverEnded[key] ?? 0) + 1;
      };
      participants.set(message.participant, { participant, publisher: null, subscriptions: new Set() });
      return {};
    }
    case 'publish': {
      const p = requireParticipant(message.participant);
      const clip = clips.get(message.clip);
      if (!clip || !init) throw new Error(`no clip ${message.clip}`);
      const publisher = new LoadPublisher({ clip, bindIp: init.bindIp, keyFrameMinIntervalMs: init.keyFrameMinIntervalMs });
      let streamId: string | undefined;
      try {
        const r = await p.participant.publish(await publisher.offer(), { width: clip.spec.width, height: clip.spec.height, frameRate: clip.spec.fps });
        streamId = r.streamId;
        await publisher.accept(r.answer);
      } catch (err) {
        // Leave nothing behind, so that the coordinator may try again.
        await publisher.close().catch(() => {});
        if (streamId !== undefined) await p.participant.unpublish(streamId).catch(() => {});
        throw err;
      }
      p.publisher = publisher;
      publisher.start();
      return { streamId };
    }
    case 'subscribe': {
      const p = requireParticipant(message.participant);
      if (!init) throw new Error('not initialised');
      const subscriber = new LoadSubscriber({ bindIp: init.bindIp, mode: init.receiveMode, transportCc: init.transportCc === true, readFrameStarts: init.readFrameStarts === true });
      const state: SubscriptionState = { id: message.subscription, subscriber, server: null, firstFrameReported: false, windowBase: new Map() };
      subscriptions.set(message.subscription, state);
      p.subscriptions.add(message.subscription);
      subscriber.startedAt = performance.now();
      try {
        const sub = await p.participant.subscribe(message.streamId);
        state.server = sub;
        await sub.answer(await subscriber.answer(sub.offer));
        await subscriber.connected();
      } catch (err) {
        p.subscriptions.delete(message.subscription);
        await closeSubscription(state);
        throw err;
      }
      return { connectedMs: performance.now() - subscriber.startedAt };
    }
    case 'unsubscribe': {
      const s = subscriptions.get(message.subscription);
      if (s) await closeSubscription(s);
      for (const p of participants.values()) p.subscriptions.delete(message.subscription);
      return {};
    }
    case 'leave': {
      const p = participants.get(message.participant);
      if (!p) return {};
      participants.delete(message.participant);
      if (p.publisher) {
        p.publisher.stop();
        for (const k of Object.keys(sentByGone) as (keyof SendCounters)[]) sentByGone[k] += p.publisher.counters[k];
        await p.publisher.close();
      }
      for (const id of p.subscriptions) {
        const s = subscriptions.get(id);
        if (s) await closeSubscription(s);
      }
      await p.participant.leave();
      return {};
    }
    case 'window':
      return takeWindow();
    case 'sample': {
      if (!Number.isInteger(message.intervalMs) || message.intervalMs < 10) throw new Error(`sample: intervalMs must be an integer ≥ 10, got ${message.intervalMs}`);
      clearInterval(sampler);
      sampler = setInterval(sampleSubscriptions, message.intervalMs);
      sampler.unref();
      return {};
    }
    case 'samples': {
      const taken: Record<string, SubscriptionSample[]> = {};
      for (const id of message.subscriptions ?? [...samples.keys()]) {
        taken[id] = samples.get(id) ?? [];
        samples.delete(id);
      }
      return taken;
    }
    case 'shutdown': {
      for (const id of [...participants.keys()]) await handle({ op: 'leave', participant: id, re: 0 }).catch(() => {});
      await target?.close();
      setTimeout(() => process.exit(0), 50);
      return {};
    }
  }
}

function sampleSubscriptions(): void {
  const at = Date.now();
  for (const s of subscriptions.values()) {
    const sample: SubscriptionSample = { at, videoFrames: 0, videoBytes: 0, keyFrames: 0, videoLost: 0, width: 0, audioPackets: 0 };
    for (const stream of s.subscriber.streams.values()) {
      if (stream.kind === 'audio') {
        sample.audioPackets += stream.packets;
        continue;
      }
      sample.videoFrames += stream.frames;
      sample.videoBytes += stream.bytes;
      sample.keyFrames += stream.keyFrames;
      sample.videoLost += Math.max(0, stream.expected - stream.packets);
      sample.width = Math.max(sample.width, stream.width);
    }
    let list = samples.get(s.id);
    if (!list) samples.set(s.id, (list = []));
    list.push(sample);
  }
}

function takeWindow(): WorkerWindow {
  drainLatencies();
  const now = performance.now();
  const cpu = cpuUs();
  const seconds = (now - windowStart.wall) / 1000;
  const video: ReceiveCounters = { packets: 0, bytes: 0, expected: 0, frames: 0 };
  const audio: ReceiveCounters = { packets: 0, bytes: 0, expected: 0, frames: 0 };
  const videoJitterMs: number[] = [];
  const audioJitterMs: number[] = [];
  const fps: number[] = [];
  const subscriptionLossPercent: Record<string, number> = {};
  let otherPackets = 0;
  for (const s of subscriptions.values()) {
    otherPackets += s.subscriber.otherPackets;
    let got = 0;
    let expected = 0;
    let videoPackets = 0;
    for (const [ssrc, stream] of s.subscriber.streams) {
      const c = stream.counters();
      const base = s.windowBase.get(ssrc) ?? { packets: 0, bytes: 0, expected: 0, frames: 0 };
      const into = stream.kind === 'video' ? video : audio;
      into.packets += c.packets - base.packets;
      into.bytes += c.bytes - base.bytes;
      into.expected += c.expected - base.expected;
      into.frames += c.frames - base.frames;
      got += c.packets - base.packets;
      expected += c.expected - base.expected;
      if (stream.kind === 'video') {
        videoPackets += c.packets - base.packets;
        videoJitterMs.push(stream.jitterMs);
        if (seconds > 0) fps.push((c.frames - base.frames) / seconds);
      } else {
        audioJitterMs.push(stream.jitterMs);
      }
      s.windowBase.set(ssrc, { packets: c.packets, bytes: c.bytes, expected: c.expected, frames: c.frames });
    }
    subscriptionLossPercent[s.id] = videoPackets === 0 ? 100 : (100 * Math.max(0, expected - got)) / expected;
  }
  const sentNow = totalSent();
  const sent = emptySent();
  for (const k of Object.keys(sent) as (keyof SendCounters)[]) sent[k] = sentNow[k] - sentBase[k];
  const window: WorkerWindow = {
    wallMs: now - windowStart.wall,
    cpuUs: cpu - windowStart.cpu,
    eventLoopP99Ms: loopDelay.percentile(99) / 1e6,
    publishers: [...participants.values()].filter((p) => p.publisher).length,
    subscriptions: subscriptions.size,
    video,
    audio,
    otherPackets,
    sent,
    latencies: windowLatencies,
    videoJitterMs,
    audioJitterMs,
    fps,
    subscriptionLossPercent,
    serverEnded,
    publishersDown: [...participants.values()].filter((p) => p.publisher && p.publisher.pc.connectionState !== 'connected').length,
    subscriptionsDown: [...subscriptions.values()].filter((s) => s.subscriber.pc.connectionState !== 'connected').length,
  };
  serverEnded = {};
  sentBase = sentNow;
  windowLatencies = [];
  windowStart = { wall: now, cpu };
  loopDelay.reset();
  return window;
}

function progress(): WorkerProgress {
  const fresh = drainLatencies();
  let rxPackets = 0;
  let rxBytes = 0;
  let rxExpected = 0;
  for (const s of subscriptions.values()) {
    for (const stream of s.subscriber.streams.values()) {
      rxPackets += stream.packets;
      rxBytes += stream.bytes;
      rxExpected += stream.expected;
    }
  }
  const sent = totalSent();
  return {
    event: 'progress',
    cpuUs: cpuUs(),
    rxPackets,
    rxBytes,
    rxExpected,
    txPackets: sent.videoPackets + sent.audioPackets,
    publishers: [...participants.values()].filter((p) => p.publisher).length,
    subscriptions: subscriptions.size,
    latencies: fresh.length > 200 ? fresh.filter((_, i) => i % Math.ceil(fresh.length / 200) === 0) : fresh,
  };
}

process.on('uncaughtException', (err) => {
  process.stderr.write(`load worker ${process.pid}: uncaught ${err.stack ?? String(err)}\n`);
  process.exit(70);
});
process.on('message', (raw) => {
  const message = raw as WorkerRequestMessage;
  void handle(message).then(
    (result) => process.send?.({ re: message.re, ok: true, result } satisfies WorkerReply),
    (err: unknown) => process.send?.({ re: message.re, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply),
  );
});
setInterval(() => process.send?.(progress()), 1000).unref();
// First frames are reported as they come (the figure itself is exact: both times are this process's clock).
setInterval(() => {
  for (const s of subscriptions.values()) {
    if (s.firstFrameReported) continue;
    const ms = s.subscriber.timeToFirstFrameMs;
    if (ms === null) continue;
    s.firstFrameReported = true;
    process.send?.({ event: 'firstFrame', subscription: s.id, ms } satisfies WorkerFirstFrame);
  }
}, 10).unref();
process.on('disconnect', () => process.exit(0));
