// SRTP for RTP in one direction (RFC 3711 §3.3; RFC 7714 §8 for GCM): protect() writes header,
// encrypted payload and tag into a caller's buffer; unprotect() authenticates, checks replay and
// decrypts a received packet in place. Per SSRC it keeps the rollover counter (and, inbound, the
// replay window). No per-packet allocation of ours: Node's crypto returns its own buffers.

import { GCM_TAG_LENGTH } from './aead.js';
import { cipherSuite, type CipherSuite } from './cipher-suite.js';
import type { SessionKeys } from './key-derivation.js';
import { SrtpError, type ProfileParameters } from './profiles.js';
import { ReplayCheck, ReplayWindow } from './replay-window.js';
import { RolloverCounter } from './rollover.js';
import { rtpHeaderLength, rtpSequenceNumber, rtpSsrc } from './rtp-header.js';

/** Per-SSRC state: the index guess and (inbound only) the replay window. */
interface RtpStream {
  readonly rollover: RolloverCounter;
  readonly replay: ReplayWindow;
}

/** Bytes SRTP adds after an RTP packet, at most (GCM's tag; AES-CM needs 4 of scratch for the ROC). */
export const SRTP_MAX_OVERHEAD = GCM_TAG_LENGTH;

export class SrtpContext {
  readonly profile: ProfileParameters;
  /** Bytes appended to each packet. */
  readonly tagLength: number;
  /** Keystream + HMAC (AES-CM) or GCM, keyed once. */
  readonly #c: CipherSuite;
  readonly #streams = new Map<number, RtpStream>();
  /** The received tag, kept aside while the ROC is written where it was (AES-CM unprotect). */
  readonly #tag: Buffer;

  constructor(profile: number, keys: SessionKeys) {
    this.#c = cipherSuite(profile, keys);
    this.profile = this.#c.profile;
    this.tagLength = this.profile.rtpTagLength;
    this.#tag = Buffer.alloc(this.tagLength);
  }

  #stream(ssrc: number): RtpStream {
    let s = this.#streams.get(ssrc);
    if (s === undefined) {
      s = { rollover: new RolloverCounter(), replay: new ReplayWindow() };
      this.#streams.set(ssrc, s);
    }
    return s;
  }

  /** The ROC of an SSRC's stream (undefined before its first packet). */
  rolloverCounter(ssrc: number): number | undefined {
    return this.#streams.get(ssrc)?.rollover.roc;
  }

  /** Sets an SSRC's ROC and highest sequence number (signalled ROC, or tests near the wrap). */
  setRolloverCounter(ssrc: number, roc: number, highestSeq: number): void {
    this.#stream(ssrc).rollover.reset(roc, highestSeq);
  }

  /** Forgets an SSRC (its sender is gone). */
  removeStream(ssrc: number): void {
    this.#streams.delete(ssrc);
  }

  /**
   * Protects an RTP packet given as header bytes and payload bytes (kept apart, as the SFU has
   * them), writing the SRTP packet at out[outOffset]. out needs room for header + payload +
   * SRTP_MAX_OVERHEAD. Returns the SRTP packet's length, or SrtpError.MALFORMED / TOO_OLD.
   */
  protect(header: Uint8Array, payload: Uint8Array, out: Uint8Array, outOffset = 0): number {
    const hl = header.length;
    if (rtpHeaderLength(header, hl) !== hl) return SrtpError.MALFORMED;
    const seq = rtpSequenceNumber(header);
    const ssrc = rtpSsrc(header);
    const rollover = this.#stream(ssrc).rollover;
    const index = rollover.estimate(seq);
    if (index < 0) return SrtpError.TOO_OLD;
    rollover.update(index);
    const roc = Math.floor(index / 0x10000);
    const pl = payload.length;
    const end = outOffset + hl + pl;
    out.set(header, outOffset);
    if (this.#c.gcm !== null) {
      this.#c.gcm.setRtpIv(ssrc, roc, seq);
      this.#c.gcm.seal(header, null, payload, out, outOffset + hl);
      return hl + pl + GCM_TAG_LENGTH;
    }
    out.set(payload, outOffset + hl);
    this.#c.keystream!.setIv(this.#c.salt, ssrc, roc, seq);
    this.#c.keystream!.apply(out, outOffset + hl, end);
    // Authenticated portion || ROC (RFC 3711 §4.2): the ROC goes where the tag will be written.
    writeUint32(out, end, roc);
    this.#c.hmac!.sign(out, outOffset, end + 4, out, end, this.tagLength);
    return hl + pl + this.tagLength;
  }

  /** protect() for a whole plain RTP packet (header parsed from it). */
  protectPacket(packet: Uint8Array, out: Uint8Array, outOffset = 0): number {
    const hl = rtpHeaderLength(packet, packet.length);
    if (hl < 0) return SrtpError.MALFORMED;
    return this.protect(packet.subarray(0, hl), packet.subarray(hl), out, outOffset);
  }

  /**
   * Unprotects an SRTP packet in place (packet[0, length)): authenticates it, rejects replays and
   * packets older than the window, decrypts the payload. Returns the plain RTP packet's length
   * (its bytes are packet[0, result)) or a negative SrtpError; on error the packet must be dropped.
   */
  unprotect(packet: Uint8Array, length = packet.length): number {
    const tagLength = this.tagLength;
    const hl = rtpHeaderLength(packet, length - tagLength);
    if (hl < 0) return SrtpError.MALFORMED;
    const seq = rtpSequenceNumber(packet);
    const ssrc = rtpSsrc(packet);
    const stream = this.#stream(ssrc);
    const index = stream.rollover.estimate(seq);
    if (index < 0) return SrtpError.TOO_OLD;
    const replay = stream.replay.check(index);
    if (replay !== ReplayCheck.NEW) return replay === ReplayCheck.REPLAYED ? SrtpError.REPLAY : SrtpError.TOO_OLD;
    const roc = Math.floor(index / 0x10000);
    const end = length - tagLength;
    if (this.#c.gcm !== null) {
      this.#c.gcm.setRtpIv(ssrc, roc, seq);
      const ok = this.#c.gcm.openPacket(packet, hl, end, length);
      if (!ok) return SrtpError.AUTH;
    } else {
      const tag = this.#tag;
      for (let i = 0; i < tagLength; i++) tag[i] = packet[end + i]!;
      // The ROC needs 4 bytes after the authenticated portion; a 32-bit tag leaves exactly that.
      writeUint32(packet, end, roc);
      const ok = this.#c.hmac!.verify(packet, 0, end + 4, tag);
      if (!ok) return SrtpError.AUTH;
      this.#c.keystream!.setIv(this.#c.salt, ssrc, roc, seq);
      this.#c.keystream!.apply(packet, hl, end);
    }
    stream.rollover.update(index);
    stream.replay.accept(index);
    return end;
  }
}

export function writeUint32(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value >>> 24;
  buf[offset + 1] = (value >>> 16) & 0xff;
  buf[offset + 2] = (value >>> 8) & 0xff;
  buf[offset + 3] = value & 0xff;
}
