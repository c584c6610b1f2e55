// A simulated bottleneck for the downlink's tests on numbers (bandwidth-estimator.test.ts,
// downlink-loop.test.ts): a rate limiter as tc's tbf, no network.

/**
 * A rate limiter with a token bucket (as tbf): `burst` bytes of tokens fill at `rate` bits/s; a
 * packet leaves once the tokens cover it (at once, at line rate, while they last), FIFO, dropped
 * when it would wait over `queueMs`.
 */
export class BucketLink {
  #tokens: number;
  #at = 0;
  constructor(
    public rate: number,
    readonly burst = 3200,
    readonly delay = 20,
    readonly queueMs = 300,
  ) {
    this.#tokens = burst;
  }
  send(t: number, size: number): number | null {
    const start = Math.max(t, this.#at);
    const tokens = Math.min(this.burst, this.#tokens + ((start - this.#at) * this.rate) / 8000);
    const leave = tokens >= size ? start : start + ((size - tokens) * 8000) / this.rate;
    if (leave - t > this.queueMs) return null;
    this.#tokens = Math.max(0, tokens - size + ((leave - start) * this.rate) / 8000);
    this.#at = leave;
    return leave + this.delay;
  }
}
