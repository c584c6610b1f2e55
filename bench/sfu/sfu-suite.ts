// SFU cost, side by side: the same load generator (bench/load) drives each server through
//   1 -> N  one publisher, N subscribers added step by step in one session;
//   N <-> N N participants, each publishing and subscribing to every other;
// at each video bitrate, and measures the server's CPU per forwarded packet (its /proc time over
// the packets the subscribers received), forwarded packets per second per core, loss, latency,
// frame rate, and the generator's own CPU. Each point is the median of a few windows (2 noisy
// cores). Then time to first frame: subscribers joining one by one to a running publisher.

import { fmt, median, percentile } from '../lib/stats.js';
import type { ClipSpec } from '../load/clip.js';
import { LoadRun, type ParticipantRef, type WindowResult } from '../load/load-run.js';
import { startTarget, type RunningTarget, type TargetName } from './targets.js';

export interface SfuPlan {
  bitrates: { name: string; clip: ClipSpec }[];
  fanout: number[];
  mesh: number[];
  warmupSeconds: number;
  /**
   * Before a target's first point: a 1→4 call at the first bitrate for this long, not measured, so
   * every point is measured on a warm server (the JIT has compiled Colloquy's packet path, as in a
   * server that has run for a minute). Every target gets the same; 0 = none.
   */
  serverWarmupSeconds: number;
  windowSeconds: number;
  windows: number;
  /**
   * Packets a window must hold (forwarded ones, or received ones for a publisher alone). A point
   * slower than that gets longer windows, up to maxWindowSeconds, sized by a first window that is
   * then left out. At 1→1 a 4 s window holds 470–920 packets, and one GC or timer burst of either
   * server (20–40 ms) moves it by 20–80 µs per packet: windows of one point read 88–428 µs here.
   * 0 = every window windowSeconds long.
   */
  minWindowPackets: number;
  maxWindowSeconds: number;
  /**
   * 1→N sizes (of `fanout`) measured on every target at once, their windows taken at the same
   * moments, instead of one target after the other. At 1→1 a server uses 2–4 % of a core, and
   * what the machine does beside it (this is a shared VM) moves that by ±30 % from one minute to
   * the next: windows 18 s long read 104–140 µs for Colloquy and 66–146 for Janus in one run, so
   * two targets measured 7 minutes apart compared the minutes as much as the servers. Measured
   * together, both see the same minutes. Each server then has the other (~3 % of a core) and its
   * generator beside it. Needs two targets or more; [] = none.
   */
  pairedFanout: number[];
  firstFrameJoins: number;
  workers: number;
}

export interface SfuPoint {
  target: TargetName;
  scenario: 'fanout' | 'mesh';
  /** Subscribers (fanout) or participants (mesh). */
  n: number;
  bitrate: string;
  subscriptions: number;
  /** What the publishers sent, times the receivers of each stream. */
  offeredPacketsPerSecond: number;
  forwardedPacketsPerSecond: number;
  deliveredPercent: number;
  serverCores: number;
  serverRssMB: number;
  cpuUsPerPacket: number;
  packetsPerSecondPerCore: number;
  /** µs per packet of every window (the point is the median one). */
  windowsCpuUsPerPacket: number[];
  /** Length of each window, s (longer where the point forwards few packets: SfuPlan.minWindowPackets). */
  windowSeconds: number;
  /** Measured at the same moments as the other targets' same point (SfuPlan.pairedFanout). */
  paired?: boolean;
  lossPercent: number;
  latencyMs: { p50: number; p95: number; p99: number };
  fps: number;
  videoJitterMs: number;
  keyFrameRequests: number;
  generatorCores: number;
  generatorSaturated: boolean;
  generatorEventLoopP99Ms: number;
  machineOtherCores: number;
  /** Subscribe attempts that failed (ICE/DTLS timeouts under load) and were retried, for this point. */
  retriedSubscriptions: number;
  /** Streams/subscriptions the server ended by itself, and peer connections down, in the chosen window. */
  serverEnded: Record<string, number>;
  connectionsDown: number;
  /** Frames and audio packets the generator could not send on time (machine too busy). */
  skipped: number;
  /** Subscriptions that could not be made even after a retry (the point is measured without them). */
  failedSubscriptions: number;
  /** The first failure's message, when there was one. */
  failure?: string;
}

export interface FirstFrameResult {
  target: TargetName;
  joins: number;
  /** Subscribe request -> first whole keyframe at the subscriber, ms. */
  values: number[];
  p50: number;
  p95: number;
  missing: number;
}

/**
 * A publisher alone in its session (no subscriber yet): what the server spends receiving one stream
 * (decrypt, parse, NACK/RR bookkeeping, REMB, timers) before it forwards anything. At 1→1 this fixed
 * cost is divided by only one stream's packets, which is what makes that point look expensive.
 */
export interface PublisherAloneResult {
  target: TargetName;
  bitrate: string;
  serverCores: number;
  /** RTP packets per second the publisher sent (video + audio): what the server received. */
  receivedPacketsPerSecond: number;
  /** Server CPU per received packet, µs (serverCores over receivedPacketsPerSecond). */
  cpuUsPerReceivedPacket: number;
  machineOtherCores: number;
}

export interface SfuSuiteResult {
  targets: Record<string, string>;
  points: SfuPoint[];
  /** Missing in results written before it was measured. */
  publisherAlone?: PublisherAloneResult[];
  firstFrame: FirstFrameResult[];
  errors: string[];
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

function toPoint(target: TargetName, scenario: 'fanout' | 'mesh', n: number, bitrate: string, fan: number, windows: WindowResult[]): SfuPoint {
  const perPacket = windows.map((w) => w.server?.cpuUsPerForwardedPacket ?? NaN);
  const mid = median(perPacket);
  // The window closest to the median (a window where nothing arrived has no figure: NaN).
  let best = 0;
  perPacket.forEach((x, i) => {
    if (Number.isFinite(x) && !(Math.abs(x - mid) >= Math.abs(perPacket[best]! - mid))) best = i;
  });
  const w = windows[best]!;
  // What was asked of the server: each subscription forwards one publisher's packets (all send alike).
  const offered = w.publishers > 0 ? (w.sent.packetsPerSecond / w.publishers) * w.subscriptions : w.sent.packetsPerSecond * fan;
  return {
    target,
    scenario,
    n,
    bitrate,
    subscriptions: w.subscriptions,
    offeredPacketsPerSecond: offered,
    forwardedPacketsPerSecond: w.received.packetsPerSecond,
    deliveredPercent: offered > 0 ? (100 * w.received.packetsPerSecond) / offered : NaN,
    serverCores: w.server?.cores ?? NaN,
    serverRssMB: (w.server?.rssBytes ?? NaN) / 1048576,
    cpuUsPerPacket: mid,
    packetsPerSecondPerCore: 1e6 / mid,
    windowsCpuUsPerPacket: perPacket,
    windowSeconds: w.seconds,
    lossPercent: w.lossPercent,
    latencyMs: { p50: w.latencyMs.p50, p95: w.latencyMs.p95, p99: w.latencyMs.p99 },
    fps: w.fps.p50,
    videoJitterMs: w.videoJitterMs.p50,
    keyFrameRequests: w.sent.keyFrameRequests,
    generatorCores: w.generator.cores,
    generatorSaturated: windows.some((x) => x.generator.saturated),
    generatorEventLoopP99Ms: w.generator.eventLoopP99Ms,
    machineOtherCores: w.machine.otherCores,
    retriedSubscriptions: 0,
    serverEnded: w.failures.serverEnded,
    connectionsDown: w.failures.publishersDown + w.failures.subscriptionsDown,
    skipped: w.sent.skipped,
    failedSubscriptions: 0,
  };
}

function describe(p: SfuPoint): string {
  return (
    `${p.target} ${p.scenario} n=${p.n} ${p.bitrate}: ${fmt(p.forwardedPacketsPerSecond)} pkt/s (${fmt(p.deliveredPercent, 1)} % of offered), ` +
    `server ${fmt(p.serverCores * 100)} % -> ${fmt(p.cpuUsPerPacket, 1)} µs/pkt, latency p50 ${fmt(p.latencyMs.p50, 1)} ms, ` +
    `generator ${fmt(p.generatorCores * 100)} %${p.generatorSaturated ? ' SATURATED' : ''} (loop p99 ${fmt(p.generatorEventLoopP99Ms)} ms), ` +
    `other ${fmt(p.machineOtherCores * 100)} %${p.retriedSubscriptions ? `, ${p.retriedSubscriptions} subscribes retried` : ''}` +
    (Object.keys(p.serverEnded).length ? `, ended by server: ${Object.entries(p.serverEnded).map(([k, n]) => `${n} ${k}`).join(', ')}` : '') +
    (p.connectionsDown ? `, ${p.connectionsDown} peer connections down` : '')
  );
}

/** Busy cores of other processes above which a window is retaken (this machine may be shared). */
const OTHER_LOAD_LIMIT = 0.35;

/**
 * `plan.windows` measurement windows; a window during which other processes kept the machine busy
 * is taken again (one extra at most, for the time budget), and if quiet ones are too few the noisy ones stay,
 * flagged through machineOtherCores.
 */
/**
 * A saturated server fails some subscriptions (their requests time out): the point is still
 * measured with the others, and says how many failed; "offered" then counts only what was asked.
 */
function noteFailures(point: SfuPoint, failed: PromiseRejectedResult[]): void {
  if (failed.length === 0) return;
  point.failedSubscriptions = failed.length;
  point.failure = (failed[0]!.reason as Error).message;
  log(`  ... ${failed.length} subscriptions failed: ${point.failure}`);
}

async function windows(run: LoadRun, plan: SfuPlan, counted: (w: WindowResult) => number): Promise<WindowResult[]> {
  return (await windowsTogether([run], plan, counted))[0]!;
}

/**
 * The windows of one point on each run, each window taken on every run at the same moments (see
 * SfuPlan.pairedFanout); all runs' windows are as long as the slowest run needs.
 */
export async function windowsTogether(
  runs: Pick<LoadRun, 'measure'>[],
  plan: Pick<SfuPlan, 'warmupSeconds' | 'windowSeconds' | 'windows' | 'minWindowPackets' | 'maxWindowSeconds'>,
  counted: (w: WindowResult) => number,
): Promise<WindowResult[][]> {
  await new Promise((r) => setTimeout(r, plan.warmupSeconds * 1000));
  const measure = (seconds: number): Promise<WindowResult[]> => Promise.all(runs.map((run) => run.measure(seconds)));
  let seconds = plan.windowSeconds;
  let first: WindowResult[] | null = await measure(seconds);
  if (plan.minWindowPackets > 0) {
    const longer = longerWindow(plan, Math.min(...first.map(counted)));
    // Too few packets for one of the point's windows: the first one only sized the others.
    if (longer > seconds) [seconds, first] = [longer, null];
  }
  const quiet: WindowResult[][] = runs.map(() => []);
  const all: WindowResult[][] = runs.map(() => []);
  for (let i = 0; i < plan.windows + 1 && quiet.some((q) => q.length < plan.windows); i++) {
    const taken = first ?? (await measure(seconds));
    first = null;
    taken.forEach((w, r) => {
      all[r]!.push(w);
      if (w.machine.otherCores <= OTHER_LOAD_LIMIT && quiet[r]!.length < plan.windows) quiet[r]!.push(w);
    });
  }
  return runs.map((_, r) => (quiet[r]!.length ? quiet[r]! : all[r]!));
}

/** Seconds a window needs at `rate` packets per second for plan.minWindowPackets (at most plan.maxWindowSeconds). */
function longerWindow(plan: Pick<SfuPlan, 'windowSeconds' | 'minWindowPackets' | 'maxWindowSeconds'>, rate: number): number {
  if (!(rate > 0) || rate * plan.windowSeconds >= plan.minWindowPackets) return plan.windowSeconds;
  const seconds = Math.ceil(Math.min(plan.maxWindowSeconds, plan.minWindowPackets / rate));
  log(`  ${fmt(rate)} pkt/s: windows of ${seconds} s (${plan.minWindowPackets} packets, at most ${plan.maxWindowSeconds} s)`);
  return seconds;
}

const forwarded = (w: WindowResult): number => w.received.packetsPerSecond;

/** An unmeasured 1→4 call (see SfuPlan.serverWarmupSeconds). */
async function warmUp(run: LoadRun, bitrate: string, seconds: number): Promise<void> {
  const [session] = await run.createSessions(1, 2);
  const publisher = await run.join(session!, 6);
  const subscribers: ParticipantRef[] = [];
  try {
    const streamId = await run.publish(publisher, bitrate);
    for (let i = 0; i < 4; i++) {
      const p = await run.join(session!);
      subscribers.push(p);
      await run.subscribe(p, streamId, 1);
    }
    await new Promise((r) => setTimeout(r, seconds * 1000));
    log(`  warm-up: 1→4 at ${bitrate} for ${seconds} s (not measured)`);
  } finally {
    await Promise.all([...subscribers, publisher].map((p) => run.leave(p).catch(() => {})));
  }
}

/** 1→N, N = each of plan.fanout but those measured paired (`paired`), subscribers added step by step. */
async function fanout(run: LoadRun, target: TargetName, bitrate: string, plan: SfuPlan, result: SfuSuiteResult, paired: ReadonlySet<number>): Promise<void> {
  const [session] = await run.createSessions(1, 2);
  const publisher = await run.join(session!, 10);
  const streamId = await run.publish(publisher, bitrate);
  const subscribers: ParticipantRef[] = [];
  try {
    result.publisherAlone!.push(publisherAlone(target, bitrate, await windows(run, plan, (w) => w.sent.packetsPerSecond)));
    for (const n of plan.fanout) {
      if (paired.has(n)) continue;
      const joining: Promise<void>[] = [];
      while (subscribers.length + joining.length < n) {
        joining.push(
          run.join(session!).then(async (p) => {
            subscribers.push(p);
            await run.subscribe(p, streamId, 1);
          }),
        );
      }
      const retried = run.subscribeRetries.length;
      const failed = (await Promise.allSettled(joining)).filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      const point = toPoint(target, 'fanout', n, bitrate, n, await windows(run, plan, forwarded));
      point.retriedSubscriptions = run.subscribeRetries.length - retried;
      noteFailures(point, failed);
      result.points.push(point);
      log(`  ${describe(point)}`);
    }
  } finally {
    await Promise.all([...subscribers, publisher].map((p) => run.leave(p).catch(() => {})));
  }
}

function publisherAlone(target: TargetName, bitrate: string, measured: WindowResult[]): PublisherAloneResult {
  const cores = median(measured.map((w) => w.server?.cores ?? NaN));
  const w = measured.reduce((best, x) => (Math.abs((x.server?.cores ?? NaN) - cores) < Math.abs((best.server?.cores ?? NaN) - cores) ? x : best));
  const received = w.sent.packetsPerSecond;
  const r = { target, bitrate, serverCores: cores, receivedPacketsPerSecond: received, cpuUsPerReceivedPacket: received > 0 ? (cores * 1e6) / received : NaN, machineOtherCores: w.machine.otherCores };
  log(`  ${target} publisher alone ${bitrate}: server ${fmt(cores * 100, 1)} % for ${fmt(received)} pkt/s received -> ${fmt(r.cpuUsPerReceivedPacket, 1)} µs per received packet, other ${fmt(r.machineOtherCores * 100)} %`);
  return r;
}

async function mesh(run: LoadRun, target: TargetName, bitrate: string, plan: SfuPlan, result: SfuSuiteResult): Promise<void> {
  for (const n of plan.mesh) {
    const [session] = await run.createSessions(1, n);
    const participants: { p: ParticipantRef; streamId: string }[] = [];
    const retried = run.subscribeRetries.length;
    try {
      await Promise.all(
        Array.from({ length: n }, async () => {
          const p = await run.join(session!, n + 3);
          participants.push({ p, streamId: await run.publish(p, bitrate) });
        }),
      );
      const work: Promise<unknown>[] = [];
      for (const a of participants) for (const b of participants) if (a !== b) work.push(run.subscribe(a.p, b.streamId, 1));
      const failed = (await Promise.allSettled(work)).filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      const point = toPoint(target, 'mesh', n, bitrate, n - 1, await windows(run, plan, forwarded));
      point.retriedSubscriptions = run.subscribeRetries.length - retried;
      noteFailures(point, failed);
      result.points.push(point);
      log(`  ${describe(point)}`);
    } finally {
      await Promise.all(participants.map(({ p }) => run.leave(p).catch(() => {})));
    }
  }
}

async function firstFrames(run: LoadRun, target: TargetName, bitrate: string, plan: SfuPlan): Promise<FirstFrameResult> {
  const [session] = await run.createSessions(1, 2);
  const publisher = await run.join(session!, 3);
  const streamId = await run.publish(publisher, bitrate);
  const values: number[] = [];
  let missing = 0;
  try {
    await new Promise((r) => setTimeout(r, 1000)); // past the publisher's own start
    for (let i = 0; i < plan.firstFrameJoins; i++) {
      const p = await run.join(session!);
      const { subscription } = await run.subscribe(p, streamId);
      const ms = await run.waitFirstFrame(subscription, 10_000);
      if (ms === null) missing++;
      else values.push(ms);
      await run.leave(p);
      // Apart enough that each join is a new subscriber's, not one keyframe shared by several.
      await new Promise((r) => setTimeout(r, 600));
    }
  } finally {
    await run.leave(publisher).catch(() => {});
  }
  const r = { target, joins: plan.firstFrameJoins, values, p50: percentile(values, 50), p95: percentile(values, 95), missing };
  log(`  ${target} time to first frame over ${r.joins} joins: p50 ${fmt(r.p50)} ms, p95 ${fmt(r.p95)} ms${missing ? `, ${missing} without a frame in 10 s` : ''}`);
  return r;
}

/** The 1→N points of plan.pairedFanout, on every target at once (see there). */
async function pairedFanout(plan: SfuPlan, network: { address: string; interfaceName: string }, names: TargetName[], sizes: number[], result: SfuSuiteResult): Promise<void> {
  log(`SFU cost, 1→${sizes.join(', 1→')} on ${names.join(' and ')} at the same moments`);
  const started: { target: RunningTarget; run: LoadRun }[] = [];
  try {
    for (const name of names) {
      const target = await startTarget(name, network);
      started.push({ target, run: await startRun(plan, network, target) });
    }
    if (plan.serverWarmupSeconds > 0) {
      const warm = await Promise.allSettled(started.map(({ run }) => warmUp(run, plan.bitrates[0]!.name, plan.serverWarmupSeconds)));
      warm.forEach((w, i) => w.status === 'rejected' && result.errors.push(`${started[i]!.target.name} paired warm-up: ${(w.reason as Error).message}`));
    }
    for (const b of plan.bitrates) {
      for (const n of sizes) {
        const calls = await Promise.all(started.map(({ run }) => startFanoutCall(run, b.name, n)));
        try {
          const measured = await windowsTogether(started.map(({ run }) => run), plan, forwarded);
          started.forEach(({ target }, i) => {
            const point = toPoint(target.name, 'fanout', n, b.name, n, measured[i]!);
            point.paired = true;
            noteFailures(point, calls[i]!.failed);
            result.points.push(point);
            log(`  ${describe(point)}`);
          });
        } finally {
          await Promise.all(started.map(({ run }, i) => Promise.all(calls[i]!.participants.map((p) => run.leave(p).catch(() => {})))));
        }
      }
    }
  } catch (err) {
    result.errors.push(`paired 1→${sizes.join(', 1→')}: ${(err as Error).message}`);
    log(`  paired points failed: ${(err as Error).message}`);
  } finally {
    for (const { target, run } of started) {
      await run.close();
      await target.stop();
    }
  }
}

/** A publisher and n subscribers in a new session; subscriptions that fail are counted, not thrown. */
async function startFanoutCall(run: LoadRun, bitrate: string, n: number): Promise<{ participants: ParticipantRef[]; failed: PromiseRejectedResult[] }> {
  const [session] = await run.createSessions(1, 2);
  const publisher = await run.join(session!, n + 3);
  const participants = [publisher];
  const streamId = await run.publish(publisher, bitrate);
  const settled = await Promise.allSettled(
    Array.from({ length: n }, async () => {
      const p = await run.join(session!);
      participants.push(p);
      await run.subscribe(p, streamId, 1);
    }),
  );
  return { participants, failed: settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected') };
}

function startRun(plan: SfuPlan, network: { address: string }, target: RunningTarget): Promise<LoadRun> {
  return LoadRun.start({
    target: target.spec,
    workers: plan.workers,
    bindIp: network.address,
    clips: Object.fromEntries(plan.bitrates.map((b) => [b.name, b.clip])),
    serverPid: target.pid,
  });
}

export async function runSfuSuite(
  plan: SfuPlan,
  network: { address: string; interfaceName: string },
  targets: TargetName[],
  hooks: { afterTarget?: (target: RunningTarget, run: LoadRun) => Promise<void> } = {},
): Promise<SfuSuiteResult> {
  const result: SfuSuiteResult = { targets: {}, points: [], publisherAlone: [], firstFrame: [], errors: [] };
  const paired = new Set(targets.length > 1 ? plan.pairedFanout.filter((n) => plan.fanout.includes(n)) : []);
  if (paired.size) await pairedFanout(plan, network, targets, [...paired], result);
  for (const name of targets) {
    log(`SFU cost: ${name}`);
    const target = await startTarget(name, network);
    result.targets[name] = target.description;
    const run = await startRun(plan, network, target);
    try {
      if (plan.serverWarmupSeconds > 0) {
        try {
          await warmUp(run, plan.bitrates[0]!.name, plan.serverWarmupSeconds);
        } catch (err) {
          result.errors.push(`${name} warm-up: ${(err as Error).message}`);
        }
      }
      for (const b of plan.bitrates) {
        for (const step of [fanout, mesh] as const) {
          try {
            await step(run, name, b.name, plan, result, paired);
          } catch (err) {
            result.errors.push(`${name} ${step.name} ${b.name}: ${(err as Error).message}`);
            log(`  ${name} ${step.name} ${b.name} failed: ${(err as Error).message}`);
          }
        }
      }
      try {
        result.firstFrame.push(await firstFrames(run, name, plan.bitrates[0]!.name, plan));
      } catch (err) {
        result.errors.push(`${name} first frame: ${(err as Error).message}`);
      }
      try {
        await hooks.afterTarget?.(target, run);
      } catch (err) {
        // The profile step: a saturated server refusing its publisher must not lose the points above.
        result.errors.push(`${name} after the points: ${(err as Error).message}`);
        log(`  ${name} after the points failed: ${(err as Error).message}`);
      }
    } finally {
      await run.close();
      await target.stop();
    }
  }
  return result;
}
