// A 20-byte trailer the load publisher appends to the last RTP payload of every video frame: frame
// number, send time (machine monotonic clock), packets in the frame, keyframe flag, magic. It is in the payload because SFUs forward payloads untouched (ours and
// Janus) while header extensions are remapped or dropped. At the end of a VP8 frame it is trailing
// data after the last partition, which decoders do not read, so a browser can still watch the stream.
// Knowing the frame's packet count, a receiver that decrypts only the last packet of each frame
// (the light receive path) still knows whether the whole frame arrived and whether it was a keyframe.

export const MARKER_BYTES = 20;
const MAGIC = 0x43514c54; // "CQLT"

/**
 * Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC, which process.hrtime reads): the
 * same clock in every process of the machine, and never stepped. Wall-clock time is no good here:
 * each process fixes performance.timeOrigin from the wall clock when it starts, and on this VM the
 * wall clock is adjusted in steps of several ms, so two workers started together can disagree by 10 ms.
 */
export function machineMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** machineMs() minus performance.now(): converts this process's performance.now() to machineMs. */
export const PERFORMANCE_TO_MACHINE_MS = machineMs() - performance.now();

export interface Marker {
  frame: number;
  /** machineMs() when the publisher sent the frame's last packet. */
  sentAtMs: number;
  /** RTP packets the frame was split into (this one included). */
  packets: number;
  keyFrame: boolean;
}

/** `payload` followed by the trailer (a new buffer). */
export function appendMarker(payload: Buffer, marker: Marker): Buffer {
  const out = Buffer.allocUnsafe(payload.length + MARKER_BYTES);
  payload.copy(out, 0);
  const o = payload.length;
  out.writeUInt32BE(marker.frame >>> 0, o);
  out.writeDoubleBE(marker.sentAtMs, o + 4);
  out.writeUInt16BE(marker.packets, o + 12);
  out.writeUInt16BE(marker.keyFrame ? 1 : 0, o + 14);
  out.writeUInt32BE(MAGIC, o + 16);
  return out;
}

/** The trailer at the end of `payload`, or null when there is none. */
export function readMarker(payload: Uint8Array, end = payload.length): Marker | null {
  if (end < MARKER_BYTES) return null;
  const view = new DataView(payload.buffer, payload.byteOffset, end);
  if (view.getUint32(end - 4) !== MAGIC) return null;
  const o = end - MARKER_BYTES;
  return { frame: view.getUint32(o), sentAtMs: view.getFloat64(o + 4), packets: view.getUint16(o + 12), keyFrame: (view.getUint16(o + 14) & 1) === 1 };
}
