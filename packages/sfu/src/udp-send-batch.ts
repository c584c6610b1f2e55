// UdpSendBatch: the datagrams the SFU sends while it handles one batch of received ones leave
// together, with one sendmmsg() per socket (native udpSendMany) instead of one sendto() each.
//
// A video frame arrives as a burst of packets that the batched receiver (udp-receiver.ts) reads
// with one recvmmsg(); each packet is forwarded to every consumer of its producer. Sent one by
// one, a 1→1 call at 1.5 Mbps made ~230 sendto() a second, each a system call (costly on a
// virtual machine) and, on loopback, a wake-up of the receiver per packet. Queued while the batch
// is handled and sent when it ends, one frame to one subscriber is one system call, and a frame
// to N subscribers on the one-port mux is one as well.
//
// Only the native send path queues (srtp-path.ts: SRTP protected straight into a slot here). A
// datagram that cannot leave at the flush (EAGAIN: the socket's buffer is full) goes back to its
// sender, which sends it and the rest of its socket's, in order, through Node's queued send.

import { nativePacket, type NativeHandle, type NativePacket } from './native.js';

/** Datagrams one batch queues before it is flushed early. */
export const SEND_BATCH_SLOTS = 64;
/** Bytes per slot: a datagram of the SFU's MTU with SRTP's overhead fits. */
export const SEND_SLOT_BYTES = 2048;
const META = 3;

/** Who queued a datagram: told when it could not leave. */
export interface BatchedSender {
  /** `datagram` (a view valid only during the call) could not be sent: -errno as sendmmsg() gave it. */
  sendFailed(datagram: Buffer, errno: number): void;
}

export class UdpSendBatch {
  readonly #native: NativePacket;
  readonly #ring = Buffer.alloc(SEND_BATCH_SLOTS * SEND_SLOT_BYTES);
  /** One view per slot, made once. */
  readonly #slots: Buffer[] = [];
  readonly #meta = new Int32Array(SEND_BATCH_SLOTS * META);
  readonly #addresses: NativeHandle[] = [];
  readonly #senders: BatchedSender[] = [];
  #count = 0;
  #depth = 0;
  /** Flushes (system-call rounds) and the datagrams they carried, for dumps and benchmarks. */
  flushes = 0;
  datagrams = 0;

  constructor(native: NativePacket) {
    this.#native = native;
    for (let i = 0; i < SEND_BATCH_SLOTS; i++) this.#slots.push(this.#ring.subarray(i * SEND_SLOT_BYTES, (i + 1) * SEND_SLOT_BYTES));
  }

  /** True between begin() and its end(): sends may queue. */
  get open(): boolean {
    return this.#depth > 0;
  }

  /** Sends queue from now until the matching end(). Nests. */
  begin(): void {
    this.#depth++;
  }

  /** Ends what begin() opened; the outermost end sends what was queued. */
  end(): void {
    if (this.#depth === 0) return;
    if (--this.#depth === 0) this.flush();
  }

  /** The slot the next queued datagram is written into (SEND_SLOT_BYTES long). */
  nextSlot(): Buffer {
    return this.#slots[this.#count]!;
  }

  /** Queues the `length` bytes written into nextSlot(), for `fd` to `address`. */
  queue(fd: number, address: NativeHandle, length: number, sender: BatchedSender): void {
    const i = this.#count;
    this.#meta[i * META] = fd;
    this.#meta[i * META + 1] = length;
    this.#addresses[i] = address;
    this.#senders[i] = sender;
    this.#count = i + 1;
    if (this.#count === SEND_BATCH_SLOTS) this.flush();
  }

  /** Sends what is queued now (each socket's datagrams in their order). */
  flush(): void {
    const count = this.#count;
    if (count === 0) return;
    this.#count = 0;
    this.#addresses.length = count;
    const sent = this.#native.udpSendMany(this.#ring, this.#meta, count, this.#addresses, SEND_SLOT_BYTES);
    this.flushes++;
    this.datagrams += count;
    if (sent < count) {
      for (let i = 0; i < count; i++) {
        const result = this.#meta[i * META + 2]!;
        if (result < 0) this.#senders[i]!.sendFailed(this.#slots[i]!.subarray(0, this.#meta[i * META + 1]!), result);
      }
    }
    this.#addresses.length = 0;
    this.#senders.length = 0;
  }
}

/** This thread's send batch, or null where the native module (or its udpSendMany) is not built. */
export const sendBatch: UdpSendBatch | null = nativePacket !== null && typeof nativePacket.udpSendMany === 'function' ? new UdpSendBatch(nativePacket) : null;
