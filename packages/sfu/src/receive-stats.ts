// ReceiveStats: RFC 3550 receive statistics of one RTP stream (one SSRC) a publisher sends us, for
// our receiver reports (rtcp-writer.ts) and Producer.getStats. What werift's receiver kept per
// SSRC, done per packet with plain number fields:
//   - the extended highest sequence number (A.1: 16-bit cycles counted; a jump of more than
//     MAX_DROPOUT restarts the stream once a second packet confirms it);
//   - packets received, cumulative lost (expected − received) and the fraction lost since the last
//     report (A.3);
//   - interarrival jitter in RTP timestamp units (A.8), from packets' arrival times;
//   - the last sender report's compact NTP time and when it came, for LSR/DLSR (6.4.1).

/** A jump of at most this many sequence numbers is taken as loss (A.1's MAX_DROPOUT). */
export const MAX_DROPOUT = 3000;
/** Packets this far behind the highest are old duplicates/reorderings (A.1's MAX_MISORDER). */
export const MAX_MISORDER = 100;

/** One RFC 3550 report block, as rtcp-writer.ts writes it. */
export interface ReportBlock {
  ssrc: number;
  /** 8-bit fixed point (lost/expected × 256) since the previous report. */
  fractionLost: number;
  /** Signed 24-bit: expected − received since the start. */
  packetsLost: number;
  /** Cycles × 65536 + highest sequence number. */
  highestSequence: number;
  /** Interarrival jitter, RTP timestamp units. */
  jitter: number;
  /** Middle 32 bits of the last SR's NTP time, 0 without one. */
  lsr: number;
  /** Delay since that SR, 1/65536 s units, 0 without one. */
  dlsr: number;
}

export class ReceiveStats {
  readonly ssrc: number;
  readonly clockRate: number;
  /** Packets received (duplicates and retransmissions included, as RFC 3550 counts them). */
  packets = 0;
  #started = false;
  #baseSeq = 0;
  #maxSeq = 0;
  #cycles = 0;
  /** The sequence number a big jump would continue from (A.1's bad_seq), -1: none pending. */
  #badSeq = -1;
  #expectedPrior = 0;
  #receivedPrior = 0;
  /** RTP units, kept as a float (the report floors it). */
  #jitter = 0;
  #lastTransit = 0;
  #haveTransit = false;
  #lsr = 0;
  #srArrival = -1;

  constructor(ssrc: number, clockRate: number) {
    this.ssrc = ssrc >>> 0;
    this.clockRate = clockRate;
  }

  /**
   * One received packet. `arrival` in ms (performance.now()). `retransmission`: the packet was
   * unwrapped from RTX; it counts as received but says nothing about jitter.
   */
  receive(seq: number, timestamp: number, arrival: number, retransmission = false): void {
    if (!this.#started) {
      this.#started = true;
      this.#restart(seq);
    } else {
      const delta = (seq - this.#maxSeq) & 0xffff;
      if (delta === 0) {
        // a duplicate: counted, nothing else
      } else if (delta < MAX_DROPOUT) {
        if (seq < this.#maxSeq) this.#cycles += 0x10000;
        this.#maxSeq = seq;
        this.#badSeq = -1;
      } else if (delta <= 0x10000 - MAX_MISORDER) {
        // A big jump: the stream restarted (or a burst of garbage). Take it only when the next
        // packet follows it; until then it does not count.
        if (seq === this.#badSeq) {
          this.#restart(seq);
        } else {
          this.#badSeq = (seq + 1) & 0xffff;
          return;
        }
      }
      // else: an old or reordered packet, counted as received.
    }
    this.packets++;
    if (retransmission) return;
    // A.8: transit time difference in RTP units, smoothed by 1/16.
    const transit = (arrival * this.clockRate) / 1000 - timestamp;
    if (this.#haveTransit) {
      let d = transit - this.#lastTransit;
      // Timestamps wrap at 2^32: take the short way round.
      if (d > 0x80000000) d -= 0x100000000;
      else if (d < -0x80000000) d += 0x100000000;
      if (d < 0) d = -d;
      this.#jitter += (d - this.#jitter) / 16;
    }
    this.#lastTransit = transit;
    this.#haveTransit = true;
  }

  #restart(seq: number): void {
    this.#baseSeq = seq;
    this.#maxSeq = seq;
    this.#cycles = 0;
    this.#badSeq = -1;
    this.packets = 0;
    this.#expectedPrior = 0;
    this.#receivedPrior = 0;
  }

  /** The sender's RTCP SR for this SSRC: the middle 32 bits of its NTP time, and when it came (ms). */
  senderReport(compactNtp: number, arrival: number): void {
    this.#lsr = compactNtp >>> 0;
    this.#srArrival = arrival;
  }

  get started(): boolean {
    return this.#started;
  }

  get extendedHighestSequence(): number {
    return this.#cycles + this.#maxSeq;
  }

  get expected(): number {
    return this.#started ? this.extendedHighestSequence - this.#baseSeq + 1 : 0;
  }

  /** Cumulative lost, clamped to the 24-bit signed field (negative with duplicates). */
  get packetsLost(): number {
    return Math.max(-0x800000, Math.min(0x7fffff, this.expected - this.packets));
  }

  /** Interarrival jitter, RTP units (the float RFC 3550's integer is the floor of). */
  get jitter(): number {
    return this.#jitter;
  }

  /**
   * Fills a report block and starts the next fraction-lost interval (A.3). `now` in ms.
   */
  report(now: number, out: ReportBlock): ReportBlock {
    const expected = this.expected;
    const expectedInterval = expected - this.#expectedPrior;
    const receivedInterval = this.packets - this.#receivedPrior;
    this.#expectedPrior = expected;
    this.#receivedPrior = this.packets;
    const lostInterval = expectedInterval - receivedInterval;
    out.ssrc = this.ssrc;
    out.fractionLost = expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    out.packetsLost = this.packetsLost;
    out.highestSequence = this.extendedHighestSequence >>> 0;
    out.jitter = Math.floor(this.#jitter) >>> 0;
    if (this.#srArrival >= 0) {
      out.lsr = this.#lsr;
      out.dlsr = Math.max(0, Math.min(0xffffffff, Math.floor(((now - this.#srArrival) / 1000) * 65536)));
    } else {
      out.lsr = 0;
      out.dlsr = 0;
    }
    return out;
  }
}

/** The middle 32 bits of a 64-bit NTP timestamp (RFC 3550 4: LSR's format). */
export function compactNtpOf(ntp: bigint): number {
  return Number((ntp >> 16n) & 0xffffffffn);
}
