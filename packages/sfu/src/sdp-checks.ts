// Boundary checks on SDP from clients, before werift parses it: size, shape, and the features this
// SFU does not take (audio simulcast, more than MAX_SIMULCAST_LAYERS rids, sources without SSRC or
// rid), each with a clear error.

import { MediaError, invalid } from './errors.js';

/** Large enough for any real browser offer (a few KB), small enough to refuse abuse. */
export const MAX_SDP_LENGTH = 64 * 1024;

export function checkSdp(sdp: unknown, what: 'offer' | 'answer'): string {
  if (typeof sdp !== 'string') throw invalid(`SDP ${what} must be a string`);
  if (sdp.length === 0 || sdp.length > MAX_SDP_LENGTH) throw invalid(`SDP ${what} must be 1 to ${MAX_SDP_LENGTH} characters`);
  if (!sdp.startsWith('v=0')) throw invalid(`SDP ${what} must start with v=0`);
  if (!/^m=(audio|video) /m.test(sdp)) throw invalid(`SDP ${what} has no audio or video section`);
  return sdp;
}

/** The media sections of an SDP: kind, direction and whether it signals an SSRC. */
/** Spatial layers a simulcast video track may have (the SDK sends 3 at most: q, h, f). */
export const MAX_SIMULCAST_LAYERS = 3;

/** rid-id of RFC 8851 (alphanumeric, '-', '_'), kept short. */
const RID = /^[A-Za-z0-9_-]{1,16}$/;

export function mediaSections(sdp: string): { kind: string; direction: string; hasSsrc: boolean; simulcast: boolean; rids: string[] }[] {
  return sdp
    .split(/\r?\nm=/)
    .slice(1)
    .map((section) => ({
      kind: section.slice(0, section.indexOf(' ')),
      direction: /\r?\na=(sendonly|recvonly|sendrecv|inactive)\b/.exec(section)?.[1] ?? 'sendrecv',
      hasSsrc: /\r?\na=ssrc:\d+ /.test(section),
      simulcast: /\r?\na=(simulcast|rid):/.test(section),
      rids: [...section.matchAll(/\r?\na=rid:(\S+) send\b/g)].map((m) => m[1]!),
    }));
}

/** A publisher's offer: what we can receive. */
export function checkPublisherOffer(sdp: string): void {
  const sections = mediaSections(sdp);
  for (const m of sections) {
    if (m.kind !== 'audio' && m.kind !== 'video') continue;
    if (m.simulcast) {
      if (m.kind !== 'video') throw new MediaError('unsupported', 'simulcast is for video only: publish a single audio encoding');
      if (m.rids.length < 2 || m.rids.length > MAX_SIMULCAST_LAYERS) {
        throw new MediaError('unsupported', `simulcast takes 2 to ${MAX_SIMULCAST_LAYERS} send rids per video track (got ${m.rids.length})`);
      }
      if (!m.rids.every((rid) => RID.test(rid)) || new Set(m.rids).size !== m.rids.length) {
        throw invalid('simulcast rids must be distinct, 1 to 16 letters, digits, - or _');
      }
      continue;
    }
    if ((m.direction === 'sendonly' || m.direction === 'sendrecv') && !m.hasSsrc) {
      throw invalid(`the ${m.kind} section of the offer signals no a=ssrc line`);
    }
  }
  if (!sections.some((m) => (m.kind === 'audio' || m.kind === 'video') && (m.direction === 'sendonly' || m.direction === 'sendrecv'))) {
    throw invalid('the offer sends no audio or video');
  }
}
