// Producer: one track a publisher sends (audio or video). It receives RTP from its publisher
// transport and hands each packet to its output, the fan-out to its consumers that the router's
// ForwardingTable owns (forwarding-table.ts: the producer does not know the Consumer class, only that
// output); it asks the publisher for keyframes (throttled) and keeps the counters the Inspector shows. A simulcast video track has several spatial layers
// (one RTP stream per rid, lowest first): each packet comes with its layer index, consumers pick
// one layer each, and the producer tells its owner which layers anyone needs (`layers` event) so
// that the others can be paused at the publisher.

import { parseVp8Descriptor, Vp8Descriptor } from './codecs/vp8.js';
import { h264Dimensions, isH264KeyFrameStart, isVp8KeyFrameStart, vp8Dimensions } from './codecs.js';
import type { ForwardedProducer, ProducerLayer, ProducerOutput, SenderReportSample } from './forwarding-table.js';
import { PayloadRing } from './payload-ring.js';
import type { RtpView } from './rtp-view.js';
import { reportListenerError, TypedEmitter } from './typed-emitter.js';
import type { CodecInfo, MediaKind, ProducerStats } from './types.js';

export type ProducerEvents = {
  /** The producer closed (unpublished, transport or router closed). */
  close: [];
  pause: [];
  resume: [];
  /** A keyframe showed a new picture size (video; with simulcast, of the highest layer seen). */
  videoDimensions: [{ width: number; height: number }];
  /**
   * Simulcast: which layers someone needs (a consumer forwards or switches to it, a raw-RTP listener
   * takes the top one), by layer index. The owner has the publisher set `active` on its encodings.
   * A layer is turned on at once and turned off only after LAYER_PAUSE_DELAY_MS without demand.
   */
  layers: [active: readonly boolean[]];
};

/**
 * Sees every packet the producer forwards (not while paused), synchronously on the packet path:
 * it must return quickly and must neither keep nor mutate the packet. The view is the receive
 * path's, reused for the next packet: keep `packet.copy()` (or a copy of the payload) instead.
 */
export type RtpListener = (packet: RtpView) => void;

/**
 * Sees every packet of every layer the producer forwards (not while paused), with its layer: the
 * sending end of a pipe to another node (pipe-transport.ts). Same rules as RtpListener.
 */
export type LayerListener = (packet: RtpView, layer: number) => void;

/**
 * Which layers a layer listener's far end needs (`layers[i]`: layer i), or null for every layer. The
 * listener's owner changes `layers` and calls updateLayerDemand(): a pipe passes on the layer choices
 * of the far node's consumers, so that layers no one there watches can pause at the publisher.
 */
export interface LayerDemand {
  layers: readonly boolean[] | null;
}

/** At most one keyframe request per producer in this many milliseconds (Chromium answers each one). */
export const KEYFRAME_REQUEST_INTERVAL_MS = 500;

/** A simulcast layer no one needs is paused at the publisher after this long (avoids flapping). */
export const LAYER_PAUSE_DELAY_MS = 2000;

/**
 * A layer asked for (active) this long that brings nothing is unavailable: the publisher's browser
 * does not send it (its own bandwidth or CPU adaptation turned that encoding off). Its next layer
 * down is then kept on in its place, and consumers that want it take the best layer that flows.
 * Chromium resumes a paused encoding within a few hundred ms; a loaded machine takes longer.
 */
export const LAYER_START_GRACE_MS = 2000;

/** VP8 temporal layers a TID can name (2 bits). */
export const TEMPORAL_IDS = 4;

/**
 * A video producer's payload ring (payload-ring.ts), which its consumers' retransmission histories
 * share: 1 MiB is ~2.8 s of a 3 Mbps simulcast publisher (all layers), ~1 s at 8 Mbps; a NACK is
 * worth answering for a round trip or two.
 */
export const PAYLOAD_RING_BYTES = 1024 * 1024;

/**
 * Weight of the newest ~500 ms sample in a layer's steady bitrate (a time constant of about 2 s),
 * which leaves keyframes out (the bytes of every packet with a keyframe's RTP timestamp). The
 * downlink allocator sized layers by the last sample alone: the keyframe its own switch up asked
 * for doubled the top layer's rate for one sample, which read as not fitting, so it went down
 * again at once, and back up 2 s later — 1280 px for 1 s in every 3 after a lifted limit in the
 * impairment bench. Smoothed with keyframes in, a 1280x720 keyframe still moved the top layer's
 * rate by ~150 kbps, and the subscriber went 1 → 2 → 1 → 2 every second for 6 s after a lift.
 * Keyframes come on request (a switch, a PLI), and the allocator's headroom covers their burst.
 */
const LAYER_RATE_SMOOTHING = 0.2;
/** Weight of the newest sample in the per-temporal-layer frame rates (a 500 ms sample holds a few T0 frames). */
const TEMPORAL_RATE_SMOOTHING = 0.3;
/** One descriptor parse at a time on the packet path. */
const descriptor = new Vp8Descriptor();

export type { ProducerLayer, SenderReportSample } from './forwarding-table.js';

/** What a producer needs from its transport, kept abstract so the packet path has no werift calls. */
export interface ProducerLink {
  sendPli(ssrc: number): void;
  /** RFC 3550 receive statistics kept for this SSRC (jitter in RTP units). */
  receiveStats(ssrc: number): { jitter: number } | undefined;
  /** NACKs sent for this SSRC. */
  nackCount(ssrc: number): number;
}

export class Producer extends TypedEmitter<ProducerEvents> implements ForwardedProducer {
  readonly id: string;
  readonly kind: MediaKind;
  readonly codec: CodecInfo;
  /** The SSRC (simulcast: of the lowest layer, 0 until its first packet; see `layers`). */
  ssrc: number;
  /** Simulcast rids, lowest layer first; empty for a single encoding. */
  readonly rids: readonly string[];
  /** Spatial layers: the rids' count, or 1. */
  readonly layerCount: number;
  /** Id of the publisher transport, also the msid stream id subscribers see (audio and video lip-sync). */
  readonly streamId: string;
  /** Publisher's header extension URI by id (index 0..255), for remapping per consumer. */
  readonly extensionUris: readonly (string | undefined)[];

  #closed = false;
  #paused = false;
  #payloadRing: PayloadRing | null = null;
  readonly #link: ProducerLink;
  readonly #isKeyFrameStart: ((payload: Buffer) => boolean) | null;
  readonly #dimensionsOf: ((payload: Buffer) => { width: number; height: number } | null) | null;
  /**
   * Where packets and pause/close go: the fan-out to this producer's consumers, which the router's
   * ForwardingTable owns and binds (null until then: no one consumes it yet).
   */
  #output: ProducerOutput | null = null;
  /** Raw-RTP listeners (archiving). Arrays (not Sets), replaced on change, so the packet path iterates without an iterator object. */
  #rtpListeners: RtpListener[] = [];
  /** Pipes to other nodes (every layer), same array discipline. */
  #layerListeners: LayerListener[] = [];
  /** What each layer listener's far end needs (absent: every layer). */
  readonly #layerDemands = new Map<LayerListener, LayerDemand>();

  // Counters (packet path: plain number fields and preallocated per-layer arrays only).
  #packets = 0;
  #bytes = 0;
  #keyFrames = 0;
  /** Per layer: SSRC, sequence tracking (loss), bytes, picture size, keyframe requests. */
  readonly #layerSsrc: number[];
  readonly #highestSeq: number[];
  readonly #cycles: number[];
  readonly #firstSeq: number[];
  readonly #layerPackets: number[];
  readonly #layerBytes: number[];
  readonly #layerFrames: number[];
  readonly #sampleLayerFrames: number[];
  /** VP8 frames per layer and TID (index layer * TEMPORAL_IDS + tid), and their smoothed rates. */
  readonly #tidFrames: Float64Array;
  readonly #sampleTidFrames: Float64Array;
  readonly #tidRates: Float64Array;
  /**
   * VP8 bytes per layer and TID of frames other than keyframes (a keyframe is T0 and would read as
   * T0's steady share), the layer's byte count when its last frame ended (a frame's bytes are the
   * count since), and the smoothed bytes per second per layer and TID (-1: not seen).
   */
  readonly #tidBytes: Float64Array;
  readonly #sampleTidBytes: Float64Array;
  readonly #tidByteRates: Float64Array;
  readonly #frameStartBytes: number[];
  readonly #layerWidth: number[];
  readonly #layerHeight: number[];
  readonly #lastKeyFrameRequest: number[];
  readonly #pendingKeyFrameTimer: (NodeJS.Timeout | undefined)[];
  readonly #layerSenderReport: (SenderReportSample | undefined)[];
  // Layer demand (simulcast): what is asked of the publisher, and since when each layer is unneeded.
  readonly #layerActive: boolean[];
  /** When each layer was last turned on (performance.now() ms). */
  readonly #activeSince: number[];
  readonly #unneededSince: number[];
  readonly #sampleLayerBytes: number[];
  readonly #layerBitrate: number[];
  readonly #layerSteadyBitrate: number[];
  /** Per layer: the RTP timestamp of its last keyframe (-1: none yet), and the bytes of keyframes so far and at the last sample. */
  readonly #layerKeyTimestamp: number[];
  readonly #layerKeyBytes: number[];
  readonly #sampleLayerKeyBytes: number[];
  /** Per layer: #layerKeyBytes when its last keyframe began, and that keyframe's payload bytes once its last packet came (0 before). */
  readonly #keyFrameStartBytes: number[];
  readonly #lastKeyFrameBytes: number[];
  /** Layers that carried media in some sample window (a layer that never did has not "stopped"). */
  readonly #layerFlowed: boolean[];
  /** The highest layer whose keyframe gave the stream's picture size. */
  #dimensionsLayer = -1;
  #width = 0;
  #height = 0;
  #pliCount = 0;
  // Sampled by the transport's timer.
  #sampleAt = performance.now();
  #sampleBytes = 0;
  #sampleExpected = 0;
  #sampleReceived = 0;
  #bitrate = 0;
  #frameRate = 0;
  #fractionLost = 0;

  constructor(params: {
    id: string;
    kind: MediaKind;
    codec: CodecInfo;
    /** 0 for a simulcast track (learnt from the packets). */
    ssrc: number;
    /** Simulcast rids, lowest layer first (default: a single encoding). */
    rids?: string[];
    streamId: string;
    extensionUris: (string | undefined)[];
    link: ProducerLink;
  }) {
    super();
    this.id = params.id;
    this.kind = params.kind;
    this.codec = params.codec;
    this.ssrc = params.ssrc;
    this.rids = params.rids ?? [];
    const n = (this.layerCount = Math.max(1, this.rids.length));
    this.#layerSsrc = new Array<number>(n).fill(0);
    this.#layerSsrc[0] = params.ssrc;
    this.#highestSeq = new Array<number>(n).fill(-1);
    this.#cycles = new Array<number>(n).fill(0);
    this.#firstSeq = new Array<number>(n).fill(-1);
    this.#layerPackets = new Array<number>(n).fill(0);
    this.#layerBytes = new Array<number>(n).fill(0);
    this.#layerFrames = new Array<number>(n).fill(0);
    this.#sampleLayerFrames = new Array<number>(n).fill(0);
    this.#tidFrames = new Float64Array(n * TEMPORAL_IDS);
    this.#sampleTidFrames = new Float64Array(n * TEMPORAL_IDS);
    this.#tidRates = new Float64Array(n * TEMPORAL_IDS).fill(-1);
    this.#tidBytes = new Float64Array(n * TEMPORAL_IDS);
    this.#sampleTidBytes = new Float64Array(n * TEMPORAL_IDS);
    this.#tidByteRates = new Float64Array(n * TEMPORAL_IDS).fill(-1);
    this.#frameStartBytes = new Array<number>(n).fill(0);
    this.#layerWidth = new Array<number>(n).fill(0);
    this.#layerHeight = new Array<number>(n).fill(0);
    this.#lastKeyFrameRequest = new Array<number>(n).fill(-Infinity);
    this.#pendingKeyFrameTimer = new Array<NodeJS.Timeout | undefined>(n).fill(undefined);
    this.#layerSenderReport = new Array<SenderReportSample | undefined>(n).fill(undefined);
    this.#layerActive = new Array<boolean>(n).fill(true);
    this.#activeSince = new Array<number>(n).fill(performance.now());
    this.#unneededSince = new Array<number>(n).fill(-1);
    this.#sampleLayerBytes = new Array<number>(n).fill(0);
    this.#layerBitrate = new Array<number>(n).fill(0);
    this.#layerSteadyBitrate = new Array<number>(n).fill(0);
    this.#layerKeyTimestamp = new Array<number>(n).fill(-1);
    this.#layerKeyBytes = new Array<number>(n).fill(0);
    this.#sampleLayerKeyBytes = new Array<number>(n).fill(0);
    this.#keyFrameStartBytes = new Array<number>(n).fill(0);
    this.#lastKeyFrameBytes = new Array<number>(n).fill(0);
    this.#layerFlowed = new Array<boolean>(n).fill(false);
    this.streamId = params.streamId;
    this.extensionUris = params.extensionUris;
    this.#link = params.link;
    const name = params.codec.name;
    this.#isKeyFrameStart = name === 'VP8' ? isVp8KeyFrameStart : name === 'H264' ? isH264KeyFrameStart : null;
    this.#dimensionsOf = name === 'VP8' ? vp8Dimensions : name === 'H264' ? h264Dimensions : null;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Video: the ring its consumers keep their sent payloads in for NACKs (made when the first
   * consumer asks; nothing is copied before). Audio: null (not retransmitted).
   */
  get payloadRing(): PayloadRing | null {
    if (this.kind !== 'video') return null;
    return (this.#payloadRing ??= new PayloadRing(PAYLOAD_RING_BYTES));
  }

  /** Paused producers forward nothing (server-side mute, e.g. moderation); consumers are told. */
  get paused(): boolean {
    return this.#paused;
  }

  /** @internal ForwardingTable.addProducer: where this producer's packets go (its consumers' fan-out). */
  bindOutput(output: ProducerOutput | null): void {
    this.#output = this.#closed ? null : output;
  }

  /**
   * Packet path: one call per RTP packet from the publisher (the receive path's reused view, RTX
   * already unwrapped), with its simulcast layer (0 for a single encoding). No allocation here
   * except the view's payload Buffer and when a keyframe changes the picture size.
   */
  receive(packet: RtpView, layer = 0): void {
    if (this.#closed) return;
    const header = packet.header;
    const payload = packet.payload;
    this.#packets++;
    this.#bytes += payload.length;
    this.#layerPackets[layer]!++;
    this.#layerBytes[layer]! += payload.length;
    if (this.#layerSsrc[layer] !== header.ssrc) this.#learnSsrc(layer, header.ssrc);
    this.#trackSequence(layer, header.sequenceNumber);
    let keyFrame = false;
    if (this.#isKeyFrameStart !== null && payload.length > 0) {
      keyFrame = this.#isKeyFrameStart(payload);
      if (keyFrame) {
        this.#onKeyFrame(layer, payload);
        this.#layerKeyTimestamp[layer] = header.timestamp;
        this.#keyFrameStartBytes[layer] = this.#layerKeyBytes[layer]!;
      }
      const ofKeyFrame = header.timestamp === this.#layerKeyTimestamp[layer];
      if (ofKeyFrame) this.#layerKeyBytes[layer]! += payload.length;
      if (header.marker) {
        if (ofKeyFrame) this.#lastKeyFrameBytes[layer] = this.#layerKeyBytes[layer]! - this.#keyFrameStartBytes[layer]!;
        this.#layerFrames[layer]!++;
        // One descriptor read per frame (its last packet carries the frame's TID too).
        if (this.codec.name === 'VP8' && parseVp8Descriptor(payload, descriptor) && descriptor.temporalId >= 0) {
          const i = layer * TEMPORAL_IDS + descriptor.temporalId;
          this.#tidFrames[i]!++;
          if (header.timestamp !== this.#layerKeyTimestamp[layer]) this.#tidBytes[i]! += this.#layerBytes[layer]! - this.#frameStartBytes[layer]!;
        }
        this.#frameStartBytes[layer] = this.#layerBytes[layer]!;
      }
    }
    if (this.#paused) return;
    const output = this.#output;
    if (output !== null) output.forward(packet, keyFrame, layer);
    const pipes = this.#layerListeners;
    for (let i = 0; i < pipes.length; i++) {
      try {
        pipes[i]!(packet, layer);
      } catch (err) {
        reportListenerError(err, 'rtp', 'Producer');
      }
    }
    // Raw-RTP listeners (recording) take one RTP stream: the top layer.
    if (layer !== this.layerCount - 1) return;
    const listeners = this.#rtpListeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]!(packet);
      } catch (err) {
        reportListenerError(err, 'rtp', 'Producer');
      }
    }
  }

  /**
   * Hands every forwarded packet to `listener` (after consumers, never while paused; of a simulcast
   * producer, the top layer's only, which then stays on) until the returned function is called or
   * the producer closes. For server-side recording: no peer
   * connection, no rewriting. Consumers must not be affected by a slow listener: keep it cheap.
   */
  addRtpListener(listener: RtpListener): () => void {
    if (this.#closed) return () => {};
    this.#rtpListeners = [...this.#rtpListeners, listener];
    this.updateLayerDemand();
    return () => {
      this.#rtpListeners = this.#rtpListeners.filter((l) => l !== listener);
      this.updateLayerDemand();
    };
  }

  /**
   * Hands every forwarded packet of every layer, with its layer index, to `listener` until the
   * returned function is called or the producer closes (the far end of a pipe picks layers per
   * subscriber itself, as mediasoup's PipeConsumer carries all). The layers it needs stay on: all of
   * them, or those of `demand` once its owner narrows it (then calls updateLayerDemand()).
   */
  addLayerListener(listener: LayerListener, demand?: LayerDemand): () => void {
    if (this.#closed) return () => {};
    this.#layerListeners = [...this.#layerListeners, listener];
    if (demand) this.#layerDemands.set(listener, demand);
    this.updateLayerDemand();
    return () => {
      this.#layerListeners = this.#layerListeners.filter((l) => l !== listener);
      this.#layerDemands.delete(listener);
      this.updateLayerDemand();
    };
  }

  #learnSsrc(layer: number, ssrc: number): void {
    this.#layerSsrc[layer] = ssrc;
    if (layer === 0) this.ssrc = ssrc;
  }

  #trackSequence(layer: number, seq: number): void {
    const highest = this.#highestSeq[layer]!;
    if (highest < 0) {
      this.#highestSeq[layer] = seq;
      this.#firstSeq[layer] = seq;
      return;
    }
    const delta = (seq - highest) & 0xffff;
    if (delta !== 0 && delta < 0x8000) {
      if (seq < highest) this.#cycles[layer]! += 0x10000;
      this.#highestSeq[layer] = seq;
    }
  }

  #onKeyFrame(layer: number, payload: Buffer): void {
    this.#keyFrames++;
    const dims = this.#dimensionsOf?.(payload);
    if (!dims) return;
    this.#layerWidth[layer] = dims.width;
    this.#layerHeight[layer] = dims.height;
    // The stream's picture size is its highest layer's (a paused top layer keeps its last size).
    if (layer < this.#dimensionsLayer) return;
    this.#dimensionsLayer = layer;
    if (dims.width !== this.#width || dims.height !== this.#height) {
      this.#width = dims.width;
      this.#height = dims.height;
      this.emit('videoDimensions', dims);
    }
  }

  /** The spatial layers (one for a single encoding), lowest first. */
  get layers(): ProducerLayer[] {
    const layers: ProducerLayer[] = [];
    for (let i = 0; i < this.layerCount; i++) {
      layers.push({
        index: i,
        rid: this.rids[i] ?? '',
        ssrc: this.#layerSsrc[i]!,
        width: this.#layerWidth[i]!,
        height: this.#layerHeight[i]!,
        bitrate: this.#layerBitrate[i]!,
        steadyBitrate: Math.round(this.#layerSteadyBitrate[i]!),
        active: this.#layerActive[i]!,
        frameRates: this.temporalFrameRates(i),
        byteShares: this.temporalByteShares(i),
      });
    }
    return layers;
  }

  /**
   * The layer a subscriber wanting `preferred` (its preferredResolution; null = the best) should
   * get: the lowest whose picture covers it in both dimensions, else the top. Layer sizes come from
   * their keyframes, or, for a layer not seen yet, from the top size halved per layer below (the
   * SDK sends rids scaled 4/2/1).
   */
  layerForResolution(preferred: { width: number; height: number } | null): number {
    const top = this.layerCount - 1;
    if (preferred === null || top === 0) return top;
    const known = this.#dimensionsLayer;
    for (let i = 0; i < top; i++) {
      let width = this.#layerWidth[i]!;
      let height = this.#layerHeight[i]!;
      if (width === 0 && known >= 0) {
        const scale = 2 ** (known - i);
        width = Math.floor(this.#layerWidth[known]! / scale);
        height = Math.floor(this.#layerHeight[known]! / scale);
      }
      if (width === 0) return top; // nothing known yet: the best, re-chosen once sizes are seen
      if (width >= preferred.width && height >= preferred.height) return i;
    }
    return top;
  }

  /** The payload bytes of the layer's last whole keyframe (0 before one came). */
  keyFrameBytes(layer: number): number {
    return this.#lastKeyFrameBytes[layer] ?? 0;
  }

  /**
   * VP8 temporal layers of a spatial layer: the measured frames per second up to each TID (index t:
   * frames with TID ≤ t), up to the highest TID seen; empty when its frames carry no TID.
   */
  temporalFrameRates(layer: number): number[] {
    const rates: number[] = [];
    let sum = 0;
    let highest = -1;
    for (let t = 0; t < TEMPORAL_IDS; t++) if (this.#tidRates[layer * TEMPORAL_IDS + t]! >= 0) highest = t;
    for (let t = 0; t <= highest; t++) {
      sum += Math.max(0, this.#tidRates[layer * TEMPORAL_IDS + t]!);
      rates.push(Math.round(sum * 10) / 10);
    }
    return rates;
  }

  /**
   * VP8 temporal layers of a spatial layer: the share of its bytes (keyframes aside) up to each
   * TID (index t: frames with TID ≤ t; the last is 1), measured like the frame rates; empty when
   * its frames carry no TID or nothing was measured yet. What forwarding up to TID t costs is
   * about this share of the layer's rate.
   */
  temporalByteShares(layer: number): number[] {
    let total = 0;
    let highest = -1;
    for (let t = 0; t < TEMPORAL_IDS; t++) {
      const rate = this.#tidByteRates[layer * TEMPORAL_IDS + t]!;
      if (rate < 0) continue;
      highest = t;
      total += rate;
    }
    if (highest < 0 || total <= 0) return [];
    const shares: number[] = [];
    let sum = 0;
    for (let t = 0; t <= highest; t++) {
      sum += Math.max(0, this.#tidByteRates[layer * TEMPORAL_IDS + t]!);
      shares.push(t === highest ? 1 : Math.round((sum / total) * 1000) / 1000);
    }
    return shares;
  }

  /** Did this layer bring media in the last sample interval? */
  layerFlowing(layer: number): boolean {
    return (this.#layerBitrate[layer] ?? 0) > 0;
  }

  /**
   * Did this layer carry media once and then stop: nothing in the last sample window nor since?
   * (The publisher's browser turned it off.) A layer not started yet has not stopped.
   */
  layerStopped(layer: number): boolean {
    return (this.#layerFlowed[layer] ?? false) && !this.layerFlowing(layer) && this.#layerBytes[layer] === this.#sampleLayerBytes[layer];
  }

  /**
   * Asked for (active) for LAYER_START_GRACE_MS or more and bringing nothing: the publisher's
   * browser does not send it (turned off by its own adaptation). Single encoding: never.
   */
  layerUnavailable(layer: number, now = performance.now()): boolean {
    if (this.layerCount === 1 || !(this.#layerActive[layer] ?? false) || this.layerFlowing(layer)) return false;
    return now - this.#activeSince[layer]! >= LAYER_START_GRACE_MS;
  }

  /** Is this layer being sent and not asked to pause? (Single encoding: always.) */
  layerActive(layer: number): boolean {
    return this.#layerActive[layer] ?? false;
  }

  /**
   * Recomputes which layers someone needs; turns needed layers on at once (emitting `layers`).
   * Consumers call it when their layer choice changes; turning off waits for `sample`.
   */
  updateLayerDemand(): void {
    if (!this.#closed) this.#applyLayerDemand(null);
  }

  #neededLayers(now: number): boolean[] {
    const needed = new Array<boolean>(this.layerCount).fill(false);
    // The lowest layer always runs: a new subscriber starts on it at once, and the stream's
    // stats stay alive when no one watches.
    needed[0] = true;
    if (this.#rtpListeners.length > 0) needed[this.layerCount - 1] = true;
    for (const listener of this.#layerListeners) {
      const wanted = this.#layerDemands.get(listener)?.layers ?? null;
      if (wanted === null) {
        needed.fill(true);
        break;
      }
      for (let i = 0; i < needed.length; i++) if (wanted[i]) needed[i] = true;
    }
    this.#output?.addNeededLayers(needed);
    // A layer needed that the publisher does not send: the next one down stands in for it (its
    // consumers fall back to the best layer that flows). Pausing that one because no consumer
    // forwards it would leave them the lowest layer, and leave the publisher's estimator sending
    // too little to climb back to the top layer (it grows from what is acknowledged).
    for (let i = this.layerCount - 1; i > 0; i--) if (needed[i] && this.layerUnavailable(i, now)) needed[i - 1] = true;
    return needed;
  }

  /**
   * Turns needed layers on; with `now` (the transport's timer), also turns off layers unneeded
   * for LAYER_PAUSE_DELAY_MS. Emits `layers` when anything changed.
   */
  #applyLayerDemand(now: number | null): void {
    if (this.layerCount === 1) return;
    const needed = this.#neededLayers(now ?? performance.now());
    let changed = false;
    for (let i = 0; i < this.layerCount; i++) {
      if (needed[i]) {
        this.#unneededSince[i] = -1;
        if (!this.#layerActive[i]) {
          this.#layerActive[i] = true;
          this.#activeSince[i] = now ?? performance.now();
          changed = true;
        }
      } else if (now !== null && this.#layerActive[i]) {
        if (this.#unneededSince[i]! < 0) this.#unneededSince[i] = now;
        else if (now - this.#unneededSince[i]! >= LAYER_PAUSE_DELAY_MS) {
          this.#layerActive[i] = false;
          changed = true;
        }
      }
    }
    if (changed) this.emit('layers', [...this.#layerActive]);
  }

  /**
   * Asks the publisher for a keyframe (RTCP PLI) of one layer (default: every layer). Throttled
   * per layer: requests within KEYFRAME_REQUEST_INTERVAL_MS of the last one are merged into one
   * sent when the interval ends.
   */
  requestKeyFrame(layer = -1): void {
    if (this.#closed || this.kind !== 'video') return;
    if (layer < 0) {
      for (let i = 0; i < this.layerCount; i++) this.#requestLayerKeyFrame(i);
    } else if (layer < this.layerCount) {
      this.#requestLayerKeyFrame(layer);
    }
  }

  #requestLayerKeyFrame(layer: number): void {
    if (this.#pendingKeyFrameTimer[layer]) return;
    const now = performance.now();
    const wait = this.#lastKeyFrameRequest[layer]! + KEYFRAME_REQUEST_INTERVAL_MS - now;
    if (wait <= 0) {
      this.#sendPli(layer, now);
      return;
    }
    this.#pendingKeyFrameTimer[layer] = setTimeout(() => {
      this.#pendingKeyFrameTimer[layer] = undefined;
      if (!this.#closed) this.#sendPli(layer, performance.now());
    }, wait);
  }

  #sendPli(layer: number, now: number): void {
    const ssrc = this.#layerSsrc[layer]!;
    if (ssrc === 0) return; // not seen yet: its first frame is a keyframe anyway
    this.#lastKeyFrameRequest[layer] = now;
    this.#pliCount++;
    this.#link.sendPli(ssrc);
  }

  pause(): void {
    if (this.#closed || this.#paused) return;
    this.#paused = true;
    this.#output?.producerPaused();
    this.emit('pause');
  }

  resume(): void {
    if (this.#closed || !this.#paused) return;
    this.#paused = false;
    this.#output?.producerResumed();
    this.emit('resume');
    this.requestKeyFrame();
  }

  /** @internal The publisher's RTCP SR for one of our SSRCs (ignored for others). */
  handleSenderReport(ssrc: number, rtpTimestamp: number): void {
    const layer = this.#layerSsrc.indexOf(ssrc);
    if (layer >= 0) this.#layerSenderReport[layer] = { rtpTimestamp, receivedAt: performance.now() };
  }

  /** The publisher's last SR for a layer (each simulcast RTP stream has its own RTP time base). */
  senderReport(layer = 0): SenderReportSample | undefined {
    return this.#layerSenderReport[layer];
  }

  /** @internal Called by the transport's timer (about every 500 ms) to refresh rates. */
  sample(now: number): void {
    const elapsed = (now - this.#sampleAt) / 1000;
    if (elapsed <= 0) return;
    this.#bitrate = Math.round(((this.#bytes - this.#sampleBytes) * 8) / elapsed);
    // The stream's frame rate is its fastest layer's (layers are the same frames at other sizes).
    let frames = 0;
    for (let i = 0; i < this.layerCount; i++) {
      frames = Math.max(frames, this.#layerFrames[i]! - this.#sampleLayerFrames[i]!);
      this.#sampleLayerFrames[i] = this.#layerFrames[i]!;
    }
    this.#frameRate = Math.round((frames / elapsed) * 10) / 10;
    for (let i = 0; i < this.#tidFrames.length; i++) {
      smoothTidRate(this.#tidRates, i, (this.#tidFrames[i]! - this.#sampleTidFrames[i]!) / elapsed);
      this.#sampleTidFrames[i] = this.#tidFrames[i]!;
      smoothTidRate(this.#tidByteRates, i, (this.#tidBytes[i]! - this.#sampleTidBytes[i]!) / elapsed);
      this.#sampleTidBytes[i] = this.#tidBytes[i]!;
    }
    const expected = this.#expected();
    const expectedDelta = expected - this.#sampleExpected;
    const receivedDelta = this.#packets - this.#sampleReceived;
    this.#fractionLost = expectedDelta > 0 ? Math.max(0, (expectedDelta - receivedDelta) / expectedDelta) : 0;
    for (let i = 0; i < this.layerCount; i++) {
      const bytes = this.#layerBytes[i]! - this.#sampleLayerBytes[i]!;
      const rate = Math.round((bytes * 8) / elapsed);
      this.#layerBitrate[i] = rate;
      const between = Math.round(((bytes - (this.#layerKeyBytes[i]! - this.#sampleLayerKeyBytes[i]!)) * 8) / elapsed);
      const steady = this.#layerSteadyBitrate[i]!;
      // Starts at the first sample; back to 0 when the layer stops (paused: its nominal rate applies then).
      this.#layerSteadyBitrate[i] = rate === 0 ? 0 : steady === 0 ? between : steady + LAYER_RATE_SMOOTHING * (between - steady);
      if (rate > 0) this.#layerFlowed[i] = true;
      this.#sampleLayerBytes[i] = this.#layerBytes[i]!;
      this.#sampleLayerKeyBytes[i] = this.#layerKeyBytes[i]!;
    }
    this.#applyLayerDemand(now);
    this.#sampleAt = now;
    this.#sampleBytes = this.#bytes;
    this.#sampleExpected = expected;
    this.#sampleReceived = this.#packets;
  }

  /** Bits per second received over the last sample interval. */
  get bitrate(): number {
    return this.#bitrate;
  }

  get fractionLost(): number {
    return this.#fractionLost;
  }

  #expected(): number {
    let expected = 0;
    for (let i = 0; i < this.layerCount; i++) {
      const highest = this.#highestSeq[i]!;
      if (highest >= 0) expected += this.#cycles[i]! + highest - this.#firstSeq[i]! + 1;
    }
    return expected;
  }

  getStats(): ProducerStats {
    const jitterUnits = this.#link.receiveStats(this.ssrc)?.jitter ?? 0;
    return {
      id: this.id,
      kind: this.kind,
      codec: this.codec.mimeType,
      ssrc: this.ssrc,
      paused: this.#paused,
      packetsReceived: this.#packets,
      bytesReceived: this.#bytes,
      bitrate: this.#bitrate,
      packetsLost: Math.max(0, this.#expected() - this.#packets),
      fractionLost: this.#fractionLost,
      jitter: Math.round((jitterUnits / this.codec.clockRate) * 1000 * 10) / 10,
      nackCount: this.#link.nackCount(this.ssrc),
      pliCount: this.#pliCount,
      keyFramesReceived: this.#keyFrames,
      ...(this.kind === 'video'
        ? { frameRate: this.#frameRate, ...(this.#width > 0 ? { width: this.#width, height: this.#height } : {}) }
        : {}),
      consumers: this.#output?.consumerCount ?? 0,
      ...(this.layerCount > 1 ? { layers: this.layers.map(({ rid, ssrc, width, height, bitrate, active, frameRates }) => ({ rid, ssrc, width, height, bitrate, active, frameRates })) } : {}),
    };
  }

  dump(): Record<string, unknown> {
    return {
      id: this.id,
      kind: this.kind,
      codec: this.codec,
      ssrc: this.ssrc,
      rids: this.rids,
      streamId: this.streamId,
      paused: this.#paused,
      closed: this.#closed,
      extensions: this.extensionUris.flatMap((uri, id) => (uri ? [{ id, uri }] : [])),
      consumerIds: this.#output?.consumerIds() ?? [],
    };
  }

  /** Closes the producer and, with it, every consumer of it ('producerClose' on each). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (let i = 0; i < this.layerCount; i++) {
      clearTimeout(this.#pendingKeyFrameTimer[i]);
      this.#pendingKeyFrameTimer[i] = undefined;
    }
    const output = this.#output;
    this.#output = null;
    output?.producerClosed();
    this.#rtpListeners = [];
    this.#layerListeners = [];
    this.#layerDemands.clear();
    this.emit('close');
    this.removeAllListeners();
  }
}

/**
 * One sample of a per-TID rate (frames or bytes per second) into its smoothed value. A TID never
 * seen stays unknown (-1); the window it first shows in (-2) started before the stream did, so its
 * rate starts from the next one; then smoothed (down to 0 when it stops).
 */
function smoothTidRate(rates: Float64Array, i: number, rate: number): void {
  const known = rates[i]!;
  if (known >= 0) rates[i] = known + TEMPORAL_RATE_SMOOTHING * (rate - known);
  else if (known === -2) rates[i] = rate;
  else if (rate > 0) rates[i] = -2;
}
