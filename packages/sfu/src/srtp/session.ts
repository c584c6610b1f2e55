// One DTLS-SRTP association's protection, both ways (RFC 5764 §4.2): the local master key and salt
// protect what we send, the remote ones unprotect what we receive, for RTP and for RTCP. Made from
// the keying material the DTLS handshake exported (werift's RTCDtlsTransport keeps it).

import { deriveSessionKeys } from './key-derivation.js';
import { profileParameters, type ProfileParameters } from './profiles.js';
import { SrtcpContext } from './srtcp-context.js';
import { SrtpContext } from './srtp-context.js';

export interface SrtpKeyingMaterial {
  /** The negotiated protection profile (SrtpProfile). */
  profile: number;
  localMasterKey: Uint8Array;
  localMasterSalt: Uint8Array;
  remoteMasterKey: Uint8Array;
  remoteMasterSalt: Uint8Array;
}

export class SrtpSession {
  readonly profile: ProfileParameters;
  /** Protects the RTP we send. */
  readonly outbound: SrtpContext;
  /** Unprotects the RTP we receive. */
  readonly inbound: SrtpContext;
  readonly outboundRtcp: SrtcpContext;
  readonly inboundRtcp: SrtcpContext;

  constructor(material: SrtpKeyingMaterial) {
    this.profile = profileParameters(material.profile);
    const local = deriveSessionKeys(material.profile, material.localMasterKey, material.localMasterSalt);
    const remote = deriveSessionKeys(material.profile, material.remoteMasterKey, material.remoteMasterSalt);
    this.outbound = new SrtpContext(material.profile, local.rtp);
    this.inbound = new SrtpContext(material.profile, remote.rtp);
    this.outboundRtcp = new SrtcpContext(material.profile, local.rtcp);
    this.inboundRtcp = new SrtcpContext(material.profile, remote.rtcp);
  }
}
