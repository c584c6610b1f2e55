// Downlink: one client's downlink, across all its subscriber connections. OpenTok's model is a
// peer connection per Subscriber, so a participant watching three streams is three connections
// (subscriber-transport.ts) behind one home link. They get one estimate, one allocator and one
// probe at a time, here:
// - One estimate (bandwidth-estimator.ts) fed by every member's transport feedback. Each message
//   reports its own connection's packets, but in the browser's one clock (measured in Chromium:
//   the lowest one-way delays of one client's connections agree within 0.1 ms), so together they
//   show the link: what arrives in all, the queue all of them wait in. Each member's transport-wide
//   sequence numbers are offset by a base of its own, so they stay unique in the estimator.
// - One allocator (allocator.ts) shares the estimate across the client's streams: audio first,
//   then screen shares, then cameras (in the order they were subscribed), each video's step or off.
//   A video's steps are its spatial layers, and below the lowest one at its full frame rate, that
//   layer at fewer VP8 temporal layers (T0 alone: a quarter of the frames, for ~40 % of the bytes
//   in Chromium's L1T3): a link too weak for every stream's lowest layer lowers their frame rate
//   before it switches one off.
// - One probe at a time: padding on one video's RTX tops up everything the members send meanwhile
//   (each member's sequencer numbers its packets into the probe's cluster) to the probe rate.
//
// Before (downlink-group.ts, session 21), each connection estimated its own flow: each saw about
// half of a 500 kbps link, each probed for the 640 px layer, and one's probe read as the other's
// saturation. In the impairment bench, two streams to a 500 kbps subscriber froze a median ~37 %
// of the time per stream. Without a group key a transport has a Downlink of its own.

import type { Consumer } from './consumer.js';
import { PACKET_OVERHEAD, PADDING_PACKET_BYTES } from './consumer.js';
import { DownlinkAllocator, nominalLayerRate, preferredRate, type VideoSlot } from './allocator.js';
import { BandwidthEstimator, type BandwidthUsage, type EstimateCut, type PacketResult } from './bandwidth-estimator.js';
import type { ProducerLayer, ProducerSource } from './forwarding-table.js';
import { everyPeriod, type ClockTask } from './media-clock.js';
import { MAX_TEMPORAL_LAYER } from './vp8-temporal.js';
import { probeRate, ProbePacer, ProbeScheduler } from './probe-pacer.js';
import type { TransportWideSequencer } from './transport-feedback.js';

/**
 * The downlink estimate before any feedback: high enough for a 720p top layer, so a good link
 * starts at its best; a weak one is found out within a second or two. Tried and reverted (session
 * 32): 700 kbps with a climb by probes from 1 s after the connection came up. A subscriber joining
 * behind a 500 kbps link (the 3x4 impairment bench with ONSET=join) then settled in 1.4–1.6 s
 * instead of 4.3–8.1 and froze nothing from 5 s in, where at 3 Mbps it gets three 720p streams at
 * once and a probe for the rest; but every subscriber on a good link had to climb, and on this
 * 2-core machine under a second test suite the climb's probes misread and held 1:1 calls at
 * 320 px for tens of seconds (three Chromium tests failed in one paired run). See
 * packages/sfu/README.md, the start.
 */
export const INITIAL_DOWNLINK_ESTIMATE = 3_000_000;
/**
 * The start-up hold: from a client's first connection coming up, its allocation is capped at
 * STARTUP_CAP (the estimate itself stays the initial one) until the link has been shown, so that
 * a weak link is found before the top layers and a probe for the rest are sent into it. Once it
 * has lasted STARTUP_HOLD_MS and the link shows no queue (not overusing, no decrease for
 * STARTUP_QUIET_MS), a start-up probe (STARTUP_PROBE_MAX) tests the link over the media, sized
 * as if the media's rate were the estimate (a weak link's queue holds what it sends over the
 * link). Its success lifts the hold, and the layers step up at once to the estimate (as after any
 * probe's success); its saturation cuts the estimate to the link (the estimator's probe
 * saturation), and the hold lifts on that; one that read nothing is sent again, and after
 * STARTUP_PROBES the hold lifts anyway (the allocator then steps up only once the estimate has
 * held). When nothing more is wanted than the cap gives, it lifts without a probe; when no video
 * can pad (no RTX, or nothing sent yet) by STARTUP_HOLD_MAX_MS, without one too.
 * The media under the cap cannot show a link it does not fill: three cameras' 320 px layers and
 * audio (~450 kbps) fit a 500 kbps link, and a hold lifted on the media alone gave such a link
 * the top layers and a 3.8 Mbps probe as before; held by time alone (1.2 s from the connection),
 * it lifted before the media flowed (under load a subscriber's first video packets came 1–2 s
 * after its subscribe); waiting for the media to flow before the probe (half of what the capped
 * allocation gives, over a measured second) lifted a free link's hold 3.2–3.3 s after the
 * connection, 2.0–3.3 s without. Without the hold, a subscriber joining behind a 500 kbps link (the 3x4
 * impairment bench, ONSET=join) got three 720p streams at once, ~6 × its link, and a probe for
 * the rest at 4.4 Mbps: it settled 4.3–8.1 s after subscribing, with freezes in 4 of 9 streams
 * from 5 s in. Tried instead and reverted (session 32): the initial estimate at 700 kbps and a
 * climb by probes, which held good links on a loaded machine at 320 px (its probes misread and
 * their queue cut the estimate); the start-up probe has no rule of its own to cut by.
 */
export const STARTUP_HOLD_MS = 1200;
export const STARTUP_HOLD_MAX_MS = 4000;
export const STARTUP_QUIET_MS = 1000;
/**
 * What the allocator shares during the start-up hold (bits/s): three cameras' 320 px layers (one
 * camera's 640 px layer) and their audio; a 1:1 call's 640 px layer.
 */
export const STARTUP_CAP = 700_000;
/** The start-up probe's rate at most (bits/s, media and padding): a link under ~85 % of it is found before the hold lifts. */
export const STARTUP_PROBE_MAX = 1_400_000;
/** Start-up probes that read nothing before the hold lifts anyway. */
export const STARTUP_PROBES = 2;
/** How often the allocator runs. */
const ALLOCATE_INTERVAL_MS = 250;
/** Probe padding is paced in slices of this length. */
const PROBE_SLICE_MS = 20;
export const PROBE_DURATION_MS = 400;
/**
 * A probe while a video is off for quality is shorter: on a link that still cannot carry the
 * video, the probe's excess over the link queues at the bottleneck ahead of the audio, and a
 * queue that overflows drops audio packets. At 100 kbps with a 300 ms queue (3.75 kB), 200 ms of
 * 1.1 × the lowest layer and audio (245 kbps) leaves 3.6 kB queued: no drop (250 ms dropped
 * audio in the simulation, downlink-loop.test.ts). Still 16+ packets for the rate to be read, and
 * long enough that a tbf bucket's burst (3.2 kB at 100 kbps) does not pass for the link's rate.
 */
export const PROBE_OFF_DURATION_MS = 200;
/**
 * A probe far above the estimate is shortened so that what it sends over the estimate is at most
 * this many ms of the estimate: on a link the estimate is right about, that much queues at the
 * bottleneck and no more (a home router's queue holds a few hundred ms). Without it, two 720p
 * streams to a 500 kbps subscriber (estimate ~350 kbps, both on the 320 px layer) were probed at
 * 890 kbps for 400 ms for the next layer: ~20 kB over the link, more than its 300 ms queue holds;
 * the media dropped with it froze the pictures, and the audio waited behind it (gaps of up to 1 s).
 */
export const PROBE_EXCESS_MS = 150;
/** No probe shorter than this: fewer packets than that read no rate on a loaded receiver. */
export const PROBE_MIN_DURATION_MS = 100;
/**
 * Nor sending fewer bytes than this (within its full length): a probe that fits in a rate
 * limiter's token bucket passes at line rate with no queue, and reads as a link it is not. At a
 * 100 kbps tbf limit (3.2 kB bucket) a video off for quality was probed at 253 kbps for 100 ms
 * (3.2 kB), read 243 kbps, came back on and went off again two seconds later. Not lengthened past
 * its full length: to show a queue, a probe at R over a link C with a bucket B must send more than
 * B × R / (R − C) (at 201 kbps over that link, 6.4 kB in 318 ms), and on the same link without a
 * bucket that overflows its 300 ms queue (3.75 kB) before the saturation shows and stops it
 * (downlink-loop.test.ts: audio lost). A probe at a rate close to the link may still pass inside
 * a bucket the size of the link's queue (the adaptive Chromium test: 201 kbps for 189 ms read as
 * a success at 100 kbps, now and then).
 */
export const PROBE_MIN_BYTES = 6000;
/**
 * A probe that succeeded at this multiple of the estimate or more shows a link with room (a limit
 * lifted): the next probe tests twice the estimate, not just the next step (a climb back from
 * the 320 px layer's T0 to two 720p streams is ten steps).
 */
const CLIMB_RATIO = 1.5;
/** Feedback for a probe's last packets comes within this; then its rate is read. */
const PROBE_SETTLE_MS = 500;
/** Video retransmissions are held this long after the estimate fell because the link was saturated (audio first). */
export const RETRANSMIT_HOLD_MS = 1000;
/** A probe's saturation cut holds no retransmissions when the estimate after it is this multiple of the media's rate. */
export const RETRANSMIT_ROOM = 1.1;
/** What an audio stream's payload is counted at before it is measured (Opus at OpenTok's default 40 kbps). */
const AUDIO_RATE = 40_000;
/**
 * Once measured, an audio stream is counted at the highest rate it sent over about this long
 * (a pause in speech, or Opus DTX in silence, does not hand its room to the video for a moment).
 * It was counted at 40 kbps at least: Chromium's Opus sent 25 kbps in the impairment bench, and
 * three streams' 45 kbps of room unused at a 500 kbps limit switched the third camera off whenever
 * the estimate fell under ~390 kbps.
 */
const AUDIO_PEAK_HOLD_MS = 10_000;
/** Audio packets a second (Opus in 20 ms frames): each also carries PACKET_OVERHEAD on the wire, a third of a small packet. */
const AUDIO_PACKETS_PER_SECOND = 50;
/**
 * A probe to bring a video back on that succeeds, for a step over this multiple of the link's
 * measured capacity, is believed only once a second one, CONFIRM_AFTER_MS later and
 * CONFIRM_DURATION_MS long, succeeds too (whether or not the first showed a queue: its queue's
 * reading, through a token bucket, was as wrong as its rate, see bandwidth-estimator.ts
 * finishProbe). A short probe that fits in a rate limiter's
 * token bucket passes at line rate: at a 100 kbps tbf limit (3.2 kB bucket, capacity read at ~95
 * kbps) probes of 172–201 kbps for ~190 ms read as successes, and the video came back on and went
 * off again (in 2 runs of 3 of the adaptive Chromium test). The long one empties the bucket
 * (172 kbps for 800 ms: 17 kB, where the bucket and the link pass 13 kB) and its queue stops it
 * as a saturation, slowly enough for the audio (the queue grows at the probe's excess over the
 * link, ~9 kB/s there); after a lift it succeeds again. The first probe is no such risk on a link
 * without a bucket: there it shows its queue and fails.
 */
const CONFIRM_RATIO = 1.25;
const CONFIRM_AFTER_MS = 300;
const CONFIRM_DURATION_MS = 800;
/** The time (ms) a keyframe of `bytes` payload takes through a link of `rate` bits/s, its packets' overhead counted (~1,100-byte packets). */
export function keyFrameDrainMs(bytes: number, rate: number): number {
  if (bytes <= 0 || rate <= 0) return 0;
  const wire = bytes + Math.ceil(bytes / 1100) * PACKET_OVERHEAD;
  return (wire * 8 * 1000) / rate;
}

/** Each member's transport-wide sequence numbers (16 bits) are offset by a multiple of this in the estimator. */
const SEQ_SPACE = 65_536;

/** The downlink as a transport sees it (getStats().downlink): its client's, shared by its connections. */
export interface DownlinkStats {
  estimate: number;
  ackedBitrate: number | null;
  usage: BandwidthUsage;
  lossFraction: number;
  overuses: number;
  /** Saturation cuts (the bottleneck's queue seen filling). */
  saturations: number;
  /** The link's rate as last measured at a bottleneck (the estimate grows to 95 % of it at most), or null. */
  capacity: number | null;
  /** The latest decreases of the estimate, oldest first, with what each was cut from. */
  cuts: EstimateCut[];
  /**
   * What the allocator shares: our estimate from the browser's transport feedback
   * (`transport-cc`), its REMBs (`remb`: it sends no transport feedback), or nothing to go by
   * (`none`: no limit, every video at its preferred step).
   */
  feedback: 'transport-cc' | 'remb' | 'none';
  /** Other connections of the same client sharing this downlink. */
  sharedWith: number;
  probes: number;
  probesSucceeded: number;
  lastProbeRate: number | null;
  /** The last probe read: the rate it tested, its padding (bytes), and the rate it measured (bits/s). */
  lastProbe: { target: number; paddingBytes: number; numbered: number; measured: number | null; outcome: ProbeOutcome; detail: BandwidthEstimator['lastProbeDetail']; pacing: ProbePacing } | null;
  /** Keyframes asked for to repair pictures (packets gone unrepaired), and the asks that first waited for the keyframes before them to pass. */
  repairKeyFrames: { asked: number; deferred: number };
  /** Keyframes a layer switch asked for while forwarding, and the asks that first waited for the keyframes before them to pass. */
  switchKeyFrames: { asked: number; deferred: number };
  /** How long the start-up hold capped the allocation (ms, STARTUP_HOLD_MS), or null while it holds (or before any connection came up). */
  startupHeldMs: number | null;
}

/**
 * How a member's browser reports what it receives, as its SDP answer settled: transport feedback
 * (the transport-wide sequence number extension taken), else at most a REMB (its own receive-side
 * estimate, when `goog-remb` was taken; Chromium sends one only without transport-cc).
 */
export type DownlinkFeedback = 'transport-cc' | 'remb-only';

/** What a subscriber connection shows its downlink. */
export interface DownlinkMember {
  /** Its consumers, in the order they were made. */
  readonly consumers: readonly Consumer[];
  /** Its connection is up: its consumers send. */
  readonly connected: boolean;
  /** Numbers its packets for transport feedback (and into a probe's cluster). */
  readonly sequencer: TransportWideSequencer;
  /** What its browser reports: transport-cc once the answer took the transport-wide extension on any of its consumers. */
  readonly feedback: DownlinkFeedback;
}

/**
 * How a probe's padding went (diagnostics, in `lastProbe`): its planned length, why it ended, the
 * longest gap between its pacing ticks (a busy event loop: nothing is padded meanwhile), and the
 * padding owed that its padder did not send (it could no longer pad).
 */
export interface ProbePacing {
  durationMs: number;
  endedBy: 'duration' | 'bytes' | 'saturation' | 'padder-closed' | 'replaced';
  longestTickGapMs: number;
  refusedPackets: number;
}

interface Probe {
  id: number;
  /** How its padding went (ProbePacing). */
  pacing: ProbePacing;
  rate: number;
  /** What the step it tests needs (bits/s). */
  wanted: number;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
  pacer: ProbePacer;
  /** Tested whether a video that is off for quality fits again. */
  off: boolean;
  /** Packets numbered in its cluster (media and padding, all members), as it ended. */
  numbered: number;
  /** A saturation cut showed while it was sent. */
  saturated: boolean;
  /** The sequencers numbering into its cluster. */
  sequencers: TransportWideSequencer[];
  /** The estimate when it began. */
  estimate: number;
  /** It confirms an earlier probe's success (see CONFIRM_RATIO). */
  confirm: boolean;
  /** The start-up probe (STARTUP_HOLD_MS): its outcome lifts the hold. */
  startup: boolean;
}

export class Downlink {
  /** Each member, with the base its sequence numbers are offset by. */
  readonly #members = new Map<DownlinkMember, number>();
  #nextSeqBase = 0;
  readonly #estimator = new BandwidthEstimator({ initial: INITIAL_DOWNLINK_ESTIMATE });
  readonly #allocator = new DownlinkAllocator();
  readonly #probes = new ProbeScheduler();
  #timer: ClockTask | undefined;
  #probe: Probe | null = null;
  #probeIds = 0;
  #probesSucceeded = 0;
  #lastProbeRate: number | null = null;
  #lastProbe: DownlinkStats['lastProbe'] = null;
  #lastSaturationSeen = -Infinity;
  /** The last probe showed CLIMB_RATIO × the estimate or more (at #climbingSince): the next one tests twice the estimate. */
  #climbing = false;
  #climbingSince = -Infinity;
  /** The next probe confirms a success that contradicted the measured capacity. */
  #confirmNext = false;
  /** Per audio consumer, what it is counted at (AudioRateHold). */
  readonly #audioRates = new WeakMap<Consumer, AudioRateHold>();
  /** Until when (performance.now() ms) the keyframes forwarded or asked for repairs keep the link busy at the budget's rate. */
  #keyFramesBusyUntil = -Infinity;
  /** Keyframes asked for through the gate, by why, and how many had to wait for the link first. */
  readonly #gatedKeyFrames = { repair: { asked: 0, deferred: 0 }, switch: { asked: 0, deferred: 0 } };
  /** When the first member's connection came up (the start-up hold began), or null. */
  #startupAt: number | null = null;
  /** When the hold lifted, or null while it holds. */
  #startupLiftedAt: number | null = null;
  #startupProbes = 0;

  get size(): number {
    return this.#members.size;
  }

  join(member: DownlinkMember): void {
    if (this.#members.has(member)) return;
    this.#members.set(member, this.#nextSeqBase);
    this.#nextSeqBase += SEQ_SPACE;
  }

  /** Returns whether the downlink is empty now (its owner drops it); then its timers stop. */
  leave(member: DownlinkMember): boolean {
    this.#members.delete(member);
    if (this.#members.size > 0) return false;
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#probe) clearInterval(this.#probe.timer);
    this.#probe = null;
    return true;
  }

  /**
   * A member's connection came up: allocation rounds run from now on, and its consumers get their
   * layers now, before their first packet. A consumer starts aiming at its preferred layer; left
   * so until the next round (up to ALLOCATE_INTERVAL_MS), the third stream of a subscriber joining
   * behind a 500 kbps link took the 1280 px layer's keyframe and forwarded that layer until the
   * lowest one's keyframe came.
   */
  connected(): void {
    const now = performance.now();
    if (this.#timer === undefined) {
      this.#startupAt = now;
      this.#timer = everyPeriod(ALLOCATE_INTERVAL_MS, () => this.allocate(performance.now()));
    }
    this.allocate(now);
  }

  /** Whether the start-up hold caps the allocation now (STARTUP_HOLD_MS). */
  #startupHeld(): boolean {
    return this.#startupLiftedAt === null && this.#startupAt !== null;
  }

  /**
   * Whether the start-up hold may end now: `probe` once it has lasted STARTUP_HOLD_MS with the link
   * showing no queue and a video able to pad; `lift` (no probe) once it has lasted
   * STARTUP_HOLD_MAX_MS with none able to (no RTX, or nothing sent yet).
   */
  #startupNext(now: number, videos: readonly Consumer[]): 'probe' | 'lift' | null {
    const e = this.#estimator;
    const held = now - this.#startupAt!;
    if (held < STARTUP_HOLD_MS || e.usage === 'overusing' || now - e.lastDecreaseAt < STARTUP_QUIET_MS) return null;
    if (videos.some((c) => c.canPad)) return 'probe';
    return held >= STARTUP_HOLD_MAX_MS ? 'lift' : null;
  }

  /** The start-up hold lifts: the allocator shares the estimate, at once when `stepUp` (a probe, or nothing, showed it holds), else after its up-hold. */
  #liftStartup(now: number, stepUp: boolean): void {
    this.#startupLiftedAt = now;
    this.allocate(now, stepUp && this.#estimator.lastDecreaseAt < (this.#startupAt ?? -Infinity));
  }

  /** One member's transport feedback, as its sequencer read it. */
  onFeedback(member: DownlinkMember, results: PacketResult[], now: number): void {
    const base = this.#members.get(member);
    if (base === undefined || results.length === 0) return;
    if (base !== 0) for (const r of results) if (r.seq !== undefined) r.seq += base;
    this.#estimator.onFeedback(results, now, base);
    const saturatedAt = this.#estimator.lastSaturationAt;
    if (saturatedAt === this.#lastSaturationSeen) return;
    // The link is saturated: no video retransmissions for a while, and the allocator steps down
    // (or switches off) now rather than at its next round, so the queue drains sooner.
    this.#lastSaturationSeen = saturatedAt;
    const hold = retransmitHoldMs(saturatedAt, this.#probe?.startedAt ?? null, this.#estimator.estimate, this.#mediaBitrate());
    if (hold > 0) for (const consumer of this.#consumers()) if (consumer.kind === 'video') consumer.holdRetransmissions(now + hold);
    // A video whose lowest step no longer fits goes off in this round, without the hold, when the
    // media filled the link; not when a probe's excess did (the media fitted, the estimate is held
    // at 95 % of the link: a 3x4 run's probe saturation turned a stream off for 2 s).
    this.allocate(now, false, !this.#estimator.lastSaturationByProbe);
  }

  /**
   * @internal A member's consumer forwarded the first packet of a keyframe of about `bytes`
   * (its layer's last one): the link carries it for `bytes` at the budget's rate, after the
   * keyframes before it. What is left of the reservation made when it was asked for (ending at
   * `reservedUntil`) was that same keyframe: not counted twice (counted twice, the next stream's
   * switch at a limit's onset waited two keyframes' time for one).
   */
  keyFrameForwarded(bytes: number, now: number, reservedUntil = -Infinity): void {
    if (bytes <= 0) return;
    const drain = keyFrameDrainMs(bytes, this.#budget().rate);
    const reserved = Math.min(drain, Math.max(0, reservedUntil - now));
    this.#keyFramesBusyUntil = Math.max(this.#keyFramesBusyUntil, now) + drain - reserved;
  }

  /** @internal Until when the keyframes forwarded and reserved keep the link busy (performance.now() ms). */
  get keyFramesBusyUntil(): number {
    return this.#keyFramesBusyUntil;
  }

  /**
   * @internal A consumer wants a keyframe of about `bytes`, to repair its picture (packets went
   * unrepaired) or for the layer it switches to while forwarding: 0 when it may ask now (the link
   * is counted busy with it from now), else how many ms to wait first. A client's keyframes go
   * one after another, each once the link has carried the keyframes before it. Repairs: the three
   * streams of the 3x4 impairment bench's limited subscriber asked theirs at once when the
   * retransmission hold ended (each consumer counts only its own), three 320 px keyframes
   * together overflowed the 500 kbps link's 300 ms queue, and the loss asked for more (a
   * saturation cut a second, two videos off, frozen 35-86 % of the settled limit in one run).
   * Switches: a limit's onset steps every stream of the client down at once, their three 320 px
   * keyframes asked together met the queue still full of the top layers' packets, and the last
   * stream's was tail-dropped: it froze 1.4–2.2 s where the first froze ~0.8 s.
   */
  reserveKeyFrame(bytes: number, now: number, why: 'repair' | 'switch'): number {
    const count = this.#gatedKeyFrames[why];
    if (now < this.#keyFramesBusyUntil) {
      count.deferred++;
      return Math.ceil(this.#keyFramesBusyUntil - now); // whole ms: a timer's fraction is cut, it would wake a moment early
    }
    count.asked++;
    this.#keyFramesBusyUntil = now + keyFrameDrainMs(bytes, this.#budget().rate);
    return 0;
  }

  /** What an audio consumer's payload is counted at (bits/s): AudioRateHold. */
  #audioRate(consumer: Consumer, now: number): number {
    let hold = this.#audioRates.get(consumer);
    if (hold === undefined) this.#audioRates.set(consumer, (hold = new AudioRateHold()));
    return hold.rate(consumer.bitrate, now);
  }

  /** What the unpaused consumers sent over their last measured second (bits/s). A consumer leaves its member's list as it closes. */
  #mediaBitrate(): number {
    let media = 0;
    for (const consumer of this.#consumers()) if (!consumer.paused) media += consumer.bitrate;
    return media;
  }

  /** The consumers of the connected members, in the members' order. */
  *#consumers(): Generator<Consumer> {
    for (const member of this.#members.keys()) if (member.connected) yield* member.consumers;
  }

  /** Shares the estimate: audio first, then each video's layer (or off); then maybe a probe. */
  allocate(now: number, probed = false, saturated = false): void {
    let audio = 0;
    const videos: Consumer[] = [];
    for (const consumer of this.#consumers()) {
      if (consumer.paused || consumer.closed) continue;
      if (consumer.kind === 'audio') audio += consumer.producerPaused ? 0 : this.#audioRate(consumer, now) + AUDIO_PACKETS_PER_SECOND * PACKET_OVERHEAD * 8;
      else if (!consumer.producerPaused) videos.push(consumer);
    }
    if (videos.length === 0) return;
    const steps = videos.map(videoSteps);
    const slots: VideoSlot[] = videos.map((c, i) => ({ rates: steps[i]!.rates, preferred: steps[i]!.preferred, onStep: steps[i]!.onStep, screen: c.screenShare, fallback: c.audioFallback, key: c }));
    const budget = this.#budget();
    // The start-up hold caps what is shared, not the estimate (nor a client without transport
    // feedback: nothing would show its link).
    const held = budget.estimated && this.#startupHeld();
    const decisions = this.#allocator.update(now, held ? Math.min(budget.rate, STARTUP_CAP) : budget.rate, audio, slots, probed, saturated);
    videos.forEach((consumer, i) => {
      const { layer: step, warning } = decisions[i]!;
      const layer = step < 0 ? null : steps[i]!.layers[step]!;
      // A warning before the video goes off; the video back on before the warning is lifted.
      if (warning) consumer.setQualityWarning(true);
      if (layer !== null) consumer.setBandwidthTemporalLayer(layer.temporal);
      consumer.setBandwidthLayer(layer === null ? -1 : layer.spatial);
      if (!warning) consumer.setQualityWarning(false);
    });
    // Climbing (the last probe showed CLIMB_RATIO × the estimate, no decrease since): the next
    // probe tests twice the estimate, up to what every video at its preferred step needs, and the
    // allocator takes as many steps as it shows fit. Otherwise the next step alone.
    // Without transport feedback nothing could read a probe.
    if (!budget.estimated) return;
    if (held) {
      const next = this.#probe === null ? this.#startupNext(now, videos) : null;
      if (next === 'lift') this.#liftStartup(now, true); // nothing to probe with: as without the hold
      else if (next === 'probe') this.#startupProbe(now, Math.min(budget.rate, preferredRate(audio, slots)), videos);
      return;
    }
    let wanted = DownlinkAllocator.nextStep(audio, slots, decisions);
    if (wanted !== null && this.#climbing && this.#estimator.lastDecreaseAt < this.#climbingSince) {
      wanted = Math.max(wanted, Math.min(2 * this.#estimator.estimate, preferredRate(audio, slots)));
    }
    this.#maybeProbe(now, wanted, videos);
  }

  /**
   * What the allocator shares (bits/s), and whether it is our estimate. A client whose browser
   * sends transport feedback on any connected member: the estimate (INITIAL_DOWNLINK_ESTIMATE
   * until the first feedback). One that sends none cannot be estimated from here: the sum of its
   * members' latest REMBs (each its connection's receive-side estimate) if any came, else no
   * limit: every video at its preferred step, as before downlink estimation. Held at the initial
   * estimate instead, such a client never left it: the load tool's subscribers (REMB offered,
   * never sent) in a 16-way mesh at 1.5 Mbps per stream got 27 % of their media.
   */
  #budget(): { rate: number; estimated: boolean } {
    let remb: number | null = null;
    for (const member of this.#members.keys()) {
      if (!member.connected) continue;
      if (member.feedback === 'transport-cc') return { rate: this.#estimator.estimate, estimated: true };
      let latest: number | null = null;
      for (const consumer of member.consumers) if (consumer.receiverEstimate !== null) latest = Math.max(latest ?? 0, consumer.receiverEstimate);
      if (latest !== null) remb = (remb ?? 0) + latest;
    }
    return { rate: remb ?? Infinity, estimated: false };
  }

  #feedbackKind(): DownlinkStats['feedback'] {
    const budget = this.#budget();
    return budget.estimated ? 'transport-cc' : Number.isFinite(budget.rate) ? 'remb' : 'none';
  }

  /**
   * A probe when more is wanted than the estimate holds: padding on a video's RTX at 1.1 × the
   * rate the next step needs, for PROBE_DURATION_MS (PROBE_OFF_DURATION_MS while a video is off),
   * then its measured rate may raise the estimate. When is the ProbeScheduler's (probe-pacer.ts).
   */
  #maybeProbe(now: number, wanted: number | null, videos: Consumer[]): void {
    const e = this.#estimator;
    if (this.#probe !== null || !this.#probes.due(now, wanted, e.estimate, e.usage === 'overusing', e.lastDecreaseAt)) return;
    const off = videos.some((c) => c.qualityDisabled);
    const rate = probeRate(wanted!);
    const confirm = this.#confirmNext;
    const durationMs = confirm ? CONFIRM_DURATION_MS : probeDuration(rate, e.estimate, off ? PROBE_OFF_DURATION_MS : PROBE_DURATION_MS);
    if (this.#startProbe(now, { rate, wanted: wanted!, durationMs, off, confirm, startup: false }, videos)) this.#confirmNext = false;
  }

  /**
   * The start-up probe (STARTUP_HOLD_MS): `lift` is what the allocator would share once the hold
   * lifts (the estimate, or what every video's preferred step needs if less). After STARTUP_PROBES
   * that read nothing, #finishProbe has lifted the hold already.
   */
  #startupProbe(now: number, lift: number, videos: Consumer[]): void {
    const rate = Math.min(probeRate(lift), STARTUP_PROBE_MAX);
    if (rate <= STARTUP_CAP) {
      this.#liftStartup(now, true);
      return;
    }
    // The probe is sized as if what the consumers send were the estimate.
    const durationMs = probeDuration(rate, Math.max(this.#mediaBitrate(), this.#estimator.ackedBitrate ?? 0), PROBE_DURATION_MS);
    if (this.#startProbe(now, { rate, wanted: rate / 1.1, durationMs, off: false, confirm: false, startup: true }, videos)) this.#startupProbes++;
  }

  /** Starts a probe (padding on a video's RTX); false when no video can pad. */
  #startProbe(now: number, plan: { rate: number; wanted: number; durationMs: number; off: boolean; confirm: boolean; startup: boolean }, videos: Consumer[]): boolean {
    const e = this.#estimator;
    const padder = videos.find((c) => c.canPad);
    if (padder === undefined) return false;
    const { rate, off, confirm } = plan;
    // Padding tops up what the cluster (every member's media included) has sent to the probe rate, slice by slice.
    const pacer = new ProbePacer(rate, plan.durationMs, now, PADDING_PACKET_BYTES);
    const sequencers = [...this.#members.keys()].filter((m) => m.connected).map((m) => m.sequencer);
    const pacing: ProbePacing = { durationMs: Math.round(pacer.durationMs), endedBy: 'duration', longestTickGapMs: 0, refusedPackets: 0 };
    const probe: Probe = { id: ++this.#probeIds, pacing, rate, wanted: plan.wanted, startedAt: now, timer: undefined, pacer, off, saturated: false, numbered: 0, sequencers, estimate: e.estimate, confirm, startup: plan.startup };
    this.#probe = probe;
    for (const sequencer of sequencers) sequencer.beginProbe(probe.id);
    const clusterBytes = (): number => {
      let bytes = 0;
      for (const sequencer of sequencers) if (sequencer.activeProbe === probe.id) bytes += sequencer.probeBytes;
      return bytes;
    };
    // Paced by the clock, not by the timer's count: a late timer (a busy event loop) catches up.
    let lastTick = now;
    const pace = (): void => {
      const t = performance.now();
      // The link already shows saturated during the probe: no more padding ahead of the audio.
      const saturated = this.#estimator.lastSaturationAt > probe.startedAt;
      probe.saturated ||= saturated;
      const cluster = clusterBytes();
      const due = saturated ? 0 : pacer.packetsDue(t, cluster);
      pacing.longestTickGapMs = Math.max(pacing.longestTickGapMs, Math.round(t - lastTick));
      lastTick = t;
      if (due > 0 && !padder.closed) {
        const bytes = padder.sendPadding(due, probe.id, t);
        if (bytes === 0) pacing.refusedPackets += due;
        pacer.sent(bytes);
      }
      if (this.#probe !== probe || padder.closed || saturated || pacer.done(t, clusterBytes())) {
        pacing.endedBy = this.#probe !== probe ? 'replaced' : padder.closed ? 'padder-closed' : saturated ? 'saturation' : t - probe.startedAt >= pacer.durationMs ? 'duration' : 'bytes';
        clearInterval(probe.timer);
        for (const sequencer of sequencers) {
          if (sequencer.activeProbe !== probe.id) continue;
          sequencer.activeProbe = 0;
          probe.numbered += sequencer.probePackets;
        }
        if (this.#probe === probe) setTimeout(() => this.#finishProbe(probe), PROBE_SETTLE_MS).unref();
      }
    };
    probe.timer = setInterval(pace, PROBE_SLICE_MS);
    pace();
    return true;
  }

  #finishProbe(probe: Probe): void {
    if (this.#probe !== probe) return;
    this.#probe = null;
    if (this.#members.size === 0) return;
    const now = performance.now();
    // Stopped by a saturation cut: a failure, whatever its first packets showed. Otherwise 50 % of
    // its padding must have been reported (arrived or lost), sent over at least 30 % of its time
    // (0.6 failed most 200 ms probes after a lift: on a loaded event loop the pacing timer's first
    // slice came late, and the video stayed off 25 s on a free link).
    const paddingPackets = Math.round(probe.pacer.sentBytes / PADDING_PACKET_BYTES);
    probe.saturated ||= this.#estimator.lastSaturationAt > probe.startedAt;
    // To bring a video back on, for far more than the link was measured to carry: read, not
    // believed until a full-length probe confirms it (CONFIRM_RATIO).
    const capacity = this.#estimator.capacity;
    const suspect = probe.off && !probe.confirm && capacity !== null && probe.wanted > CONFIRM_RATIO * capacity;
    const measured = probe.saturated
      ? null
      : this.#estimator.finishProbe(probe.id, now, { minPackets: Math.round(paddingPackets * 0.5), minSendSpanMs: probe.pacer.durationMs * 0.3, apply: !suspect });
    if (probe.saturated) this.#estimator.finishProbe(probe.id, now, { minPackets: Infinity }); // forgets the cluster
    this.#lastProbeRate = measured;
    const outcome = probeOutcome(probe.rate, probe.wanted, measured, this.#estimator.lastProbeDetail);
    this.#lastProbe = { target: Math.round(probe.rate), paddingBytes: probe.pacer.sentBytes, numbered: probe.numbered, measured: measured === null ? null : Math.round(measured), outcome, detail: this.#estimator.lastProbeDetail, pacing: probe.pacing };
    const succeeded = outcome === 'succeeded';
    if (probe.startup) {
      // The hold lifts on a success (stepping up at once) or a saturation (the estimator cut the
      // estimate to the link's drain: the allocation follows it); a probe that read nothing is
      // sent again, up to STARTUP_PROBES, then the hold lifts anyway.
      // After a success the next probe (for more than the estimate shares) may follow soon, as a
      // climbing one does: the initial estimate's first probe came at the connection before.
      if (succeeded) this.#probesSucceeded++;
      this.#probes.finished(now, probe.startedAt, succeeded, false, succeeded);
      if (succeeded || probe.saturated || this.#startupProbes >= STARTUP_PROBES) this.#liftStartup(now, succeeded);
      return;
    }
    if (succeeded && suspect) {
      // Read, not taken (neither the estimate nor the capacity): confirm it first.
      this.#confirmNext = true;
      this.#probes.confirmAt(now + CONFIRM_AFTER_MS);
      return;
    }
    let off = probe.off;
    for (const consumer of this.#consumers()) off ||= consumer.qualityDisabled;
    // A probe that could not send its rate but got all it sent through is no failure with video
    // on: the next comes as soon as after a success (the estimator took what it showed). While a
    // video is off the probes keep their own cadence (each may overfill a weak link's queue).
    const advanced = succeeded || (outcome === 'unsent' && !off);
    // Climbing when it showed far more than the estimate (a limit lifted), not a step just over it.
    this.#climbing = advanced && measured! >= CLIMB_RATIO * probe.estimate;
    if (this.#climbing) this.#climbingSince = probe.startedAt;
    this.#probes.finished(now, probe.startedAt, advanced, off, this.#climbing);
    if (succeeded) {
      this.#probesSucceeded++;
      // The step it tested fits: the estimate covers it, and it is taken now (no hold); the next
      // step's probe follows soon.
      this.#estimator.raiseTo(probe.wanted, now);
      this.allocate(now, true);
    }
  }

  get stats(): DownlinkStats {
    const e = this.#estimator;
    return {
      estimate: e.estimate,
      ackedBitrate: e.ackedBitrate === null ? null : Math.round(e.ackedBitrate),
      usage: e.usage,
      lossFraction: e.lossFraction,
      overuses: e.overuseCount,
      saturations: e.saturationCount,
      capacity: e.capacity === null ? null : Math.round(e.capacity),
      cuts: [...e.recentCuts],
      feedback: this.#feedbackKind(),
      sharedWith: Math.max(0, this.#members.size - 1),
      probes: this.#probeIds,
      probesSucceeded: this.#probesSucceeded,
      lastProbeRate: this.#lastProbeRate === null ? null : Math.round(this.#lastProbeRate),
      lastProbe: this.#lastProbe,
      repairKeyFrames: { ...this.#gatedKeyFrames.repair },
      switchKeyFrames: { ...this.#gatedKeyFrames.switch },
      startupHeldMs: this.#startupLiftedAt === null ? null : Math.round(this.#startupLiftedAt - this.#startupAt!),
    };
  }
}

/** What a probe showed (probeOutcome). */
export type ProbeOutcome = 'succeeded' | 'unsent' | 'failed';

/**
 * What a probe at `rate` for a step needing `wanted` (bits/s) showed, having `measured` (null:
 * no reading, or stopped by a saturation) with `detail` (the estimator's reading):
 * - `succeeded`: 85 % of its rate, or at least what the step needs;
 * - `unsent`: less than 85 % of its rate went out (its padding's pacing timer stalled on a busy
 *   event loop, or the media it counted on paused), and all that went out came through without a
 *   queue: the link was not tested at the rate, and did not fall short of what was;
 * - `failed`: otherwise (it showed a queue, or losses, short of the rate).
 * An unsent probe counted as failed: after a lift, a 1,858 kbps probe whose pacing stalled 76 ms
 * of 125 sent 1,303 kbps, all of it received; it failed, the next probe waited 2 s and the
 * third stream's top layer came back 9.1 s after the lift (the 3x4 impairment bench).
 */
export function probeOutcome(rate: number, wanted: number, measured: number | null, detail: { sendRate: number; recvRate: number; queued: boolean } | null): ProbeOutcome {
  if (measured === null) return 'failed';
  if (measured >= rate * 0.85 || measured >= wanted) return 'succeeded';
  if (detail !== null && detail.sendRate < rate * 0.85 && !detail.queued && detail.recvRate >= detail.sendRate * 0.95) return 'unsent';
  return 'failed';
}

/**
 * How long a probe at `rate` lasts (ms), given the estimate (bits/s) and its full length
 * `durationMs`: shortened so that what it sends over the estimate is PROBE_EXCESS_MS of the
 * estimate at most, but never under PROBE_MIN_DURATION_MS nor PROBE_MIN_BYTES' worth (within
 * `durationMs`).
 */
export function probeDuration(rate: number, estimate: number, durationMs: number): number {
  const excess = rate - estimate;
  if (excess <= 0) return durationMs;
  const floor = Math.max(PROBE_MIN_DURATION_MS, (PROBE_MIN_BYTES * 8000) / rate);
  return Math.round(Math.min(durationMs, Math.max(floor, (PROBE_EXCESS_MS * estimate) / excess)));
}

/**
 * How long video retransmissions are held after a saturation cut at `saturatedAt` (ms), given when
 * the probe in flight began (null: none), the estimate after the cut and the media's bitrate (what
 * the consumers sent over their last second, bits/s). A link found full by the media itself gets
 * no retransmissions for RETRANSMIT_HOLD_MS, so the queue drains and the audio gets through. A
 * link a probe filled, where the media alone fits with room to spare (the estimate ≥
 * RETRANSMIT_ROOM × the media), gets its repairs at once: the probe's padding stops at the cut,
 * while the packets of the watched layer that the overflowing queue dropped, unrepaired for a
 * second, froze the picture until the next keyframe (the impairment bench at 500 kbps: the first
 * probe, 688 kbps, 3 s into the limit, froze 2.7–4 % of two runs in four). Without that room (a
 * limit fell under the media while a probe was in flight) the hold stays. The room was 1.5 × when
 * a probe's saturation cut to 0.85 × the drain; it now leaves the media 95 % of the link the
 * probe showed, and the media (payload) is counted without its packets' headers, so 1.1 ×.
 */
export function retransmitHoldMs(saturatedAt: number, probeStartedAt: number | null, estimate: number, mediaBitrate: number): number {
  const probeFilled = probeStartedAt !== null && probeStartedAt <= saturatedAt;
  return probeFilled && estimate >= RETRANSMIT_ROOM * mediaBitrate ? 0 : RETRANSMIT_HOLD_MS;
}

/** A temporal step is counted at no less than this share of its spatial layer's rate. */
const MIN_TEMPORAL_SHARE = 0.2;

/** A video's steps for the allocator, lowest first: what each needs (bits/s), and its layers. */
export interface VideoSteps {
  rates: number[];
  layers: { spatial: number; temporal: number }[];
  /** The step of the preferred spatial layer at its full frame rate. */
  preferred: number;
  /** The step of the lowest spatial layer at its full frame rate (where a video that is off comes back on). */
  onStep: number;
}

/**
 * The steps of a video: with VP8 temporal layers filtered, its lowest spatial layer up to each TID
 * below the top (its rate × the share of bytes up to that TID), then every spatial layer at its
 * full frame rate. The shares are the lowest layer's, or another's while it is not measured (a
 * publisher's layers share one temporal structure).
 */
export function videoSteps(consumer: Pick<Consumer, 'producer' | 'temporalFiltering' | 'preferredLayer'>): VideoSteps {
  const producerLayers = consumer.producer.layers;
  const spatial = layerRates(consumer.producer, producerLayers);
  // The lowest layer measured (layers come lowest first).
  const shares = consumer.temporalFiltering ? (producerLayers.find((layer) => layer.byteShares.length >= 2)?.byteShares ?? []) : [];
  const rates: number[] = [];
  const layers: VideoSteps['layers'] = [];
  for (let t = 0; t < shares.length - 1; t++) {
    // Never under a fifth of the layer (a share measured near 0 would make the step free).
    rates.push(spatial[0]! * Math.max(MIN_TEMPORAL_SHARE, shares[t]!));
    layers.push({ spatial: 0, temporal: t });
  }
  spatial.forEach((rate, i) => {
    rates.push(rate);
    layers.push({ spatial: i, temporal: MAX_TEMPORAL_LAYER });
  });
  const onStep = Math.max(0, shares.length - 1);
  return { rates, layers, preferred: onStep + Math.min(consumer.preferredLayer, spatial.length - 1), onStep };
}

/** Bits per second each layer of a producer needs (its `layers`): measured while it flows, else from its picture height. */
function layerRates(producer: ProducerSource, layers: readonly ProducerLayer[]): number[] {
  const top = layers[layers.length - 1];
  return layers.map((layer, i) => {
    if (producer.layerFlowing(layer.index) && layer.steadyBitrate > 0) return layer.steadyBitrate;
    const height = layer.height || Math.round((top?.height || 720) / 2 ** (layers.length - 1 - i));
    return nominalLayerRate(height);
  });
}

/**
 * What one audio stream's payload is counted at in the allocator (bits/s): AUDIO_RATE until its
 * rate has been measured (its transport measures each second; the first second reads 0), then the
 * highest rate measured over the last AUDIO_PEAK_HOLD_MS or so: held that long, then following what
 * it sends, and up again at once when it sends more.
 */
export class AudioRateHold {
  #peak = 0;
  #at = -Infinity;
  #measured = false;

  /** `bitrate`: what the stream sent over its last measured second (bits/s); `now`: ms. */
  rate(bitrate: number, now: number): number {
    if (!this.#measured) {
      if (bitrate <= 0) return AUDIO_RATE;
      this.#measured = true;
    }
    if (bitrate >= this.#peak || now - this.#at > AUDIO_PEAK_HOLD_MS) {
      this.#peak = bitrate;
      this.#at = now;
    }
    return this.#peak;
  }
}
