// The packet path's native module (native/packet.c, built by scripts/build-native.mjs): AES-GCM
// and HMAC-SHA1 contexts kept per session key, a synchronous sendto() on a dgram socket's
// descriptor (and sendmmsg() of a batch, udp-send-batch.ts), and a batched recvmmsg() receiver on
// it (udp-receiver.ts). Optional: when it is not
// built, or COLLOQUY_NATIVE=0, every caller keeps its JavaScript path, and `nativePacket` is null.

import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';

/** An opaque handle the native module made (an N-API external). */
export type NativeHandle = { readonly __native: unique symbol };

export interface NativePacket {
  gcmNew(key: Uint8Array): NativeHandle;
  gcmSeal(ctx: NativeHandle, iv: Uint8Array, aad: Uint8Array, aad2: Uint8Array | null, plaintext: Uint8Array, out: Uint8Array, outOffset: number): void;
  gcmOpen(ctx: NativeHandle, iv: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, out: Uint8Array, outOffset: number): boolean;
  /** gcmOpen on an SRTP packet in place: aad [0, aadEnd), ciphertext [aadEnd, ciphertextEnd), tag to tagEnd (= ciphertextEnd + 16). */
  gcmOpenPacket(ctx: NativeHandle, iv: Uint8Array, packet: Uint8Array, aadEnd: number, ciphertextEnd: number, tagEnd: number): boolean;
  hmacNew(key: Uint8Array): NativeHandle;
  hmacSign(ctx: NativeHandle, data: Uint8Array, start: number, end: number, out: Uint8Array, outOffset: number, tagLength: number): void;
  hmacVerify(ctx: NativeHandle, data: Uint8Array, start: number, end: number, tag: Uint8Array): boolean;
  /** null when host is not a numeric address the socket's family reaches. */
  udpAddress(host: string, port: number, ipv6Socket: boolean): NativeHandle | null;
  /** Bytes sent, or -errno (-11 EAGAIN: the socket buffer is full). */
  udpSend(fd: number, address: NativeHandle, data: Uint8Array, length: number): number;
  /**
   * Sends `count` datagrams of `ring` (datagram i at i * slotSize) with one sendmmsg() per socket;
   * `meta` holds 3 int32s each: descriptor, length, and (written back) bytes sent or -errno.
   * Returns how many were sent. See udp-send-batch.ts.
   */
  udpSendMany(ring: Uint8Array, meta: Int32Array, count: number, addresses: NativeHandle[], slotSize: number): number;
  /**
   * Polls a dup() of `fd` and reads datagrams with recvmmsg() into `ring`'s slots of `slotSize`
   * bytes, calling `onBatch(count)` once per batch; `meta` gets `recvMeta` (8) int32s per slot (length or
   * -1 if truncated, port, family 4|6, address bytes, the datagram's age in µs by the kernel's
   * receive timestamp or -1). See udp-receiver.ts.
   */
  udpRecvStart(fd: number, ring: Uint8Array, meta: Int32Array, slotSize: number, onBatch: (count: number) => void): NativeHandle;
  /** Stops a receiver and closes its descriptor. Idempotent. */
  udpRecvStop(receiver: NativeHandle): void;
  /** int32s per slot of udpRecvStart's meta array (absent in modules built before it was exported). */
  readonly recvMeta?: number;
}

function load(): { module: NativePacket | null; why: string } {
  if (process.env.COLLOQUY_NATIVE === '0') return { module: null, why: 'COLLOQUY_NATIVE=0' };
  try {
    const module = createRequire(import.meta.url)('../build/Release/colloquy_packet.node') as NativePacket;
    return { module, why: 'loaded' };
  } catch (err) {
    return { module: null, why: `not built (${(err as Error).message.split('\n')[0]})` };
  }
}

const loaded = load();

/** The native module, or null (JavaScript path). */
export const nativePacket: NativePacket | null = loaded.module;
/** Why the native module is or is not in use, for dumps and logs. */
export const nativePacketStatus: string = loaded.why;

/** Node's state of a dgram socket: its handle (null once closed) and the descriptor behind it. */
export interface DgramStateView {
  handle: { fd?: number } | null;
}

/**
 * The state Node keeps for a dgram socket (dgram has no public accessor for its descriptor), or
 * undefined where this Node keeps it elsewhere. Read `handle.fd` at each send: the handle is null
 * once the socket closed.
 */
export function dgramState(socket: Socket): DgramStateView | undefined {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = sym === undefined ? undefined : (socket as unknown as Record<symbol, DgramStateView | undefined>)[sym];
  return state !== undefined && 'handle' in state ? state : undefined;
}
