// How much a publisher may send, told to its browser by REMB. Chromium obeys REMB as an upper
// bound and, in its first two seconds without loss, jumps to it.
// - 'remb' (COLLOQUY_UPLINK_ESTIMATION=remb): no transport feedback; REMB carries the cap and backs
//   off on loss (the loss-only rule at the end of this list).
// - 'remb-delay' (COLLOQUY_UPLINK_ESTIMATION=remb-delay): a delay-based REMB from our own arrival
//   times (the kernel's receive timestamps, udp-receiver.ts). Behind a shallow (50 ms) queue it
//   sees no standing queue and loses 4–17 %: not the default.
//   Every packet carries the publisher's abs-send-time; its one-way delay (our arrival time less
//   its send time, in no common clock) is taken per 100 ms of arrivals at its minimum (a Node
//   event-loop stall delays some packets of a bucket, not the last ones read after it), less the
//   lowest of the last 20 s: the queue at the bottleneck. The standing queue is the lowest of the
//   last four buckets (a big frame, paced out at 2.5 × the target, queues for a moment and drains
//   before the next). Past QUEUE_HIGH_MS the estimate is cut at once (REMB sent then, not at the
//   next interval) to the lower of 0.9 × itself and 1.05 × what arrives, and again only if the
//   queue grows further or has not drained for 1.5 s; under QUEUE_LOW_MS it grows 8 % per
//   interval back towards where the link was last found full, 2 % past it, never past 1.5 × what
//   arrives unless a simulcast layer waits to turn on; between, it holds.
//   It starts at 1 Mbps (or the cap if lower), not at the cap. The cut stays above what arrives
//   because Chromium encodes below a REMB (its encoder target is 0.73–0.92 of it depending on the
//   picture, measured), so the rate sent after a cut is ~0.8 × the link and the queue drains. Loss above 10 % still backs it off to what arrives less half the
//   loss, at most halving per interval and not within 2 s of a delay-based cut (that loss is the
//   overflow the cut answered); that loss is the worse of the producers' (after NACK repairs) and
//   the wire's (sequence numbers skipped per SSRC). Without abs-send-time: the old loss-only rule,
//   the cap, backing off on loss, climbing 8 % per interval below 2 % loss, which overshot an
//   800 kbps link in a sawtooth losing 13–19 % of what was sent; it is also what 'remb' does.
// - 'transport-cc' (the default, DEFAULT_UPLINK_ESTIMATION): we send transport-wide feedback
//   (transport-feedback-writer.ts) and Chromium's own send-side estimator finds the real uplink;
//   REMB only carries the session cap. Behind a limited link it loses almost nothing, but its
//   delay-based decreases go to 0.85 × what arrived and Chromium encodes at ~0.75 of its estimate,
//   so the rate sits at 55–75 % of the link after each one (README.md).

/** How a publisher's browser learns its uplink: see above. */
export type UplinkEstimation = 'transport-cc' | 'remb' | 'remb-delay';
export const UPLINK_ESTIMATIONS: readonly UplinkEstimation[] = ['transport-cc', 'remb', 'remb-delay'];
/**
 * The default: Chromium's own estimator on our transport feedback. Behind a limited uplink it
 * loses almost nothing at every queue depth measured (50, 300, 1000 ms), where the delay-based
 * REMB lost 12–17 % behind a 50 ms queue and the loss-only REMB 11–26 % everywhere; it sends less
 * than the delay-based REMB behind a deep queue (README.md, "Uplink (publishers)").
 */
export const DEFAULT_UPLINK_ESTIMATION: UplinkEstimation = 'transport-cc';

export const REMB_INTERVAL_MS = 500;
/** Never tell a browser less than this: below it video is not worth sending. */
export const MIN_BITRATE = 100_000;
const HIGH_LOSS = 0.1;
const LOW_LOSS = 0.02;
/** Delay-based REMB: arrivals are judged per bucket of this length (their lowest one-way delay). */
const BUCKET_MS = 100;
/** The one-way delay with no queue: the lowest over this long. */
const BASE_WINDOW_MS = 20_000;
/** The standing queue is the lowest over this many buckets. */
const STANDING_BUCKETS = 4;
/** A standing queue this deep (ms): cut. */
const QUEUE_HIGH_MS = 30;
/** Below this (ms) the link has room: grow. */
const QUEUE_LOW_MS = 10;
/** Cuts are this far apart at least: time for the browser to act on the last one. */
const CUT_INTERVAL_MS = 400;
/** Before the queue has drained, cut again only if it grew this much (ms) since the last cut, or after RECUT_AFTER_MS. */
const REGROW_MS = 30;
const RECUT_AFTER_MS = 1500;
/** A cut: to at most this share of the estimate, and to at most this multiple of what arrives. */
const CUT_FACTOR = 0.9;
const CUT_ARRIVED_FACTOR = 1.05;
/**
 * Growth stops above this multiple of what arrives (GCC's bound), unless a simulcast layer waits
 * to turn on: see update().
 */
const GROWTH_ARRIVED_FACTOR = 1.5;
/** Growth per interval below QUEUE_LOW_MS. */
const GROWTH = 1.08;
/** Near the level of the last cut (above NEAR_CUT of it, within NEAR_CUT_MS of it) growth is this, per interval. */
const GROWTH_NEAR_CUT = 1.02;
const NEAR_CUT = 0.9;
const NEAR_CUT_MS = 10_000;
/** With a delay signal the estimate starts here (or at the cap if lower) and grows. */
export const DELAY_START_BITRATE = 1_000_000;
/** After a delay-based cut, loss is the queue's overflow that cut answered: no loss back-off for this long. */
const LOSS_AFTER_CUT_MS = 2000;
/** What arrives is measured over this long (our own count: the producers' per-interval rates jump between audio only and twice the video). */
const ARRIVAL_WINDOW_MS = 500;
/** Wire loss (sequence gaps) counts over at least this many packets per interval. */
const WIRE_LOSS_MIN_PACKETS = 20;
/** abs-send-time: 24 bits, 6.18 fixed-point seconds. */
const ABS_SEND_TIME_WRAP = 1 << 24;
const ABS_SEND_TIME_UNITS_PER_MS = (1 << 18) / 1000;

export class BitrateController {
  #max: number;
  #estimate: number;
  // Delay signal (abs-send-time): the send clock unwrapped (ms), the current bucket, the per-bucket
  // lowest delays of the last BASE_WINDOW_MS, and the queue of the last two complete buckets.
  #lastAbs: number | null = null;
  #sendMs = 0;
  #bucket: { start: number; min: number } | null = null;
  #minima: { at: number; min: number }[] = [];
  #queue: number | null = null;
  /** The queue of the last STANDING_BUCKETS buckets (ms). */
  readonly #recent: number[] = [];
  /** The queue when the estimate was last cut for it (null: the queue has drained since). */
  #queueAtCut: number | null = null;
  #lastCut = -Infinity;
  /** The estimate before the last cut: where the link was last found full. */
  #cutFrom = Infinity;
  #delayCuts = 0;
  /** Packets that arrived over the last ARRIVAL_WINDOW_MS (time, bytes), and their sum. */
  readonly #arrivals: { at: number; size: number }[] = [];
  /** Wire loss since the last update(): per SSRC the highest sequence number, packets seen and numbers skipped. */
  readonly #highestSeq = new Map<number, number>();
  #seqReceived = 0;
  #seqSkipped = 0;
  #arrivedBytes = 0;

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

  /** The queue at the bottleneck as last measured (ms), or null without a delay signal yet. */
  get queueMs(): number | null {
    return this.#queue;
  }

  /** What arrived over the last ARRIVAL_WINDOW_MS (bits/s, RTP packets), or 0 without packets. */
  #arrivalRate(): number {
    const a = this.#arrivals;
    if (a.length < 2) return 0;
    const span = Math.max(a[a.length - 1]!.at - a[0]!.at, ARRIVAL_WINDOW_MS / 2);
    return ((this.#arrivedBytes - a[0]!.size) * 8000) / span;
  }

  /** Cuts made on a queue building (each one a REMB sent at once). */
  get delayCuts(): number {
    return this.#delayCuts;
  }

  /**
   * One packet from the publisher: its abs-send-time (the 24-bit header extension value) and when
   * it arrived (performance.now() ms). Returns true when this cut the estimate: send REMB now.
   */
  onPacket(absSendTime: number, arrival: number, size: number, ssrc?: number, seq?: number): boolean {
    if (ssrc !== undefined && seq !== undefined) this.#countSequence(ssrc, seq);
    this.#arrivals.push({ at: arrival, size });
    this.#arrivedBytes += size;
    while (this.#arrivals.length > 1 && arrival - this.#arrivals[0]!.at > ARRIVAL_WINDOW_MS) this.#arrivedBytes -= this.#arrivals.shift()!.size;
    if (this.#lastAbs === null) {
      this.#lastAbs = absSendTime;
      this.#bucket = { start: arrival, min: arrival - this.#sendMs };
      // Start below the cap: from the cap a browser floods a weak uplink for its first second
      // (measured: 1.5–1.9 Mbps into 800 kbps, a 300 ms queue overflowing and a NACK storm after).
      if (this.#estimate > DELAY_START_BITRATE) {
        this.#estimate = DELAY_START_BITRATE;
        return true;
      }
      return false;
    } else {
      let delta = (absSendTime - this.#lastAbs + ABS_SEND_TIME_WRAP) % ABS_SEND_TIME_WRAP;
      if (delta >= ABS_SEND_TIME_WRAP / 2) delta -= ABS_SEND_TIME_WRAP; // reordered: sent before the last one
      this.#sendMs += delta / ABS_SEND_TIME_UNITS_PER_MS;
      this.#lastAbs = absSendTime;
    }
    const delay = arrival - this.#sendMs;
    const bucket = this.#bucket;
    if (bucket !== null && arrival - bucket.start < BUCKET_MS) {
      bucket.min = Math.min(bucket.min, delay);
      return false;
    }
    this.#bucket = { start: arrival, min: delay };
    return bucket === null ? false : this.#closeBucket(bucket, arrival);
  }

  /**
   * Loss on the wire, before retransmission: per SSRC, the sequence numbers skipped when a newer
   * one arrives (a late or retransmitted packet on the same SSRC is not taken back). The
   * producers' loss is counted after NACK repairs, so a link dropping a quarter of what is sent
   * showed a few % there (measured behind a 50 ms tbf queue).
   */
  #countSequence(ssrc: number, seq: number): void {
    const highest = this.#highestSeq.get(ssrc);
    this.#seqReceived++;
    if (highest === undefined) {
      this.#highestSeq.set(ssrc, seq);
      return;
    }
    const delta = (seq - highest + 0x10000) % 0x10000;
    if (delta === 0 || delta >= 0x8000) return; // a duplicate, or older than the highest
    if (delta < 1000) this.#seqSkipped += delta - 1; // a bigger jump is a restart, not loss
    this.#highestSeq.set(ssrc, seq);
  }

  /** A bucket of arrivals is complete: its queue, and a cut if the queue builds. */
  #closeBucket(bucket: { start: number; min: number }, now: number): boolean {
    this.#minima.push({ at: bucket.start, min: bucket.min });
    while (this.#minima.length > 1 && now - this.#minima[0]!.at > BASE_WINDOW_MS) this.#minima.shift();
    let base = Infinity;
    for (const m of this.#minima) base = Math.min(base, m.min);
    // The standing queue: the lowest over the last STANDING_BUCKETS buckets. A big frame (a
    // keyframe, paced out at 2.5 × the target) queues for a moment and drains before the next;
    // only a link that cannot keep up keeps a queue across them (measured: cuts on 60–80 ms
    // single-bucket queues held a 640x360 publisher at 350 kbps behind 800 kbps).
    this.#recent.push(bucket.min - base);
    if (this.#recent.length > STANDING_BUCKETS) this.#recent.shift();
    this.#queue = Math.min(...this.#recent);
    if (this.#queue < QUEUE_LOW_MS) this.#queueAtCut = null;
    const arrived = this.#arrivalRate();
    if (this.#queue < QUEUE_HIGH_MS || now - this.#lastCut < CUT_INTERVAL_MS || arrived <= 0) return false;
    // After a cut the queue takes a while to drain (the browser's encoder and pacer follow REMB
    // within a few hundred ms, then the bottleneck empties at its spare rate): cut again only if
    // it grew since, or has not drained for a while.
    if (this.#queueAtCut !== null && this.#queue < this.#queueAtCut + REGROW_MS && now - this.#lastCut < RECUT_AFTER_MS) return false;
    const target = Math.max(MIN_BITRATE, Math.round(Math.min(this.#estimate * CUT_FACTOR, arrived * CUT_ARRIVED_FACTOR)));
    if (target >= this.#estimate) return false;
    this.#cutFrom = this.#estimate;
    this.#estimate = target;
    this.#lastCut = now;
    // The latest bucket's queue, not the standing one: that lags the queue by up to four buckets
    // and would catch up (and cut again) while the browser is still acting on this cut.
    this.#queueAtCut = this.#recent[this.#recent.length - 1]!;
    this.#delayCuts++;
    return true;
  }

  /**
   * One step per REMB interval. `incoming` is what arrived (bits/s), `loss` the worst video loss
   * fraction seen over the interval, `layerWaiting` whether a simulcast layer someone needs is not
   * arriving (the browser turns a layer on only once the estimate covers it).
   */
  update(incoming: number, producerLoss: number, now: number, layerWaiting = false): number {
    // The worse of the producers' loss (after repairs) and the wire's (before), over enough packets.
    const total = this.#seqReceived + this.#seqSkipped;
    const loss = total >= WIRE_LOSS_MIN_PACKETS ? Math.max(producerLoss, this.#seqSkipped / total) : producerLoss;
    this.#seqReceived = 0;
    this.#seqSkipped = 0;
    if (loss > HIGH_LOSS && incoming > 0 && now - this.#lastCut >= LOSS_AFTER_CUT_MS) {
      // Loss-based back-off as in RFC 8698 / GCC: keep half a loss's worth below what gets through;
      // with a delay signal at most halving per interval (an encoder that paused for a moment
      // shows little arriving and a burst of sequence gaps: measured, it sent the estimate to the
      // floor), the delay-based cuts doing the rest on a real bottleneck.
      const floor = this.#lastAbs === null ? 0 : this.#estimate / 2;
      this.#estimate = Math.max(MIN_BITRATE, Math.min(this.#estimate, Math.round(Math.max(floor, incoming * (1 - 0.5 * loss)))));
    } else if (this.#lastAbs !== null) {
      // Delay signal: grow only while no queue stands, and while under 1.5 × what arrives. An
      // encoder that sends far under the REMB (a still picture, or a panning one's dips: 350 kbps
      // under an 842 kbps REMB, measured) shows no queue; without the bound the estimate climbed
      // to the cap meanwhile, and the next busy picture would start from there
      // (bitrate-controller.test.ts). The bound is lifted while a simulcast layer waits to turn
      // on: the browser sends it only once the estimate covers it (measured: with the bound always
      // on, a 720p publisher stayed on two layers).
      const bounded = !layerWaiting && this.#estimate >= GROWTH_ARRIVED_FACTOR * this.#arrivalRate();
      if (loss < LOW_LOSS && this.#queue !== null && this.#queue < QUEUE_LOW_MS && !bounded) {
        // Back to where the link was last found full quickly, then slowly past it (AIMD's
        // additive phase near the last congestion level, as GCC does).
        const near = this.#estimate > NEAR_CUT * this.#cutFrom && now - this.#lastCut < NEAR_CUT_MS;
        this.#estimate = Math.round(Math.min(this.#max, this.#estimate * (near ? GROWTH_NEAR_CUT : GROWTH) + 1000));
      }
    } else if (loss < LOW_LOSS) {
      this.#estimate = Math.min(this.#max, Math.round(this.#estimate * 1.08) + 1000);
    }
    return this.#estimate;
  }
}
