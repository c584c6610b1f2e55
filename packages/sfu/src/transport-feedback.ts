// Transport-wide congestion control, our end of it: every RTP packet we send to one subscriber
// carries the next transport-wide sequence number (header extension draft-holmer-rmcat-
// transport-wide-cc-extensions-01); we remember when we sent it and how big it was, and the
// subscriber's browser answers with RTCP transport feedback (RTPFB FMT 15) saying which arrived
// and when. This module turns those answers into PacketResults for the bandwidth estimator.
// werift parses the RTCP message; its own `packetResults` drops status-vector chunks and rounds
// arrival times to whole milliseconds, so the chunks are expanded here.

import { RunLengthChunk, StatusVectorChunk, type TransportWideCC } from 'werift';
import type { PacketResult } from './bandwidth-estimator.js';

/** Sent packets remembered for feedback (feedback comes within ~100 ms; 8192 covers seconds at any rate we send). */
const HISTORY = 8192;

const NOT_RECEIVED = 0;
const SMALL_DELTA = 1;
const LARGE_DELTA = 2;

export class TransportWideSequencer {
  #next = 1;
  readonly #sentAt = new Float64Array(HISTORY);
  readonly #size = new Uint16Array(HISTORY);
  readonly #probe = new Uint16Array(HISTORY);
  /** The full sequence number stored in each slot (-1: empty), so a stale slot is never read. */
  readonly #seq = new Int32Array(HISTORY).fill(-1);

  /**
   * The probe cluster being sent (0: none). Every packet numbered meanwhile belongs to it, media as
   * well as padding: a probe measures what the link carried in all, and its padding only tops the
   * media up to the probe rate.
   */
  activeProbe = 0;
  /** Bytes numbered for the active probe's cluster since it began (media and padding). */
  probeBytes = 0;
  /** Packets numbered for the active probe's cluster since it began (media and padding). */
  probePackets = 0;

  /** The probe cluster `id` begins: everything numbered from now on belongs to it, and is counted in probeBytes. */
  beginProbe(id: number): void {
    this.activeProbe = id;
    this.probeBytes = 0;
    this.probePackets = 0;
  }

  /** Takes the next sequence number for a packet of `size` bytes sent now; `probe` > 0 tags a probe cluster (default: the active one). */
  next(size: number, now: number, probe = 0): number {
    const seq = this.#next;
    this.#next = (seq + 1) & 0xffff;
    const slot = seq & (HISTORY - 1);
    this.#sentAt[slot] = now;
    this.#size[slot] = Math.min(size, 0xffff);
    const cluster = probe || this.activeProbe;
    this.#probe[slot] = cluster;
    if (cluster !== 0 && cluster === this.activeProbe) {
      this.probeBytes += size;
      this.probePackets++;
    }
    this.#seq[slot] = seq;
    return seq;
  }

  /**
   * The packets one feedback message reports, in sequence order, each with our send time and size
   * and its arrival (ms in the browser's clock) or null (lost). Packets we have no record of are
   * left out.
   */
  results(feedback: TransportWideCC): PacketResult[] {
    const statuses = expandStatuses(feedback);
    const out: PacketResult[] = [];
    let arrivalUs = feedback.referenceTime * 64 * 1000;
    let deltaIndex = 0;
    for (let i = 0; i < statuses.length; i++) {
      const status = statuses[i]!;
      let receivedAt: number | null = null;
      if (status === SMALL_DELTA || status === LARGE_DELTA) {
        const delta = feedback.recvDeltas[deltaIndex++];
        if (delta === undefined) break; // truncated message
        arrivalUs += delta.delta;
        receivedAt = arrivalUs / 1000;
      } else if (status !== NOT_RECEIVED) {
        continue; // "received without a time": nothing to learn from it
      }
      const seq = (feedback.baseSequenceNumber + i) & 0xffff;
      const slot = seq & (HISTORY - 1);
      if (this.#seq[slot] !== seq) continue;
      out.push({ sentAt: this.#sentAt[slot]!, size: this.#size[slot]!, receivedAt, probe: this.#probe[slot]!, seq });
    }
    return out;
  }
}

/** The packet status of each sequence number the message covers, from its run-length and status-vector chunks. */
export function expandStatuses(feedback: TransportWideCC): number[] {
  const statuses: number[] = [];
  const count = feedback.packetStatusCount;
  for (const chunk of feedback.packetChunks) {
    if (chunk instanceof RunLengthChunk) {
      for (let i = 0; i < chunk.runLength && statuses.length < count; i++) statuses.push(chunk.packetStatus);
    } else if (chunk instanceof StatusVectorChunk) {
      for (const symbol of chunk.symbolList) {
        if (statuses.length >= count) break;
        statuses.push(symbol);
      }
    }
  }
  return statuses;
}
