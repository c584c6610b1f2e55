// A token bucket: `capacity` tokens, refilled at `ratePerSecond`. Used for the per-connection
// signal rate limit; time is passed in so tests need no clock tricks.

export class TokenBucket {
  readonly capacity: number;
  readonly ratePerSecond: number;
  #tokens: number;
  #updatedAt: number;

  constructor(capacity: number, ratePerSecond: number, now = Date.now()) {
    this.capacity = capacity;
    this.ratePerSecond = ratePerSecond;
    this.#tokens = capacity;
    this.#updatedAt = now;
  }

  /** Takes one token if there is one; false means the caller is over its rate. */
  take(now = Date.now()): boolean {
    const elapsed = Math.max(0, now - this.#updatedAt) / 1000;
    this.#tokens = Math.min(this.capacity, this.#tokens + elapsed * this.ratePerSecond);
    this.#updatedAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
