// Batched receive on a dgram socket (native/packet.c's receiver): recvmmsg() into one ring of
// slots per socket and one JavaScript call per batch, where Node's dgram makes, for every datagram,
// a 64 KiB allocation shrunk to size, an ArrayBuffer, a Buffer, an rinfo object with its address
// string (inet_ntop and a printf) and a callback scope of its own. Measured with perf at 1→1,
// 1.5 Mbps: Node's receive layers (UDPWrap::OnRecv without our handler) were ~13 % of the server
// thread, its address objects alone 5 %.
//
// The slots are reused: a datagram's Buffer is valid only during the handler's call (the RTP path
// decrypts and forwards synchronously, and copies what it keeps, see payload-ring.ts); anything
// that may keep bytes (werift's STUN, DTLS and RTCP paths) is given a copy. The source address
// object is reused too, and its address string built only when read.
//
// Each datagram comes with the time it reached the host (the kernel's receive timestamp), which
// `datagramArrival()` gives the handler: transport-wide feedback and the delay-based REMB are
// built from arrival times, and a time taken when the event loop got round to the read would show
// every stall of the loop as a queue at the publisher's bottleneck.

import type { Socket } from 'node:dgram';
import { dgramState, nativePacket, type NativeHandle } from './native.js';
import { sendBatch } from './udp-send-batch.js';

/** Datagrams read per batch (at most native/packet.c's RECV_MAX_SLOTS). */
export const RECEIVE_SLOTS = 32;
/** Bytes per slot: a larger datagram is dropped and counted (WebRTC's are MTU-sized, ~1,200 bytes). */
export const RECEIVE_SLOT_BYTES = 2048;
/** int32s per slot in the meta array (native/packet.c's RECV_META; the module says its own as `recvMeta`). */
const META = 8;

/** The arrival (performance.now() ms) of the datagram being handed out, while one is; NaN between. */
let currentArrival = Number.NaN;

/**
 * When the datagram now being handled reached the host, in performance.now() milliseconds: the
 * kernel's receive timestamp for a datagram a BatchedReceiver hands out (read during the handler's
 * call), else now (Node's dgram events, werift's TCP, a kernel without timestamps).
 */
export function datagramArrival(): number {
  return Number.isNaN(currentArrival) ? performance.now() : currentArrival;
}

/** Where a datagram came from: reused for the next datagram, read it during the handler's call. */
export interface DatagramSource {
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
  /** The address as Node's dgram writes it ('127.0.0.1', '::1', '::ffff:10.0.0.1'), made when read. */
  readonly address: string;
}

export type DatagramHandler = (data: Buffer, source: DatagramSource) => void;

/** The parts of Node's dgram handle this uses (internal, read through dgramState). */
interface DgramHandle {
  fd?: number;
  recvStart?: () => number;
  recvStop?: () => number;
}

class Source implements DatagramSource {
  port = 0;
  family: 'IPv4' | 'IPv6' = 'IPv4';
  #bytes: Uint8Array;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  at(slot: number, port: number, family: number): void {
    this.port = port;
    this.family = family === 6 ? 'IPv6' : 'IPv4';
    this.#offset = (slot * META + 3) * 4;
  }

  get address(): string {
    return this.family === 'IPv4' ? ipv4(this.#bytes, this.#offset) : ipv6(this.#bytes, this.#offset);
  }
}

function ipv4(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** RFC 5952 text, as Node writes it: lower case, the longest run of two or more zero groups as '::', IPv4-mapped as ::ffff:a.b.c.d. */
export function ipv6(b: Uint8Array, o: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[o + 2 * i]! << 8) | b[o + 2 * i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${ipv4(b, o + 12)}`;
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/**
 * Reads a dgram socket's datagrams in batches until stop() (or the socket closes), in place of
 * the socket's 'message' events, which stop meanwhile. Sending on the socket is unchanged.
 */
export class BatchedReceiver {
  readonly #socket: Socket;
  readonly #handle: DgramHandle;
  readonly #onClose: () => void;
  #receiver: NativeHandle | null;
  /** Datagrams read, and those dropped for being larger than a slot. */
  datagrams = 0;
  truncated = 0;

  private constructor(socket: Socket, handle: DgramHandle, onDatagram: DatagramHandler) {
    this.#socket = socket;
    this.#handle = handle;
    const ring = new Uint8Array(RECEIVE_SLOTS * RECEIVE_SLOT_BYTES);
    const meta = new Int32Array(RECEIVE_SLOTS * META);
    const source = new Source(new Uint8Array(meta.buffer));
    const onBatch = (count: number): void => {
      let failure: unknown = null;
      // What the batch's handlers send leaves together when it ends (udp-send-batch.ts).
      sendBatch?.begin();
      try {
        this.#deliver(count, ring, meta, source, onDatagram);
      } catch (err) {
        failure = err;
      }
      try {
        sendBatch?.end();
      } catch (err) {
        failure ??= err;
      }
      if (failure !== null) throw failure;
    };
    handle.recvStop!();
    try {
      this.#receiver = nativePacket!.udpRecvStart(handle.fd!, ring, meta, RECEIVE_SLOT_BYTES, onBatch);
    } catch (err) {
      // E.g. dup() refused (EMFILE): Node's reading resumes, or the socket would stay deaf.
      handle.recvStart!();
      throw err;
    }
    this.#onClose = () => this.stop();
    socket.once('close', this.#onClose);
  }

  /** Hands a batch's datagrams to the handler; the first handler error is thrown after the batch. */
  #deliver(count: number, ring: Uint8Array, meta: Int32Array, source: Source, onDatagram: DatagramHandler): void {
    let failure: unknown = null;
    // The native side read the batch and the ages against one clock reading just before this call.
    const readAt = performance.now();
    for (let i = 0; i < count; i++) {
      const m = i * META;
      const length = meta[m]!;
      if (length < 0) {
        this.truncated++;
        continue;
      }
      this.datagrams++;
      source.at(i, meta[m + 1]!, meta[m + 2]!);
      const ageUs = meta[m + 7]!;
      currentArrival = ageUs >= 0 ? readAt - ageUs / 1000 : readAt;
      try {
        onDatagram(Buffer.from(ring.buffer, i * RECEIVE_SLOT_BYTES, length), source);
      } catch (err) {
        // One datagram's failure does not lose the rest of the batch; the first surfaces after it,
        // as a throwing 'message' listener's would.
        failure ??= err;
      } finally {
        currentArrival = Number.NaN;
      }
      // A handler may have stopped the receiver (the transport closed): the rest of the batch is not its.
      if (this.#receiver === null) break;
    }
    if (failure !== null) throw failure;
  }

  /**
   * Takes over `socket`'s receiving, or null where it cannot: no native module, a socket that is
   * not bound yet or already closed, a Node whose dgram handle differs from what this reads, or a
   * native start that failed (out of descriptors): the socket then keeps its 'message' events.
   */
  static start(socket: Socket, onDatagram: DatagramHandler): BatchedReceiver | null {
    // A module built from other sources than this file's (a stale build): its meta layout may differ.
    if (nativePacket === null || typeof nativePacket.udpRecvStart !== 'function' || nativePacket.recvMeta !== META) return null;
    const handle = dgramState(socket)?.handle as DgramHandle | null | undefined;
    if (!handle || typeof handle.fd !== 'number' || handle.fd < 0 || typeof handle.recvStop !== 'function' || typeof handle.recvStart !== 'function') return null;
    try {
      return new BatchedReceiver(socket, handle, onDatagram);
    } catch {
      return null;
    }
  }

  get running(): boolean {
    return this.#receiver !== null;
  }

  /** Stops reading and gives the socket back to its 'message' events (unless it closed). Idempotent. */
  stop(): void {
    const receiver = this.#receiver;
    if (receiver === null) return;
    this.#receiver = null;
    this.#socket.off('close', this.#onClose);
    nativePacket!.udpRecvStop(receiver);
    const state = dgramState(this.#socket);
    if (state?.handle === this.#handle) this.#handle.recvStart!();
  }
}
