// ReceivePath: a publisher transport's received RTP, ours from the moment our SRTP is attached
// (srtp-path.ts). werift keeps ICE, DTLS and received RTCP; every RTP datagram is taken from the
// ICE agent's socket callback, before werift's STUN check, events and DTLS transport, and goes
//   decrypt in place (our SRTP) → one RtpView parse → transport-cc / abs-send-time arrival → ReceiveRouter
//   (SSRC → producer/layer, binding unknown SSRCs by mid/rid/repaired-rid, RTX unwrapped in place,
//   receive statistics and NACK state per SSRC) → Producer.receive(view, layer)
// with no werift event, RtpPacket, receiver or promise on the way. One view is reused for every
// packet. Timers send what werift's receiver sent: generic NACKs every NACK_INTERVAL_MS while
// holes are open (that timer runs only then), and receiver reports every RR_INTERVAL_MS, as bytes
// (rtcp-writer.ts) through the DTLS transport's RTCP send (protected by our SRTCP).

import type { RTCDtlsTransport } from 'werift';
import type { Logger } from 'pino';
import { NACK_INTERVAL_MS } from './nack-generator.js';
import { everyPeriod, type ClockTask } from './media-clock.js';
import { BatchedReceiver, datagramArrival } from './udp-receiver.js';
import { isRtp } from './srtp/rtp-header.js';
import { MuxedUdpTransport } from './udp-mux.js';
import { Socket as DgramSocket } from 'node:dgram';
import { compactNtpOf, type ReportBlock } from './receive-stats.js';
import type { ReceiveBinding, ReceiveRouter } from './receive-router.js';
import { MAX_REPORT_BLOCKS, writeGenericNack, writeReceiverReport } from './rtcp-writer.js';
import { rtcpWritable, sendRtcp } from './srtp-path.js';
import { RtpView } from './rtp-view.js';
import type { SrtpContext } from './srtp/srtp-context.js';

/** Receiver reports towards the publisher this often (werift's were every 0.5–1.5 s). */
export const RR_INTERVAL_MS = 1000;

/** The part of werift's ICE connection the hook replaces: its data event's execute. */
interface DataEventView {
  execute: (data: Buffer) => void;
}

/** werift's ICE connection as the hooks read it. */
interface IceConnectionView {
  onData: DataEventView;
  protocols: ProtocolView[];
  nominated?: { protocol: unknown; packetsReceived: number; bytesReceived: number };
}

/** One of werift's ICE protocols (a UDP socket, ours or the mux's: `transport.onData` per datagram). */
interface ProtocolView {
  localCandidate?: unknown;
  datagramReceived?: unknown;
  transport?: { onData?: (data: Buffer, addr: unknown) => void; socket?: unknown; rinfo?: { address: string; port: number; family: string; size: number } };
}

/**
 * What the uplink estimation reads of each arriving packet, as on the wire (before RTX is
 * unwrapped): its transport-wide sequence number (transport-cc) and its abs-send-time
 * ('remb-delay'). The receive path reads them in its one parse; the publisher transport reads
 * them the same way from what werift still delivers (readArrivalSignals).
 */
export interface ArrivalSignals {
  /** Header extension ids the publisher's transport-wide sequence numbers come under (none: off). */
  transportCcIds: readonly number[];
  /** A transport-wide sequence number arrived (seq, its arrival in performance.now() ms: the kernel's receive timestamp where the batched receiver read it, else the read; SSRC). */
  onTransportSequence: (seq: number, arrival: number, ssrc: number) => void;
  /** 'remb-delay': the header extension ids of the publisher's abs-send-time (none: off). */
  absSendTimeIds?: readonly number[];
  /** A packet with abs-send-time arrived (its 24-bit send time, arrival, RTP size, SSRC and sequence as on the wire). */
  onAbsSendTime?: (absSendTime: number, arrival: number, size: number, ssrc: number, seq: number) => void;
}

/** Hands a parsed packet's transport-wide sequence number and abs-send-time (if any) to `signals`. */
export function readArrivalSignals(view: RtpView, arrival: number, size: number, signals: ArrivalSignals): void {
  const b = view.buffer;
  const tcc = signals.transportCcIds;
  for (let i = 0; i < tcc.length; i++) {
    if (view.extension(tcc[i]!) && view.extensionLength >= 2) {
      signals.onTransportSequence((b[view.extensionOffset]! << 8) | b[view.extensionOffset + 1]!, arrival, view.ssrc);
      break;
    }
  }
  const abs = signals.absSendTimeIds;
  if (abs === undefined) return;
  for (let i = 0; i < abs.length; i++) {
    if (view.extension(abs[i]!) && view.extensionLength >= 3) {
      const o = view.extensionOffset;
      signals.onAbsSendTime?.((b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!, arrival, size, view.ssrc, view.sequenceNumber);
      break;
    }
  }
}

export interface ReceivePathOptions extends ArrivalSignals {
  dtls: RTCDtlsTransport;
  /** Our SRTP context for what the publisher sends. */
  srtp: SrtpContext;
  router: ReceiveRouter;
  /** Our RTCP sender SSRC (werift's receivers' rtcpSsrc, as our REMB and PLI use). */
  rtcpSsrc: number;
  /** A packet our SRTP refused (srtp-path.ts counts them). */
  onSrtpDrop: () => void;
  logger: Logger;
}

export class ReceivePath {
  readonly router: ReceiveRouter;
  readonly #dtls: RTCDtlsTransport;
  readonly #srtp: SrtpContext;
  readonly #rtcpSsrc: number;
  readonly #signals: ArrivalSignals;
  readonly #onSrtpDrop: () => void;
  readonly #logger: Logger;
  readonly #view = new RtpView();
  /** What start() replaced, to put back at close(). */
  readonly #restore: (() => void)[] = [];
  /** Batched receivers on the peer connection's own sockets (udp-receiver.ts), for dump(). */
  readonly #batched: BatchedReceiver[] = [];
  #nackTimer: NodeJS.Timeout | undefined;
  #rrTimer: ClockTask | undefined;
  #closed = false;
  readonly #nacksBySsrc = new Map<number, number>();
  readonly #lost: number[] = [];
  // Counters for dump().
  packets = 0;
  bytes = 0;
  malformed = 0;
  nacksSent = 0;
  reportsSent = 0;

  constructor(options: ReceivePathOptions) {
    this.router = options.router;
    this.#dtls = options.dtls;
    this.#srtp = options.srtp;
    this.#rtcpSsrc = options.rtcpSsrc;
    this.#signals = options;
    this.#onSrtpDrop = options.onSrtpDrop;
    this.#logger = options.logger;
  }

  /**
   * Takes RTP off werift's path, at the earliest place werift lets us: each UDP socket of the ICE
   * agent (its `transport.onData`, called per datagram) gives RTP datagrams to ours and the rest
   * (STUN, DTLS, RTCP) to werift, which would otherwise try a STUN parse and run two events (each
   * making a promise) per packet. What ICE did for RTP there is done here: the selected pair's
   * receive counters. A protocol made later (ICE-TCP) goes through the connection's data event,
   * hooked the same way. Then starts the NACK and report timers.
   */
  start(): void {
    if (this.#restore.length > 0 || this.#closed) return;
    const connection = (this.#dtls.iceTransport as unknown as { connection: IceConnectionView }).connection;
    for (const protocol of connection.protocols) {
      const transport = protocol.transport;
      const original = transport?.onData;
      if (transport === undefined || typeof original !== 'function' || typeof protocol.datagramReceived !== 'function') continue;
      const onData = (data: Buffer, addr: unknown): void => {
        if (protocol.localCandidate !== undefined && isRtp(data)) {
          const pair = connection.nominated;
          if (pair !== undefined && pair.protocol === protocol) {
            pair.packetsReceived++;
            pair.bytesReceived += data.length;
          }
          this.receive(data, datagramArrival());
        } else {
          original(data, addr);
        }
      };
      transport.onData = onData;
      if (transport instanceof MuxedUdpTransport) transport.rtpTakenInPlace = true;
      this.#restore.push(() => {
        transport.onData = original;
        if (transport instanceof MuxedUdpTransport) transport.rtpTakenInPlace = false;
      });
      // A socket of this peer connection's own (range mode, not the shared mux's): read in batches.
      const socket = transport.socket;
      if (socket instanceof DgramSocket && !(transport instanceof MuxedUdpTransport)) {
        const batched = BatchedReceiver.start(socket, (data, source) => {
          // As werift's own 'message' listener did around onData: a datagram that throws is logged, not fatal.
          try {
            if (protocol.localCandidate !== undefined && isRtp(data)) return onData(data, null);
            // STUN, DTLS and RTCP: werift may keep the bytes past this call, and reads rinfo for replies.
            transport.rinfo = { address: source.address, port: source.port, family: source.family, size: data.length };
            original(Buffer.from(data), [transport.rinfo.address, transport.rinfo.port]);
          } catch (err) {
            this.#logger.debug({ err }, 'a received datagram failed');
          }
        });
        if (batched) {
          this.#batched.push(batched);
          this.#restore.push(() => batched.stop());
        }
      }
    }
    const event = connection.onData;
    const execute = event.execute;
    event.execute = (data: Buffer): void => {
      if (isRtp(data)) this.receive(data, performance.now());
      else execute(data);
    };
    this.#restore.push(() => {
      event.execute = execute;
    });
    this.#rrTimer = everyPeriod(RR_INTERVAL_MS, () => this.#sendReport());
  }

  /** One SRTP datagram (its buffer is decrypted in place and then belongs to the packet path). */
  receive(data: Buffer, now: number): void {
    if (this.#closed) return;
    // werift's transport statistics stay true (its getStats reads them).
    const dtls = this.#dtls;
    dtls.packetsReceived++;
    dtls.bytesReceived += data.length;
    const n = this.#srtp.unprotect(data);
    if (n < 0) {
      this.#onSrtpDrop();
      return;
    }
    const view = this.#view;
    if (!view.parse(data, n)) {
      this.malformed++;
      return;
    }
    this.packets++;
    this.bytes += n;
    readArrivalSignals(view, now, n, this.#signals);
    const binding = this.router.route(view, now);
    if (binding === null) return;
    // The NACK timer runs only while a hole is open (an idle timer is a wake-up 40 times a second).
    if (this.#nackTimer === undefined && binding.nack !== null && binding.nack.missingCount > 0) {
      this.#nackTimer = setInterval(() => this.#sendNacks(), NACK_INTERVAL_MS);
    }
    binding.track.target.receive(view, binding.layer);
  }

  /** The publisher's RTCP SR for one of its SSRCs (werift parsed it): for our reports' LSR/DLSR. */
  handleSenderReport(ssrc: number, ntpTimestamp: bigint): void {
    this.router.binding(ssrc)?.stats.senderReport(compactNtpOf(ntpTimestamp), performance.now());
  }

  /** Receive statistics of a bound SSRC (jitter in RTP units). */
  receiveStats(ssrc: number): { jitter: number } | undefined {
    return this.router.binding(ssrc)?.stats;
  }

  /** Generic NACK messages sent for a media SSRC. */
  nackCount(ssrc: number): number {
    return this.#nacksBySsrc.get(ssrc >>> 0) ?? 0;
  }

  #sendNacks(): void {
    const now = performance.now();
    const packets: Buffer[] = [];
    const bindings = this.router.bindings;
    const writable = rtcpWritable(this.#dtls);
    let waiting = 0;
    for (let i = 0; i < bindings.length; i++) {
      const binding = bindings[i]!;
      const nack = binding.nack;
      if (nack === null || nack.missingCount === 0) continue;
      const lost = this.#lost;
      lost.length = 0;
      const due = writable ? nack.collect(now, lost) : 0;
      waiting += nack.missingCount;
      if (due === 0) continue;
      const bytes = writeGenericNack(this.#rtcpSsrc, binding.ssrc, lost);
      if (bytes === null) continue;
      packets.push(bytes);
      this.#nacksBySsrc.set(binding.ssrc, (this.#nacksBySsrc.get(binding.ssrc) ?? 0) + 1);
    }
    // Every hole filled or given up (collect() forgets those too old): the timer stops until the next.
    if (waiting === 0) {
      clearInterval(this.#nackTimer);
      this.#nackTimer = undefined;
    }
    if (packets.length === 0) return;
    this.nacksSent += packets.length;
    this.#sendRtcp(packets, 'NACK');
  }

  #sendReport(): void {
    if (!rtcpWritable(this.#dtls)) return;
    const now = performance.now();
    const blocks: ReportBlock[] = [];
    for (const binding of this.router.bindings) {
      if (binding.stats.started) blocks.push(binding.stats.report(now, emptyBlock()));
    }
    if (blocks.length === 0) return;
    const packets: Buffer[] = [];
    for (let i = 0; i < blocks.length; i += MAX_REPORT_BLOCKS) packets.push(writeReceiverReport(this.#rtcpSsrc, blocks.slice(i, i + MAX_REPORT_BLOCKS)));
    this.reportsSent++;
    this.#sendRtcp(packets, 'receiver report');
  }

  /** Sends RTCP bytes towards the publisher (srtp-path.ts sendRtcp: ours at once, else werift's). */
  #sendRtcp(packets: Buffer[], what: string): void {
    sendRtcp(this.#dtls, packets, (err) => this.#logger.debug({ err }, `${what} send failed`));
  }

  dump(): Record<string, unknown> {
    return {
      packets: this.packets,
      bytes: this.bytes,
      malformed: this.malformed,
      unroutable: this.router.unroutable,
      rtxUnwrapped: this.router.rtxUnwrapped,
      rtxDropped: this.router.rtxDropped,
      nacksSent: this.nacksSent,
      nackTimerRunning: this.#nackTimer !== undefined,
      reportsSent: this.reportsSent,
      // Sockets read in batches (udp-receiver.ts): datagrams read, and dropped as larger than a slot.
      batchedReceive: this.#batched.map((b) => ({ running: b.running, datagrams: b.datagrams, truncated: b.truncated })),
      ssrcs: this.router.bindings.map((b: ReceiveBinding) => ({
        ssrc: b.ssrc,
        mid: b.track.mid,
        layer: b.layer,
        rtx: b.rtx,
        packets: b.stats.packets,
        lost: b.stats.packetsLost,
        jitter: Math.round(b.stats.jitter),
        ...(b.nack ? { nackRequested: b.nack.requested, nackRecovered: b.nack.recovered, nackAbandoned: b.nack.abandoned } : {}),
      })),
    };
  }

  /** Gives RTP back to werift's path (nothing more arrives once the transport closes) and stops the timers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#nackTimer);
    this.#nackTimer = undefined;
    this.#rrTimer?.cancel();
    for (const restore of this.#restore.splice(0)) restore();
  }
}

function emptyBlock(): ReportBlock {
  return { ssrc: 0, fractionLost: 0, packetsLost: 0, highestSequence: 0, jitter: 0, lsr: 0, dlsr: 0 };
}
