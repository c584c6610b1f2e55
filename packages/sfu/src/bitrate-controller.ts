// How much a publisher may send, told to its browser by REMB. Chromium obeys REMB as an upper
// bound and, in its first two seconds without loss, jumps to it.
// - 'remb' (the default): no transport feedback; the REMB estimate is the cap unless the
//   publisher's uplink shows loss, then it backs off to what actually arrives, and climbs back 8 %
//   per interval. Chromium's loss-based estimate alone backs off only on > 10 % loss.
// - 'transport-cc' (COLLOQUY_UPLINK_ESTIMATION=transport-cc): we send transport-wide feedback
//   (transport-feedback-writer.ts) and Chromium's own send-side estimator finds the real uplink;
//   REMB only carries the session cap. Behind a limited link it loses almost nothing where 'remb'
//   loses 16-24 %, but Chromium then encodes at about half its estimate, and on a loaded test
//   machine the routed media tests started at the low layer or stalled more often (1 of 4 and 1 of
//   2 runs against 0 of 4): not the default until that is understood (README.md).

/** How a publisher's browser learns its uplink: see above. */
export type UplinkEstimation = 'transport-cc' | 'remb';
export const UPLINK_ESTIMATIONS: readonly UplinkEstimation[] = ['transport-cc', 'remb'];

export const REMB_INTERVAL_MS = 500;
/** Never tell a browser less than this: below it video is not worth sending. */
export const MIN_BITRATE = 100_000;
const HIGH_LOSS = 0.1;
const LOW_LOSS = 0.02;

export class BitrateController {
  #max: number;
  #estimate: number;

  constructor(max: number) {
    this.#max = max;
    this.#estimate = max;
  }

  get max(): number {
    return this.#max;
  }

  set max(bps: number) {
    this.#max = Math.max(MIN_BITRATE, Math.round(bps));
    this.#estimate = Math.min(this.#estimate, this.#max);
  }

  /** The value last sent (or to send) in REMB, in bits per second. */
  get estimate(): number {
    return this.#estimate;
  }

  /**
   * One step per REMB interval. `incoming` is what arrived (bits/s), `loss` the worst video loss
   * fraction seen over the interval.
   */
  update(incoming: number, loss: number, _now: number): number {
    if (loss > HIGH_LOSS && incoming > 0) {
      // Loss-based back-off as in RFC 8698 / GCC: keep half a loss's worth below what gets through.
      this.#estimate = Math.max(MIN_BITRATE, Math.min(this.#estimate, Math.round(incoming * (1 - 0.5 * loss))));
    } else if (loss < LOW_LOSS) {
      this.#estimate = Math.min(this.#max, Math.round(this.#estimate * 1.08) + 1000);
    }
    return this.#estimate;
  }
}
