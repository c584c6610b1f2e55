// RetransmissionHistory: the packets a consumer sent recently, to answer its subscriber's NACKs
// (RFC 4585 generic NACK). Headers live in one preallocated buffer, a fixed-size slot per output
// sequence number (seq modulo the size); payloads are copies in a PayloadRing (payload-ring.ts):
// the producer's, shared by its consumers and written once per packet, or this history's own for
// payloads the consumer rewrote (VP8 temporal layers). A slot holds numbers only — no reference to
// a packet's Buffer — so nothing per packet outlives the packet path (see payload-ring.ts for the
// GC figures). A slot is overwritten by the packet 'size' sequence numbers later; a payload is
// gone once its ring has moved on.

import { PayloadRing } from './payload-ring.js';
import { MAX_HEADER_LENGTH } from './rtp-rewriter.js';

/** The ring of payloads a consumer rewrote itself (a lower layer's frame rate: well under 1 Mbps, ~2 s). */
export const OWN_RING_BYTES = 256 * 1024;

export class RetransmissionHistory {
  readonly size: number;
  /** Header bytes, MAX_HEADER_LENGTH per slot: write a packet's header at slotOffset(seq). */
  readonly headers: Buffer;
  readonly #headerLengths: Uint8Array;
  readonly #seqs: Int32Array;
  /** Where each slot's payload is: its absolute position in its ring (-1: none) and its length. */
  readonly #payloadAt: Float64Array;
  readonly #payloadLengths: Uint16Array;
  /** 1 where the payload is in this history's own ring, not the shared one. */
  readonly #inOwnRing: Uint8Array;
  /** When each slot's packet was sent, and last resent (performance.now() ms; -Infinity: never). */
  readonly #sentAt: Float64Array;
  readonly #resentAt: Float64Array;
  readonly #shared: PayloadRing | null;
  #own: PayloadRing | null = null;

  /**
   * @param shared the producer's payload ring; null keeps headers only (no payload can be
   *   retransmitted: audio, which is not NACKed).
   */
  constructor(size: number, shared: PayloadRing | null) {
    if (!Number.isInteger(size) || size < 1 || size > 0x10000) throw new RangeError('history size must be 1..65536 packets');
    this.size = size;
    this.headers = Buffer.alloc(size * MAX_HEADER_LENGTH);
    this.#headerLengths = new Uint8Array(size);
    this.#seqs = new Int32Array(size).fill(-1);
    this.#payloadAt = new Float64Array(size).fill(-1);
    this.#payloadLengths = new Uint16Array(size);
    this.#inOwnRing = new Uint8Array(size);
    this.#sentAt = new Float64Array(size);
    this.#resentAt = new Float64Array(size);
    this.#shared = shared;
  }

  /** Where the header of output sequence number `seq` goes in `headers`. */
  slotOffset(seq: number): number {
    return (seq % this.size) * MAX_HEADER_LENGTH;
  }

  /**
   * A copy of `payload` that the consumer may rewrite before it sends and stores it (store() then
   * copies nothing). It lives in this history's own ring: never change the shared one's bytes.
   */
  rewritable(payload: Uint8Array): Buffer {
    this.#own ??= new PayloadRing(OWN_RING_BYTES);
    return this.#own.copy(payload);
  }

  /**
   * Records the packet whose header was just written at slotOffset(seq), sent at `sentAt`
   * (performance.now() ms): `payload` is copied into the shared ring (once for all the producer's
   * consumers), or is the copy rewritable() made.
   */
  store(seq: number, headerLength: number, payload: Uint8Array, sentAt: number): void {
    const slot = seq % this.size;
    this.#headerLengths[slot] = headerLength;
    this.#seqs[slot] = seq;
    this.#sentAt[slot] = sentAt;
    this.#resentAt[slot] = -Infinity;
    const own = this.#own;
    let at = -1;
    if (own !== null && own.owns(payload)) {
      at = own.store(payload);
      this.#inOwnRing[slot] = 1;
    } else {
      if (this.#shared !== null) at = this.#shared.store(payload);
      this.#inOwnRing[slot] = 0;
    }
    this.#payloadAt[slot] = at;
    this.#payloadLengths[slot] = payload.length;
  }

  /** The header bytes of a packet whose payload is still held, or undefined (never sent, or gone since). */
  header(seq: number): Buffer | undefined {
    const slot = seq % this.size;
    if (this.#seqs[slot] !== seq || !this.#ringOf(slot)?.holds(this.#payloadAt[slot]!, this.#payloadLengths[slot]!)) return undefined;
    const base = slot * MAX_HEADER_LENGTH;
    return this.headers.subarray(base, base + this.#headerLengths[slot]!);
  }

  /** The payload of a packet still held (a view into a ring: send it before storing another), or undefined. */
  payload(seq: number): Buffer | undefined {
    const slot = seq % this.size;
    if (this.#seqs[slot] !== seq) return undefined;
    return this.#ringOf(slot)?.view(this.#payloadAt[slot]!, this.#payloadLengths[slot]!);
  }

  /**
   * Whether the packet `seq` is worth resending at `now`: `claimed` when it was sent at most
   * `maxAgeMs` ago and not resent in the last `minIntervalMs` (then it is marked resent now);
   * `answered` when it was resent within that interval (a browser asks again for a packet every
   * round trip it estimates, while our answer may still sit in the bottleneck's queue); `gone`
   * when it is older, or no longer (or never) in the history: it cannot be repaired. Says nothing
   * of whether its bytes are still held (header() and payload() do).
   */
  claimResend(seq: number, now: number, maxAgeMs: number, minIntervalMs: number): 'claimed' | 'answered' | 'gone' {
    const slot = seq % this.size;
    if (this.#seqs[slot] !== seq || now - this.#sentAt[slot]! > maxAgeMs) return 'gone';
    if (now - this.#resentAt[slot]! < minIntervalMs) return 'answered';
    this.#resentAt[slot] = now;
    return 'claimed';
  }

  /** Forgets every packet (the consumer closed). */
  clear(): void {
    this.#seqs.fill(-1);
    this.#payloadAt.fill(-1);
    this.#own = null;
  }

  #ringOf(slot: number): PayloadRing | null {
    return this.#inOwnRing[slot] === 1 ? this.#own : this.#shared;
  }
}
