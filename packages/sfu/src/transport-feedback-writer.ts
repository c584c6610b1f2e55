// Transport-wide congestion control feedback FROM us, towards a publisher: the receive side of
// draft-holmer-rmcat-transport-wide-cc-extensions-01. The publisher's browser numbers every packet
// it sends on the transport (audio, video, retransmissions, padding probes) with one transport-wide
// sequence number; we note when each arrived and answer every FEEDBACK_INTERVAL_MS with RTCP RTPFB
// FMT 15 messages saying which arrived and when. Chromium's own send-side estimator (GCC: delay
// trend, loss, probes) then finds the publisher's real uplink, the way it does against any
// libwebrtc receiver (RemoteEstimatorProxy there, which this follows).
//
// werift has a generator of its own (ReceiverTWCC) but it is not usable: it runs per receiver while
// the numbers are transport-wide (another track's numbers look lost), it never marks a missing
// number as lost, and its reference time and first delta disagree. So the messages are built here,
// byte by byte, and checked in tests against the parser our subscriber side already uses.

/** How often feedback goes out (libwebrtc: 50–250 ms by rate; prompt feedback settles GCC faster). */
export const FEEDBACK_INTERVAL_MS = 50;
/** Most packet statuses in one message, and most delta bytes: together well under one MTU. */
const MAX_STATUSES = 600;
const MAX_DELTA_BYTES = 1000;
/** A gap larger than this (a restart, a very long outage) is not reported packet by packet. */
const MAX_GAP = 4096;
/** Packets remembered: arrivals older than the last report that are still missing are forgotten. */
const MAX_PENDING = 16384;

const NOT_RECEIVED = 0;
const SMALL_DELTA = 1;
const LARGE_DELTA = 2;

/** Receive deltas are in 250 µs ticks; the reference time in 64 ms units (24-bit, signed, wrapping). */
const TICK_US = 250;
const REFERENCE_UNIT_TICKS = 256;

const RTPFB = 205;
const FMT_TRANSPORT_CC = 15;

export class TransportFeedbackWriter {
  readonly #senderSsrc: number;
  /** Unwrapped sequence number → arrival time in 250 µs ticks. */
  readonly #arrivals = new Map<number, number>();
  /** The newest unwrapped sequence number seen, or -1 before the first packet. */
  #highest = -1;
  /** The first unwrapped number not yet reported. */
  #nextToReport = -1;
  #feedbackCount = 0;
  /** The SSRC the messages name as media source: the last packet's (libwebrtc does the same). */
  #mediaSsrc = 0;
  /** Counters for stats and tests. */
  packetsSeen = 0;
  messagesBuilt = 0;
  /** Sequence numbers reported, and of them reported lost: the uplink's loss on the wire. */
  packetsReported = 0;
  packetsLost = 0;
  /** Packets that arrived after their number had been reported (as lost): reordered beyond a feedback interval. */
  packetsLate = 0;

  constructor(senderSsrc: number) {
    this.#senderSsrc = senderSsrc >>> 0;
  }

  /** Notes a packet that carried transport-wide sequence number `seq` (16 bit) and arrived at `arrivalMs` (monotonic). */
  onPacket(seq: number, arrivalMs: number, ssrc: number): void {
    if (!Number.isInteger(seq) || seq < 0 || seq > 0xffff || !Number.isFinite(arrivalMs)) return;
    const unwrapped = this.#unwrap(seq);
    this.#mediaSsrc = ssrc >>> 0;
    this.packetsSeen++;
    if (this.#nextToReport < 0) this.#nextToReport = unwrapped;
    // Already reported (received, or lost and now late): the sender has settled it; drop.
    if (unwrapped < this.#nextToReport) {
      this.packetsLate++;
      return;
    }
    if (this.#arrivals.has(unwrapped)) return; // a duplicate
    this.#arrivals.set(unwrapped, Math.round((arrivalMs * 1000) / TICK_US));
    if (this.#arrivals.size > MAX_PENDING) this.#skipTo(Math.min(...this.#arrivals.keys()) + 1);
  }

  /**
   * The feedback messages (each a serialized RTCP packet) covering every number from the last
   * report up to the newest packet seen, lost ones included; empty when nothing new arrived.
   */
  takeFeedback(): Buffer[] {
    if (this.#nextToReport < 0 || this.#highest < this.#nextToReport) return [];
    // A long outage or a restart of the numbering: report from the first packet after the gap.
    if (this.#highest - this.#nextToReport > MAX_GAP) {
      const pending = [...this.#arrivals.keys()].filter((s) => s >= this.#highest - MAX_GAP);
      this.#skipTo(pending.length ? Math.min(...pending) : this.#highest);
    }
    const out: Buffer[] = [];
    while (this.#nextToReport <= this.#highest) {
      const message = this.#buildOne();
      if (message === null) break;
      out.push(message);
    }
    return out;
  }

  #unwrap(seq: number): number {
    if (this.#highest < 0) {
      // Start well above zero so that numbers slightly before the first one stay positive.
      this.#highest = 0x100000 + seq;
      return this.#highest;
    }
    const diff = ((seq - (this.#highest & 0xffff) + 0x8000) & 0xffff) - 0x8000;
    const unwrapped = this.#highest + diff;
    if (unwrapped > this.#highest) this.#highest = unwrapped;
    return unwrapped;
  }

  #skipTo(seq: number): void {
    for (const key of this.#arrivals.keys()) if (key < seq) this.#arrivals.delete(key);
    this.#nextToReport = Math.max(this.#nextToReport, seq);
  }

  /** One message from #nextToReport on, advancing it past what the message covers. */
  #buildOne(): Buffer | null {
    const base = this.#nextToReport;
    const statuses: number[] = [];
    const deltas: number[] = [];
    let deltaBytes = 0;
    let reference = -1; // in 64 ms units (not yet wrapped)
    let previous = 0; // ticks of the previous received packet (or of the reference)
    let seq = base;
    // Lost numbers before the first arrival do not count against the limit (a gap is one
    // run-length chunk, and a message needs an arrival for its reference time).
    for (; seq <= this.#highest && (statuses.length < MAX_STATUSES || reference < 0); seq++) {
      const arrival = this.#arrivals.get(seq);
      if (arrival === undefined) {
        statuses.push(NOT_RECEIVED);
        continue;
      }
      if (reference < 0) {
        reference = Math.floor(arrival / REFERENCE_UNIT_TICKS);
        previous = reference * REFERENCE_UNIT_TICKS;
      }
      const delta = arrival - previous;
      // A delta beyond 16 bits (a reordering or stall of > 8 s): it opens the next message.
      if (delta < -0x8000 || delta > 0x7fff) break;
      const small = delta >= 0 && delta <= 0xff;
      if (deltaBytes + (small ? 1 : 2) > MAX_DELTA_BYTES) break;
      statuses.push(small ? SMALL_DELTA : LARGE_DELTA);
      deltas.push(delta);
      deltaBytes += small ? 1 : 2;
      previous = arrival;
    }
    if (statuses.length === 0 || reference < 0) return null;
    for (let s = base; s < seq; s++) this.#arrivals.delete(s);
    this.#nextToReport = seq;
    this.packetsReported += statuses.length;
    for (const status of statuses) if (status === NOT_RECEIVED) this.packetsLost++;
    const message = serializeTransportFeedback({
      senderSsrc: this.#senderSsrc,
      mediaSsrc: this.#mediaSsrc,
      baseSequence: base & 0xffff,
      referenceTime: reference & 0xffffff,
      feedbackCount: this.#feedbackCount,
      statuses,
      deltas,
    });
    this.#feedbackCount = (this.#feedbackCount + 1) & 0xff;
    this.messagesBuilt++;
    return message;
  }
}

/** The content of one transport feedback message. */
export interface TransportFeedbackContent {
  senderSsrc: number;
  mediaSsrc: number;
  /** The first sequence number covered (16 bit). */
  baseSequence: number;
  /** In 64 ms units, 24 bit. */
  referenceTime: number;
  /** The message's own counter (8 bit). */
  feedbackCount: number;
  /** One status per sequence number from baseSequence on: 0 not received, 1 small delta, 2 large delta. */
  statuses: number[];
  /** One receive delta (in 250 µs ticks) per received status, in order: 0..255 for small, int16 for large. */
  deltas: number[];
}

/** The packet status chunks for `statuses`: run lengths where a status repeats, status vectors elsewhere. */
export function encodeStatusChunks(statuses: readonly number[]): number[] {
  const chunks: number[] = [];
  let i = 0;
  while (i < statuses.length) {
    let run = 1;
    while (i + run < statuses.length && statuses[i + run] === statuses[i] && run < 0x1fff) run++;
    // A run of 7 or more fits one run-length chunk at least as well as a status vector.
    if (run >= 7 || i + run === statuses.length) {
      chunks.push((statuses[i]! << 13) | run);
      i += run;
      continue;
    }
    // 14 one-bit symbols when the next 14 are all "not received" or "small delta".
    const next14 = statuses.slice(i, i + 14);
    if (next14.length === 14 && next14.every((s) => s <= SMALL_DELTA)) {
      let chunk = 0x8000; // T=1, S=0
      next14.forEach((s, k) => (chunk |= s << (13 - k)));
      chunks.push(chunk);
      i += 14;
      continue;
    }
    // Otherwise 7 two-bit symbols (the last chunk padded with "not received"; the status count bounds it).
    let chunk = 0xc000; // T=1, S=1
    for (let k = 0; k < 7; k++) chunk |= (statuses[i + k] ?? NOT_RECEIVED) << (12 - 2 * k);
    chunks.push(chunk);
    i += 7;
  }
  return chunks;
}

/** One RTCP transport feedback packet (RTPFB, FMT 15), padded to 32 bits as RTCP requires. */
export function serializeTransportFeedback(content: TransportFeedbackContent): Buffer {
  const { statuses, deltas } = content;
  if (statuses.length === 0 || statuses.length > 0xffff) throw new RangeError(`a feedback message covers 1..65535 packets, not ${statuses.length}`);
  const received = statuses.filter((s) => s === SMALL_DELTA || s === LARGE_DELTA).length;
  if (received !== deltas.length) throw new RangeError(`${received} received statuses but ${deltas.length} deltas`);
  const chunks = encodeStatusChunks(statuses);
  let deltaBytes = 0;
  let d = 0;
  for (const s of statuses) {
    if (s === SMALL_DELTA) {
      if (deltas[d]! < 0 || deltas[d]! > 0xff) throw new RangeError(`small delta out of range: ${deltas[d]}`);
      deltaBytes += 1;
      d++;
    } else if (s === LARGE_DELTA) {
      if (deltas[d]! < -0x8000 || deltas[d]! > 0x7fff) throw new RangeError(`large delta out of range: ${deltas[d]}`);
      deltaBytes += 2;
      d++;
    }
  }
  const unpadded = 4 + 16 + chunks.length * 2 + deltaBytes;
  const padding = (4 - (unpadded % 4)) % 4;
  const out = Buffer.alloc(unpadded + padding);
  out[0] = 0x80 | (padding > 0 ? 0x20 : 0) | FMT_TRANSPORT_CC;
  out[1] = RTPFB;
  out.writeUInt16BE(out.length / 4 - 1, 2);
  out.writeUInt32BE(content.senderSsrc >>> 0, 4);
  out.writeUInt32BE(content.mediaSsrc >>> 0, 8);
  out.writeUInt16BE(content.baseSequence & 0xffff, 12);
  out.writeUInt16BE(statuses.length, 14);
  out.writeUIntBE(content.referenceTime & 0xffffff, 16, 3);
  out[19] = content.feedbackCount & 0xff;
  let pos = 20;
  for (const chunk of chunks) pos = out.writeUInt16BE(chunk, pos);
  d = 0;
  for (const s of statuses) {
    if (s === SMALL_DELTA) pos = out.writeUInt8(deltas[d++]!, pos);
    else if (s === LARGE_DELTA) pos = out.writeInt16BE(deltas[d++]!, pos);
  }
  if (padding > 0) out[out.length - 1] = padding;
  return out;
}
