// The few RTP header facts SRTP needs (RFC 3550 §5.1): where the payload starts, the sequence
// number and the SSRC. No objects: reads straight from the bytes.

/** Length of the RTP header (fixed part, CSRCs, extension) in buf[0, length), or -1 if malformed. */
export function rtpHeaderLength(buf: Uint8Array, length: number): number {
  if (length < 12 || buf[0]! >>> 6 !== 2) return -1;
  let n = 12 + (buf[0]! & 0x0f) * 4;
  if (buf[0]! & 0x10) {
    if (length < n + 4) return -1;
    n += 4 + ((buf[n + 2]! << 8) | buf[n + 3]!) * 4;
  }
  return n <= length ? n : -1;
}

/** RTCP rather than RTP where both share a port: packet types 192–223 in the second byte (RFC 5761 §4). */
export function isRtcp(buf: Uint8Array): boolean {
  return buf[1]! >= 192 && buf[1]! <= 223;
}

/** An RTP datagram by werift's own tests: first byte 128–191 (RFC 7983), and not RTCP's packet types 192–208. */
export function isRtp(data: Uint8Array): boolean {
  const b0 = data[0]!;
  return b0 > 127 && b0 < 192 && data.length >= 12 && !(data[1]! >= 192 && data[1]! <= 208);
}

export function rtpSequenceNumber(buf: Uint8Array): number {
  return (buf[2]! << 8) | buf[3]!;
}

export function rtpSsrc(buf: Uint8Array): number {
  return ((buf[8]! << 24) | (buf[9]! << 16) | (buf[10]! << 8) | buf[11]!) >>> 0;
}

/** The SSRC of an RTCP packet's sender (bytes 4..7 of the first packet of a compound). */
export function rtcpSenderSsrc(buf: Uint8Array): number {
  return ((buf[4]! << 24) | (buf[5]! << 16) | (buf[6]! << 8) | buf[7]!) >>> 0;
}
