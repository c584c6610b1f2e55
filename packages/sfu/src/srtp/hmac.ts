// HMAC-SHA1 authentication tags (RFC 3711 §4.2) for AES-CM profiles: 80 bits (SRTP _80 and all
// SRTCP) or 32 bits (SRTP _32). Measured per 1216 authenticated bytes (bench/media/srtp.bench.ts,
// loaded 2-core machine, three runs): createHmac with a KeyObject 2.3-3.7 µs, with a raw key Buffer
// 2.4-3.8 µs (equal within noise), copy() of the keyed inner and outer hash states 2.3-3.9 µs (never
// cheaper). So:
// without the native module, one createHmac per packet, keyed from a KeyObject made once per
// session (no key copy per call). With it, the keyed inner and outer SHA-1 states are made once and
// copied per packet in C, where a copy costs nothing.

import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { nativePacket, type NativeHandle, type NativePacket } from '../native.js';

export class HmacSha1 {
  readonly #key: KeyObject;
  readonly #native: NativePacket | null;
  readonly #ctx: NativeHandle | null;

  constructor(key: Uint8Array, native: NativePacket | null = nativePacket) {
    if (key.length === 0) throw new RangeError('HMAC key must not be empty');
    this.#key = createSecretKey(key);
    this.#native = native;
    this.#ctx = native === null ? null : native.hmacNew(key);
  }

  /** The full 20-byte HMAC-SHA1 of data[start, end), by Node's crypto (the JavaScript path). */
  #digest(data: Uint8Array, start: number, end: number): Buffer {
    return createHmac('sha1', this.#key).update(data.subarray(start, end)).digest();
  }

  /** Writes the first tagLength bytes of the HMAC of data[start, end) at out[outOffset]. */
  sign(data: Uint8Array, start: number, end: number, out: Uint8Array, outOffset: number, tagLength: number): void {
    if (this.#ctx !== null) {
      this.#native!.hmacSign(this.#ctx, data, start, end, out, outOffset, tagLength);
      return;
    }
    const mac = this.#digest(data, start, end);
    out.set(mac.subarray(0, tagLength), outOffset);
  }

  /** Constant-time check of a tag against the HMAC of data[start, end). */
  verify(data: Uint8Array, start: number, end: number, tag: Uint8Array): boolean {
    if (this.#ctx !== null) return this.#native!.hmacVerify(this.#ctx, data, start, end, tag);
    const mac = this.#digest(data, start, end);
    return timingSafeEqual(mac.subarray(0, tag.length), tag);
  }
}
