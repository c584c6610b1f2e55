// SRTP for a `secure` SIP call, keyed by SDES (RFC 4568 `a=crypto`, suite AES_CM_128_HMAC_SHA1_80):
// each side sends with its own master key and salt (30 bytes, base64 in the SDP) and the other
// decrypts with it. The crypto is werift's SRTP session (AES-128 counter mode, HMAC-SHA1 tags of 80
// bits, rollover counter), not ours. This file is the only place that knows which implementation
// does it: CallMedia hands whole packets in and gets whole packets out, so the implementation can be
// swapped (for Colloquy's own SRTP, issue 14) without touching the call.
// Not done by the implementation here: a replay window (RFC 3711 §3.3.2), SRTCP (we send no RTCP).

import { randomBytes } from 'node:crypto';
import { ProtectionProfileAes128CmHmacSha1_80, RtpHeader, SrtpSession } from 'werift';

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

/** One call's SRTP both ways. */
export class SdesSrtp {
  readonly #session: SrtpSession;

  /** `localKey` encrypts what we send (our offer's key), `remoteKey` decrypts what the far end sends (its answer's key). */
  constructor(localKey: string, remoteKey: string) {
    const local = splitKey(localKey, 'our');
    const remote = splitKey(remoteKey, "the far end's");
    this.#session = new SrtpSession({
      keys: { localMasterKey: local.key, localMasterSalt: local.salt, remoteMasterKey: remote.key, remoteMasterSalt: remote.salt },
      profile: ProtectionProfileAes128CmHmacSha1_80,
    });
  }

  /** A plain RTP packet (header and payload) made SRTP: payload encrypted, auth tag appended. */
  protect(rtp: Buffer): Buffer {
    const header = RtpHeader.deSerialize(rtp);
    return this.#session.encrypt(rtp.subarray(header.serializeSize), header);
  }

  /** An SRTP packet from the far end as plain RTP; null when it fails authentication or is malformed. */
  unprotect(srtp: Buffer): Buffer | null {
    if (srtp.length < 12 + TAG_BYTES) return null;
    try {
      return this.#session.decrypt(srtp);
    } catch {
      return null;
    }
  }
}
