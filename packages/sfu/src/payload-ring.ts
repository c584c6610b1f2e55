// PayloadRing: copies of recently forwarded RTP payloads in one preallocated buffer, so that the
// retransmission histories that answer NACKs hold numbers (a position and a length) instead of
// references to the receive path's per-datagram Buffers.
//
// Why: a Buffer kept for a second survives two scavenges and is promoted to V8's old space with its
// ArrayBuffer (about 200 bytes of heap per packet, plus the datagram's backing store). Measured at
// 1→1, 1.5 Mbps (`node --trace-gc`, 60 s): the old space grew ~45 KB/s with 1,024-packet histories
// and stayed flat with 2-packet ones; a major GC of the server's ~40 MB heap then costs 50–150 ms
// of the main thread, a pause every forwarded packet waits behind. With the ring every per-packet
// object dies young.
//
// Positions are absolute (bytes written since the ring was made, a JS number: exact for 2^53
// bytes, centuries at any bitrate), so a payload overwritten since is recognised: the bytes at
// [at, at + length) are intact while no more than `capacity` bytes were written from `at` on. A
// payload never wraps around the end of the buffer (the write skips to the start instead), so
// view() is one subarray.
//
// One ring per video producer is shared by all its consumers: `store` is memoized on the identity
// of the payload Buffer (the receive path makes one per packet, see RtpView.payload), so the first
// consumer copies a packet and the others get the same position.

export class PayloadRing {
  readonly capacity: number;
  readonly #bytes: Buffer;
  /** Bytes written so far, skipped tails included: the next write's absolute position. */
  #written = 0;
  /** The payload last stored (or made by copy()) and its position: the memo of store(). */
  #lastSource: Uint8Array | null = null;
  #lastAt = -1;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 2048 || capacity > 0x4000000) throw new RangeError('payload ring capacity must be 2048..64 MiB bytes');
    this.capacity = capacity;
    this.#bytes = Buffer.alloc(capacity);
  }

  /**
   * Copies `payload` in and returns its absolute position (-1 if it is larger than the ring). The
   * same Buffer stored again (another consumer of the same packet) is not copied twice. A stored
   * payload must not be mutated afterwards (the receive path's never are).
   */
  store(payload: Uint8Array): number {
    if (payload === this.#lastSource) return this.#lastAt;
    const at = this.#reserve(payload.length);
    if (at >= 0) this.#bytes.set(payload, at % this.capacity);
    this.#lastSource = payload;
    this.#lastAt = at;
    return at;
  }

  /**
   * Copies `payload` in and returns the copy, a view of the ring that may be changed before it is
   * stored (a consumer rewriting the VP8 descriptor of its own copy); store(copy) then costs no
   * second copy. A payload larger than the ring gets a copy of its own, which store() refuses.
   */
  copy(payload: Uint8Array): Buffer {
    const length = payload.length;
    const at = this.#reserve(length);
    if (at < 0) return Buffer.from(payload);
    const offset = at % this.capacity;
    this.#bytes.set(payload, offset);
    const copy = this.#bytes.subarray(offset, offset + length);
    this.#lastSource = copy;
    this.#lastAt = at;
    return copy;
  }

  /** Is the payload stored at `at` with this length still intact? */
  holds(at: number, length: number): boolean {
    return at >= 0 && length <= this.capacity && this.#written - at <= this.capacity;
  }

  /** The bytes of a payload still held (a view into the ring: use it before the next store), or undefined. */
  view(at: number, length: number): Buffer | undefined {
    if (!this.holds(at, length)) return undefined;
    const offset = at % this.capacity;
    return this.#bytes.subarray(offset, offset + length);
  }

  /** Is `payload` a view of this ring's bytes (made by copy())? */
  owns(payload: Uint8Array): boolean {
    return payload.buffer === this.#bytes.buffer;
  }

  /** Bytes written so far (skipped tails included). */
  get written(): number {
    return this.#written;
  }

  #reserve(length: number): number {
    if (length > this.capacity) return -1;
    let at = this.#written;
    const offset = at % this.capacity;
    if (offset + length > this.capacity) at += this.capacity - offset; // no payload wraps around the end
    this.#written = at + length;
    return at;
  }
}
