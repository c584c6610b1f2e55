// SRTP session keys from the master key and salt: the AES-CM PRF of RFC 3711 §4.3 (key derivation
// rate 0, so the index term is zero and keys are derived once). RFC 7714 §11 uses the same PRF for
// AEAD_AES_128_GCM, with the 96-bit master salt padded by zero bits to the 112 bits the PRF takes.

import { createCipheriv } from 'node:crypto';
import { profileParameters } from './profiles.js';

/** Labels of RFC 3711 §4.3.1 (RTP) and §4.3.2 (RTCP). */
export const KeyLabel = {
  RTP_ENCRYPTION: 0x00,
  RTP_AUTH: 0x01,
  RTP_SALT: 0x02,
  RTCP_ENCRYPTION: 0x03,
  RTCP_AUTH: 0x04,
  RTCP_SALT: 0x05,
} as const;

/** Session keys for one direction of one of RTP or RTCP. */
export interface SessionKeys {
  /** Session encryption key (16 bytes). */
  readonly key: Buffer;
  /** Session salt: 14 bytes (AES-CM) or 12 (GCM). */
  readonly salt: Buffer;
  /** HMAC-SHA1 key, 20 bytes (empty for GCM). */
  readonly auth: Buffer;
}

export interface DerivedKeys {
  readonly rtp: SessionKeys;
  readonly rtcp: SessionKeys;
}

const SHA1_KEY_LENGTH = 20;
const PRF_SALT_LENGTH = 14;

/**
 * RFC 3711 §4.3.1/§4.3.3: x = (label || index DIV kdr) XOR master_salt, right-aligned in 112 bits;
 * output = AES-CM keystream under the master key with IV = x * 2^16, truncated to `length`.
 */
export function srtpPrf(masterKey: Uint8Array, masterSalt: Uint8Array, label: number, length: number): Buffer {
  if (masterKey.length !== 16) throw new RangeError('SRTP master key must be 16 bytes');
  if (masterSalt.length !== 14 && masterSalt.length !== 12) throw new RangeError('SRTP master salt must be 14 or 12 bytes');
  const blocks = Math.ceil(length / 16);
  const input = Buffer.alloc(blocks * 16);
  // Block 0 is x * 2^16; the 7-byte key id (label, then a zero index with kdr = 0) ends at byte 13.
  input.set(masterSalt, 0);
  input[PRF_SALT_LENGTH - 7] = input[PRF_SALT_LENGTH - 7]! ^ label;
  for (let j = 1; j < blocks; j++) {
    input.copy(input, j * 16, 0, 14);
    input[j * 16 + 14] = j >>> 8;
    input[j * 16 + 15] = j & 0xff;
  }
  const cipher = createCipheriv('aes-128-ecb', masterKey, null);
  cipher.setAutoPadding(false);
  const out = Buffer.concat([cipher.update(input), cipher.final()]);
  return out.subarray(0, length);
}

/** All six session keys for one direction (the master key and salt DTLS exported for it). */
export function deriveSessionKeys(profile: number, masterKey: Uint8Array, masterSalt: Uint8Array): DerivedKeys {
  const p = profileParameters(profile);
  if (masterKey.length !== p.keyLength) throw new RangeError(`${p.name} master key must be ${p.keyLength} bytes`);
  if (masterSalt.length !== p.saltLength) throw new RangeError(`${p.name} master salt must be ${p.saltLength} bytes`);
  const authLength = p.aead ? 0 : SHA1_KEY_LENGTH;
  const keys = (enc: number, auth: number, salt: number): SessionKeys => ({
    key: srtpPrf(masterKey, masterSalt, enc, p.keyLength),
    salt: srtpPrf(masterKey, masterSalt, salt, p.saltLength),
    auth: authLength === 0 ? Buffer.alloc(0) : srtpPrf(masterKey, masterSalt, auth, authLength),
  });
  return {
    rtp: keys(KeyLabel.RTP_ENCRYPTION, KeyLabel.RTP_AUTH, KeyLabel.RTP_SALT),
    rtcp: keys(KeyLabel.RTCP_ENCRYPTION, KeyLabel.RTCP_AUTH, KeyLabel.RTCP_SALT),
  };
}
