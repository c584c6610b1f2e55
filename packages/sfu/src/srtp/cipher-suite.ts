// The ciphers one SRTP or SRTCP context needs for its profile, built once from its session keys:
// AES-CM keystream + HMAC-SHA1 for the AES_CM profiles, AES-GCM for AEAD_AES_128_GCM.

import { AesGcm } from './aead.js';
import { HmacSha1 } from './hmac.js';
import type { SessionKeys } from './key-derivation.js';
import { AesCmKeystream } from './keystream.js';
import { profileParameters, type ProfileParameters } from './profiles.js';

export interface CipherSuite {
  readonly profile: ProfileParameters;
  readonly salt: Buffer;
  /** AES-CM profiles: keystream and HMAC; null for GCM. */
  readonly keystream: AesCmKeystream | null;
  readonly hmac: HmacSha1 | null;
  /** AEAD_AES_128_GCM; null for AES-CM. */
  readonly gcm: AesGcm | null;
}

export function cipherSuite(profile: number, keys: SessionKeys): CipherSuite {
  const p = profileParameters(profile);
  const salt = Buffer.from(keys.salt);
  return p.aead
    ? { profile: p, salt, keystream: null, hmac: null, gcm: new AesGcm(keys.key, keys.salt) }
    : { profile: p, salt, keystream: new AesCmKeystream(keys.key), hmac: new HmacSha1(keys.auth), gcm: null };
}
