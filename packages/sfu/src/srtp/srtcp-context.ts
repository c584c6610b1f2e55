// SRTCP in one direction (RFC 3711 §3.4; RFC 7714 §9 for GCM). A protected compound packet is:
// the first 8 bytes in the clear, the rest encrypted, then (AES-CM) E-bit || 31-bit SRTCP index and
// the HMAC tag over everything before it, or (GCM) the 16-byte tag then E || index. The sender
// counts its index per SSRC; the receiver rejects replays by index (RFC 3711 §3.3.2).

import { GCM_TAG_LENGTH } from './aead.js';
import { cipherSuite, type CipherSuite } from './cipher-suite.js';
import type { SessionKeys } from './key-derivation.js';
import { SrtpError, type ProfileParameters } from './profiles.js';
import { ReplayCheck, ReplayWindow } from './replay-window.js';
import { rtcpSenderSsrc } from './rtp-header.js';
import { writeUint32 } from './srtp-context.js';

const INDEX_LENGTH = 4;
const E_BIT = 0x80000000;
const MAX_INDEX = 0x7fffffff;

/** Bytes SRTCP adds after an RTCP compound packet, at most (index + 16-byte GCM tag). */
export const SRTCP_MAX_OVERHEAD = INDEX_LENGTH + GCM_TAG_LENGTH;

export class SrtcpContext {
  readonly profile: ProfileParameters;
  readonly tagLength: number;
  /** Keystream + HMAC (AES-CM) or GCM, keyed once. */
  readonly #c: CipherSuite;
  /** Outbound: the next SRTCP index per sender SSRC. */
  readonly #nextIndex = new Map<number, number>();
  /** Inbound: replay windows per sender SSRC. */
  readonly #replay = new Map<number, ReplayWindow>();
  readonly #indexScratch = Buffer.alloc(INDEX_LENGTH);

  constructor(profile: number, keys: SessionKeys) {
    this.#c = cipherSuite(profile, keys);
    this.profile = this.#c.profile;
    this.tagLength = this.profile.rtcpTagLength;
  }

  /** Sets the index the next packet of this SSRC is sent with (tests; RFC 3711 starts at 0). */
  setNextIndex(ssrc: number, index: number): void {
    this.#nextIndex.set(ssrc >>> 0, index & MAX_INDEX);
  }

  /** The index the next packet of this SSRC would be sent with, or undefined before its first. */
  nextIndex(ssrc: number): number | undefined {
    return this.#nextIndex.get(ssrc >>> 0);
  }

  /**
   * Protects (and encrypts: E = 1) an RTCP compound packet, writing the SRTCP packet at
   * out[outOffset]; out needs room for rtcp.length + SRTCP_MAX_OVERHEAD. Returns its length, or
   * SrtpError.MALFORMED for a packet shorter than an RTCP header.
   */
  protect(rtcp: Uint8Array, out: Uint8Array, outOffset = 0): number {
    const length = rtcp.length;
    if (length < 8 || rtcp[0]! >>> 6 !== 2) return SrtpError.MALFORMED;
    const ssrc = rtcpSenderSsrc(rtcp);
    const index = this.#nextIndex.get(ssrc) ?? 0;
    this.#nextIndex.set(ssrc, index >= MAX_INDEX ? 0 : index + 1);
    const word = (E_BIT | index) >>> 0;
    const o = outOffset;
    out.set(rtcp.subarray(0, 8), o);
    if (this.#c.gcm !== null) {
      const indexBytes = this.#indexScratch;
      writeUint32(indexBytes, 0, word);
      this.#c.gcm.setRtcpIv(ssrc, index);
      this.#c.gcm.seal(rtcp.subarray(0, 8), indexBytes, rtcp.subarray(8), out, o + 8);
      out.set(indexBytes, o + length + GCM_TAG_LENGTH);
      return length + GCM_TAG_LENGTH + INDEX_LENGTH;
    }
    out.set(rtcp.subarray(8), o + 8);
    this.#c.keystream!.setIv(this.#c.salt, ssrc, index >>> 16, index & 0xffff);
    this.#c.keystream!.apply(out, o + 8, o + length);
    writeUint32(out, o + length, word);
    this.#c.hmac!.sign(out, o, o + length + INDEX_LENGTH, out, o + length + INDEX_LENGTH, this.tagLength);
    return length + INDEX_LENGTH + this.tagLength;
  }

  /**
   * Unprotects an SRTCP packet in place (packet[0, length)): authenticates, rejects replays,
   * decrypts when the E-bit is set. Returns the plain RTCP length or a negative SrtpError.
   */
  unprotect(packet: Uint8Array, length = packet.length): number {
    const tagLength = this.tagLength;
    const plainLength = length - tagLength - INDEX_LENGTH;
    if (plainLength < 8 || packet[0]! >>> 6 !== 2) return SrtpError.MALFORMED;
    const ssrc = rtcpSenderSsrc(packet);
    // AES-CM: ... || E||index || tag. GCM: ... || tag || E||index.
    const indexOffset = this.#c.gcm !== null ? length - INDEX_LENGTH : plainLength;
    const word =
      ((packet[indexOffset]! << 24) | (packet[indexOffset + 1]! << 16) | (packet[indexOffset + 2]! << 8) | packet[indexOffset + 3]!) >>> 0;
    const encrypted = word >= E_BIT;
    const index = word & MAX_INDEX;
    let window = this.#replay.get(ssrc);
    const replay = window === undefined ? ReplayCheck.NEW : window.check(index);
    if (replay !== ReplayCheck.NEW) return replay === ReplayCheck.REPLAYED ? SrtpError.REPLAY : SrtpError.TOO_OLD;
    if (this.#c.gcm !== null) {
      this.#c.gcm.setRtcpIv(ssrc, index);
      const tag = packet.subarray(plainLength, plainLength + GCM_TAG_LENGTH);
      const indexBytes = packet.subarray(indexOffset, length);
      const ok = encrypted
        ? this.#c.gcm.open(concat(packet.subarray(0, 8), indexBytes), packet.subarray(8, plainLength), tag, packet, 8)
        : this.#c.gcm.open(concat(packet.subarray(0, plainLength), indexBytes), new Uint8Array(0), tag, packet, plainLength);
      if (!ok) return SrtpError.AUTH;
    } else {
      if (!this.#c.hmac!.verify(packet, 0, plainLength + INDEX_LENGTH, packet.subarray(plainLength + INDEX_LENGTH, length))) {
        return SrtpError.AUTH;
      }
      if (encrypted) {
        this.#c.keystream!.setIv(this.#c.salt, ssrc, index >>> 16, index & 0xffff);
        this.#c.keystream!.apply(packet, 8, plainLength);
      }
    }
    if (window === undefined) {
      window = new ReplayWindow();
      this.#replay.set(ssrc, window);
    }
    window.accept(index);
    return plainLength;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Buffer {
  return Buffer.concat([a, b]);
}
