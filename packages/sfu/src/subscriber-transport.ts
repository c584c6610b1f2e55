// SubscriberTransport: the server end of one subscriber's peer connection. We add a sendonly
// transceiver per consumed producer and make the offer; the browser answers. Consumers start when
// DTLS is up; a timer sends their RTCP sender reports and samples their bitrates. Every packet
// carries a transport-wide sequence number; the browser's transport feedback drives this
// connection's downlink estimate (bandwidth-estimator.ts), which the allocator (allocator.ts)
// shares across its streams, choosing each video's layer or switching it off, with padding
// probes on RTX to find out whether more fits before switching up (and, while a video is off for
// quality, every PROBE_OFF_INTERVAL_MS, so that it comes back within seconds of the link).

import { randomUUID } from 'node:crypto';
import { RtcpTransportLayerFeedback, TransportWideCC, type RTCDtlsTransport, type RTCRtpTransceiver, type RtcpPacket, type RtpHeader } from 'werift';
import { DownlinkAllocator, nominalLayerRate, type VideoSlot } from './allocator.js';
import { BandwidthEstimator, type BandwidthUsage } from './bandwidth-estimator.js';
import { TransportWideSequencer } from './transport-feedback.js';
import { MediaError, conflict, invalid } from './errors.js';
import type { Logger } from 'pino';
import { Consumer, PADDING_PACKET_BYTES, type RtpSink } from './consumer.js';
import { probeRate, ProbePacer, ProbeScheduler } from './probe-pacer.js';
import type { DownlinkGroup } from './downlink-group.js';
import { createSubscriberPeer, opusCodec, rtxCodec, videoCodec, waitForGathering, type IceSettings } from './peer-config.js';
import type { ForwardingTable, ProducerSource } from './forwarding-table.js';
import type { Producer } from './producer.js';
import { PeerTransport } from './peer-transport.js';
import { checkSdp } from './sdp-checks.js';
import { attachOurSrtp, sendRtcp, type SrtpImplementation } from './srtp-path.js';
import type { ConsumerStats, TransportState } from './types.js';
import { everyPeriod, type ClockTask } from './media-clock.js';

export type SubscriberTransportEvents = {
  stateChange: [TransportState];
  close: [];
};

export interface SubscriberTransportOptions {
  id: string;
  ice: IceSettings;
  srtp: SrtpImplementation;
  logger: Logger;
  /**
   * The router's producer → consumers map: a producer not in it is another router's (consumers
   * never cross sessions); each consumer made here joins its producer's fan-out in it.
   */
  forwarding: ForwardingTable;
  /** The other connections of the same client (their downlink is this one's): downlink-group.ts. */
  downlinkGroup?: DownlinkGroup;
}

/** RTCP sender reports per consumer about once a second (RFC 3550 allows 5 %; this is far below). */
const SR_INTERVAL_MS = 1000;

/** Fixed payload types for what we offer, the ones Chromium itself uses for these codecs (RTX: one above). */
const PAYLOAD_TYPE = { opus: 111, VP8: 96, H264: 102 } as const;

/** The downlink estimate before any feedback: high enough for a 720p top layer, so a good link starts at its best; a weak one is found out within a second or two. */
export const INITIAL_DOWNLINK_ESTIMATE = 3_000_000;
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
/** Feedback for a probe's last packets comes within this; then its rate is read. */
const PROBE_SETTLE_MS = 500;
/** Video retransmissions are held this long after the estimate fell because the link was saturated (audio first). */
export const RETRANSMIT_HOLD_MS = 1000;
/** A probe's saturation cut holds no retransmissions when the estimate after it is this multiple of the media's rate. */
export const RETRANSMIT_ROOM = 1.5;
/** What an audio stream is counted at before it is measured (Opus at OpenTok's default 40 kbps, plus headers). */
const AUDIO_RATE = 50_000;

/** The downlink as the transport sees it (getStats().downlink). */
export interface DownlinkStats {
  estimate: number;
  ackedBitrate: number | null;
  usage: BandwidthUsage;
  lossFraction: number;
  overuses: number;
  /** Saturation cuts (the bottleneck's queue seen filling). */
  saturations: number;
  /** Saturations not cut for: another connection of the same client was probing the shared link. */
  saturationsHeld: number;
  /** Other connections of the same client sharing this downlink (downlink-group.ts). */
  sharedWith: number;
  probes: number;
  probesSucceeded: number;
  lastProbeRate: number | null;
  /** The last probe read: the rate it tested, its padding (bytes), and the rate it measured (bits/s). */
  lastProbe: { target: number; paddingBytes: number; numbered: number; measured: number | null; detail: BandwidthEstimator['lastProbeDetail'] } | null;
}

interface Probe {
  id: number;
  rate: number;
  /** What the step it tests needs (bits/s). */
  wanted: number;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
  pacer: ProbePacer;
  /** Tested whether a video that is off for quality fits again. */
  off: boolean;
  /** Packets numbered in its cluster (media and padding), as it ended. */
  numbered: number;
  /** A saturation cut showed while it was sent. */
  saturated: boolean;
}

interface Entry {
  consumer: Consumer;
  transceiver: RTCRtpTransceiver;
}

export class SubscriberTransport extends PeerTransport<SubscriberTransportEvents> {
  readonly kind = 'subscriber';
  readonly #forwarding: ForwardingTable;
  #entries: Entry[] = [];
  #offered = false;
  #answered = false;
  #timer: ClockTask | undefined;
  #sink: RtpSink | null = null;
  readonly #sequencer = new TransportWideSequencer();
  readonly #estimator = new BandwidthEstimator({ initial: INITIAL_DOWNLINK_ESTIMATE });
  readonly #allocator = new DownlinkAllocator();
  #allocateTimer: ClockTask | undefined;
  #probe: Probe | null = null;
  #feedbackTapped = false;
  #probeIds = 0;
  #probesSucceeded = 0;
  #lastProbeRate: number | null = null;
  #lastProbe: DownlinkStats['lastProbe'] = null;
  readonly #probes = new ProbeScheduler();
  #lastSaturationSeen = -Infinity;

  readonly #group: DownlinkGroup | null;

  constructor(options: SubscriberTransportOptions) {
    super({ id: options.id, pc: createSubscriberPeer(options.ice), srtp: options.srtp, logger: options.logger });
    this.#forwarding = options.forwarding;
    this.#group = options.downlinkGroup ?? null;
    this.#group?.join(this);
  }

  get consumers(): Consumer[] {
    return this.#entries.map((e) => e.consumer);
  }

  /**
   * One consumer per producer, each on its own sendonly m-line. Call before createOffer(): a
   * subscriber's connection is negotiated once (one per OpenTok Subscriber), never renegotiated.
   */
  consume(producers: Producer[], options: { paused?: boolean } = {}): Consumer[] {
    if (this.closed) throw new MediaError('not-allowed', 'transport is closed');
    if (this.#offered) throw new MediaError('not-allowed', 'consume() must come before createOffer()');
    if (!Array.isArray(producers) || producers.length === 0) throw invalid('consume() needs at least one producer');
    for (const producer of producers) {
      if (producer.closed) throw new MediaError('not-found', `producer ${producer.id} is closed`);
      if (!this.#forwarding.has(producer)) throw invalid(`producer ${producer.id} belongs to another router`);
      if (this.#entries.some((e) => e.consumer.producer === producer)) throw conflict(`producer ${producer.id} is already consumed here`);
    }
    return producers.map((producer) => this.#consumeOne(producer, options.paused ?? false));
  }

  #consumeOne(producer: Producer, paused: boolean): Consumer {
    const transceiver = this.pc.addTransceiver(producer.kind, { direction: 'sendonly' });
    const codec = producer.codec;
    transceiver.codecs = [
      codec.name === 'opus'
        ? opusCodec(PAYLOAD_TYPE.opus, codec.parameters, true)
        : videoCodec(codec.name, {
            payloadType: PAYLOAD_TYPE[codec.name],
            transportCc: true,
            ...(codec.parameters ? { parameters: codec.parameters } : {}),
          }),
      // RTX: what probe padding goes out on (its own SSRC and sequence numbers).
      ...(codec.name === 'opus' ? [] : [rtxCodec({ payloadType: PAYLOAD_TYPE[codec.name] + 1, apt: PAYLOAD_TYPE[codec.name] })]),
    ];
    // Audio and video of one published stream share an msid stream id, so the browser syncs them.
    transceiver.sender.streamId = producer.streamId;
    const consumer = new Consumer({ id: randomUUID(), producer, ssrc: transceiver.sender.ssrc, paused });
    this.#forwarding.addConsumer(producer, consumer);
    const entry: Entry = { consumer, transceiver };
    this.#entries.push(entry);
    this.subscriptions.push(
      transceiver.sender.onRtcp.subscribe((packet: RtcpPacket) => {
        // Transport feedback is the connection's, taken from the DTLS transport (onStateChange).
        if (!(packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof TransportWideCC)) consumer.handleRtcp(packet);
      }),
    );
    consumer.on('close', () => {
      this.#entries = this.#entries.filter((e) => e !== entry);
    });
    return consumer;
  }

  /** Our SDP offer, ICE candidates included. */
  async createOffer(): Promise<string> {
    if (this.closed) throw new MediaError('not-allowed', 'transport is closed');
    if (this.#offered) throw conflict('this transport already made its offer');
    if (this.#entries.length === 0) throw new MediaError('not-allowed', 'nothing to offer: call consume() first');
    this.#offered = true;
    const offer = await this.pc.createOffer();
    await this.negotiation.setLocalDescription(offer);
    await waitForGathering(this.pc);
    if (this.closed) throw new MediaError('not-allowed', 'transport closed while offering');
    return this.localSdp();
  }

  /** The browser's answer: settles each consumer's payload type, mid and header-extension ids. */
  async acceptAnswer(sdp: unknown): Promise<void> {
    if (this.closed) throw new MediaError('not-allowed', 'transport is closed');
    if (!this.#offered) throw new MediaError('not-allowed', 'no offer was made');
    if (this.#answered) throw conflict('this transport already accepted an answer');
    const answer = checkSdp(sdp, 'answer');
    this.#answered = true;
    try {
      await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    } catch (err) {
      throw invalid(`unusable SDP answer: ${(err as Error).message}`);
    }
    for (const { consumer, transceiver } of this.#entries) {
      const codec = transceiver.codecs[0];
      if (!codec || !transceiver.mid) {
        this.logger.debug({ consumerId: consumer.id }, 'answer rejected the consumer m-line');
        consumer.close();
        continue;
      }
      const extensionIds = new Map(transceiver.headerExtensions.map((e) => [e.uri, e.id]));
      consumer.setNegotiated({ payloadType: codec.payloadType, mid: transceiver.mid, extensionIds });
      // werift keeps only the media codec on the transceiver: whether the browser took our RTX is in its answer.
      const rtx = consumer.kind === 'video' ? rtxPayloadTypeIn(answer, transceiver.mid, codec.payloadType) : null;
      consumer.setTransportFeedback(this.#sequencer, rtx === null ? null : { payloadType: rtx, ssrc: transceiver.sender.rtxSsrc });
      if (this.#sink) consumer.connect(this.#sink);
    }
  }

  protected onStateChange(state: TransportState): void {
    if (state === 'connected') {
      const dtls = this.pc.dtlsTransports[0];
      if (dtls) {
        this.#tapTransportFeedback(dtls);
        this.#sink = (this.srtp === 'colloquy' ? attachOurSrtp(dtls) : null) ?? sinkOf(dtls);
        for (const { consumer } of this.#entries) consumer.connect(this.#sink);
      }
      this.#timer ??= everyPeriod(SR_INTERVAL_MS, () => this.#tick());
      this.#allocateTimer ??= everyPeriod(ALLOCATE_INTERVAL_MS, () => this.#allocate(performance.now()));
    } else if (state === 'disconnected' || state === 'failed') {
      this.#sink = null;
      for (const { consumer } of this.#entries) consumer.disconnect();
    }
  }

  #tick(): void {
    const now = performance.now();
    const reports = [];
    for (const { consumer } of this.#entries) {
      consumer.sample(now);
      const sr = consumer.senderReport();
      if (sr) reports.push(sr);
    }
    const dtls = this.pc.dtlsTransports[0];
    if (reports.length === 0 || !dtls || dtls.state !== 'connected') return;
    sendRtcp(
      dtls,
      reports.map((sr) => sr.serialize()),
      (err) => this.logger.debug({ err }, 'SR send failed'),
    );
  }

  /**
   * Transport feedback straight from the DTLS transport, once per connection. werift's router hands
   * an RTCP packet to the sender whose SSRC it names, and Chromium names the SSRC of the last packet
   * it received: during a probe that is the RTX SSRC of the padding, which no sender has, so werift
   * dropped the feedback. Measured in the impairment bench: probes on a free link read 24–70 of
   * their 110–170 packets missing (neither arrived nor lost), and their rate at 56–87 % of target.
   */
  #tapTransportFeedback(dtls: RTCDtlsTransport): void {
    if (this.#feedbackTapped) return;
    this.#feedbackTapped = true;
    this.subscriptions.push(
      dtls.onRtcp.subscribe((packet: RtcpPacket) => {
        if (packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof TransportWideCC) this.#onTransportFeedback(packet.feedback);
      }),
    );
  }

  #onTransportFeedback(feedback: TransportWideCC): void {
    if (this.closed) return;
    const results = this.#sequencer.results(feedback);
    if (results.length === 0) return;
    const now = performance.now();
    // A saturation seen while another connection of this client probes is its probe's: held, and that probe stops.
    const group = this.#group;
    const heldBefore = this.#estimator.heldSaturationCount;
    this.#estimator.onFeedback(results, now, group?.mateProbing(this, now) ?? false);
    if (this.#estimator.heldSaturationCount !== heldBefore) group?.mateSaturated();
    const saturatedAt = this.#estimator.lastSaturationAt;
    if (saturatedAt !== this.#lastSaturationSeen) {
      // The link is saturated: no video retransmissions for a while, and the allocator steps
      // down (or switches off) now rather than at its next round, so the queue drains sooner.
      this.#lastSaturationSeen = saturatedAt;
      let media = 0;
      for (const { consumer } of this.#entries) if (!consumer.paused) media += consumer.getStats().bitrate;
      const hold = retransmitHoldMs(saturatedAt, this.#probe?.startedAt ?? null, this.#estimator.estimate, media);
      if (hold > 0) for (const { consumer } of this.#entries) if (consumer.kind === 'video') consumer.holdRetransmissions(now + hold);
      this.#allocate(now, false, true);
    }
  }

  /** Shares the estimate: audio first, then each video's layer (or off); then maybe a probe. */
  #allocate(now: number, probed = false, saturated = false): void {
    if (this.closed || this.#sink === null) return;
    let audio = 0;
    const videos: Consumer[] = [];
    for (const { consumer } of this.#entries) {
      if (consumer.paused) continue;
      if (consumer.kind === 'audio') audio += consumer.producerPaused ? 0 : Math.max(consumer.getStats().bitrate, AUDIO_RATE);
      else if (!consumer.producerPaused) videos.push(consumer);
    }
    if (videos.length === 0) return;
    const slots: VideoSlot[] = videos.map((c) => ({ rates: layerRates(c.producer), preferred: c.preferredLayer, screen: c.screenShare, fallback: c.audioFallback }));
    const estimate = this.#estimator.estimate;
    const decisions = this.#allocator.update(now, estimate, audio, slots, probed, saturated);
    videos.forEach((consumer, i) => {
      const { layer, warning } = decisions[i]!;
      // A warning before the video goes off; the video back on before the warning is lifted.
      if (warning) consumer.setQualityWarning(true);
      consumer.setBandwidthLayer(layer);
      if (!warning) consumer.setQualityWarning(false);
    });
    this.#maybeProbe(now, DownlinkAllocator.nextStep(audio, slots, decisions), videos);
  }

  /**
   * A probe when more is wanted than the estimate holds: padding on a video's RTX at 1.1 × the
   * rate the next step needs, for PROBE_DURATION_MS (PROBE_OFF_DURATION_MS while a video is off),
   * then its measured rate may raise the estimate. When is the ProbeScheduler's (probe-pacer.ts).
   */
  #maybeProbe(now: number, wanted: number | null, videos: Consumer[]): void {
    const e = this.#estimator;
    if (this.#probe !== null || !this.#probes.due(now, wanted, e.estimate, e.usage === 'overusing', e.lastDecreaseAt)) return;
    // One probe at a time on a client's link (downlink-group.ts).
    if (this.#group !== null && !this.#group.mayProbe(this, now)) return;
    const padder = videos.find((c) => c.canPad);
    if (padder === undefined) return;
    const off = videos.some((c) => c.qualityDisabled);
    const rate = probeRate(wanted!);
    // Padding tops up what the cluster (media included) has sent to the probe rate, slice by slice.
    const pacer = new ProbePacer(rate, off ? PROBE_OFF_DURATION_MS : PROBE_DURATION_MS, now, PADDING_PACKET_BYTES);
    const probe: Probe = { id: ++this.#probeIds, rate, wanted: wanted!, startedAt: now, timer: undefined, pacer, off, saturated: false, numbered: 0 };
    this.#probe = probe;
    this.#group?.probeStarted(this);
    // The media sent during the probe counts in it too (the measured rate is compared with `rate`).
    const sequencer = this.#sequencer;
    sequencer.beginProbe(probe.id);
    // Paced by the clock, not by the timer's count: a late timer (a busy event loop) catches up.
    const pace = (): void => {
      const t = performance.now();
      // The link already shows saturated during the probe (here, or at another connection of this
      // client): no more padding ahead of the audio.
      const saturated = this.#estimator.lastSaturationAt > probe.startedAt || (this.#group?.stopRequested(this) ?? false);
      probe.saturated ||= saturated;
      const due = saturated ? 0 : pacer.packetsDue(t, sequencer.probeBytes);
      if (due > 0 && !padder.closed) pacer.sent(padder.sendPadding(due, probe.id, t));
      if (this.closed || padder.closed || saturated || pacer.done(t, sequencer.probeBytes)) {
        clearInterval(probe.timer);
        if (sequencer.activeProbe === probe.id) {
          sequencer.activeProbe = 0;
          probe.numbered = sequencer.probePackets;
        }
        setTimeout(() => this.#finishProbe(probe), PROBE_SETTLE_MS).unref();
      }
    };
    probe.timer = setInterval(pace, PROBE_SLICE_MS);
    pace();
  }

  #finishProbe(probe: Probe): void {
    if (this.#probe !== probe) return;
    this.#probe = null;
    if (this.closed) return;
    const now = performance.now();
    // Stopped by a saturation cut: a failure, whatever its first packets showed. Otherwise 50 % of
    // its padding must have been reported (arrived or lost), sent over at least 30 % of its time
    // (0.6 failed most 200 ms probes after a lift: on a loaded event loop the pacing timer's first
    // slice came late, and the video stayed off 25 s on a free link).
    const paddingPackets = Math.round(probe.pacer.sentBytes / PADDING_PACKET_BYTES);
    probe.saturated ||= this.#estimator.lastSaturationAt > probe.startedAt;
    const measured = probe.saturated
      ? null
      : this.#estimator.finishProbe(probe.id, now, { minPackets: Math.round(paddingPackets * 0.5), minSendSpanMs: probe.pacer.durationMs * 0.3 });
    if (probe.saturated) this.#estimator.finishProbe(probe.id, now, { minPackets: Infinity }); // forgets the cluster
    this.#lastProbeRate = measured;
    this.#lastProbe = { target: Math.round(probe.rate), paddingBytes: probe.pacer.sentBytes, numbered: probe.numbered, measured: measured === null ? null : Math.round(measured), detail: this.#estimator.lastProbeDetail };
    // A success: it showed 85 % of its rate, or at least what the step needs.
    const succeeded = measured !== null && (measured >= probe.rate * 0.85 || measured >= probe.wanted);
    const off = probe.off || this.#entries.some(({ consumer }) => consumer.qualityDisabled);
    this.#probes.finished(now, probe.startedAt, succeeded, off);
    // Read: the link is the other connections' again (after a failure once its queue has drained).
    this.#group?.probeEnded(this, now, succeeded);
    if (succeeded) {
      this.#probesSucceeded++;
      // The step it tested fits: the estimate covers it, and it is taken now (no hold); the next
      // step's probe follows soon.
      this.#estimator.raiseTo(probe.wanted, now);
      this.#allocate(now, true);
    }
  }

  /** The downlink estimate and what fed it. */
  get downlink(): DownlinkStats {
    const e = this.#estimator;
    return {
      estimate: e.estimate,
      ackedBitrate: e.ackedBitrate === null ? null : Math.round(e.ackedBitrate),
      usage: e.usage,
      lossFraction: e.lossFraction,
      overuses: e.overuseCount,
      saturations: e.saturationCount,
      saturationsHeld: e.heldSaturationCount,
      sharedWith: this.#group === null ? 0 : Math.max(0, this.#group.size - 1),
      probes: this.#probeIds,
      probesSucceeded: this.#probesSucceeded,
      lastProbeRate: this.#lastProbeRate === null ? null : Math.round(this.#lastProbeRate),
      lastProbe: this.#lastProbe,
    };
  }

  getStats(): { id: string; state: TransportState; consumers: ConsumerStats[]; downlink: DownlinkStats } {
    return { id: this.id, state: this.state, consumers: this.#entries.map((e) => e.consumer.getStats()), downlink: this.downlink };
  }

  dump(): Record<string, unknown> {
    return this.dumpWith({ offered: this.#offered, answered: this.#answered, consumers: this.#entries.map((e) => e.consumer.dump()) });
  }

  /** close(): consumers and timers first, then the base closes the peer connection. */
  protected closeMedia(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#allocateTimer?.cancel();
    this.#allocateTimer = undefined;
    if (this.#probe) clearInterval(this.#probe.timer);
    this.#probe = null;
    this.#group?.leave(this);
    this.#sink = null;
    for (const { consumer } of [...this.#entries]) consumer.close();
    this.#entries = [];
  }
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
 * limit fell under the media while a probe was in flight) the hold stays.
 */
export function retransmitHoldMs(saturatedAt: number, probeStartedAt: number | null, estimate: number, mediaBitrate: number): number {
  const probeFilled = probeStartedAt !== null && probeStartedAt <= saturatedAt;
  return probeFilled && estimate >= RETRANSMIT_ROOM * mediaBitrate ? 0 : RETRANSMIT_HOLD_MS;
}

/** The RTX payload type the answer's m-section `mid` accepted for `apt`, or null. */
export function rtxPayloadTypeIn(sdp: string, mid: string, apt: number): number | null {
  const sections = sdp.split(/\r?\n(?=m=)/).map((section) => section.split(/\r?\n/));
  const lines = sections.find((section) => section.includes(`a=mid:${mid}`));
  if (lines === undefined) return null;
  for (const line of lines) {
    const fmtp = /^a=fmtp:(\d+) apt=(\d+)$/.exec(line.trim());
    if (fmtp === null || Number(fmtp[2]) !== apt) continue;
    if (lines.some((l) => l.trim().toLowerCase() === `a=rtpmap:${fmtp[1]} rtx/90000`)) return Number(fmtp[1]);
  }
  return null;
}

/** Bits per second each layer of a producer needs: measured while it flows, else from its picture height. */
function layerRates(producer: ProducerSource): number[] {
  const layers = producer.layers;
  const top = layers[layers.length - 1];
  return layers.map((layer, i) => {
    if (producer.layerFlowing(layer.index) && layer.steadyBitrate > 0) return layer.steadyBitrate;
    const height = layer.height || Math.round((top?.height || 720) / 2 ** (layers.length - 1 - i));
    return nominalLayerRate(height);
  });
}

/** werift's DTLS transport as the consumers' sink; the header is our duck-typed OutgoingHeader. */
function sinkOf(dtls: RTCDtlsTransport): RtpSink {
  return { sendRtp: (payload, header) => dtls.sendRtp(payload, header as unknown as RtpHeader) };
}
