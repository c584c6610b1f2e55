// SRTP for a `secure` SIP call, keyed by SDES (RFC 4568 `a=crypto`, suite AES_CM_128_HMAC_SHA1_80):
// each side sends with its own master key and salt (30 bytes, base64 in the SDP) and the other
// decrypts with it. The crypto is werift's SRTP session (AES-128 counter mode, HMAC-SHA1 tags of 80
// bits, rollover counter), not ours. This file is the only place that knows which implementation
// does it: CallMedia hands whole packets in and gets whole packets out, so the implementation can be
// swapped (for Colloquy's own SRTP, issue 14) without touching the call.
// Ours on top of it: the replay window (RFC 3711 §3.3.2, 64 packets per SSRC): a packet that
// authenticates but was already received, or is older than the window, is refused and counted.
// SRTCP (a video call's keyframe requests) is werift's too; its replay protection is not done here.

import { randomBytes } from 'node:crypto';
import { ProtectionProfileAes128CmHmacSha1_80, RtpHeader, SrtcpSession, SrtpSession } from 'werift';

/** The only SDES suite we offer and accept (RFC 4568 §6.2.1); every SIP SRTP stack has it. */
export const SDES_SUITE = 'AES_CM_128_HMAC_SHA1_80';

const KEY_BYTES = 16;
const SALT_BYTES = 14;
const TAG_BYTES = 10;

/** A fresh master key and salt, base64 as `inline:` wants it. */
export function newSdesKey(): string {
  return randomBytes(KEY_BYTES + SALT_BYTES).toString('base64');
}

/** Key and salt of an `inline:` value; throws when it is not 30 bytes of base64. */
function splitKey(b64: string, whose: string): { key: Buffer; salt: Buffer } {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new Error(`${whose} SRTP key is not base64`);
  const raw = Buffer.from(b64, 'base64');
  if (raw.length !== KEY_BYTES + SALT_BYTES) throw new Error(`${whose} SRTP key is ${raw.length} bytes, not ${KEY_BYTES + SALT_BYTES}`);
  return { key: raw.subarray(0, KEY_BYTES), salt: raw.subarray(KEY_BYTES) };
}

/** How many packets behind the highest one received are still taken (RFC 3711's minimum is 64). */
export const REPLAY_WINDOW = 64;

/**
 * RFC 3711 §3.3.2 for one SSRC: the packet index (rollover count × 65536 + sequence number) of what
 * arrives is estimated from the highest index received (Appendix A), and a bitmask remembers which of
 * the last REPLAY_WINDOW indexes came. `check` says whether a packet may be taken; `accept` records
 * it, and is called only once the packet authenticated (a forgery must not move the window).
 */
export class ReplayWindow {
  #highest = -1;
  /** Bit i: index (highest - i) was received. */
  #mask = 0n;

  /** The packet index a sequence number stands for, next to the highest received. */
  indexOf(seq: number): number {
    if (this.#highest < 0) return seq;
    const roc = Math.floor(this.#highest / 0x10000);
    const sl = this.#highest % 0x10000;
    let v = roc;
    if (sl < 0x8000) {
      if (seq - sl > 0x8000 && roc > 0) v = roc - 1;
    } else if (sl - 0x8000 > seq) {
      v = roc + 1;
    }
    return v * 0x10000 + seq;
  }

  /** True when `index` is new: ahead of the highest, or inside the window and not seen. */
  check(index: number): boolean {
    if (this.#highest < 0 || index > this.#highest) return true;
    const behind = this.#highest - index;
    if (behind >= REPLAY_WINDOW) return false;
    return (this.#mask & (1n << BigInt(behind))) === 0n;
  }

  accept(index: number): void {
    if (this.#highest < 0) {
      this.#highest = index;
      this.#mask = 1n;
      return;
    }
    if (index > this.#highest) {
      const ahead = index - this.#highest;
      this.#mask = ahead >= REPLAY_WINDOW ? 1n : ((this.#mask << BigInt(ahead)) | 1n) & ((1n << BigInt(REPLAY_WINDOW)) - 1n);
      this.#highest = index;
    } else {
      this.#mask |= 1n << BigInt(this.#highest - index);
    }
  }
}

/** One call's (one m-line's) SRTP and SRTCP both ways. */
export class SdesSrtp {
  readonly #session: SrtpSession;
  readonly #rtcp: SrtcpSession;
  readonly #windows = new Map<number, ReplayWindow>();
  /** Packets that authenticated but were refused by the replay window (duplicates, or too old). */
  replayed = 0;

  /** `localKey` encrypts what we send (our offer's key), `remoteKey` decrypts what the far end sends (its answer's key). */
  constructor(localKey: string, remoteKey: string) {
    const local = splitKey(localKey, 'our');
    const remote = splitKey(remoteKey, "the far end's");
    const config = {
      keys: { localMasterKey: local.key, localMasterSalt: local.salt, remoteMasterKey: remote.key, remoteMasterSalt: remote.salt },
      profile: ProtectionProfileAes128CmHmacSha1_80,
    };
    this.#session = new SrtpSession(config);
    this.#rtcp = new SrtcpSession(config);
  }

  /** A plain RTP packet (header and payload) made SRTP: payload encrypted, auth tag appended. */
  protect(rtp: Buffer): Buffer {
    const header = RtpHeader.deSerialize(rtp);
    return this.#session.encrypt(rtp.subarray(header.serializeSize), header);
  }

  /**
   * An SRTP packet from the far end as plain RTP; null when it fails authentication, is malformed,
   * or is a replay (counted in `replayed`).
   */
  unprotect(srtp: Buffer): Buffer | null {
    if (srtp.length < 12 + TAG_BYTES || srtp[0]! >> 6 !== 2) return null;
    const ssrc = srtp.readUInt32BE(8);
    let window = this.#windows.get(ssrc);
    const index = (window ?? new ReplayWindow()).indexOf(srtp.readUInt16BE(2));
    if (window && !window.check(index)) {
      this.replayed++;
      return null;
    }
    let plain: Buffer;
    try {
      plain = this.#session.decrypt(srtp);
    } catch {
      return null;
    }
    if (!window) {
      window = new ReplayWindow();
      this.#windows.set(ssrc, window);
    }
    window.accept(index);
    return plain;
  }

  /** A plain RTCP compound packet made SRTCP (encrypted, index and tag appended). */
  protectRtcp(rtcp: Buffer): Buffer {
    return this.#rtcp.encrypt(rtcp);
  }

  /** An SRTCP packet from the far end as plain RTCP; null when it fails authentication or is malformed. */
  unprotectRtcp(srtcp: Buffer): Buffer | null {
    if (srtcp.length < 8 + 4 + TAG_BYTES) return null;
    try {
      return this.#rtcp.decrypt(srtcp);
    } catch {
      return null;
    }
  }
}
