// The SRTP packet index (RFC 3711 §3.3.1 and Appendix A): the 16-bit RTP sequence number extended
// by a rollover counter (ROC) to 48 bits. Both directions guess it the same way, relative to the
// highest sequence number seen (s_l), so that reordered packets and retransmissions of old ones
// (NACK answers) near the wrap get the ROC they were first sent with.

export class RolloverCounter {
  #started = false;
  /** ROC of the highest packet. */
  #roc = 0;
  /** s_l: the highest sequence number seen. */
  #highestSeq = 0;

  get roc(): number {
    return this.#roc;
  }

  get highestSeq(): number {
    return this.#highestSeq;
  }

  /**
   * The 48-bit index of a packet with this sequence number (Appendix A), or -1 if it would be from
   * before the stream's first packet (ROC - 1 with ROC = 0). Does not change state: call
   * update() once the packet is accepted.
   */
  estimate(seq: number): number {
    if (!this.#started) return seq; // the first packet fixes s_l; its ROC is 0 (RFC 3711 §3.3.1)
    const sl = this.#highestSeq;
    let v = this.#roc;
    if (sl < 0x8000) {
      if (seq - sl > 0x8000) v = this.#roc - 1;
    } else if (sl - 0x8000 > seq) {
      v = this.#roc + 1;
    }
    if (v < 0) return -1;
    return v * 0x10000 + seq;
  }

  /** Records an accepted packet's index (from estimate()): advances s_l and the ROC. */
  update(index: number): void {
    const roc = Math.floor(index / 0x10000);
    const seq = index % 0x10000;
    if (!this.#started) {
      this.#started = true;
      this.#roc = roc;
      this.#highestSeq = seq;
      return;
    }
    if (roc > this.#roc || (roc === this.#roc && seq > this.#highestSeq)) {
      this.#roc = roc;
      this.#highestSeq = seq;
    }
  }

  /** Sets the state outright (a stream whose ROC is signalled, e.g. in tests or after a re-key). */
  reset(roc: number, highestSeq: number): void {
    this.#started = true;
    this.#roc = roc >>> 0;
    this.#highestSeq = highestSeq & 0xffff;
  }
}
