// Our SRTP/SRTCP (RFC 3711, RFC 7714): AES_CM_128_HMAC_SHA1_80/_32 and AEAD_AES_128_GCM, writing
// into callers' buffers, with replay protection and rollover. See README.md beside this file.

export { SrtpProfile, SrtpError, profileParameters, type ProfileParameters } from './profiles.js';
export { deriveSessionKeys, srtpPrf, KeyLabel, type SessionKeys, type DerivedKeys } from './key-derivation.js';
export { AesCmKeystream } from './keystream.js';
export { HmacSha1 } from './hmac.js';
export { AesGcm, GCM_TAG_LENGTH } from './aead.js';
export { cipherSuite, type CipherSuite } from './cipher-suite.js';
export { ReplayWindow, ReplayCheck, REPLAY_WINDOW_SIZE } from './replay-window.js';
export { RolloverCounter } from './rollover.js';
export { isRtcp, rtpHeaderLength } from './rtp-header.js';
export { SrtpContext, SRTP_MAX_OVERHEAD } from './srtp-context.js';
export { SrtcpContext, SRTCP_MAX_OVERHEAD } from './srtcp-context.js';
export { SrtpSession, type SrtpKeyingMaterial } from './session.js';
