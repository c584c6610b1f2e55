// The subscriber connections of one client share its downlink. OpenTok's model is a peer
// connection per Subscriber, so a participant watching three streams is three connections behind
// one home link, each with its own estimator, allocator and probes (subscriber-transport.ts). On
// their own they harm each other: a probe of one overflows the queue the others' media waits in,
// and each of them reads the loss and the slow arrivals as its own link's saturation and cuts its
// estimate to the share that got through (measured in the impairment bench: two streams to a 500
// kbps subscriber, both videos off for quality most of the limited time).
//
// A DownlinkGroup (one per client connection, made by the router) coordinates what is the link's:
// - one probe at a time: a member starts one only when no other member's is running or being
//   read (its feedback still coming), nor within PROBE_GRACE_MS after one that fell short (the
//   queue it built still drains);
// - a member's saturation or loss seen meanwhile is that probe's doing: the member does not cut
//   its estimate for it, and the probe stops at once.
// Each member still estimates its own flow: the delay-based signals are the link's anyway, and
// their estimates share it as competing flows do.

/** A member's probe fell short this long ago or less: the queue it built is still draining. */
export const PROBE_GRACE_MS = 1000;

export class DownlinkGroup {
  readonly key: string;
  readonly #members = new Set<object>();
  #prober: object | null = null;
  /** The member whose probe fell short last, and when (its queue drains for PROBE_GRACE_MS). */
  #failedProber: object | null = null;
  #failedAt = -Infinity;
  #stopRequested = false;

  constructor(key: string) {
    this.key = key;
  }

  get size(): number {
    return this.#members.size;
  }

  join(member: object): void {
    this.#members.add(member);
  }

  /** Returns whether the group is empty now (its owner drops it). */
  leave(member: object): boolean {
    this.#members.delete(member);
    if (this.#prober === member) {
      this.#prober = null;
      this.#stopRequested = false;
    }
    if (this.#failedProber === member) this.#failedProber = null;
    return this.#members.size === 0;
  }

  /** May `member` start a probe at `now`: none of another member running or being read, none of theirs fell short within PROBE_GRACE_MS. */
  mayProbe(member: object, now: number): boolean {
    if (this.#prober !== null) return false;
    return this.#failedProber === null || this.#failedProber === member || now - this.#failedAt >= PROBE_GRACE_MS;
  }

  probeStarted(member: object): void {
    this.#prober = member;
    this.#stopRequested = false;
  }

  /** `member`'s probe was read at `now` (its feedback is in): `succeeded`, or it fell short. */
  probeEnded(member: object, now: number, succeeded: boolean): void {
    if (this.#prober !== member) return;
    this.#prober = null;
    this.#stopRequested = false;
    if (succeeded) {
      if (this.#failedProber === member) this.#failedProber = null;
    } else {
      this.#failedProber = member;
      this.#failedAt = now;
    }
  }

  /**
   * Whether what `member` sees at `now` may be another member's probe: one running or being read,
   * or one that fell short within PROBE_GRACE_MS (its queue still draining).
   */
  mateProbing(member: object, now: number): boolean {
    if (this.#prober !== null) return this.#prober !== member;
    return this.#failedProber !== null && this.#failedProber !== member && now - this.#failedAt < PROBE_GRACE_MS;
  }

  /**
   * A member saw the link saturated while a mate probed and held its cut (each member counts its
   * own: its downlink stats' saturationsHeld): the probe stops.
   */
  mateSaturated(): void {
    if (this.#prober !== null) this.#stopRequested = true;
  }

  /** Should `member`'s running probe stop (another member saw the link saturated meanwhile)? */
  stopRequested(member: object): boolean {
    return this.#prober === member && this.#stopRequested;
  }
}
