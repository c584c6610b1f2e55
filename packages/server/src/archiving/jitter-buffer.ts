// A small jitter buffer for one RTP stream: puts packets back in sequence order, waits a bounded
// time for a missing one (a retransmission may still come), then reports the gap and moves on.
// Duplicates and packets older than what was already released are dropped.

/** The parts of an RTP packet the recorder keeps (its own copy of the payload). */
export interface RtpInput {
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  payload: Buffer;
}

export interface JitterBufferOptions {
  /** How long a packet may wait for the ones before it, in ms (default 150). */
  latencyMs?: number;
  /** Most packets held at once; past this the oldest gap is given up at once (default 512). */
  maxPackets?: number;
  /** Called with each packet, in order. */
  onPacket: (packet: RtpInput) => void;
  /** Called when `count` packets are given up as lost, before the packet after them. */
  onLoss: (count: number) => void;
}

interface Held {
  packet: RtpInput;
  arrivedAt: number;
}

/** A jump larger than this is a new sequence space (sender restarted), not loss to wait for. */
const RESET_JUMP = 3000;

export class JitterBuffer {
  readonly #latencyMs: number;
  readonly #maxPackets: number;
  readonly #onPacket: (packet: RtpInput) => void;
  readonly #onLoss: (count: number) => void;
  readonly #held = new Map<number, Held>();
  /** Extended sequence number of the next packet to release; -1 before the first packet. */
  #next = -1;
  /** Highest extended sequence number seen. */
  #highest = -1;
  packetsLost = 0;
  packetsDropped = 0;

  constructor(options: JitterBufferOptions) {
    this.#latencyMs = options.latencyMs ?? 150;
    this.#maxPackets = options.maxPackets ?? 512;
    this.#onPacket = options.onPacket;
    this.#onLoss = options.onLoss;
  }

  get size(): number {
    return this.#held.size;
  }

  push(packet: RtpInput, now: number): void {
    if (this.#next < 0) {
      this.#next = packet.sequenceNumber;
      this.#highest = packet.sequenceNumber;
    }
    // Unwrap the 16-bit sequence number against the highest seen.
    const delta = ((packet.sequenceNumber - (this.#highest & 0xffff) + 0x8000) & 0xffff) - 0x8000;
    const ext = this.#highest + delta;
    if (Math.abs(ext - this.#next) > RESET_JUMP) {
      this.#releaseAll();
      this.#next = ext;
      this.#highest = ext;
    }
    if (ext < this.#next || this.#held.has(ext)) {
      this.packetsDropped++;
      return;
    }
    if (ext > this.#highest) this.#highest = ext;
    this.#held.set(ext, { packet, arrivedAt: now });
    this.#release();
    if (this.#held.size > this.#maxPackets) this.#skipGap();
    else this.tick(now);
  }

  /** Gives up on gaps whose following packets have waited longer than the latency. */
  tick(now: number): void {
    while (this.#held.size > 0) {
      let oldest = Infinity;
      for (const held of this.#held.values()) if (held.arrivedAt < oldest) oldest = held.arrivedAt;
      if (now - oldest < this.#latencyMs) return;
      this.#skipGap();
    }
  }

  /** Releases everything held, in order, reporting the gaps (at stop). */
  drain(): void {
    this.#releaseAll();
  }

  #releaseAll(): void {
    while (this.#held.size > 0) this.#skipGap();
  }

  #skipGap(): void {
    let first = Infinity;
    for (const key of this.#held.keys()) if (key < first) first = key;
    if (first === Infinity) return;
    if (first > this.#next) {
      const lost = first - this.#next;
      this.packetsLost += lost;
      this.#next = first;
      this.#onLoss(lost);
    }
    this.#release();
  }

  #release(): void {
    let held = this.#held.get(this.#next);
    while (held) {
      this.#held.delete(this.#next);
      this.#next++;
      this.#onPacket(held.packet);
      held = this.#held.get(this.#next);
    }
  }
}
