// AEAD_AES_128_GCM for SRTP and SRTCP (RFC 7714), with the 12-byte IV built in a preallocated
// buffer. With the native module, one OpenSSL context per key serves every packet. Without it, one
// Node GCM cipher per packet (a GCM context cannot be re-keyed with a new IV in Node), keyed from a
// KeyObject made once, results copied into the caller's buffers (bench/media/srtp.bench.ts has both).

import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { nativePacket, type NativeHandle, type NativePacket } from '../native.js';

export const GCM_TAG_LENGTH = 16;

export class AesGcm {
  readonly #key: KeyObject;
  readonly #salt: Buffer;
  /** The IV of the next call: (SSRC and index fields) XOR salt, RFC 7714 §8.1 / §9.1. */
  readonly #iv = Buffer.alloc(12);
  readonly #native: NativePacket | null;
  readonly #ctx: NativeHandle | null;

  constructor(key: Uint8Array, salt: Uint8Array, native: NativePacket | null = nativePacket) {
    if (key.length !== 16) throw new RangeError('AES-128-GCM key must be 16 bytes');
    if (salt.length !== 12) throw new RangeError('AES-128-GCM session salt must be 12 bytes');
    this.#key = createSecretKey(key);
    this.#salt = Buffer.from(salt);
    this.#native = native;
    this.#ctx = native === null ? null : native.gcmNew(key);
  }

  /** RTP IV (RFC 7714 §8.1): 00 00 || SSRC || ROC || SEQ, XOR salt. */
  setRtpIv(ssrc: number, roc: number, seq: number): void {
    const iv = this.#iv;
    iv[0] = 0;
    iv[1] = 0;
    iv.writeUInt32BE(ssrc >>> 0, 2);
    iv.writeUInt32BE(roc >>> 0, 6);
    iv.writeUInt16BE(seq & 0xffff, 10);
    for (let i = 0; i < 12; i++) iv[i]! ^= this.#salt[i]!;
  }

  /** RTCP IV (RFC 7714 §9.1): 00 00 || SSRC || 00 00 || 0 || SRTCP index (31 bits), XOR salt. */
  setRtcpIv(ssrc: number, index: number): void {
    const iv = this.#iv;
    iv[0] = 0;
    iv[1] = 0;
    iv.writeUInt32BE(ssrc >>> 0, 2);
    iv[6] = 0;
    iv[7] = 0;
    iv.writeUInt32BE(index & 0x7fffffff, 8);
    for (let i = 0; i < 12; i++) iv[i]! ^= this.#salt[i]!;
  }

  /**
   * Encrypts plaintext under the current IV with aad[0..] as associated data (aad2 appended, for
   * SRTCP's trailing index), writing ciphertext then the 16-byte tag at out[outOffset].
   */
  seal(aad: Uint8Array, aad2: Uint8Array | null, plaintext: Uint8Array, out: Uint8Array, outOffset: number): void {
    if (this.#ctx !== null) {
      this.#native!.gcmSeal(this.#ctx, this.#iv, aad, aad2, plaintext, out, outOffset);
      return;
    }
    const cipher = createCipheriv('aes-128-gcm', this.#key, this.#iv, { authTagLength: GCM_TAG_LENGTH });
    cipher.setAAD(aad2 === null ? aad : Buffer.concat([aad, aad2]));
    const enc = cipher.update(plaintext);
    cipher.final();
    out.set(enc, outOffset);
    out.set(cipher.getAuthTag(), outOffset + enc.length);
  }

  /**
   * An SRTP packet in place, with no views made (the receive path's call, once per packet): packet[0,
   * aadEnd) authenticated, [aadEnd, ciphertextEnd) decrypted where it is once the tag (to tagEnd)
   * verifies; false when it does not (nothing written then).
   */
  openPacket(packet: Uint8Array, aadEnd: number, ciphertextEnd: number, tagEnd: number): boolean {
    if (this.#ctx !== null) return this.#native!.gcmOpenPacket(this.#ctx, this.#iv, packet, aadEnd, ciphertextEnd, tagEnd);
    return this.open(packet.subarray(0, aadEnd), packet.subarray(aadEnd, ciphertextEnd), packet.subarray(ciphertextEnd, tagEnd), packet, aadEnd);
  }

  /**
   * Checks the tag and decrypts ciphertext to out[outOffset] (only after the tag verified); false
   * when authentication fails (nothing written then).
   */
  open(aad: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, out: Uint8Array, outOffset: number): boolean {
    if (this.#ctx !== null) return this.#native!.gcmOpen(this.#ctx, this.#iv, aad, ciphertext, tag, out, outOffset);
    const decipher = createDecipheriv('aes-128-gcm', this.#key, this.#iv, { authTagLength: GCM_TAG_LENGTH });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    const dec = decipher.update(ciphertext);
    try {
      decipher.final();
    } catch {
      return false;
    }
    out.set(dec, outOffset);
    return true;
  }
}
