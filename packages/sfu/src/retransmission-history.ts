// RetransmissionHistory: the packets a consumer sent recently, to answer its subscriber's NACKs
// (RFC 4585 generic NACK). Headers live in one preallocated buffer, a fixed-size slot per output
// sequence number (seq modulo the size); payloads are references to the producer's buffers, shared
// and never mutated. A slot is overwritten by the packet 'size' sequence numbers later.

import { MAX_HEADER_LENGTH } from './rtp-rewriter.js';

export class RetransmissionHistory {
  readonly size: number;
  /** Header bytes, MAX_HEADER_LENGTH per slot: write a packet's header at slotOffset(seq). */
  readonly headers: Buffer;
  readonly #headerLengths: Uint8Array;
  readonly #seqs: Int32Array;
  readonly #payloads: (Buffer | undefined)[];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1 || size > 0x10000) throw new RangeError('history size must be 1..65536 packets');
    this.size = size;
    this.headers = Buffer.alloc(size * MAX_HEADER_LENGTH);
    this.#headerLengths = new Uint8Array(size);
    this.#seqs = new Int32Array(size).fill(-1);
    this.#payloads = new Array<Buffer | undefined>(size);
  }

  /** Where the header of output sequence number `seq` goes in `headers`. */
  slotOffset(seq: number): number {
    return (seq % this.size) * MAX_HEADER_LENGTH;
  }

  /** Records the packet whose header was just written at slotOffset(seq). */
  store(seq: number, headerLength: number, payload: Buffer): void {
    const slot = seq % this.size;
    this.#headerLengths[slot] = headerLength;
    this.#seqs[slot] = seq;
    this.#payloads[slot] = payload;
  }

  /** The header bytes of a packet still held, or undefined (never sent, or overwritten since). */
  header(seq: number): Buffer | undefined {
    const slot = seq % this.size;
    if (this.#seqs[slot] !== seq || this.#payloads[slot] === undefined) return undefined;
    const base = slot * MAX_HEADER_LENGTH;
    return this.headers.subarray(base, base + this.#headerLengths[slot]!);
  }

  /** The payload of a packet still held (ask header() first), or undefined. */
  payload(seq: number): Buffer | undefined {
    const slot = seq % this.size;
    return this.#seqs[slot] === seq ? this.#payloads[slot] : undefined;
  }

  /** Drops every payload reference (the consumer closed). */
  clear(): void {
    this.#payloads.fill(undefined);
    this.#seqs.fill(-1);
  }
}
