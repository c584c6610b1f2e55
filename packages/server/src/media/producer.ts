// Producer: one track a publisher sends (audio or video). It receives RTP from its publisher
// transport and hands each packet to its consumers; it asks the publisher for keyframes (throttled)
// and keeps the counters the Inspector shows.

import type { RtpPacket } from 'werift';
import { h264Dimensions, isH264KeyFrameStart, isVp8KeyFrameStart, vp8Dimensions } from './codecs.js';
import type { Consumer } from './consumer.js';
import { reportListenerError, TypedEmitter } from '../typed-emitter.js';
import type { CodecInfo, MediaKind, ProducerStats } from './types.js';

export type ProducerEvents = {
  /** The producer closed (unpublished, transport or router closed). */
  close: [];
  pause: [];
  resume: [];
  /** A keyframe showed a new picture size (video). */
  videoDimensions: [{ width: number; height: number }];
};

/**
 * Sees every packet the producer forwards (not while paused), synchronously on the packet path:
 * it must return quickly and must neither keep nor mutate the packet (copy what it keeps).
 */
export type RtpListener = (packet: RtpPacket) => void;

/** At most one keyframe request per producer in this many milliseconds (Chromium answers each one). */
export const KEYFRAME_REQUEST_INTERVAL_MS = 500;

/** What a producer needs from its transport, kept abstract so the packet path has no werift calls. */
export interface ProducerLink {
  sendPli(ssrc: number): void;
  /** RFC 3550 receive statistics werift keeps for this SSRC (jitter in RTP units, losses). */
  receiveStats(ssrc: number): { jitter: number } | undefined;
  /** NACKs werift sent for this SSRC. */
  nackCount(ssrc: number): number;
}

/** The last RTCP sender report of the publisher, to map RTP time to wall time for consumers' SRs. */
export interface SenderReportSample {
  rtpTimestamp: number;
  /** performance.now() when it arrived. */
  receivedAt: number;
}

export class Producer extends TypedEmitter<ProducerEvents> {
  readonly id: string;
  readonly kind: MediaKind;
  readonly codec: CodecInfo;
  readonly ssrc: number;
  /** Id of the publisher transport, also the msid stream id subscribers see (audio and video lip-sync). */
  readonly streamId: string;
  /** Publisher's header extension URI by id (index 0..255), for remapping per consumer. */
  readonly extensionUris: readonly (string | undefined)[];

  #closed = false;
  #paused = false;
  readonly #link: ProducerLink;
  readonly #isKeyFrameStart: ((payload: Buffer) => boolean) | null;
  readonly #dimensionsOf: ((payload: Buffer) => { width: number; height: number } | null) | null;
  /** Array (not Set) so the packet path iterates without an iterator object. */
  #consumers: Consumer[] = [];
  /** Raw-RTP listeners (archiving), same array discipline as consumers. */
  #rtpListeners: RtpListener[] = [];

  // Counters (packet path: plain number fields only).
  #packets = 0;
  #bytes = 0;
  #frames = 0;
  #keyFrames = 0;
  #highestSeq = -1;
  #cycles = 0;
  #firstSeq = -1;
  #width = 0;
  #height = 0;
  #pliCount = 0;
  #lastKeyFrameRequest = -Infinity;
  #pendingKeyFrameTimer: NodeJS.Timeout | undefined;
  // Sampled by the transport's timer.
  #sampleAt = performance.now();
  #sampleBytes = 0;
  #sampleFrames = 0;
  #sampleExpected = 0;
  #sampleReceived = 0;
  #bitrate = 0;
  #frameRate = 0;
  #fractionLost = 0;
  lastSenderReport: SenderReportSample | undefined;

  constructor(params: {
    id: string;
    kind: MediaKind;
    codec: CodecInfo;
    ssrc: number;
    streamId: string;
    extensionUris: (string | undefined)[];
    link: ProducerLink;
  }) {
    super();
    this.id = params.id;
    this.kind = params.kind;
    this.codec = params.codec;
    this.ssrc = params.ssrc;
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

  /** Paused producers forward nothing (server-side mute, e.g. moderation); consumers are told. */
  get paused(): boolean {
    return this.#paused;
  }

  get consumers(): readonly Consumer[] {
    return this.#consumers;
  }

  /**
   * Packet path: one call per RTP packet from the publisher (werift gives us its own copy). No
   * allocation here except when a keyframe changes the picture size.
   */
  receive(packet: RtpPacket): void {
    if (this.#closed) return;
    const header = packet.header;
    const payload = packet.payload;
    this.#packets++;
    this.#bytes += payload.length;
    this.#trackSequence(header.sequenceNumber);
    let keyFrame = false;
    if (this.#isKeyFrameStart !== null && payload.length > 0) {
      if (header.marker) this.#frames++;
      keyFrame = this.#isKeyFrameStart(payload);
      if (keyFrame) this.#onKeyFrame(payload);
    }
    if (this.#paused) return;
    const consumers = this.#consumers;
    for (let i = 0; i < consumers.length; i++) consumers[i]!.forward(packet, keyFrame);
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
   * Hands every forwarded packet to `listener` (after consumers, never while paused) until the
   * returned function is called or the producer closes. For server-side recording: no peer
   * connection, no rewriting. Consumers must not be affected by a slow listener: keep it cheap.
   */
  addRtpListener(listener: RtpListener): () => void {
    if (this.#closed) return () => {};
    this.#rtpListeners = [...this.#rtpListeners, listener];
    return () => {
      this.#rtpListeners = this.#rtpListeners.filter((l) => l !== listener);
    };
  }

  #trackSequence(seq: number): void {
    if (this.#highestSeq < 0) {
      this.#highestSeq = seq;
      this.#firstSeq = seq;
      return;
    }
    const delta = (seq - this.#highestSeq) & 0xffff;
    if (delta !== 0 && delta < 0x8000) {
      if (seq < this.#highestSeq) this.#cycles += 0x10000;
      this.#highestSeq = seq;
    }
  }

  #onKeyFrame(payload: Buffer): void {
    this.#keyFrames++;
    const dims = this.#dimensionsOf?.(payload);
    if (dims && (dims.width !== this.#width || dims.height !== this.#height)) {
      this.#width = dims.width;
      this.#height = dims.height;
      this.emit('videoDimensions', dims);
    }
  }

  /**
   * Asks the publisher for a keyframe (RTCP PLI). Throttled: requests within
   * KEYFRAME_REQUEST_INTERVAL_MS of the last one are merged into one sent when the interval ends.
   */
  requestKeyFrame(): void {
    if (this.#closed || this.kind !== 'video' || this.#pendingKeyFrameTimer) return;
    const now = performance.now();
    const wait = this.#lastKeyFrameRequest + KEYFRAME_REQUEST_INTERVAL_MS - now;
    if (wait <= 0) {
      this.#sendPli(now);
      return;
    }
    this.#pendingKeyFrameTimer = setTimeout(() => {
      this.#pendingKeyFrameTimer = undefined;
      if (!this.#closed) this.#sendPli(performance.now());
    }, wait);
  }

  #sendPli(now: number): void {
    this.#lastKeyFrameRequest = now;
    this.#pliCount++;
    this.#link.sendPli(this.ssrc);
  }

  pause(): void {
    if (this.#closed || this.#paused) return;
    this.#paused = true;
    for (const consumer of [...this.#consumers]) consumer.handleProducerPause();
    this.emit('pause');
  }

  resume(): void {
    if (this.#closed || !this.#paused) return;
    this.#paused = false;
    for (const consumer of [...this.#consumers]) consumer.handleProducerResume();
    this.emit('resume');
    this.requestKeyFrame();
  }

  /** @internal Called by Consumer. */
  addConsumer(consumer: Consumer): void {
    this.#consumers = [...this.#consumers, consumer];
  }

  /** @internal Called by Consumer. */
  removeConsumer(consumer: Consumer): void {
    this.#consumers = this.#consumers.filter((c) => c !== consumer);
  }

  /** @internal The publisher's RTCP SR for this SSRC. */
  handleSenderReport(rtpTimestamp: number): void {
    this.lastSenderReport = { rtpTimestamp, receivedAt: performance.now() };
  }

  /** @internal Called by the transport's timer (about every 500 ms) to refresh rates. */
  sample(now: number): void {
    const elapsed = (now - this.#sampleAt) / 1000;
    if (elapsed <= 0) return;
    this.#bitrate = Math.round(((this.#bytes - this.#sampleBytes) * 8) / elapsed);
    this.#frameRate = Math.round(((this.#frames - this.#sampleFrames) / elapsed) * 10) / 10;
    const expected = this.#expected();
    const expectedDelta = expected - this.#sampleExpected;
    const receivedDelta = this.#packets - this.#sampleReceived;
    this.#fractionLost = expectedDelta > 0 ? Math.max(0, (expectedDelta - receivedDelta) / expectedDelta) : 0;
    this.#sampleAt = now;
    this.#sampleBytes = this.#bytes;
    this.#sampleFrames = this.#frames;
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
    return this.#highestSeq < 0 ? 0 : this.#cycles + this.#highestSeq - this.#firstSeq + 1;
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
      consumers: this.#consumers.length,
    };
  }

  dump(): Record<string, unknown> {
    return {
      id: this.id,
      kind: this.kind,
      codec: this.codec,
      ssrc: this.ssrc,
      streamId: this.streamId,
      paused: this.#paused,
      closed: this.#closed,
      extensions: this.extensionUris.flatMap((uri, id) => (uri ? [{ id, uri }] : [])),
      consumerIds: this.#consumers.map((c) => c.id),
    };
  }

  /** Closes the producer and, with it, every consumer of it ('producerClose' on each). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#pendingKeyFrameTimer);
    this.#pendingKeyFrameTimer = undefined;
    for (const consumer of [...this.#consumers]) consumer.handleProducerClose();
    this.#consumers = [];
    this.#rtpListeners = [];
    this.emit('close');
    this.removeAllListeners();
  }
}
