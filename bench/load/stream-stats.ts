// What a load subscriber measures on one received RTP stream, from the clear RTP header of every
// packet plus the frame trailer (frame-marker.ts) of the last packet of each video frame: packets,
// loss (sequence gaps, RFC 3550 extended sequence numbers), interarrival jitter (RFC 3550 §6.4.1),
// whole frames, keyframes, end-to-end latency per frame, and when the first whole keyframe arrived.
// A browser's stream has no trailer: a frame is whole when its packets, from the one after the
// previous frame's last to its own last, arrived without a gap, and what it is (keyframe, width)
// comes from its first packet (onFrameStart, when the subscriber reads it).

import { PERFORMANCE_TO_MACHINE_MS, type Marker } from './frame-marker.js';
import type { Vp8FrameStart } from './vp8-frame-start.js';

export interface StreamCounters {
  packets: number;
  bytes: number;
  /** Packets the sequence numbers say should have arrived (highest - first + 1). */
  expected: number;
  /** Video: frames whose every packet arrived; audio: packets. */
  frames: number;
  keyFrames: number;
}

export class StreamStats {
  readonly kind: 'audio' | 'video';
  readonly clockRate: number;
  packets = 0;
  bytes = 0;
  frames = 0;
  keyFrames = 0;
  /** Video frames whose last packet carried no trailer (a publisher other than ours). */
  unmarkedFrames = 0;
  /** The width of the last keyframe whose first packet was read (onFrameStart); 0 before. */
  width = 0;
  /** The packet onPacket was last given began a new video frame (the newest packet, with a timestamp of its own). */
  frameStarted = false;
  /** End-to-end latencies (ms) of whole frames since the last `takeLatencies()`. */
  latencies: number[] = [];
  /** performance.now() when the first whole keyframe arrived. */
  firstFrameAt: number | null = null;
  #baseExt = -1;
  #maxExt = -1;
  #cycles = 0;
  #lastSeq = -1;
  #lastExt = 0;
  /** Extended sequence number where the current gap-free run of packets began. */
  #runStart = 0;
  #jitter = 0;
  #lastTransit = NaN;
  /** The frame under way (video): its RTP timestamp, its first packet's extended sequence number, and whether that followed the previous frame's last. */
  #frameTimestamp = -1;
  #frameStartExt = -1;
  #frameStartFollows = false;
  #frameKey = false;
  /** Extended sequence number of the last packet with the marker bit (a frame's last), or -1. */
  #lastMarkerExt = -1;
  readonly #maxLatencySamples: number;

  constructor(kind: 'audio' | 'video', clockRate: number, maxLatencySamples = 5000) {
    this.kind = kind;
    this.clockRate = clockRate;
    this.#maxLatencySamples = maxLatencySamples;
  }

  get expected(): number {
    return this.#maxExt < 0 ? 0 : this.#maxExt - this.#baseExt + 1;
  }

  /** RFC 3550 interarrival jitter, in milliseconds. */
  get jitterMs(): number {
    return (this.#jitter / this.clockRate) * 1000;
  }

  /** SRTP rollover counter of the last packet (wraps of its sequence number since the first). */
  get rolloverCount(): number {
    return Math.floor(this.#lastExt / 0x10000);
  }

  counters(): StreamCounters {
    return { packets: this.packets, bytes: this.bytes, expected: this.expected, frames: this.frames, keyFrames: this.keyFrames };
  }

  takeLatencies(): number[] {
    const l = this.latencies;
    this.latencies = [];
    return l;
  }

  /** One packet, from its clear RTP header. `at` is performance.now() in ms. */
  onPacket(seq: number, timestamp: number, length: number, at: number): void {
    this.packets++;
    this.frameStarted = false;
    this.bytes += length;
    let ext: number;
    let newest = true;
    if (this.#maxExt < 0) {
      this.#baseExt = this.#maxExt = this.#runStart = ext = seq;
    } else {
      const maxSeq = this.#maxExt & 0xffff;
      const delta = (seq - maxSeq) & 0xffff;
      if (delta !== 0 && delta < 0x8000) {
        if (seq < maxSeq) this.#cycles += 0x10000;
        this.#maxExt = this.#cycles + seq;
        ext = this.#maxExt;
      } else {
        ext = this.#maxExt - ((maxSeq - seq) & 0xffff); // late or repeated
        newest = false;
      }
      if (seq !== ((this.#lastSeq + 1) & 0xffff)) this.#runStart = ext;
    }
    this.#lastSeq = seq;
    this.#lastExt = ext;

    // Jitter in RTP timestamp units; the arrival clock converted to the stream's clock.
    const transit = (at * this.clockRate) / 1000 - timestamp;
    if (!Number.isNaN(this.#lastTransit)) {
      let d = transit - this.#lastTransit;
      if (d > 2 ** 31) d -= 2 ** 32; // the timestamp wraps at 2^32
      else if (d < -(2 ** 31)) d += 2 ** 32;
      this.#jitter += (Math.abs(d) - this.#jitter) / 16;
    }
    this.#lastTransit = transit;

    if (this.kind === 'audio') {
      this.frames++;
      return;
    }
    if (!newest || timestamp === this.#frameTimestamp) return;
    this.#frameTimestamp = timestamp;
    this.#frameStartExt = ext;
    this.#frameStartFollows = this.#lastMarkerExt >= 0 && ext === this.#lastMarkerExt + 1;
    this.#frameKey = false;
    this.frameStarted = true;
  }

  /** What the first packet of the frame under way said (a browser's stream), null when unreadable. */
  onFrameStart(start: Vp8FrameStart | null): void {
    if (start === null) return;
    this.#frameKey = start.keyFrame;
    if (start.keyFrame && start.width > 0) this.width = start.width;
  }

  /**
   * The frame trailer of the packet just given to onPacket (a video packet with the RTP marker
   * bit), read from its decrypted payload; null when it had none.
   */
  onFrameEnd(marker: Marker | null, at: number): void {
    this.#lastMarkerExt = Math.max(this.#lastMarkerExt, this.#lastExt); // a late packet does not go back
    if (marker === null) {
      this.unmarkedFrames++;
      // Whole: it began right after the previous frame's last packet, and no gap since.
      if (!this.#frameStartFollows || this.#runStart > this.#frameStartExt) return;
      this.frames++;
      if (this.#frameKey) {
        this.keyFrames++;
        if (this.firstFrameAt === null) this.firstFrameAt = at;
      }
      return;
    }
    // Whole when the gap-free run reaching this packet covers all the frame's packets.
    if (this.#lastExt - this.#runStart + 1 < marker.packets) return;
    this.frames++;
    if (marker.keyFrame) {
      this.keyFrames++;
      if (this.firstFrameAt === null) this.firstFrameAt = at;
    }
    if (this.firstFrameAt !== null && this.latencies.length < this.#maxLatencySamples) {
      this.latencies.push(at + PERFORMANCE_TO_MACHINE_MS - marker.sentAtMs);
    }
  }
}
