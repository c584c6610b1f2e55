// Admits joins (signaling `connect`) at a bounded rate across the server. A join costs a token
// check, a database read and a connect reply listing the session; thousands arriving in the same
// second (a webinar starting) would stall every other socket's messages for as long. Joins over the
// rate are not refused: they wait in order, and go when the bucket refills.

import { TokenBucket } from '../sessions/token-bucket.js';

export class JoinAdmission {
  readonly #bucket: TokenBucket;
  readonly #queue: Array<() => void> = [];
  #queueHead = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /** `perSecond` joins a second, in bursts of at most one second's worth. */
  constructor(perSecond: number) {
    this.#bucket = new TokenBucket(perSecond, perSecond);
  }

  /** Joins waiting now (for tests and metrics). */
  get waiting(): number {
    return this.#queue.length - this.#queueHead;
  }

  /** Runs `join` now if the rate allows and nobody waits, else when its turn comes. */
  admit(join: () => void): void {
    if (this.#closed) return;
    if (this.waiting === 0 && this.#bucket.take()) {
      join();
      return;
    }
    this.#queue.push(join);
    this.#schedule();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#queue.length = 0;
    this.#queueHead = 0;
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    // One token's worth of time, at least a millisecond: the drain runs many joins per tick at high rates.
    this.#timer = setTimeout(() => this.#drain(), Math.max(1, Math.ceil(1000 / this.#bucket.ratePerSecond)));
  }

  #drain(): void {
    this.#timer = undefined;
    while (this.waiting > 0 && this.#bucket.take()) {
      const join = this.#queue[this.#queueHead]!;
      this.#queue[this.#queueHead++] = noop;
      join();
    }
    if (this.waiting === 0) {
      this.#queue.length = 0;
      this.#queueHead = 0;
    } else {
      this.#schedule();
    }
  }
}

function noop(): void {}
