// RtpRewriter: one consumer's view of a producer's RTP headers. Maps sequence numbers and timestamps
// onto the consumer's own continuous series (starting on a keyframe for video, continuing after
// every resync without a gap or a jump back), and writes the subscriber's 12-byte header and
// extension block (its SSRC and payload type; extensions remapped to its ids, mid and
// abs-send-time written fresh) into a buffer the caller owns. Packets the consumer drops (padding,
// frames above its temporal layer) have their sequence numbers closed up, and a packet arriving
// late (a publisher retransmission) is still mapped with the offset that held where it belongs.
// Plain numbers only: no per-packet objects.

import { COPIED_EXTENSIONS, EXT } from './peer-config.js';
import type { RtpView } from './rtp-view.js';

/** Where a header's transport-wide sequence number sits, when writeHeader wrote one. */
export const TRANSPORT_SEQUENCE_OFFSET = 17;

/** Writes a transport-cc element (one-byte form, 2 bytes of data) at buf[o]; returns the offset after it. */
export function writeTransportSequence(buf: Buffer, o: number, id: number, seq: number): number {
  buf[o] = (id << 4) | 1;
  buf[o + 1] = (seq >>> 8) & 0xff;
  buf[o + 2] = seq & 0xff;
  return o + 3;
}

/** What `map` returns for a packet the consumer must not forward. */
export const DROP = -1;

/** Bytes a header may take: 12 fixed + 4 extension header + at most 48 bytes of extensions. */
export const MAX_HEADER_LENGTH = 64;
const MAX_EXTENSION_BYTES = MAX_HEADER_LENGTH - 16;

/** Sequence-offset changes remembered for late packets (one per run of dropped packets). */
const OFFSET_CHANGES = 128;

/** What the rewriter reads of a producer packet: its marker and its header extensions (an RtpView). */
export type SourceHeader = Pick<RtpView, 'marker' | 'buffer' | 'extensionStart' | 'extensionAt' | 'extensionId' | 'extensionOffset' | 'extensionLength'>;

export class RtpRewriter {
  readonly ssrc: number;
  readonly clockRate: number;
  /** Video waits for a keyframe after every (re)sync; audio starts on any packet. */
  readonly #waitForKeyFrame: boolean;

  #payloadType = -1;
  /** Subscriber's extension id by publisher's extension id (0 = drop). */
  readonly #extMap = new Uint8Array(256);
  #midId = 0;
  #absSendTimeId = 0;
  #transportCcId = 0;
  #midBytes: Buffer = Buffer.alloc(0);

  #needsSync = true;
  #everSent = false;
  #seqOffset = 0;
  #tsOffset = 0;
  #syncSeq = 0;
  #highestOutSeq: number;
  /** The newest input sequence number mapped or dropped since the sync. */
  #newestIn = 0;
  /** Ring of offset changes: the offset before each applies below input `#changeFrom`. */
  readonly #changeFrom = new Int32Array(OFFSET_CHANGES);
  readonly #changePrevOffset = new Int32Array(OFFSET_CHANGES);
  #changeCount = 0;
  #lastOutTs: number;
  #lastSentAt = 0;
  // The packet `map` accepted last, for `writeHeader`.
  #outSeq = 0;
  #outTs = 0;

  constructor(params: { ssrc: number; clockRate: number; waitForKeyFrame: boolean; initialSequence?: number; initialTimestamp?: number }) {
    this.ssrc = params.ssrc >>> 0;
    this.clockRate = params.clockRate;
    this.#waitForKeyFrame = params.waitForKeyFrame;
    // Random starts, as RFC 3550 asks, so sequence and timestamp leak nothing of the publisher's.
    this.#highestOutSeq = (params.initialSequence ?? (Math.random() * 0x10000) | 0) & 0xffff;
    this.#lastOutTs = (params.initialTimestamp ?? Math.random() * 0x100000000) >>> 0;
  }

  /**
   * What the subscriber's answer settled: its payload type, the mid, its extension ids by URI; and
   * the publisher's extension URIs by id, to build the remapping table.
   */
  setNegotiated(params: {
    payloadType: number;
    mid: string;
    extensionIds: Map<string, number>;
    producerExtensionUris: readonly (string | undefined)[];
  }): void {
    this.#payloadType = params.payloadType;
    this.#midBytes = Buffer.from(params.mid, 'utf8');
    this.#midId = params.mid && this.#midBytes.length <= 16 ? (params.extensionIds.get(EXT.mid) ?? 0) : 0;
    this.#absSendTimeId = params.extensionIds.get(EXT.absSendTime) ?? 0;
    this.#transportCcId = params.extensionIds.get(EXT.transportCc) ?? 0;
    this.#extMap.fill(0);
    params.producerExtensionUris.forEach((uri, publisherId) => {
      if (uri && COPIED_EXTENSIONS.has(uri)) this.#extMap[publisherId] = params.extensionIds.get(uri) ?? 0;
    });
  }

  /** The subscriber's id for transport-wide sequence numbers (0: not negotiated). */
  get transportCcId(): number {
    return this.#transportCcId;
  }

  /** -1 until setNegotiated. */
  get payloadType(): number {
    return this.#payloadType;
  }

  /** True until a packet started (or restarted) the output series. */
  get needsSync(): boolean {
    return this.#needsSync;
  }

  get everSent(): boolean {
    return this.#everSent;
  }

  /** Output timestamp minus input timestamp (maps the publisher's SR RTP time). */
  get timestampOffset(): number {
    return this.#tsOffset;
  }

  /** Timestamp of the newest packet sent, and when (performance.now()). */
  get lastTimestamp(): number {
    return this.#lastOutTs;
  }

  get lastSentAt(): number {
    return this.#lastSentAt;
  }

  get highestSequence(): number {
    return this.#highestOutSeq;
  }

  /** Restart the series at the next packet `map` accepts (a keyframe for video): after connect or resume. */
  resync(): void {
    this.#needsSync = true;
  }

  /**
   * Maps a producer packet to this consumer's series: returns its output sequence number, or DROP
   * (before the sync keyframe, older than the sync point, or padding-only). The output timestamp
   * is `outputTimestamp` until the next call.
   */
  map(seq: number, timestamp: number, payloadLength: number, keyFrame: boolean, now: number): number {
    if (this.#needsSync) {
      // Delta frames before the first keyframe are undecodable; wait (the request is pending).
      if (this.#waitForKeyFrame && !keyFrame) return DROP;
      this.#needsSync = false;
      this.#syncSeq = seq;
      this.#seqOffset = (this.#highestOutSeq + 1 - seq) & 0xffff;
      // Advance the timestamp by the wall time since the last packet so that playout after a
      // pause/resume or keyframe switch stays monotonic and roughly real-time.
      const advance = this.#everSent ? Math.max(1, Math.round(((now - this.#lastSentAt) * this.clockRate) / 1000)) : 0;
      this.#tsOffset = (this.#lastOutTs + advance - timestamp) >>> 0;
      this.#newestIn = (seq - 1) & 0xffff;
      this.#changeCount = 0;
    } else if (!this.#inWindow(seq)) {
      return DROP; // older than the sync point: the subscriber never saw its frame start
    }
    if (payloadLength === 0) {
      // Padding-only packet (bandwidth probing): carrying probes to subscribers would only cost
      // them bandwidth.
      this.#closeUp(seq);
      return DROP;
    }
    const offset = this.#offsetFor(seq);
    if (offset < 0) return DROP;
    const outSeq = (seq + offset) & 0xffff;
    const outTs = (timestamp + this.#tsOffset) >>> 0;
    if (((outSeq - this.#highestOutSeq) & 0xffff) < 0x8000) {
      this.#highestOutSeq = outSeq;
      this.#lastOutTs = outTs;
      this.#lastSentAt = now;
    }
    this.#everSent = true;
    this.#outSeq = outSeq;
    this.#outTs = outTs;
    return outSeq;
  }

  /**
   * The consumer drops this packet (its frame is above the temporal layer forwarded): its sequence
   * number is closed up, so the subscriber sees no gap. Nothing happens before the sync.
   */
  drop(seq: number): void {
    if (!this.#needsSync && this.#inWindow(seq)) this.#closeUp(seq);
  }

  /** Whether `seq` is at or after the sync point (which trails the newest packet, for wrap-around). */
  #inWindow(seq: number): boolean {
    const sinceSync = (seq - this.#syncSeq) & 0xffff;
    if (sinceSync >= 0x8000) return false;
    if (sinceSync > 0x4000) this.#syncSeq = (seq - 0x4000) & 0xffff;
    return true;
  }

  /**
   * Closes the output sequence number of a dropped packet, when it is the newest input: the
   * packets after it move down by one. A dropped packet older than the newest (late) leaves its
   * number as a gap: the packets after it are already sent.
   */
  #closeUp(seq: number): void {
    const ahead = (seq - this.#newestIn) & 0xffff;
    if (ahead === 0 || ahead >= 0x8000) return;
    this.#newestIn = seq;
    const from = (seq + 1) & 0xffff;
    const last = (this.#changeCount - 1) % OFFSET_CHANGES;
    if (this.#changeCount > 0 && this.#changeFrom[last] === seq) {
      this.#changeFrom[last] = from; // a run of drops: one change
    } else {
      const i = this.#changeCount % OFFSET_CHANGES;
      this.#changeFrom[i] = from;
      this.#changePrevOffset[i] = this.#seqOffset;
      this.#changeCount++;
    }
    this.#seqOffset = (this.#seqOffset - 1) & 0xffff;
  }

  /**
   * The sequence offset for input `seq`: the current one for a new packet, or for a late one the
   * offset that held before the drops that came after it; -1 when that is forgotten.
   */
  #offsetFor(seq: number): number {
    const ahead = (seq - this.#newestIn) & 0xffff;
    if (ahead !== 0 && ahead < 0x8000) {
      this.#newestIn = seq;
      return this.#seqOffset;
    }
    let offset = this.#seqOffset;
    const kept = Math.min(this.#changeCount, OFFSET_CHANGES);
    for (let k = 0; k < kept; k++) {
      const i = (this.#changeCount - 1 - k) % OFFSET_CHANGES;
      const after = (this.#changeFrom[i]! - seq) & 0xffff;
      if (after === 0 || after >= 0x8000) return offset; // this change (and all older) apply to seq
      offset = this.#changePrevOffset[i]!;
      if (k === OFFSET_CHANGES - 1 && this.#changeCount > OFFSET_CHANGES) return -1;
    }
    return offset;
  }

  /** The output timestamp of the packet `map` accepted last. */
  get outputTimestamp(): number {
    return this.#outTs;
  }

  /**
   * Writes the header of the packet `map` accepted last at buf[base] (room for MAX_HEADER_LENGTH):
   * V=2, X when extensions were written, no CSRC, the marker, our payload type, sequence,
   * timestamp and SSRC, then the one-byte-form extension block. `transportSequence` (≥ 0) is
   * written first in the block (always at base + 17, so a retransmission can renumber it in
   * place: TRANSPORT_SEQUENCE_OFFSET). Returns the header length.
   */
  writeHeader(source: SourceHeader, buf: Buffer, base: number, now: number, transportSequence = -1): number {
    buf[base + 1] = (source.marker ? 0x80 : 0) | this.#payloadType;
    buf.writeUInt16BE(this.#outSeq, base + 2);
    buf.writeUInt32BE(this.#outTs, base + 4);
    buf.writeUInt32BE(this.ssrc, base + 8);
    const length = this.#writeExtensions(source, buf, base, now, transportSequence);
    buf[base] = length > 12 ? 0x90 : 0x80;
    return length;
  }

  #writeExtensions(source: SourceHeader, buf: Buffer, base: number, now: number, transportSequence: number): number {
    let o = base + 16;
    const end = base + 16 + MAX_EXTENSION_BYTES;
    if (this.#transportCcId !== 0 && transportSequence >= 0) o = writeTransportSequence(buf, o, this.#transportCcId, transportSequence);
    if (this.#midId !== 0 && o + 1 + this.#midBytes.length <= end) {
      buf[o++] = (this.#midId << 4) | (this.#midBytes.length - 1);
      o += this.#midBytes.copy(buf, o);
    }
    if (this.#absSendTimeId !== 0 && o + 4 <= end) {
      // 6.18 fixed-point seconds, 24 bits (abs-send-time spec); our send time, not the publisher's.
      const t = Math.round((now / 1000) * 262144) & 0xffffff;
      buf[o++] = (this.#absSendTimeId << 4) | 2;
      buf[o++] = t >>> 16;
      buf[o++] = (t >>> 8) & 0xff;
      buf[o++] = t & 0xff;
    }
    const map = this.#extMap;
    const src = source.buffer;
    for (let next = source.extensionAt(source.extensionStart); next >= 0; next = source.extensionAt(next)) {
      const id = map[source.extensionId & 0xff]!;
      const len = source.extensionLength;
      if (id === 0 || len === 0 || len > 16 || o + 1 + len > end) continue;
      buf[o++] = (id << 4) | (len - 1);
      const from = source.extensionOffset;
      for (let k = 0; k < len; k++) buf[o++] = src[from + k]!;
    }
    const written = o - (base + 16);
    if (written === 0) return 12;
    while ((o - base) & 3) buf[o++] = 0; // pad to 32 bits
    buf[base + 12] = 0xbe;
    buf[base + 13] = 0xde;
    buf.writeUInt16BE((o - base - 16) >> 2, base + 14);
    return o - base;
  }
}
