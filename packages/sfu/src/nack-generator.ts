// NackGenerator: which sequence numbers of one received RTP stream (one SSRC) to ask the publisher
// for again (RFC 4585 generic NACK, written by rtcp-writer.ts). Replaces werift's NackHandler, which
// keeps one sequence space per receiver (simulcast SSRCs interleaved looked like constant loss) and
// runs per packet through its event objects. Per packet: a number compare, plus a map entry per
// missing number when a hole opens. The transport's timer collects what is due every
// NACK_INTERVAL_MS:
//   - a missing number is asked for at the next collection, then again every RETRY_INTERVAL_MS,
//     at most MAX_RETRIES times, and forgotten after MAX_AGE_MS or when it falls more than
//     MAX_DISTANCE behind the highest sequence number;
//   - a jump of more than MAX_JUMP is not a loss but a restart: everything missing is forgotten;
//   - at most MAX_MISSING numbers are kept (the oldest go first).

/** How often the transport collects due NACKs (ms). */
export const NACK_INTERVAL_MS = 25;
/** A number asked for is asked for again after this long without it (ms): about a round trip. */
export const RETRY_INTERVAL_MS = 100;
/** Requests per missing number. */
export const MAX_RETRIES = 10;
/** A missing number older than this (ms) is of no use any more (its frame is long due). */
export const MAX_AGE_MS = 1000;
/** A number this far behind the highest is forgotten. */
export const MAX_DISTANCE = 1000;
/** A jump forward larger than this is a restart, not loss. */
export const MAX_JUMP = 1000;
/** Most missing numbers kept. */
export const MAX_MISSING = 500;

interface Missing {
  /** When the hole was seen (ms). */
  since: number;
  /** When it was last asked for (ms), -Infinity: not yet. */
  asked: number;
  tries: number;
}

export class NackGenerator {
  readonly ssrc: number;
  /** Sequence numbers asked for (each request of each number counts). */
  requested = 0;
  /** Missing numbers that arrived later (by retransmission or reordering). */
  recovered = 0;
  /** Missing numbers given up (too many tries, too old, or too far behind). */
  abandoned = 0;
  #highest = -1;
  /** Insertion order is sequence order (holes are added as they open), so the oldest come first. */
  readonly #missing = new Map<number, Missing>();

  constructor(ssrc: number) {
    this.ssrc = ssrc >>> 0;
  }

  /** Missing numbers waiting (for tests and dump). */
  get missingCount(): number {
    return this.#missing.size;
  }

  /** One received packet's sequence number (media, or unwrapped from RTX). `now` in ms. */
  receive(seq: number, now: number): void {
    const highest = this.#highest;
    if (highest < 0) {
      this.#highest = seq;
      return;
    }
    const delta = (seq - highest) & 0xffff;
    if (delta === 0) return;
    if (delta < 0x8000) {
      this.#highest = seq;
      if (delta > MAX_JUMP) {
        this.abandoned += this.#missing.size;
        this.#missing.clear();
        return;
      }
      for (let s = (highest + 1) & 0xffff; s !== seq; s = (s + 1) & 0xffff) {
        this.#missing.set(s, { since: now, asked: -Infinity, tries: 0 });
      }
      while (this.#missing.size > MAX_MISSING) this.#forgetOldest();
      return;
    }
    // Older than the highest: a hole filled.
    if (this.#missing.size > 0 && this.#missing.delete(seq)) this.recovered++;
  }

  #forgetOldest(): void {
    const first = this.#missing.keys().next();
    if (!first.done) {
      this.#missing.delete(first.value);
      this.abandoned++;
    }
  }

  /**
   * Appends the numbers due now to `out` (oldest first) and notes them as asked; forgets those
   * that are too old, tried too often or too far behind. Returns how many were appended.
   */
  collect(now: number, out: number[]): number {
    if (this.#missing.size === 0) return 0;
    let n = 0;
    const highest = this.#highest;
    for (const [seq, m] of this.#missing) {
      if (now - m.since > MAX_AGE_MS || m.tries >= MAX_RETRIES || ((highest - seq) & 0xffff) > MAX_DISTANCE) {
        this.#missing.delete(seq);
        this.abandoned++;
        continue;
      }
      if (now - m.asked < RETRY_INTERVAL_MS) continue;
      m.asked = now;
      m.tries++;
      out.push(seq);
      n++;
    }
    this.requested += n;
    return n;
  }
}
