// The SDP of a SIP call's audio: our offer (G.711, Opus, RFC 4733 telephone-event; RTP/SAVP with an
// SDES crypto line when the call is secure) and what we take from the far end's answer (address,
// port, the codec it chose, its telephone-event payload type, its SRTP key). Parsing is
// `sdp-transform`'s; this file only decides what the fields mean for the call.

import { parse } from 'sdp-transform';
import { SDES_SUITE } from './srtp.js';

export type AudioCodecName = 'PCMU' | 'PCMA' | 'opus';

/** Payload types we offer: the static G.711 ones, dynamic ones for Opus and DTMF. */
export const OFFER_PAYLOAD_TYPES = { PCMU: 0, PCMA: 8, opus: 111, telephoneEvent: 101 } as const;

export interface OfferParams {
  address: string;
  port: number;
  sessionVersion: number;
  /** Base64 SDES key material (30 bytes: 16 key + 14 salt) when the call is secure. */
  srtpKey?: string;
}

export function buildOffer(p: OfferParams): string {
  const pts = OFFER_PAYLOAD_TYPES;
  const profile = p.srtpKey ? 'RTP/SAVP' : 'RTP/AVP';
  const lines = [
    'v=0',
    `o=colloquy ${p.sessionVersion} ${p.sessionVersion} IN IP4 ${p.address}`,
    's=Colloquy',
    `c=IN IP4 ${p.address}`,
    't=0 0',
    `m=audio ${p.port} ${profile} ${pts.PCMU} ${pts.PCMA} ${pts.opus} ${pts.telephoneEvent}`,
    `a=rtpmap:${pts.PCMU} PCMU/8000`,
    `a=rtpmap:${pts.PCMA} PCMA/8000`,
    `a=rtpmap:${pts.opus} opus/48000/2`,
    `a=fmtp:${pts.opus} useinbandfec=1`,
    `a=rtpmap:${pts.telephoneEvent} telephone-event/8000`,
    `a=fmtp:${pts.telephoneEvent} 0-16`,
    ...(p.srtpKey ? [`a=crypto:1 ${SDES_SUITE} inline:${p.srtpKey}`] : []),
    'a=ptime:20',
    'a=sendrecv',
  ];
  return lines.join('\r\n') + '\r\n';
}

export interface NegotiatedAudio {
  address: string;
  port: number;
  codec: AudioCodecName;
  payloadType: number;
  clockRate: number;
  /** The far end's telephone-event payload type; null when it offered none. */
  telephoneEventPt: number | null;
  /** The far end's SDES key (base64) for the SRTP it sends; null for plain RTP. */
  srtpKey: string | null;
  /** sendrecv/sendonly/recvonly/inactive as the far end stated it (hold is `sendonly`/`inactive`). */
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
}

/** What the far end's SDP (answer, or a re-INVITE's offer) says; throws when it has no usable audio. */
export function readRemoteSdp(sdp: string): NegotiatedAudio {
  const parsed = parse(sdp);
  const audio = parsed.media.find((m) => m.type === 'audio' && m.port !== 0);
  if (!audio) throw new Error('the far end accepted no audio');
  const address = audio.connection?.ip ?? parsed.connection?.ip;
  if (!address) throw new Error('the far end gave no connection address');
  const payloads = String(audio.payloads ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  const nameOf = (pt: number): { codec: string; rate: number } | null => {
    const rtp = audio.rtp.find((r) => r.payload === pt);
    if (rtp) return { codec: rtp.codec, rate: rtp.rate ?? 8000 };
    if (pt === 0) return { codec: 'PCMU', rate: 8000 };
    if (pt === 8) return { codec: 'PCMA', rate: 8000 };
    return null;
  };
  let chosen: { codec: AudioCodecName; pt: number; rate: number } | null = null;
  let telephoneEventPt: number | null = null;
  for (const pt of payloads) {
    const info = nameOf(pt);
    if (!info) continue;
    const name = info.codec.toLowerCase();
    if (name === 'telephone-event') {
      if (telephoneEventPt === null && info.rate === 8000) telephoneEventPt = pt;
      continue;
    }
    if (chosen) continue;
    if (name === 'pcmu') chosen = { codec: 'PCMU', pt, rate: 8000 };
    else if (name === 'pcma') chosen = { codec: 'PCMA', pt, rate: 8000 };
    else if (name === 'opus') chosen = { codec: 'opus', pt, rate: 48000 };
  }
  if (!chosen) throw new Error('the far end chose no codec we speak (PCMU, PCMA, opus)');
  const srtpKey = sdesKeyOf(audio.crypto ?? []);
  const direction = (audio.direction ?? parsed.direction ?? 'sendrecv') as NegotiatedAudio['direction'];
  return { address, port: audio.port, codec: chosen.codec, payloadType: chosen.pt, clockRate: chosen.rate, telephoneEventPt, srtpKey, direction };
}

/**
 * The far end's key for AES_CM_128_HMAC_SHA1_80 (`inline:<base64>[|lifetime]`, RFC 4568 §6.1), or
 * null. A key with an MKI (`|n:len`) is not taken: its packets carry an MKI field our SRTP does not read.
 */
function sdesKeyOf(lines: Array<{ suite: string; config: string }>): string | null {
  for (const c of lines) {
    if (c.suite !== SDES_SUITE) continue;
    const [key, ...rest] = c.config.replace(/^inline:/, '').split(';')[0]!.split('|');
    if (!key || rest.some((p) => p.includes(':'))) continue;
    return key;
  }
  return null;
}
