// Consumer: one producer's track sent to one subscriber. Ties together its RTP rewriter (SSRC,
// payload type, sequence number, timestamp, header-extension ids: rtp-rewriter.ts), its send
// history that answers NACKs (retransmission-history.ts), keyframe handling on start/resume, and
// the subscriber's RTCP feedback. With a simulcast producer it forwards one spatial layer, chosen
// from the subscriber's preferred resolution, and switches on a keyframe of the new layer (asked
// for), keeping its one output SSRC and continuous sequence numbers and timestamps. With VP8
// temporal layers it forwards the frames up to the temporal layer its preferred frame rate needs
// (vp8-temporal.ts), rewriting picture IDs and TL0PICIDX in a copy of the payload. It sees its
// producer as a ProducerSource and is handed packets as a ConsumerSink (forwarding-table.ts): the
// router's ForwardingTable, not the producer, holds which consumers a producer has.

import {
  GenericNack,
  PictureLossIndication,
  ReceiverEstimatedMaxBitrate,
  RtcpPayloadSpecificFeedback,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  type RtcpPacket,
} from 'werift';
import { parseVp8Descriptor, Vp8Descriptor, writeVp8Descriptor } from './codecs/vp8.js';
import type { ConsumerSink, ProducerSource } from './forwarding-table.js';
import { TypedEmitter } from './typed-emitter.js';
import { RetransmissionHistory } from './retransmission-history.js';
import type { RtpView } from './rtp-view.js';
import { DROP, RtpRewriter, TRANSPORT_SEQUENCE_OFFSET, writeTransportSequence } from './rtp-rewriter.js';
import type { TransportWideSequencer } from './transport-feedback.js';
import type { ConsumerStats, MediaKind } from './types.js';
import { MAX_TEMPORAL_LAYER, Vp8TemporalLayers } from './vp8-temporal.js';

export type ConsumerEvents = {
  close: [];
  /** Its producer closed; the consumer closes right after this event. */
  producerClose: [];
  producerPause: [];
  producerResume: [];
  pause: [];
  resume: [];
  /** Video stopped (true) or restarted (false) because the subscriber's downlink cannot carry its lowest layer. */
  qualityDisabled: [boolean];
  /** The downlink came close to not carrying the lowest layer (true), or recovered (false). */
  qualityWarning: [boolean];
};

/**
 * Bytes a packet takes on the wire besides its payload, as the estimator counts it: RTP header and
 * extensions and SRTP tag (~40), UDP and IPv4 headers (28), as libwebrtc counts transport overhead
 * in its estimate. Without the 28, a 500 kbps link carrying two audio streams (50 packets a
 * second each, ~100-byte payloads) and two 320 px videos drained at 405–465 kbps as counted, and
 * the estimate held ~15 % under the link.
 */
export const PACKET_OVERHEAD = 68;
/** A padding-only packet's payload: the most RTP padding one packet may carry (the count is one byte). */
const PADDING = (() => {
  const b = Buffer.alloc(255);
  b[254] = 255;
  return b;
})();
/** One padding packet as the estimator counts it (its payload and the overhead). */
export const PADDING_PACKET_BYTES = PADDING.length + PACKET_OVERHEAD;

/** What a consumer needs to put bytes on its subscriber's wire: werift's SRTP transport. */
export interface RtpSink {
  /** Encrypts and sends; `header` is only asked for ssrc, sequenceNumber, serializeSize, serialize(). */
  sendRtp(payload: Buffer, header: OutgoingHeader): unknown;
}

/**
 * The keyframes of one client's downlink (Downlink implements it): each forwarded keyframe keeps
 * the link busy for a while, and repair keyframes are asked one after another.
 */
export interface KeyFrameGate {
  /**
   * The first packet of a keyframe of about `bytes` (its layer's last one) went out; `reservedUntil`:
   * where the reservation made when it was asked for ended (that time is not counted twice).
   */
  keyFrameForwarded(bytes: number, now: number, reservedUntil?: number): void;
  /**
   * 0: ask for a keyframe of about `bytes` now (reserved until `keyFramesBusyUntil`); else the ms
   * to wait first. `why`: a repair, or the layer switched to while forwarding.
   */
  reserveKeyFrame(bytes: number, now: number, why: 'repair' | 'switch'): number;
  /** Until when (performance.now() ms) the keyframes forwarded and reserved keep the link busy. */
  readonly keyFramesBusyUntil: number;
}

/** Packets kept for NACK answers: about 1 s of 1 Mbps video; audio is not NACKed (no history). */
const VIDEO_HISTORY = 1024;

/**
 * The RTP header werift's SRTP code serializes, duck-typed: werift asks for ssrc and sequence
 * number (for the SRTP counter) and serialize(); we hand it bytes we already wrote, so no
 * RtpHeader object, BitWriter or extension array is built per packet and per subscriber.
 */
export class OutgoingHeader {
  ssrc = 0;
  sequenceNumber = 0;
  bytes: Buffer = Buffer.alloc(0);
  get serializeSize(): number {
    return this.bytes.length;
  }
  serialize(): Buffer {
    return this.bytes;
  }
}

/** One descriptor parse at a time on the packet path. */
const descriptor = new Vp8Descriptor();

/**
 * A temporal layer covers a preferred frame rate if its measured rate is at least this share of
 * it (measured rates wobble around the encoder's: 7.3 fps covers a wish of 7.5); the layer already
 * chosen is kept down to KEEP_SHARE, so that a rate near the line does not flip the choice.
 */
const COVER_SHARE = 0.9;
const KEEP_SHARE = 0.8;

/**
 * The lowest temporal layer whose measured rate (`rates[t]`: frames per second up to TID t)
 * covers `preferred` frames per second; all layers (MAX_TEMPORAL_LAYER) for no preference, no
 * measurement, or a wish above every layer but the top. `current`: the layer chosen so far.
 */
export function temporalLayerForFrameRate(preferred: number | null, rates: readonly number[], current = MAX_TEMPORAL_LAYER): number {
  if (preferred === null || rates.length === 0) return MAX_TEMPORAL_LAYER;
  for (let t = 0; t < rates.length - 1; t++) if (rates[t]! >= preferred * (t === current ? KEEP_SHARE : COVER_SHARE)) return t;
  return MAX_TEMPORAL_LAYER;
}

/** SRs remembered to match receiver reports against (one a second: the last 8 s). */
const RECENT_SRS = 8;

/**
 * While retransmissions are held (a saturated downlink), the layer that began at a keyframe this
 * recently is still repaired: the allocator steps down on the first loss or delay, before the
 * saturation cut that starts the hold.
 */
const RECENT_SYNC_MS = 2000;
/**
 * A NACKed packet is resent only if sent at most this long ago (older ones come too late for the
 * browser's jitter buffer; mediasoup's limit for video is 2 s, ours holds ~1 s of 1 Mbps anyway)...
 */
const RESEND_MAX_AGE_MS = 1000;
/**
 * A keyframe asked for unrepaired packets and not forwarded yet: no other is asked for until this
 * long after (the publisher's answer, its 500 ms throttle, and the keyframe's time through a
 * saturated link). Each unrepaired packet asked for its own before, and the producer's throttle
 * let one through every 500 ms: in the 3x4 impairment bench 43 asks in one second over three
 * streams at a 500 kbps limit, a keyframe every half second per stream on a saturated link, whose
 * own losses asked for more, and the picture froze on and off for seconds.
 */
const REPAIR_KEYFRAME_PENDING_MS = 1500;
/**
 * ...and at most once per round trip (this floor while none is measured, and below it). Chromium
 * asks again for a missing packet every round trip it estimates, up to 10 times; when our answer
 * waits in a full bottleneck queue each ask was answered again: measured in the impairment bench
 * (2 publishers, a 500 kbps subscriber with a 300 ms queue), 1,703 resends in one second, 96 %
 * of them lost, and the estimate falling to 30 kbps.
 */
const RESEND_MIN_INTERVAL_MS = 40;

export class Consumer extends TypedEmitter<ConsumerEvents> implements ConsumerSink {
  readonly id: string;
  readonly producerId: string;
  readonly kind: MediaKind;
  /** Its producer, as far as a consumer needs it (keyframes, layers, sender reports, codec). */
  readonly producer: ProducerSource;
  /** The SSRC this consumer sends with (werift's sender SSRC, signalled in the offer). */
  readonly ssrc: number;
  readonly clockRate: number;

  #closed = false;
  #paused: boolean;
  #producerPaused: boolean;
  #sink: RtpSink | null = null;
  #mid = '';
  readonly #rewriter: RtpRewriter;
  /** Headers are written straight into the history's slots; its size is 1 for audio (no NACKs). */
  readonly #history: RetransmissionHistory;
  #keyFrameWanted = false;
  readonly #out = new OutgoingHeader();
  /** Simulcast: the layer being forwarded (-1 until the first keyframe) and the one wanted. */
  #currentLayer: number;
  #targetLayer: number;
  #preferredResolution: { width: number; height: number } | null = null;
  #preferredFrameRate: number | null = null;
  /** VP8 video: the temporal layer choice and picture ID / TL0PICIDX continuity; null otherwise. */
  readonly #temporal: Vp8TemporalLayers | null;
  /**
   * The temporal filter runs for a simulcast producer's consumer from the start (its spatial layer
   * switches need picture ID continuity), and for any other from the first frame-rate preference on
   * (then it stays): without one, a single encoding's frames are forwarded untouched, as before
   * temporal layers were chosen (loaded test runs showed video stalls with the filter on for every
   * consumer; not understood yet).
   *
   * Simulcast without it: each layer is its own picture ID series, so every switch jumped the
   * picture ID by thousands. Chromium then decoded the new layer's keyframe and often nothing after
   * it: its log showed "No decodable frame in 3012953 us requesting keyframe" twice in a row after
   * a step down, and "Referencing a frame out of the window. Assuming it was undecoded" after
   * switches up. The impairment bench's limited subscriber froze 33–38 % of the limit in about 1
   * run of 3.
   */
  #temporalActive: boolean;
  #layerSwitches = 0;
  /** The highest layer the subscriber's downlink carries (the allocator's choice); -1: none, video off. */
  #bandwidthLayer: number;
  /** The allocator's temporal cap on the lowest spatial layer (MAX_TEMPORAL_LAYER: none). */
  #bandwidthTemporalLayer = MAX_TEMPORAL_LAYER;
  #qualityDisabled = false;
  #qualityWarning = false;
  /** May the allocator switch this video off for lack of bandwidth (OpenTok's audio fallback)? Set by sessions/. */
  audioFallback = true;
  /** A screen share is served before cameras by the allocator. Set by sessions/. */
  screenShare = false;
  /** Transport-wide sequence numbers of the subscriber's connection (shared by its consumers). */
  #sequencer: TransportWideSequencer | null = null;
  /** Its client's downlink: repair keyframes wait for the link (video). */
  #keyFrameGate: KeyFrameGate | null = null;
  /** RTX towards the subscriber (video): payload type and SSRC, for probe padding and retransmissions. -1: none. */
  #rtxPayloadType = -1;
  #rtxSsrc = 0;
  #rtxSequence = (Math.random() * 0x10000) | 0;
  readonly #paddingHeader = Buffer.alloc(20);
  #paddingSent = 0;

  // Counters.
  #packetsSent = 0;
  #bytesSent = 0;
  #nackCount = 0;
  #retransmitted = 0;
  #nacksHeld = 0;
  /** NACKed packets not resent: asked again within a round trip of the last resend, or too old. */
  #resendsSkipped = 0;
  /** No NACK answers before this (performance.now() ms): the downlink is saturated, audio comes first. */
  #retransmitHoldUntil = 0;
  /** When the hold in force began (performance.now() ms). */
  #retransmitHoldSince = 0;
  /** A keyframe of the layer forwarded, asked for when this timer fires: packets of it went unrepaired. */
  #repairKeyFrameTimer: ReturnType<typeof setTimeout> | undefined;
  /** A keyframe of the target layer, asked for when this timer fires: the keyframes before it on the client's link go first. */
  #switchKeyFrameTimer: ReturnType<typeof setTimeout> | undefined;
  /** Where the gate's reservation for the keyframe last asked for through it ends (KeyFrameGate.keyFrameForwarded), or -Infinity. */
  #keyFrameReservedUntil = -Infinity;
  /** Keyframes asked for because packets went unrepaired (held through a saturation, or too old). */
  #repairKeyFrames = 0;
  /** When the last keyframe packet was forwarded (performance.now() ms). */
  #keyFrameSentAt = -Infinity;
  /** The output sequence number of the last keyframe's first packet (-1: none yet): what was sent before it is no longer needed. */
  #keyFrameSeq = -1;
  /** When a keyframe was last asked for unrepaired packets (performance.now() ms). */
  #repairAskedAt = -Infinity;
  /** The output sequence number and time of the last resync (the keyframe a layer or restart began at); -1 and -Infinity before one. */
  #syncSeq = -1;
  #syncAt = -Infinity;
  /** The publisher's RTP timestamp of the last packet forwarded (its frame). */
  #lastInTimestamp = -1;
  #pliCount = 0;
  #firCount = 0;
  #packetsLost = 0;
  #fractionLost = 0;
  #jitter = 0;
  #rtt: number | null = null;
  #availableBitrate: number | null = null;
  /**
   * Compact NTP times of the last SRs sent: a receiver report answers the latest SR it had, which
   * is often not the latest we sent (both sides report about every second), and any of ours gives
   * a correct round trip.
   */
  readonly #recentSrCompact: number[] = [];
  #lastSrSentAt = 0;
  #sampleAt = performance.now();
  #sampleBytes = 0;
  #bitrate = 0;

  /**
   * Packets reach it once the router's ForwardingTable has added it to its producer's fan-out
   * (`addConsumer`, done by the subscriber transport that makes it); it leaves the fan-out on close.
   */
  constructor(params: { id: string; producer: ProducerSource; ssrc: number; paused?: boolean }) {
    super();
    this.id = params.id;
    this.producer = params.producer;
    this.producerId = params.producer.id;
    this.kind = params.producer.kind;
    this.ssrc = params.ssrc;
    this.clockRate = params.producer.codec.clockRate;
    this.#paused = params.paused ?? false;
    this.#producerPaused = params.producer.paused;
    this.#rewriter = new RtpRewriter({ ssrc: this.ssrc, clockRate: this.clockRate, waitForKeyFrame: this.kind === 'video' });
    this.#history = this.kind === 'video' ? new RetransmissionHistory(VIDEO_HISTORY, params.producer.payloadRing) : new RetransmissionHistory(1, null);
    this.#out.ssrc = this.ssrc;
    this.#targetLayer = params.producer.layerCount - 1;
    this.#bandwidthLayer = params.producer.layerCount - 1;
    this.#currentLayer = params.producer.layerCount > 1 ? -1 : 0;
    this.#temporal = this.kind === 'video' && params.producer.codec.name === 'VP8' ? new Vp8TemporalLayers() : null;
    this.#temporalActive = this.#temporal !== null && params.producer.layerCount > 1;
  }

  /** Simulcast: the spatial layer being forwarded (-1 before the first keyframe; 0 for a single encoding once started). */
  get currentLayer(): number {
    return this.#currentLayer;
  }

  /** The layer this consumer wants (it switches on that layer's next keyframe). */
  get targetLayer(): number {
    return this.#targetLayer;
  }

  /**
   * The subscriber's preferredResolution (null: the best there is). Picks the target layer
   * (Producer.layerForResolution) and, if it differs from the one forwarded, asks for its keyframe.
   */
  setPreferredResolution(resolution: { width: number; height: number } | null): void {
    if (this.#closed) return;
    this.#preferredResolution = resolution === null ? null : { width: resolution.width, height: resolution.height };
    this.#chooseLayer();
  }

  /**
   * The subscriber's preferredFrameRate (frames per second; null: all there is). VP8 temporal
   * layers: the consumer forwards the lowest temporal layer whose measured frame rate covers it
   * (down at the next frame, up at the next layer-sync frame or keyframe).
   */
  setPreferredFrameRate(frameRate: number | null): void {
    if (this.#closed) return;
    this.#preferredFrameRate = frameRate;
    if (frameRate !== null && !this.#temporalActive && this.#temporal !== null) {
      this.#temporalActive = true;
      this.#temporal.restart();
    }
    this.#chooseLayer();
  }

  get preferredFrameRate(): number | null {
    return this.#preferredFrameRate;
  }

  /** VP8 temporal layers: the TID forwarded up to, and the one wanted (MAX_TEMPORAL_LAYER: all). -1 without them. */
  get currentTemporalLayer(): number {
    return this.#temporal?.current ?? -1;
  }

  get targetTemporalLayer(): number {
    return this.#temporal?.target ?? -1;
  }

  /** Sets the target layers from the preferences and the layers' current sizes and frame rates; a spatial change asks for a keyframe. */
  #chooseLayer(): void {
    const producer = this.producer;
    // Temporal: from the frame rates measured on the spatial layer wanted (or forwarded).
    const temporal = this.#temporal;
    if (temporal !== null) {
      const rates = producer.temporalFrameRates(this.#currentLayer >= 0 ? this.#currentLayer : this.#targetLayer);
      temporal.setTarget(Math.min(this.#bandwidthTemporalLayer, temporalLayerForFrameRate(this.#preferredFrameRate, rates, temporal.target)));
    }
    if (this.kind !== 'video' || producer.layerCount === 1) return;
    const target = Math.min(this.preferredLayer, Math.max(0, this.#bandwidthLayer));
    if (target === this.#targetLayer) return;
    this.#targetLayer = target;
    producer.updateLayerDemand();
    if (target !== this.#currentLayer && this.#sink !== null && !this.#paused && !this.#producerPaused) {
      this.#keyFrameWanted = true;
      this.#askSwitchKeyFrame();
    }
  }

  /**
   * Asks for the target layer's keyframe; while forwarding, once the keyframes before it on the
   * client's link have gone through (the downlink's KeyFrameGate: a limit's onset steps all of a
   * client's streams down at once, and their keyframes together overflowed its queue). A start
   * (nothing forwarded yet) asks at once.
   */
  #askSwitchKeyFrame(): void {
    clearTimeout(this.#switchKeyFrameTimer);
    this.#switchKeyFrameTimer = undefined;
    const target = this.#targetLayer;
    const gate = this.#keyFrameGate;
    if (this.#currentLayer >= 0 && gate) {
      const wait = gate.reserveKeyFrame(this.producer.keyFrameBytes(target), performance.now(), 'switch');
      if (wait > 0) {
        this.#switchKeyFrameTimer = setTimeout(() => {
          this.#switchKeyFrameTimer = undefined;
          if (this.#closed || !this.#keyFrameWanted || this.#sink === null || this.#paused || this.#producerPaused || this.#qualityDisabled) return;
          if (this.#targetLayer !== this.#currentLayer) this.#askSwitchKeyFrame();
        }, wait);
        return;
      }
      this.#keyFrameReservedUntil = gate.keyFramesBusyUntil;
    }
    this.producer.requestKeyFrame(target);
  }

  /** The layer the subscriber's preferredResolution asks for (the allocator's upper bound). */
  get preferredLayer(): number {
    return this.producer.layerCount === 1 ? 0 : this.producer.layerForResolution(this.#preferredResolution);
  }

  /** The allocator's layer cap (-1: video off for lack of bandwidth). */
  get bandwidthLayer(): number {
    return this.#bandwidthLayer;
  }

  /** VP8 temporal layers are filtered here (a simulcast producer's consumer, or one with a preferred frame rate). */
  get temporalFiltering(): boolean {
    return this.#temporalActive;
  }

  /** The allocator's temporal cap (MAX_TEMPORAL_LAYER: none). */
  get bandwidthTemporalLayer(): number {
    return this.#bandwidthTemporalLayer;
  }

  /**
   * @internal The allocator's temporal choice: forward up to this TID (MAX_TEMPORAL_LAYER: all),
   * the lower of it and what the preferred frame rate asks for. Only while temporal layers are
   * filtered (temporalFiltering): the allocator lowers the frame rate of the lowest spatial layer
   * before it switches the video off.
   */
  setBandwidthTemporalLayer(layer: number): void {
    if (this.#closed || this.#temporal === null || !this.#temporalActive) return;
    const capped = Math.max(0, Math.min(layer, MAX_TEMPORAL_LAYER));
    if (capped === this.#bandwidthTemporalLayer) return;
    this.#bandwidthTemporalLayer = capped;
    this.#chooseLayer();
  }

  /** What it sent over its last measured second (bits/s; getStats().bitrate, without building the stats). */
  get bitrate(): number {
    return this.#bitrate;
  }

  /** Video is off because the subscriber's downlink cannot carry the lowest layer (OpenTok's audio fallback). */
  get qualityDisabled(): boolean {
    return this.#qualityDisabled;
  }

  /**
   * @internal The allocator's choice: the highest layer this subscriber's downlink carries, or -1
   * (video off, audio only). The target becomes the lower of it and the preferred layer; switching
   * off stops forwarding at once, switching on restarts from a keyframe.
   */
  setBandwidthLayer(layer: number): void {
    if (this.#closed || this.kind !== 'video') return;
    const capped = Math.max(-1, Math.min(layer, this.producer.layerCount - 1));
    if (capped === this.#bandwidthLayer) return;
    this.#bandwidthLayer = capped;
    const off = capped < 0;
    if (off !== this.#qualityDisabled) {
      // OpenTok's order: a videoDisableWarning always comes before videoDisabled.
      if (off && !this.#qualityWarning) this.setQualityWarning(true);
      this.#qualityDisabled = off;
      this.producer.updateLayerDemand();
      if (off) this.#keyFrameWanted = false;
      else this.#resync();
      this.emit('qualityDisabled', off);
    }
    this.#chooseLayer();
  }

  /** Whether the downlink is close to not carrying the lowest layer (OpenTok's videoDisableWarning). */
  get qualityWarning(): boolean {
    return this.#qualityWarning;
  }

  /** @internal The allocator's warning state; a change emits `qualityWarning`. */
  setQualityWarning(warning: boolean): void {
    if (this.#closed || this.kind !== 'video' || warning === this.#qualityWarning) return;
    this.#qualityWarning = warning;
    this.emit('qualityWarning', warning);
  }

  /** @internal The subscriber connection's transport-wide sequence numbers, and its RTX for padding (video). */
  setTransportFeedback(sequencer: TransportWideSequencer, rtx: { payloadType: number; ssrc: number } | null): void {
    this.#sequencer = sequencer;
    if (rtx) {
      this.#rtxPayloadType = rtx.payloadType;
      this.#rtxSsrc = rtx.ssrc >>> 0;
    }
  }

  /** @internal Its client's downlink, which spaces the repair keyframes of all its streams. */
  setKeyFrameGate(gate: KeyFrameGate): void {
    this.#keyFrameGate = gate;
  }

  /** Whether this consumer can send probe padding (video with RTX negotiated, connected, sending). */
  get canPad(): boolean {
    return this.#rtxPayloadType >= 0 && this.#sink !== null && this.#rewriter.everSent && this.#sequencer !== null && this.transportWide;
  }

  /**
   * @internal Sends `count` padding-only packets on the RTX SSRC (255 bytes of RTP padding each,
   * own sequence numbers, so the media series is untouched), tagged as probe cluster `probe`:
   * the browser reports them in its transport feedback and discards them. Returns bytes sent.
   */
  sendPadding(count: number, probe: number, now: number): number {
    const sink = this.#sink;
    const sequencer = this.#sequencer;
    if (!this.canPad || sink === null || sequencer === null) return 0;
    const h = this.#paddingHeader;
    const id = this.#rewriter.transportCcId;
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const seq = this.#rtxSequence;
      this.#rtxSequence = (seq + 1) & 0xffff;
      h[0] = 0xb0; // V=2, P, X
      h[1] = this.#rtxPayloadType;
      h.writeUInt16BE(seq, 2);
      h.writeUInt32BE(this.#rewriter.lastTimestamp, 4);
      h.writeUInt32BE(this.#rtxSsrc, 8);
      h[12] = 0xbe;
      h[13] = 0xde;
      h.writeUInt16BE(1, 14);
      writeTransportSequence(h, 16, id, sequencer.next(PADDING.length + PACKET_OVERHEAD, now, probe));
      h[19] = 0;
      const out = this.#out;
      out.ssrc = this.#rtxSsrc;
      out.sequenceNumber = seq;
      out.bytes = h;
      sink.sendRtp(PADDING, out);
      out.ssrc = this.ssrc;
      bytes += PADDING.length + PACKET_OVERHEAD;
    }
    this.#paddingSent += count;
    return bytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get producerPaused(): boolean {
    return this.#producerPaused;
  }

  /** @internal What the subscriber's answer settled: payload type, mid, extension ids by URI. */
  setNegotiated(params: { payloadType: number; mid: string; extensionIds: Map<string, number> }): void {
    this.#mid = params.mid;
    this.#rewriter.setNegotiated({ ...params, producerExtensionUris: this.producer.extensionUris });
  }

  /** @internal The subscriber's DTLS is up: packets may flow. Video starts at a keyframe. */
  connect(sink: RtpSink): void {
    if (this.#closed) return;
    this.#sink = sink;
    this.#resync();
  }

  /** @internal The subscriber's connection went away (not closed: it may come back). */
  disconnect(): void {
    this.#sink = null;
  }

  #resync(): void {
    this.#rewriter.resync();
    this.#temporal?.restart();
    // A single encoding is always "layer 0" (the rewriter waits for its keyframe itself).
    this.#currentLayer = this.producer.layerCount > 1 ? -1 : 0;
    if (this.kind === 'video' && this.#sink && !this.#paused && !this.#producerPaused && !this.#qualityDisabled) {
      this.#keyFrameWanted = true;
      this.#askStartKeyFrame();
    }
  }

  /**
   * Keyframe of the target layer; with nothing forwarded yet and the target not flowing (paused
   * at the publisher, or never sent), of the lowest layer too, which always runs: start from it.
   */
  #askStartKeyFrame(): void {
    const producer = this.producer;
    producer.requestKeyFrame(this.#targetLayer);
    if (this.#currentLayer < 0 && this.#targetLayer !== 0 && !producer.layerFlowing(this.#targetLayer)) producer.requestKeyFrame(0);
  }

  /**
   * Packet path: rewrite one producer packet (of spatial layer `layer`) for this subscriber and
   * send it. Writes the header straight into the send-history slot; the payload is sent from the
   * producer's buffer, never mutated, and copied once per packet (for all consumers) into the
   * producer's payload ring for NACKs.
   */
  forward(packet: RtpView, keyFrame: boolean, layer: number): void {
    const sink = this.#sink;
    const rewriter = this.#rewriter;
    if (sink === null || this.#paused || this.#qualityDisabled || rewriter.payloadType < 0) return;
    if (layer !== this.#currentLayer) {
      // Another layer: switch to it only at a keyframe, when it is the target, or, with nothing
      // forwarded yet and the target not flowing (paused at the publisher until now), whichever
      // layer's keyframe comes first (start at once; move to the target on its own keyframe
      // later). Then the rewriter continues the output series.
      if (!keyFrame) return;
      if (layer !== this.#targetLayer && !this.#mayTakeOtherLayer(layer)) return;
      if (this.#currentLayer >= 0) this.#layerSwitches++;
      this.#currentLayer = layer;
      rewriter.resync();
      this.#temporal?.restart();
      if (layer !== this.#targetLayer) this.producer.requestKeyFrame(this.#targetLayer);
      else this.producer.updateLayerDemand();
    } else if (layer > this.#targetLayer && layer > this.#bandwidthLayer && packet.timestamp !== this.#lastInTimestamp && this.producer.layerFlowing(this.#targetLayer)) {
      // Stepping down because the downlink no longer carries this layer, to a layer that flows
      // (its keyframe is a round trip to the publisher away): this layer's next frames would only
      // lengthen the bottleneck's queue ahead of that keyframe (and of its repairs). The frame
      // under way is finished; then nothing until the keyframe.
      return;
    }
    const h = packet;
    let payload = packet.payload;
    const temporal = this.#temporal;
    if (temporal !== null && this.#temporalActive && payload.length > 0) {
      if (rewriter.needsSync && !keyFrame) return; // the rewriter waits for a keyframe anyway
      if (parseVp8Descriptor(payload, descriptor)) {
        if (!temporal.filter(descriptor, keyFrame)) {
          rewriter.drop(h.sequenceNumber); // a frame above the temporal layer: close its sequence numbers
          return;
        }
        if (temporal.rewrite) {
          // The producer's payload is shared by every consumer: rewrite a copy (kept for NACKs).
          payload = this.#history.rewritable(payload);
          writeVp8Descriptor(payload, descriptor, temporal.pictureId, temporal.tl0PicIdx);
        }
      }
    }
    const now = performance.now();
    const syncing = rewriter.needsSync;
    const outSeq = rewriter.map(h.sequenceNumber, h.timestamp, payload.length, keyFrame, now);
    if (syncing && !rewriter.needsSync) {
      this.#syncSeq = outSeq;
      this.#syncAt = now;
    }
    if (!rewriter.needsSync && layer === this.#targetLayer) this.#keyFrameWanted = false; // synced on the wanted layer
    if (outSeq === DROP) return;
    if (keyFrame) {
      this.#keyFrameSentAt = now;
      this.#keyFrameSeq = outSeq;
      this.#keyFrameGate?.keyFrameForwarded(this.producer.keyFrameBytes(layer), now, this.#keyFrameReservedUntil);
      this.#keyFrameReservedUntil = -Infinity;
    }
    this.#lastInTimestamp = h.timestamp;
    const history = this.#history;
    const base = history.slotOffset(outSeq);
    const sequencer = this.#sequencer;
    const transportSequence = sequencer === null ? -1 : sequencer.next(payload.length + PACKET_OVERHEAD, now);
    const length = rewriter.writeHeader(h, history.headers, base, now, transportSequence);
    history.store(outSeq, length, payload, now);

    const out = this.#out;
    out.sequenceNumber = outSeq;
    out.bytes = history.headers.subarray(base, base + length);
    sink.sendRtp(payload, out);
    this.#packetsSent++;
    this.#bytesSent += payload.length;
  }

  /** Its packets carry transport-wide sequence numbers (the subscriber's answer took the extension): its browser sends transport feedback for them. */
  get transportWide(): boolean {
    return this.#rewriter.transportCcId !== 0;
  }

  /** The last REMB its subscriber sent (bits/s: the browser's receive-side estimate of its connection), or null. */
  get receiverEstimate(): number | null {
    return this.#availableBitrate;
  }

  /** @internal RTCP from the subscriber about this consumer's SSRC (werift routes it by SSRC). */
  handleRtcp(packet: RtcpPacket): void {
    if (this.#closed) return;
    if (packet instanceof RtcpTransportLayerFeedback) {
      if (packet.feedback instanceof GenericNack) this.#answerNack(packet.feedback.lost);
    } else if (packet instanceof RtcpPayloadSpecificFeedback) {
      const fb = packet.feedback;
      if (fb instanceof PictureLossIndication) {
        this.#pliCount++;
        this.requestKeyFrame();
      } else if (fb instanceof ReceiverEstimatedMaxBitrate) {
        this.#availableBitrate = Number(fb.bitrate);
      } else if (fb.count === 4) {
        // FIR (RFC 5104): same effect as PLI for us.
        this.#firCount++;
        this.requestKeyFrame();
      }
    } else if (packet instanceof RtcpRrPacket || packet instanceof RtcpSrPacket) {
      for (const report of packet.reports) {
        if (report.ssrc !== this.ssrc) continue;
        this.#packetsLost = report.packetsLost;
        this.#fractionLost = report.fractionLost / 256;
        this.#jitter = Math.round((report.jitter / this.clockRate) * 1000 * 10) / 10;
        if (report.lsr !== 0 && this.#recentSrCompact.includes(report.lsr)) {
          const delay = ((compactNtp(Date.now()) - report.lsr - report.dlsr) >>> 0) / 65536;
          if (delay < 60) this.#rtt = Math.round(delay * 10000) / 10000;
        }
      }
    }
  }

  /**
   * @internal No NACK answers until `until` (performance.now() ms): the subscriber transport holds
   * them while its downlink is saturated, so that retransmitted video does not queue ahead of the
   * audio at the bottleneck (the allocator is stepping the video down meanwhile; the new layer
   * starts on a keyframe anyway).
   */
  holdRetransmissions(until: number): void {
    const now = performance.now();
    if (now >= this.#retransmitHoldUntil) this.#retransmitHoldSince = now;
    this.#retransmitHoldUntil = Math.max(this.#retransmitHoldUntil, until);
  }

  /** NACKs left unanswered: the video was off for quality, or retransmissions were held. */
  get nacksHeld(): number {
    return this.#nacksHeld;
  }

  #answerNack(lost: number[]): void {
    const sink = this.#sink;
    if (sink === null || this.kind !== 'video') return;
    this.#nackCount++;
    // Video off for quality: its lost packets are of no use (it restarts from a keyframe), and
    // sending them would take the little the link carries from the audio.
    if (this.#qualityDisabled) {
      this.#nacksHeld++;
      return;
    }
    const now = performance.now();
    if (now < this.#retransmitHoldUntil) {
      // Held, except the layer just stepped to: what was sent since its keyframe, when that came
      // within RECENT_SYNC_MS and no other switch is pending. A hole in it freezes the picture until
      // the browser gives up and asks for a keyframe (~3 s in Chromium). Measured in the impairment
      // bench: the step down's keyframe lost packets to the full queue (the allocator had stepped
      // down on the first loss or delay, the hold began at the saturation cut 0.1–0.5 s later),
      // every NACK was held, and the limited subscriber froze 1.5–4.5 s after the limit, 22–36 %
      // of the limited time.
      const fresh = now - this.#syncAt <= RECENT_SYNC_MS && this.#currentLayer === this.#targetLayer;
      const wanted = fresh ? lost.filter((seq) => this.#sinceSync(seq)) : [];
      if (wanted.length < lost.length) this.#nacksHeld++;
      // A held packet of what is forwarded now (the layer is not fresh: none of its packets are
      // resent) stays unanswered past the time a resend could help (RESEND_MAX_AGE_MS = the hold):
      // the picture stays broken until a keyframe, which the hold's end brings.
      if (!fresh && lost.some((seq) => this.#stillNeeded(seq))) this.#keyFrameForUnrepaired(this.#retransmitHoldUntil);
      if (wanted.length === 0) return;
      lost = wanted;
    }
    // Once per round trip: the RTT from the subscriber's receiver reports (it grows with the
    // bottleneck's queue). While the downlink is saturated (the repairs of the layer just stepped
    // to, above), once in all: each ask answered again went into the full queue and was lost
    // with the rest, and the browser asked again (the 3x4 impairment bench: 44 packets resent in
    // the second after the cut, ~420 kbps into a 500 kbps link, and a second saturation cut).
    // Still missing when the hold ends, a packet is resent again, or a keyframe repairs it.
    const interval = Math.max(RESEND_MIN_INTERVAL_MS, (this.#rtt ?? 0) * 1000, now < this.#retransmitHoldUntil ? now - this.#retransmitHoldSince + 1 : 0);
    for (const seq of lost) {
      const claim = this.#history.claimResend(seq, now, RESEND_MAX_AGE_MS, interval);
      if (claim !== 'claimed') {
        this.#resendsSkipped++;
        if (claim === 'gone' && this.#stillNeeded(seq)) this.#keyFrameForUnrepaired(now);
        continue;
      }
      const header = this.#history.header(seq);
      const payload = this.#history.payload(seq);
      if (header === undefined || payload === undefined) continue;
      // A retransmission is a new packet on the transport: a new transport-wide number, written in place.
      if (this.#sequencer !== null && header.length > TRANSPORT_SEQUENCE_OFFSET + 1 && header[16]! >> 4 === this.#rewriter.transportCcId && this.#rewriter.transportCcId !== 0) {
        const tw = this.#sequencer.next(payload.length + PACKET_OVERHEAD, performance.now());
        header[TRANSPORT_SEQUENCE_OFFSET] = tw >>> 8;
        header[TRANSPORT_SEQUENCE_OFFSET + 1] = tw & 0xff;
      }
      const out = this.#out;
      if (this.#rtxPayloadType >= 0) {
        // RFC 4588 on the negotiated RTX stream: its own SSRC, payload type and sequence numbers,
        // the original sequence number (OSN) first in the payload. The browser counts the media
        // stream's packets as they were, and tells a late original from a retransmission.
        const rtxSeq = this.#rtxSequence;
        this.#rtxSequence = (rtxSeq + 1) & 0xffff;
        const rtx = rtxPacket(header, payload, seq, this.#rtxPayloadType, rtxSeq, this.#rtxSsrc);
        out.ssrc = this.#rtxSsrc;
        out.sequenceNumber = rtxSeq;
        out.bytes = rtx.header;
        sink.sendRtp(rtx.payload, out);
        out.ssrc = this.ssrc;
      } else {
        out.sequenceNumber = seq;
        out.bytes = header;
        sink.sendRtp(payload, out);
      }
      this.#retransmitted++;
    }
  }

  /** Whether output packet `seq` belongs to what is forwarded now: sent since the last resync (a layer's keyframe), or no resync yet. */
  #sinceSync(seq: number): boolean {
    return this.#syncSeq < 0 || ((seq - this.#syncSeq) & 0xffff) < 0x8000;
  }

  /** Whether output packet `seq` is of what the browser still decodes from: since the last resync and not before the last keyframe forwarded. */
  #stillNeeded(seq: number): boolean {
    return this.#sinceSync(seq) && (this.#keyFrameSeq < 0 || ((seq - this.#keyFrameSeq) & 0xffff) < 0x8000);
  }

  /**
   * A packet of the layer being forwarded will not be repaired (its NACK held through a saturated
   * downlink until it was too old, or asked for after it left the history): asks the publisher for
   * a keyframe of that layer at `at` (performance.now() ms; now or the hold's end), unless a
   * keyframe comes anyway by then (a layer switch or a restart pending, the video off or paused).
   * Without it the browser waits for its own timeout: Chromium sent its PLI 3–4 s into such a
   * freeze in the impairment bench (a 320 px stream at 500 kbps, NACKs held by a saturation cut
   * that did not change its layer, then refused as too old; frozen 16 % of the settled limit).
   * One at a time: while one asked for has not been forwarded (REPAIR_KEYFRAME_PENDING_MS), the
   * picture recovers from it; a packet of a frame before the last keyframe asks for nothing. And
   * one at a time per client: the downlink's KeyFrameGate spaces the asks of all its streams by
   * the time each keyframe takes through the link.
   */
  #keyFrameForUnrepaired(at: number): void {
    if (this.kind !== 'video' || this.#repairKeyFrameTimer !== undefined || this.#closed) return;
    const since = performance.now();
    const ask = (): void => {
      this.#repairKeyFrameTimer = undefined;
      if (this.#closed || this.#paused || this.#producerPaused || this.#qualityDisabled || this.#keyFrameWanted) return;
      if (this.#currentLayer < 0 || this.#currentLayer !== this.#targetLayer) return;
      // A keyframe of the layer went out since (another subscriber's, or the last one asked): the picture recovers from it.
      if (this.#keyFrameSentAt > since) return;
      const now = performance.now();
      // One asked for already, not forwarded yet: the picture recovers from that one.
      if (this.#repairAskedAt > this.#keyFrameSentAt && now - this.#repairAskedAt < REPAIR_KEYFRAME_PENDING_MS) return;
      // The hold was extended (the link saturated again): not into it either.
      if (now < this.#retransmitHoldUntil) {
        this.#repairKeyFrameTimer = setTimeout(ask, this.#retransmitHoldUntil - now);
        return;
      }
      // Nor on top of the keyframes the link carries now (another stream's repair or switch).
      const gate = this.#keyFrameGate;
      const busy = gate?.reserveKeyFrame(this.producer.keyFrameBytes(this.#currentLayer), now, 'repair') ?? 0;
      if (busy > 0) {
        this.#repairKeyFrameTimer = setTimeout(ask, busy);
        return;
      }
      if (gate) this.#keyFrameReservedUntil = gate.keyFramesBusyUntil;
      this.#repairKeyFrames++;
      this.#repairAskedAt = now;
      this.producer.requestKeyFrame(this.#currentLayer);
    };
    const wait = at - since;
    if (wait <= 0) ask();
    else this.#repairKeyFrameTimer = setTimeout(ask, wait);
  }

  /**
   * @internal An RTCP sender report for this consumer, or null before anything was sent. The RTP
   * time maps the publisher's own SR (so audio and video of one stream stay in sync in the
   * browser); without one yet, it extrapolates from the last packet sent.
   */
  senderReport(): RtcpSrPacket | null {
    const rewriter = this.#rewriter;
    if (!rewriter.everSent || this.#sink === null) return null;
    const nowMs = Date.now();
    const now = performance.now();
    const sr = this.producer.senderReport(this.#currentLayer < 0 ? 0 : this.#currentLayer);
    const rtpTimestamp =
      sr !== undefined
        ? (sr.rtpTimestamp + Math.round(((now - sr.receivedAt) * this.clockRate) / 1000) + rewriter.timestampOffset) >>> 0
        : (rewriter.lastTimestamp + Math.round(((now - rewriter.lastSentAt) * this.clockRate) / 1000)) >>> 0;
    const ntp = ntpTimestamp(nowMs);
    this.#recentSrCompact.push(compactNtp(nowMs));
    if (this.#recentSrCompact.length > RECENT_SRS) this.#recentSrCompact.shift();
    this.#lastSrSentAt = now;
    return new RtcpSrPacket({
      ssrc: this.ssrc,
      senderInfo: new RtcpSenderInfo({
        ntpTimestamp: ntp,
        rtpTimestamp,
        packetCount: this.#packetsSent >>> 0,
        octetCount: this.#bytesSent >>> 0,
      }),
    });
  }

  /** @internal Called by the transport's timer to refresh the bitrate. */
  sample(now: number): void {
    const elapsed = (now - this.#sampleAt) / 1000;
    if (elapsed <= 0) return;
    this.#bitrate = Math.round(((this.#bytesSent - this.#sampleBytes) * 8) / elapsed);
    this.#sampleAt = now;
    this.#sampleBytes = this.#bytesSent;
    // Layer sizes become known from keyframes: the best layer for the preference may change.
    this.#chooseLayer();
    // A keyframe asked for but not seen (lost PLI, slow encoder): ask again (throttled by the
    // producer). Not while a switch's ask waits its turn on the client's link
    // (#askSwitchKeyFrame), nor of a target the publisher does not send while a lower layer
    // stands in (Producer.layerUnavailable): a PLI a second for an encoding that is off, and a
    // re-enabled encoding starts with a keyframe anyway.
    if (this.#keyFrameWanted && this.#sink && !this.#paused && !this.#producerPaused && !this.#qualityDisabled && this.#switchKeyFrameTimer === undefined) {
      if (this.#currentLayer < 0 || !this.producer.layerUnavailable(this.#targetLayer, now)) this.#askStartKeyFrame();
    }
    // The publisher's browser does not send a layer we want (its CPU or bandwidth adaptation turns
    // the top encodings off): rather than freeze on a layer that stopped, or wait on a low one for
    // a target that does not come, take the best lower layer that flows, from its next keyframe.
    const fallback = this.#fallbackLayer(now);
    if (fallback >= 0 && this.#sink && !this.#paused && !this.#producerPaused && !this.#qualityDisabled) this.producer.requestKeyFrame(fallback);
  }

  /**
   * The layer to fall back to while the target does not flow: the best flowing layer below the
   * target, when the current layer has stopped, or when the target is unavailable (asked for a
   * while and not sent: Producer.layerUnavailable) and that layer is better than the current one.
   * -1 otherwise.
   */
  #fallbackLayer(now = performance.now()): number {
    const producer = this.producer;
    if (this.kind !== 'video' || producer.layerCount === 1 || this.#currentLayer < 0) return -1;
    if (producer.layerFlowing(this.#targetLayer)) return -1;
    const stopped = producer.layerStopped(this.#currentLayer);
    if (!stopped && !producer.layerUnavailable(this.#targetLayer, now)) return -1;
    for (let layer = Math.min(this.#targetLayer, producer.layerCount) - 1; layer >= 0; layer--) {
      if (!producer.layerFlowing(layer)) continue;
      if (layer === this.#currentLayer || (!stopped && layer < this.#currentLayer)) return -1;
      return layer;
    }
    return -1;
  }

  /**
   * Whether a keyframe of a layer other than the target may be switched to: with nothing forwarded
   * yet and the target not flowing (paused at the publisher until now), any layer's, to start at
   * once; once forwarding, the fallback layer's when what is forwarded has stopped.
   */
  #mayTakeOtherLayer(layer: number): boolean {
    if (this.#currentLayer < 0) return !this.producer.layerFlowing(this.#targetLayer);
    return layer === this.#fallbackLayer();
  }

  /** Stops sending to this subscriber (e.g. subscribeToVideo(false)). */
  pause(): void {
    if (this.#closed || this.#paused) return;
    this.#paused = true;
    this.#keyFrameWanted = false;
    this.producer.updateLayerDemand();
    this.emit('pause');
  }

  /** Starts sending again, from a fresh keyframe for video. */
  resume(): void {
    if (this.#closed || !this.#paused) return;
    this.#paused = false;
    this.producer.updateLayerDemand();
    this.#resync();
    this.emit('resume');
  }

  /** Asks the producer for a keyframe on this subscriber's behalf (throttled by the producer). */
  requestKeyFrame(): void {
    if (!this.#closed) this.producer.requestKeyFrame(this.#currentLayer < 0 ? this.#targetLayer : this.#currentLayer);
  }

  /** @internal */
  handleProducerPause(): void {
    if (this.#closed || this.#producerPaused) return;
    this.#producerPaused = true;
    this.emit('producerPause');
  }

  /** @internal */
  handleProducerResume(): void {
    if (this.#closed || !this.#producerPaused) return;
    this.#producerPaused = false;
    this.#resync();
    this.emit('producerResume');
  }

  /** @internal */
  handleProducerClose(): void {
    if (this.#closed) return;
    this.emit('producerClose');
    this.close();
  }

  getStats(): ConsumerStats {
    return {
      id: this.id,
      producerId: this.producerId,
      kind: this.kind,
      ssrc: this.ssrc,
      paused: this.#paused,
      producerPaused: this.#producerPaused,
      packetsSent: this.#packetsSent,
      bytesSent: this.#bytesSent,
      bitrate: this.#bitrate,
      packetsLost: this.#packetsLost,
      fractionLost: this.#fractionLost,
      jitter: this.#jitter,
      roundTripTime: this.#rtt,
      nackCount: this.#nackCount,
      retransmittedPackets: this.#retransmitted,
      resendsSkipped: this.#resendsSkipped,
      repairKeyFrames: this.#repairKeyFrames,
      pliCount: this.#pliCount,
      firCount: this.#firCount,
      availableBitrate: this.#availableBitrate,
      ...(this.kind === 'video'
        ? { currentLayer: this.#currentLayer, targetLayer: this.#targetLayer, layerSwitches: this.#layerSwitches, bandwidthLayer: this.#bandwidthLayer, qualityDisabled: this.#qualityDisabled, paddingPackets: this.#paddingSent,
            ...(this.#temporal !== null ? { currentTemporalLayer: this.#temporal.current, targetTemporalLayer: this.#temporal.target, temporalFramesDropped: this.#temporal.framesDropped } : {}),
          }
        : {}),
    };
  }

  dump(): Record<string, unknown> {
    return {
      id: this.id,
      producerId: this.producerId,
      kind: this.kind,
      ssrc: this.ssrc,
      payloadType: this.#rewriter.payloadType,
      mid: this.#mid,
      paused: this.#paused,
      producerPaused: this.#producerPaused,
      connected: this.#sink !== null,
      waitingForKeyFrame: this.#rewriter.needsSync && this.kind === 'video',
      ...(this.kind === 'video' ? { currentLayer: this.#currentLayer, targetLayer: this.#targetLayer } : {}),
      lastSenderReportAgoMs: this.#lastSrSentAt ? Math.round(performance.now() - this.#lastSrSentAt) : null,
      closed: this.#closed,
    };
  }

  /** Stops the consumer; its producer's fan-out drops it (on `close`). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sink = null;
    clearTimeout(this.#repairKeyFrameTimer);
    clearTimeout(this.#switchKeyFrameTimer);
    this.#history.clear();
    this.emit('close');
    this.removeAllListeners();
  }
}

const NTP_EPOCH_OFFSET = 2208988800; // seconds from 1900 to 1970

/** 64-bit NTP timestamp for a Unix time in milliseconds. */
export function ntpTimestamp(unixMs: number): bigint {
  const seconds = Math.floor(unixMs / 1000) + NTP_EPOCH_OFFSET;
  const fraction = Math.floor(((unixMs % 1000) / 1000) * 0x100000000);
  return (BigInt(seconds) << 32n) | BigInt(fraction);
}

/** The middle 32 bits of the NTP timestamp (RFC 3550 LSR units: 1/65536 s). */
export function compactNtp(unixMs: number): number {
  const seconds = Math.floor(unixMs / 1000) + NTP_EPOCH_OFFSET;
  const fraction16 = Math.floor(((unixMs % 1000) / 1000) * 0x10000);
  return (((seconds & 0xffff) << 16) | fraction16) >>> 0;
}

/**
 * An RTX retransmission (RFC 4588) of a packet sent as `seq`: a copy of its header (extensions and
 * marker kept) with the RTX payload type, sequence number and SSRC, and the payload prefixed with
 * the original sequence number. Retransmissions are rare: fresh buffers.
 */
export function rtxPacket(header: Buffer, payload: Buffer, seq: number, payloadType: number, rtxSeq: number, rtxSsrc: number): { header: Buffer; payload: Buffer } {
  const h = Buffer.from(header);
  h[1] = (h[1]! & 0x80) | (payloadType & 0x7f);
  h.writeUInt16BE(rtxSeq & 0xffff, 2);
  h.writeUInt32BE(rtxSsrc >>> 0, 8);
  const p = Buffer.allocUnsafe(payload.length + 2);
  p.writeUInt16BE(seq & 0xffff, 0);
  payload.copy(p, 2);
  return { header: h, payload: p };
}
