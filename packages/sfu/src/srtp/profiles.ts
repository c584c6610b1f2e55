// SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714 §14): the numbers DTLS negotiates and what
// each one means for key sizes and tag lengths. One table, so every other file asks it.

export const SrtpProfile = {
  AES_CM_128_HMAC_SHA1_80: 0x0001,
  AES_CM_128_HMAC_SHA1_32: 0x0002,
  AEAD_AES_128_GCM: 0x0007,
} as const;
export type SrtpProfile = (typeof SrtpProfile)[keyof typeof SrtpProfile];

export interface ProfileParameters {
  readonly name: string;
  /** Master (and session) key length in bytes. */
  readonly keyLength: number;
  /** Master salt length in bytes (session salt length for AES-CM is 14, for GCM 12). */
  readonly saltLength: number;
  /** Bytes appended to an SRTP packet: the authentication tag (AES-CM) or the GCM tag. */
  readonly rtpTagLength: number;
  /** Bytes of authentication tag on SRTCP (always 80 bits for AES-CM, RFC 5764 §4.1.2). */
  readonly rtcpTagLength: number;
  readonly aead: boolean;
}

const PARAMETERS: Record<SrtpProfile, ProfileParameters> = {
  [SrtpProfile.AES_CM_128_HMAC_SHA1_80]: {
    name: 'AES_CM_128_HMAC_SHA1_80',
    keyLength: 16,
    saltLength: 14,
    rtpTagLength: 10,
    rtcpTagLength: 10,
    aead: false,
  },
  [SrtpProfile.AES_CM_128_HMAC_SHA1_32]: {
    name: 'AES_CM_128_HMAC_SHA1_32',
    keyLength: 16,
    saltLength: 14,
    rtpTagLength: 4,
    rtcpTagLength: 10,
    aead: false,
  },
  [SrtpProfile.AEAD_AES_128_GCM]: {
    name: 'AEAD_AES_128_GCM',
    keyLength: 16,
    saltLength: 12,
    rtpTagLength: 16,
    rtcpTagLength: 16,
    aead: true,
  },
};

/** The parameters of a profile; throws on a profile number we do not implement. */
export function profileParameters(profile: number): ProfileParameters {
  const p = PARAMETERS[profile as SrtpProfile];
  if (p === undefined) throw new RangeError(`unsupported SRTP protection profile 0x${profile.toString(16).padStart(4, '0')}`);
  return p;
}

/** Outcome codes of unprotect: negative so that a plaintext length (>= 0) is the success value. */
export const SrtpError = {
  /** Too short, bad version, or a header that runs past the packet. */
  MALFORMED: -1,
  /** Authentication tag mismatch (forged, corrupted, or keyed differently). */
  AUTH: -2,
  /** Already received (RFC 3711 §3.3.2 replay list). */
  REPLAY: -3,
  /** Older than the replay window, or before the stream's start. */
  TOO_OLD: -4,
} as const;
export type SrtpError = (typeof SrtpError)[keyof typeof SrtpError];
