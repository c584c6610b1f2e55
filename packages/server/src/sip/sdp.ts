// The SDP of a SIP call: our offer (audio: G.711, Opus, RFC 4733 telephone-event; with `video`, a
// second m-line of VP8 with NACK/PLI/FIR feedback and an RTCP port; RTP/SAVP with an SDES crypto line
// per m-line when the call is secure) and what we take from the far end's answer (address, port, the
// codec it chose, its telephone-event payload type, its SRTP key; for video its VP8 payload type and
// where its RTCP goes). Parsing is
// `sdp-transform`'s; this file only decides what the fields mean for the call.

import { parse } from 'sdp-transform';
import { SDES_SUITE } from './srtp.js';

export type AudioCodecName = 'PCMU' | 'PCMA' | 'opus';

/** Payload types we offer: the static G.711 ones, dynamic ones for Opus and DTMF. */
export const OFFER_PAYLOAD_TYPES = { PCMU: 0, PCMA: 8, opus: 111, telephoneEvent: 101, VP8: 96 } as const;

export interface OfferParams {
  address: string;
  port: number;
  sessionVersion: number;
  /** Base64 SDES key material (30 bytes: 16 key + 14 salt) when the call is secure. */
  srtpKey?: string;
  /** A video m-line too: its RTP port (RTCP is the next port, or the same with rtcp-mux) and its SDES key when secure. */
  video?: { port: number; srtpKey?: string };
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
  if (p.video) {
    const vp8 = pts.VP8;
    lines.push(
      `m=video ${p.video.port} ${p.video.srtpKey ? 'RTP/SAVP' : 'RTP/AVP'} ${vp8}`,
      `a=rtpmap:${vp8} VP8/90000`,
      // Keyframe requests both ways (the session's subscribers ask through the SFU; the phone asks us).
      `a=rtcp-fb:${vp8} nack`,
      `a=rtcp-fb:${vp8} nack pli`,
      `a=rtcp-fb:${vp8} ccm fir`,
      // RTCP on the next port (RFC 3550's default), or on the RTP port when the far end takes rtcp-mux.
      `a=rtcp:${p.video.port + 1}`,
      'a=rtcp-mux',
      ...(p.video.srtpKey ? [`a=crypto:1 ${SDES_SUITE} inline:${p.video.srtpKey}`] : []),
      'a=sendrecv',
    );
  }
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

export interface NegotiatedVideo {
  address: string;
  port: number;
  /** Where the far end takes RTCP: its RTP port with rtcp-mux, else `a=rtcp` or the next port. */
  rtcpPort: number;
  rtcpMux: boolean;
  payloadType: number;
  srtpKey: string | null;
  direction: NegotiatedAudio['direction'];
}

/** The far end's video m-line when it accepted VP8 (port not 0); null when it declined video. */
export function readRemoteVideo(sdp: string): NegotiatedVideo | null {
  const parsed = parse(sdp);
  const video = parsed.media.find((m) => m.type === 'video' && m.port !== 0);
  if (!video) return null;
  const address = video.connection?.ip ?? parsed.connection?.ip;
  if (!address) return null;
  const vp8 = video.rtp.find((r) => r.codec.toUpperCase() === 'VP8');
  if (!vp8) return null;
  const rtcpMux = video.rtcpMux !== undefined;
  const rtcpPort = rtcpMux ? video.port : (video.rtcp?.port ?? video.port + 1);
  const direction = (video.direction ?? parsed.direction ?? 'sendrecv') as NegotiatedAudio['direction'];
  return { address, port: video.port, rtcpPort, rtcpMux, payloadType: vp8.payload, srtpKey: sdesKeyOf(video.crypto ?? []), direction };
}
