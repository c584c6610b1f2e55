// The light receive path of load subscribers. werift decrypts and parses every packet (~100 µs of
// CPU each here), so one process takes only 5-7k packets/s; a load generator built on that would
// saturate long before a server. The RTP header is not encrypted in SRTP, so this path reads
// sequence number, timestamp, SSRC, marker and payload type from the clear header of every packet
// and decrypts only the last packet of each video frame (for its trailer: latency, frame size,
// keyframe). ICE, DTLS and RTCP stay werift's. What it skips: SRTP authentication of most packets,
// and werift's receiver reports and NACKs (the servers under test forward without them).
//
// It hooks RTCDtlsTransport.startSrtp, which werift calls once DTLS is up: a transport tagged with
// a handler gets our packet loop instead of werift's.

import { RTCDtlsTransport, RtcpPacketConverter, isMedia, isRtcp, type SrtpSession } from 'werift';

/** Receives every SRTP packet (still encrypted) of a tagged transport. */
export type LightRtpHandler = (packet: Buffer, srtp: SrtpSession) => void;

const HANDLER = Symbol('colloquy.lightRtp');

interface DtlsInternals {
  [HANDLER]?: LightRtpHandler;
  srtpStarted: boolean;
  srtp: SrtpSession;
  srtcp: { decrypt(data: Buffer): Buffer };
  updateSrtpSession(): void;
  iceTransport: { connection: { onData: { subscribe(fn: (data: Buffer) => void): unknown } } };
  onRtcp: { execute(packet: unknown): void };
}

let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  const proto = RTCDtlsTransport.prototype as unknown as DtlsInternals & { startSrtp(): void };
  const original = proto.startSrtp;
  proto.startSrtp = function (this: DtlsInternals) {
    const handler = this[HANDLER];
    if (!handler) return original.call(this);
    if (this.srtpStarted) return;
    this.srtpStarted = true;
    this.updateSrtpSession();
    this.iceTransport.connection.onData.subscribe((data: Buffer) => {
      if (!isMedia(data)) return;
      if (!isRtcp(data)) {
        handler(data, this.srtp);
        return;
      }
      try {
        for (const rtcp of RtcpPacketConverter.deSerialize(this.srtcp.decrypt(data))) this.onRtcp.execute(rtcp);
      } catch {
        /* a bad RTCP packet is not our concern here */
      }
    });
  };
}

/** Routes the RTP of `transport` (a werift RTCDtlsTransport) to `handler`; call before DTLS completes. */
export function useLightReceive(transport: unknown, handler: LightRtpHandler): void {
  install();
  (transport as DtlsInternals)[HANDLER] = handler;
}

export interface ClearHeader {
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
}

/** The clear RTP header fields of an SRTP packet; false when it is too short to be RTP. */
export function readClearHeader(packet: Buffer, out: ClearHeader): boolean {
  if (packet.length < 12) return false;
  out.marker = (packet[1]! & 0x80) !== 0;
  out.payloadType = packet[1]! & 0x7f;
  out.sequenceNumber = packet.readUInt16BE(2);
  out.timestamp = packet.readUInt32BE(4);
  out.ssrc = packet.readUInt32BE(8);
  return true;
}

interface SrtpContextInternals {
  srtpSSRCStates: Record<number, { ssrc: number; rolloverCounter: number; lastSequenceNumber: number; rolloverHasProcessed?: boolean }>;
}

/**
 * Decrypts one SRTP packet out of a stream whose other packets we did not decrypt. werift infers
 * the rollover counter from the previous packet it decrypted, so give it ours (from the clear
 * sequence numbers of every packet). Returns the RTP payload (padding removed), or null.
 */
export function decryptPayload(srtp: SrtpSession, packet: Buffer, rolloverCounter: number): Buffer | null {
  const ssrc = packet.readUInt32BE(8);
  const ctx = (srtp as unknown as { remoteContext: SrtpContextInternals }).remoteContext;
  ctx.srtpSSRCStates[ssrc] = { ssrc, rolloverCounter, lastSequenceNumber: packet.readUInt16BE(2) };
  let rtp: Buffer;
  try {
    rtp = srtp.decrypt(packet);
  } catch {
    return null;
  }
  const cc = rtp[0]! & 0x0f;
  let offset = 12 + cc * 4;
  if (rtp[0]! & 0x10) {
    if (rtp.length < offset + 4) return null;
    offset += 4 + rtp.readUInt16BE(offset + 2) * 4;
  }
  let end = rtp.length;
  if (rtp[0]! & 0x20) end -= rtp[end - 1]!;
  return end > offset ? rtp.subarray(offset, end) : null;
}

/**
 * The 16-bit value of header extension `id` in an RTP (or SRTP: header extensions are sent in
 * clear) packet, one-byte or two-byte form (RFC 8285); -1 when absent. The transport-wide sequence
 * number is such a value.
 */
export function readHeaderExtensionUint16(packet: Buffer, id: number): number {
  if (packet.length < 12 || (packet[0]! & 0x10) === 0) return -1;
  const start = 12 + (packet[0]! & 0x0f) * 4;
  if (packet.length < start + 4) return -1;
  const profile = packet.readUInt16BE(start);
  const end = start + 4 + packet.readUInt16BE(start + 2) * 4;
  if (end > packet.length) return -1;
  let p = start + 4;
  if (profile === 0xbede) {
    while (p < end) {
      const b = packet[p]!;
      if (b === 0) {
        p++; // padding
        continue;
      }
      const element = b >> 4;
      const length = (b & 0x0f) + 1;
      if (element === 15) return -1;
      if (element === id) return length >= 2 && p + 3 <= end ? packet.readUInt16BE(p + 1) : -1;
      p += 1 + length;
    }
  } else if ((profile & 0xfff0) === 0x1000) {
    while (p + 1 < end) {
      const element = packet[p]!;
      if (element === 0) {
        p++;
        continue;
      }
      const length = packet[p + 1]!;
      if (element === id) return length >= 2 && p + 4 <= end ? packet.readUInt16BE(p + 2) : -1;
      p += 2 + length;
    }
  }
  return -1;
}
