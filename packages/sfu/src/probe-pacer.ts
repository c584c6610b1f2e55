// One downlink probe, sized by bytes: a probe at `rate` bits/s for `durationMs` sends rate ×
// duration in all, media and padding together (everything numbered while it runs belongs to its
// cluster), paced by the clock in slices: at each slice the padding tops up what the cluster has
// sent so far to what the clock says is owed. A timer that fires late (a busy event loop) catches
// up instead of sending less, and a probe never sends more than its bytes however late its last
// slice runs. Pure arithmetic; the subscriber transport drives it (subscriber-transport.ts).
//
// Before, the padding rate was fixed at the start from the media's measured rate (counted at half,
// with a floor of half the probe rate), and probes went out well under their target: 511–550 kbps
// for 688, 419 for 819, 733 for 1188 in the impairment bench; each read as a failure on a free
// link, and the better layer waited for the next probe.

export class ProbePacer {
  /** The bytes the whole probe sends, media and padding. */
  readonly totalBytes: number;
  #sentBytes = 0;

  constructor(
    /** The probe's rate in bits per second, media and padding together. */
    readonly rate: number,
    readonly durationMs: number,
    readonly startedAt: number,
    /** Bytes one padding packet takes, as the estimator counts them. */
    readonly packetBytes: number,
  ) {
    this.totalBytes = Math.max(0, Math.round((rate * durationMs) / 8000));
  }

  /** The padding bytes sent so far. */
  get sentBytes(): number {
    return this.#sentBytes;
  }

  /**
   * Whether the probe's time is over (no more padding after this). `clusterBytes`: everything the
   * probe's cluster has sent so far (default: its padding alone).
   */
  done(now: number, clusterBytes = this.#sentBytes): boolean {
    return now - this.startedAt >= this.durationMs || clusterBytes + this.packetBytes / 2 > this.totalBytes;
  }

  /**
   * How many padding packets to send now: what the clock says is owed by `now` (rate × elapsed),
   * less what the cluster sent (`clusterBytes`, media included; default: the padding alone),
   * rounded to whole packets (the last one only if at least half of it is owed).
   */
  packetsDue(now: number, clusterBytes = this.#sentBytes): number {
    const elapsed = Math.min(Math.max(0, now - this.startedAt), this.durationMs);
    const owed = Math.min(this.totalBytes, (this.rate * elapsed) / 8000) - clusterBytes;
    return owed <= 0 ? 0 : Math.floor(owed / this.packetBytes + 0.5);
  }

  /** Records padding that went out. */
  sent(bytes: number): void {
    this.#sentBytes += bytes;
  }
}

/** Probe timing, in ms. */
export const PROBE_MIN_INTERVAL_MS = 2000;
/**
 * The longest wait after probes that fell short, with video on. A subscriber held on a low layer by
 * a limit only learns that the limit lifted from a probe, so this bounds how long the better layer
 * takes to come back: at 16 s the top layer came back a median 23.9 s after a lift in the
 * impairment bench (10 s wanted); at 5 s (libwebrtc's periodic probing in an application-limited
 * state) 6.9–11 s, of which up to 5 s waiting for the first probe. 3 s since a probe that falls
 * short costs the media nothing (bandwidth-estimator.ts: its saturation leaves the media 95 % of
 * the link it showed): ~10 kB of padding every 3 s.
 */
export const PROBE_MAX_INTERVAL_MS = 3000;
/** While a video is off for quality: a probe this often (no backing off), so it is back within seconds of the link. */
export const PROBE_OFF_INTERVAL_MS = 2500;
/** After a probe that succeeded, the next step's probe this soon (climbing back to the top layer a layer at a time). */
export const PROBE_STEP_INTERVAL_MS = 1000;
/**
 * After one that showed far more than the estimate (a limit lifted: the downlink climbs, each
 * probe testing twice the estimate), the next this soon: its read already waited for the
 * feedback (PROBE_SETTLE_MS), and a second's pause per doubling was most of the climb back from
 * three 320 px streams to three 720p ones (~0.5 to 6.5 Mbps, four doublings): the third stream's
 * top layer came back 12–14 s after a lift in the 3x4 impairment bench (10 s wanted).
 */
export const PROBE_CLIMB_INTERVAL_MS = 250;
/** No probe this soon after a decrease (overuse or saturation): the queue it found is still draining. */
export const PROBE_AFTER_DECREASE_MS = 1500;

/**
 * When the next probe may start. A probe that succeeded: the next step soon after; one that fell
 * short: the wait doubles (2 s, then 3 s: PROBE_MAX_INTERVAL_MS), except while a video is off for quality, where probes
 * keep coming every PROBE_OFF_INTERVAL_MS from the start of the last one.
 */
export class ProbeScheduler {
  #nextAt = 0;
  #interval = PROBE_MIN_INTERVAL_MS;

  get nextAt(): number {
    return this.#nextAt;
  }

  /**
   * Whether to probe now: more is `wanted` (bits/s, null: nothing) than the `estimate`, it is
   * time, the estimator is not overusing, and its last decrease is PROBE_AFTER_DECREASE_MS old.
   */
  due(now: number, wanted: number | null, estimate: number, overusing: boolean, lastDecreaseAt: number): boolean {
    if (wanted === null || wanted <= estimate || now < this.#nextAt) return false;
    return !overusing && now - lastDecreaseAt >= PROBE_AFTER_DECREASE_MS;
  }

  /** The next probe (a confirmation of one that just succeeded) may start at `at`. */
  confirmAt(at: number): void {
    this.#nextAt = at;
  }

  /** A probe started at `startedAt` was read at `now`: `succeeded` (and `climbing`: showing far more than the estimate), and whether a video was off for quality. */
  finished(now: number, startedAt: number, succeeded: boolean, off: boolean, climbing = false): void {
    if (succeeded) {
      this.#interval = PROBE_MIN_INTERVAL_MS;
      this.#nextAt = now + (climbing ? PROBE_CLIMB_INTERVAL_MS : PROBE_STEP_INTERVAL_MS);
      return;
    }
    this.#interval = Math.min(this.#interval * 2, PROBE_MAX_INTERVAL_MS);
    this.#nextAt = off ? Math.max(now, startedAt + PROBE_OFF_INTERVAL_MS) : now + this.#interval;
  }
}

/**
 * The rate a probe tests (bits/s) for a step that needs `wanted` in all: 1.1 × that (while a
 * video is off, what its lowest layer and the audio need). Tried and dropped: twice the step over
 * what flows (libwebrtc's 2×), for loaded receivers that read probes at ~70 %: on a 300 kbps link
 * its 1.2 Mbps probes for layer 1 dropped audio, and three runs in a row lost the publisher's top
 * layer meanwhile. A probe that shows the step's need is a success all the same (subscriber-transport.ts).
 */
export function probeRate(wanted: number): number {
  return wanted * 1.1;
}
