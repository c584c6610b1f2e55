// One parse of a received RTP packet (RFC 3550 §5.1, RFC 8285 header extensions), read straight
// from the datagram's bytes into one reusable object: no RtpHeader, no extension array, no Buffer
// per packet. The first brick of our own receive path (issue 14, point 3): werift today parses
// every received packet into an RtpPacket (header object, extension objects, payload copy) and
// routes it through promises; this view is what the producer and consumers will read instead.
// On the packet path: receive-path.ts parses every received datagram into one of these, and the
// producer, its consumers and its listeners read it (see README.md, "Receive path").

/** RFC 8285 one-byte header extension form ("BEDE"). */
export const ONE_BYTE_PROFILE = 0xbede;
/** RFC 8285 two-byte form: 0x100 in the top 12 bits, the low 4 bits are "appbits". */
const TWO_BYTE_PROFILE_MASK = 0xfff0;
const TWO_BYTE_PROFILE = 0x1000;

/**
 * A received RTP packet's header fields and where its parts are, filled by `parse` (which returns
 * false for anything that is not a well-formed RTP packet). Reuse one view per receive loop: every
 * field is overwritten by the next parse, so a consumer that keeps something must copy it.
 */
export class RtpView {
  buffer: Uint8Array = new Uint8Array(0);
  /** The payload as a Buffer, made on first use after each parse (see `payload`). */
  #payload: Buffer | null = null;
  /** Bytes of the packet in `buffer` (from 0). */
  length = 0;
  marker = false;
  payloadType = 0;
  sequenceNumber = 0;
  timestamp = 0;
  ssrc = 0;
  /** CSRC count (their 32-bit values follow the fixed header). */
  csrcCount = 0;
  /** Fixed header + CSRCs + extension block: where the payload starts. */
  payloadOffset = 0;
  /** Payload bytes, without RTP padding. */
  payloadLength = 0;
  /** RTP padding at the end (its last byte counts itself), 0 without the P bit. */
  paddingLength = 0;
  /** The extension block's profile (0xBEDE one-byte, 0x100x two-byte, other: unknown), 0 without X. */
  extensionProfile = 0;
  /** Where the extension elements start and end (end excluded); equal when there are none. */
  extensionStart = 0;
  extensionEnd = 0;
  /** Set by `extension(id)` and `extensionAt`: that element's id, where its data is and how long. */
  extensionId = 0;
  extensionOffset = -1;
  extensionLength = 0;

  /** Reads the header of buffer[0, length). False (the view then holds nothing usable) if malformed. */
  parse(buffer: Uint8Array, length = buffer.length): boolean {
    this.buffer = buffer;
    this.length = length;
    this.#payload = null;
    if (length < 12) return false;
    const b0 = buffer[0]!;
    if (b0 >>> 6 !== 2) return false;
    const b1 = buffer[1]!;
    this.marker = b1 >= 0x80;
    this.payloadType = b1 & 0x7f;
    this.sequenceNumber = (buffer[2]! << 8) | buffer[3]!;
    this.timestamp = ((buffer[4]! << 24) | (buffer[5]! << 16) | (buffer[6]! << 8) | buffer[7]!) >>> 0;
    this.ssrc = ((buffer[8]! << 24) | (buffer[9]! << 16) | (buffer[10]! << 8) | buffer[11]!) >>> 0;
    this.csrcCount = b0 & 0x0f;
    let offset = 12 + this.csrcCount * 4;
    if (b0 & 0x10) {
      if (offset + 4 > length) return false;
      this.extensionProfile = (buffer[offset]! << 8) | buffer[offset + 1]!;
      const words = (buffer[offset + 2]! << 8) | buffer[offset + 3]!;
      this.extensionStart = offset + 4;
      offset = this.extensionStart + words * 4;
      this.extensionEnd = offset;
    } else {
      this.extensionProfile = 0;
      this.extensionStart = this.extensionEnd = offset;
    }
    if (offset > length) return false;
    this.payloadOffset = offset;
    let padding = 0;
    if (b0 & 0x20) {
      padding = buffer[length - 1]!;
      if (padding === 0 || offset + padding > length) return false;
    }
    this.paddingLength = padding;
    this.payloadLength = length - offset - padding;
    return true;
  }

  /** The header fields under werift's names (`packet.header.ssrc`): the view itself, no object. */
  get header(): this {
    return this;
  }

  /**
   * The payload (without RTP padding): a Buffer over the packet's own bytes, made once per parse
   * and never mutated (consumers send it as it is; their producer's payload ring copies it once,
   * recognising the same Buffer from every consumer of the packet).
   */
  get payload(): Buffer {
    let payload = this.#payload;
    if (payload === null) {
      const b = this.buffer;
      payload = Buffer.from(b.buffer, b.byteOffset + this.payloadOffset, this.payloadLength);
      this.#payload = payload;
    }
    return payload;
  }

  /** The whole packet's bytes (header, payload, padding), over the packet's own buffer. */
  bytes(): Buffer {
    const b = this.buffer;
    return Buffer.from(b.buffer, b.byteOffset, this.length);
  }

  /**
   * A standalone packet of its own bytes: what a listener keeps (the receive path reuses the view
   * for the next packet). Treat it as immutable.
   */
  copy(): RtpView {
    const copy = new RtpView();
    copy.parse(Buffer.from(this.bytes()));
    return copy;
  }

  /**
   * Walks the extension elements: reads the element at `offset` (skipping padding bytes; start
   * with `extensionStart`), sets extensionId/extensionOffset/extensionLength and returns the offset
   * after it, or -1 at the end of the block (or a malformed element, or an unknown profile).
   */
  extensionAt(offset: number): number {
    const oneByte = this.extensionProfile === ONE_BYTE_PROFILE;
    if (!oneByte && (this.extensionProfile & TWO_BYTE_PROFILE_MASK) !== TWO_BYTE_PROFILE) return -1;
    const buf = this.buffer;
    const end = this.extensionEnd;
    let o = offset;
    while (o < end && buf[o] === 0) o++;
    if (o >= end) return -1;
    const b = buf[o]!;
    let len: number;
    let head: number;
    if (oneByte) {
      if (b >>> 4 === 15) return -1;
      this.extensionId = b >>> 4;
      len = (b & 0x0f) + 1;
      head = 1;
    } else {
      if (o + 2 > end) return -1;
      this.extensionId = b;
      len = buf[o + 1]!;
      head = 2;
    }
    if (o + head + len > end) return -1;
    this.extensionOffset = o + head;
    this.extensionLength = len;
    return o + head + len;
  }

  /**
   * Finds header extension `id` (1–14 in the one-byte form, 1–255 in the two-byte form): true and
   * extensionOffset/extensionLength set, or false (extensionOffset -1). RFC 8285 §4.2: in the
   * one-byte form, id 15 ends the walk; padding bytes (0) are skipped in both forms.
   */
  extension(id: number): boolean {
    this.extensionOffset = -1;
    this.extensionLength = 0;
    const oneByte = this.extensionProfile === ONE_BYTE_PROFILE;
    if (!oneByte && (this.extensionProfile & TWO_BYTE_PROFILE_MASK) !== TWO_BYTE_PROFILE) return false;
    const buf = this.buffer;
    const end = this.extensionEnd;
    const head = oneByte ? 1 : 2;
    let o = this.extensionStart;
    while (o < end) {
      const b = buf[o]!;
      if (b === 0) {
        o++;
        continue;
      }
      let elementId: number;
      let len: number;
      if (oneByte) {
        elementId = b >>> 4;
        if (elementId === 15) return false;
        len = (b & 0x0f) + 1;
      } else {
        if (o + 2 > end) return false;
        elementId = b;
        len = buf[o + 1]!;
      }
      if (o + head + len > end) return false;
      if (elementId === id) {
        this.extensionOffset = o + head;
        this.extensionLength = len;
        return true;
      }
      o += head + len;
    }
    return false;
  }

  /**
   * RFC 4588 §4: turns a parsed retransmission (RTX) packet into the original in place: its first
   * two payload bytes are the original sequence number; the SSRC and payload type become the
   * media stream's. The header is rewritten 2 bytes further on (over the OSN), so the packet then
   * starts at `byteOffset` 2 of `buffer`: returns that offset, or -1 when there is no OSN.
   * The view describes the unwrapped packet afterwards (buffer = the same bytes from offset 2).
   */
  unwrapRtx(mediaSsrc: number, mediaPayloadType: number): number {
    if (this.payloadLength < 2) return -1;
    const buf = this.buffer;
    const p = this.payloadOffset;
    const osn = (buf[p]! << 8) | buf[p + 1]!;
    // Move the header forward by 2 over the OSN, back to front.
    buf.copyWithin(2, 0, p);
    const moved = buf.subarray(2, this.length);
    this.buffer = moved;
    this.#payload = null;
    this.length -= 2;
    this.payloadType = mediaPayloadType;
    this.sequenceNumber = osn;
    this.ssrc = mediaSsrc >>> 0;
    moved[1] = (moved[1]! & 0x80) | mediaPayloadType;
    moved[2] = osn >>> 8;
    moved[3] = osn & 0xff;
    moved[8] = mediaSsrc >>> 24;
    moved[9] = (mediaSsrc >>> 16) & 0xff;
    moved[10] = (mediaSsrc >>> 8) & 0xff;
    moved[11] = mediaSsrc & 0xff;
    this.payloadLength -= 2;
    // Offsets inside the packet are unchanged relative to its (moved) start.
    return 2;
  }
}
