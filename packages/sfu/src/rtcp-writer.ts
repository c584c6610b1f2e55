// RTCP we build as bytes for the publisher side of the receive path: receiver reports (RFC 3550
// 6.4.2) from ReceiveStats, generic NACKs (RFC 4585 6.2.1) from NackGenerator, REMB
// (draft-alvestrand-rmcat-remb) from the uplink estimate. They go out through sendRtcp
// (srtp-path.ts), protected by our SRTCP.

import type { ReportBlock } from './receive-stats.js';

/** RTCP packet types. */
const PT_RR = 201;
const PT_RTPFB = 205;
const PT_PSFB = 206;
/** Application layer feedback (PSFB FMT 15), of which REMB is one. */
const FMT_AFB = 15;
/** Generic NACK's feedback message type (RTPFB FMT 1). */
const FMT_GENERIC_NACK = 1;
/** Report blocks one RR can hold (the 5-bit RC field). */
export const MAX_REPORT_BLOCKS = 31;

/**
 * A zeroed RTCP packet of `length` bytes (a multiple of 4) with its common header written: version
 * 2, `countOrFormat` (RC, or FMT for feedback), the packet type, the length in words minus one,
 * and the sender's SSRC.
 */
function rtcpPacket(length: number, countOrFormat: number, packetType: number, senderSsrc: number): Buffer {
  const buf = Buffer.alloc(length);
  buf[0] = 0x80 | countOrFormat;
  buf[1] = packetType;
  buf.writeUInt16BE(length / 4 - 1, 2);
  buf.writeUInt32BE(senderSsrc >>> 0, 4);
  return buf;
}

/**
 * A receiver report (RR) from `senderSsrc` with up to 31 blocks (the first 31 of `blocks`).
 * 8 bytes + 24 per block.
 */
export function writeReceiverReport(senderSsrc: number, blocks: readonly ReportBlock[]): Buffer {
  const count = Math.min(blocks.length, MAX_REPORT_BLOCKS);
  const buf = rtcpPacket(8 + 24 * count, count, PT_RR, senderSsrc);
  for (let i = 0; i < count; i++) {
    const b = blocks[i]!;
    const o = 8 + 24 * i;
    buf.writeUInt32BE(b.ssrc >>> 0, o);
    buf[o + 4] = b.fractionLost & 0xff;
    const lost = b.packetsLost & 0xffffff; // two's complement in 24 bits
    buf[o + 5] = lost >>> 16;
    buf[o + 6] = (lost >>> 8) & 0xff;
    buf[o + 7] = lost & 0xff;
    buf.writeUInt32BE(b.highestSequence >>> 0, o + 8);
    buf.writeUInt32BE(b.jitter >>> 0, o + 12);
    buf.writeUInt32BE(b.lsr >>> 0, o + 16);
    buf.writeUInt32BE(b.dlsr >>> 0, o + 20);
  }
  return buf;
}

/**
 * A generic NACK (RTPFB, FMT 1) for `mediaSsrc` asking for `lost` (16-bit sequence numbers, in
 * the order they were collected: each run of numbers within 16 of a PID shares that PID's bitmask).
 * Null when `lost` is empty.
 */
export function writeGenericNack(senderSsrc: number, mediaSsrc: number, lost: readonly number[]): Buffer | null {
  if (lost.length === 0) return null;
  // PID + BLP pairs: a PID covers itself and the 16 numbers after it.
  const sorted = [...lost].sort((a, b) => ((a - lost[0]! + 0x8000) & 0xffff) - ((b - lost[0]! + 0x8000) & 0xffff));
  const fci: number[] = [];
  let pid = -1;
  let blp = 0;
  for (const seq of sorted) {
    const d = pid < 0 ? -1 : (seq - pid) & 0xffff;
    if (d === 0) continue;
    if (d > 0 && d <= 16) {
      blp |= 1 << (d - 1);
      continue;
    }
    if (pid >= 0) fci.push(pid, blp);
    pid = seq;
    blp = 0;
  }
  fci.push(pid, blp);
  const buf = rtcpPacket(12 + 2 * fci.length, FMT_GENERIC_NACK, PT_RTPFB, senderSsrc);
  buf.writeUInt32BE(mediaSsrc >>> 0, 8);
  for (let i = 0; i < fci.length; i++) buf.writeUInt16BE(fci[i]!, 12 + 2 * i);
  return buf;
}

/**
 * REMB (PSFB FMT 15, "REMB"): at most `bitrate` bits/s for the streams of `ssrcs` (up to 255),
 * from `senderSsrc`. The bitrate is an 18-bit mantissa with a 6-bit exponent, rounded down.
 */
export function writeRemb(senderSsrc: number, bitrate: number, ssrcs: readonly number[]): Buffer {
  const count = Math.min(ssrcs.length, 255);
  let mantissa = Math.max(0, Math.floor(bitrate));
  let exp = 0;
  while (mantissa >= 1 << 18) {
    mantissa = Math.floor(mantissa / 2);
    exp++;
  }
  const buf = rtcpPacket(20 + 4 * count, FMT_AFB, PT_PSFB, senderSsrc);
  // media source SSRC 0 (bytes 8..11), then the unique identifier
  buf.write('REMB', 12, 'latin1');
  buf[16] = count;
  buf[17] = (exp << 2) | (mantissa >>> 16);
  buf.writeUInt16BE(mantissa & 0xffff, 18);
  for (let i = 0; i < count; i++) buf.writeUInt32BE(ssrcs[i]! >>> 0, 20 + 4 * i);
  return buf;
}
