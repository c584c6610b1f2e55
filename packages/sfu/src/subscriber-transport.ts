// SubscriberTransport: the server end of one subscriber's peer connection. We add a sendonly
// transceiver per consumed producer and make the offer; the browser answers. Consumers start when
// DTLS is up; a timer sends their RTCP sender reports and samples their bitrates. Every packet
// carries a transport-wide sequence number; the browser's transport feedback goes to the client's
// Downlink (downlink.ts: shared by its subscriber connections, or this connection's own), whose
// estimate the allocator shares across the client's streams, choosing each video's layer or
// switching it off, with padding probes on RTX to find out whether more fits before switching up.

import { randomUUID } from 'node:crypto';
import { RtcpTransportLayerFeedback, TransportWideCC, type RTCDtlsTransport, type RTCRtpTransceiver, type RtcpPacket, type RtpHeader } from 'werift';
import { Downlink, type DownlinkFeedback, type DownlinkMember, type DownlinkStats } from './downlink.js';
import { TransportWideSequencer } from './transport-feedback.js';
import { MediaError, conflict, invalid } from './errors.js';
import type { Logger } from 'pino';
import { Consumer, type RtpSink } from './consumer.js';
import { createSubscriberPeer, opusCodec, rtxCodec, videoCodec, waitForGathering, type IceSettings } from './peer-config.js';
import type { ForwardingTable } from './forwarding-table.js';
import type { Producer } from './producer.js';
import { PeerTransport } from './peer-transport.js';
import { checkSdp } from './sdp-checks.js';
import { attachOurSrtp, rtcpWritable, sendRtcp, type SrtpImplementation } from './srtp-path.js';
import type { ConsumerStats, TransportState } from './types.js';
import { everyPeriod, type ClockTask } from './media-clock.js';

export type SubscriberTransportEvents = {
  stateChange: [TransportState];
  close: [];
};

export interface SubscriberTransportOptions {
  id: string;
  ice: IceSettings;
  srtp: SrtpImplementation;
  logger: Logger;
  /**
   * The router's producer → consumers map: a producer not in it is another router's (consumers
   * never cross sessions); each consumer made here joins its producer's fan-out in it.
   */
  forwarding: ForwardingTable;
  /** The client's downlink, shared with its other subscriber connections (downlink.ts); without it, one of its own. */
  downlink?: Downlink;
}

/** RTCP sender reports per consumer about once a second (RFC 3550 allows 5 %; this is far below). */
const SR_INTERVAL_MS = 1000;

/** Fixed payload types for what we offer, the ones Chromium itself uses for these codecs (RTX: one above). */
const PAYLOAD_TYPE = { opus: 111, VP8: 96, H264: 102 } as const;

interface Entry {
  consumer: Consumer;
  transceiver: RTCRtpTransceiver;
}

export class SubscriberTransport extends PeerTransport<SubscriberTransportEvents> {
  readonly kind = 'subscriber';
  readonly #forwarding: ForwardingTable;
  #entries: Entry[] = [];
  #offered = false;
  #answered = false;
  #timer: ClockTask | undefined;
  #sink: RtpSink | null = null;
  readonly #sequencer = new TransportWideSequencer();
  #feedbackTapped = false;
  readonly #downlink: Downlink;
  /** What the downlink sees of this connection. */
  readonly #member: DownlinkMember;

  constructor(options: SubscriberTransportOptions) {
    super({ id: options.id, pc: createSubscriberPeer(options.ice), srtp: options.srtp, logger: options.logger });
    this.#forwarding = options.forwarding;
    const entries = (): Entry[] => this.#entries;
    const sink = (): RtpSink | null => this.#sink;
    const closed = (): boolean => this.closed;
    this.#member = {
      get consumers() {
        return entries().map((e) => e.consumer);
      },
      get connected() {
        return !closed() && sink() !== null;
      },
      sequencer: this.#sequencer,
      get feedback(): DownlinkFeedback {
        return entries().some((e) => e.consumer.transportWide) ? 'transport-cc' : 'remb-only';
      },
    };
    this.#downlink = options.downlink ?? new Downlink();
    this.#downlink.join(this.#member);
  }

  get consumers(): Consumer[] {
    return this.#entries.map((e) => e.consumer);
  }

  /**
   * One consumer per producer, each on its own sendonly m-line. Call before createOffer(): a
   * subscriber's connection is negotiated once (one per OpenTok Subscriber), never renegotiated.
   */
  consume(producers: Producer[], options: { paused?: boolean } = {}): Consumer[] {
    if (this.closed) throw new MediaError('not-allowed', 'transport is closed');
    if (this.#offered) throw new MediaError('not-allowed', 'consume() must come before createOffer()');
    if (!Array.isArray(producers) || producers.length === 0) throw invalid('consume() needs at least one producer');
    for (const producer of producers) {
      if (producer.closed) throw new MediaError('not-found', `producer ${producer.id} is closed`);
      if (!this.#forwarding.has(producer)) throw invalid(`producer ${producer.id} belongs to another router`);
      if (this.#entries.some((e) => e.consumer.producer === producer)) throw conflict(`producer ${producer.id} is already consumed here`);
    }
    return producers.map((producer) => this.#consumeOne(producer, options.paused ?? false));
  }

  #consumeOne(producer: Producer, paused: boolean): Consumer {
    const transceiver = this.pc.addTransceiver(producer.kind, { direction: 'sendonly' });
    const codec = producer.codec;
    transceiver.codecs = [
      codec.name === 'opus'
        ? opusCodec(PAYLOAD_TYPE.opus, codec.parameters, true)
        : videoCodec(codec.name, {
            payloadType: PAYLOAD_TYPE[codec.name],
            transportCc: true,
            ...(codec.parameters ? { parameters: codec.parameters } : {}),
          }),
      // RTX: what probe padding goes out on (its own SSRC and sequence numbers).
      ...(codec.name === 'opus' ? [] : [rtxCodec({ payloadType: PAYLOAD_TYPE[codec.name] + 1, apt: PAYLOAD_TYPE[codec.name] })]),
    ];
    // Audio and video of one published stream share an msid stream id, so the browser syncs them.
    transceiver.sender.streamId = producer.streamId;
    const consumer = new Consumer({ id: randomUUID(), producer, ssrc: transceiver.sender.ssrc, paused });
    this.#forwarding.addConsumer(producer, consumer);
    const entry: Entry = { consumer, transceiver };
    this.#entries.push(entry);
    this.subscriptions.push(
      transceiver.sender.onRtcp.subscribe((packet: RtcpPacket) => {
        // Transport feedback is the connection's, taken from the DTLS transport (onStateChange).
        if (!(packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof TransportWideCC)) consumer.handleRtcp(packet);
      }),
    );
    consumer.on('close', () => {
      this.#entries = this.#entries.filter((e) => e !== entry);
    });
    return consumer;
  }

  /** Our SDP offer, ICE candidates included. */
  async createOffer(): Promise<string> {
    if (this.closed) throw new MediaError('not-allowed', 'transport is closed');
    if (this.#offered) throw conflict('this transport already made its offer');
    if (this.#entries.length === 0) throw new MediaError('not-allowed', 'nothing to offer: call consume() first');
    this.#offered = true;
    const offer = await this.pc.createOffer();
    await this.negotiation.setLocalDescription(offer);
    await waitForGathering(this.pc);
    if (this.closed) throw new MediaError('not-allowed', 'transport closed while offering');
    return this.localSdp();
  }

  /** The browser's answer: settles each consumer's payload type, mid and header-extension ids. */
  async acceptAnswer(sdp: unknown): Promise<void> {
    if (this.closed) throw new MediaError('not-allowed', 'transport is closed');
    if (!this.#offered) throw new MediaError('not-allowed', 'no offer was made');
    if (this.#answered) throw conflict('this transport already accepted an answer');
    const answer = checkSdp(sdp, 'answer');
    this.#answered = true;
    try {
      await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    } catch (err) {
      throw invalid(`unusable SDP answer: ${(err as Error).message}`);
    }
    for (const { consumer, transceiver } of this.#entries) {
      const codec = transceiver.codecs[0];
      if (!codec || !transceiver.mid) {
        this.logger.debug({ consumerId: consumer.id }, 'answer rejected the consumer m-line');
        consumer.close();
        continue;
      }
      const extensionIds = new Map(transceiver.headerExtensions.map((e) => [e.uri, e.id]));
      consumer.setNegotiated({ payloadType: codec.payloadType, mid: transceiver.mid, extensionIds });
      // werift keeps only the media codec on the transceiver: whether the browser took our RTX is in its answer.
      const rtx = consumer.kind === 'video' ? rtxPayloadTypeIn(answer, transceiver.mid, codec.payloadType) : null;
      consumer.setTransportFeedback(this.#sequencer, rtx === null ? null : { payloadType: rtx, ssrc: transceiver.sender.rtxSsrc });
      consumer.setKeyFrameGate(this.#downlink);
      if (this.#sink) consumer.connect(this.#sink);
    }
  }

  protected onStateChange(state: TransportState): void {
    if (state === 'connected') {
      const dtls = this.pc.dtlsTransports[0];
      if (dtls) {
        this.#tapTransportFeedback(dtls);
        this.#sink = (this.srtp === 'colloquy' ? attachOurSrtp(dtls) : null) ?? sinkOf(dtls);
        for (const { consumer } of this.#entries) consumer.connect(this.#sink);
      }
      this.#timer ??= everyPeriod(SR_INTERVAL_MS, () => this.#tick());
      this.#downlink.connected();
    } else if (state === 'disconnected' || state === 'failed') {
      this.#sink = null;
      for (const { consumer } of this.#entries) consumer.disconnect();
    }
  }

  #tick(): void {
    const now = performance.now();
    const reports = [];
    for (const { consumer } of this.#entries) {
      consumer.sample(now);
      const sr = consumer.senderReport();
      if (sr) reports.push(sr);
    }
    const dtls = this.pc.dtlsTransports[0];
    if (reports.length === 0 || !dtls || !rtcpWritable(dtls)) return;
    sendRtcp(
      dtls,
      reports.map((sr) => sr.serialize()),
      (err) => this.logger.debug({ err }, 'SR send failed'),
    );
  }

  /**
   * Transport feedback straight from the DTLS transport, once per connection. werift's router hands
   * an RTCP packet to the sender whose SSRC it names, and Chromium names the SSRC of the last packet
   * it received: during a probe that is the RTX SSRC of the padding, which no sender has, so werift
   * dropped the feedback. Measured in the impairment bench: probes on a free link read 24–70 of
   * their 110–170 packets missing (neither arrived nor lost), and their rate at 56–87 % of target.
   */
  #tapTransportFeedback(dtls: RTCDtlsTransport): void {
    if (this.#feedbackTapped) return;
    this.#feedbackTapped = true;
    this.subscriptions.push(
      dtls.onRtcp.subscribe((packet: RtcpPacket) => {
        if (packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof TransportWideCC) this.#onTransportFeedback(packet.feedback);
      }),
    );
  }

  #onTransportFeedback(feedback: TransportWideCC): void {
    if (this.closed) return;
    this.#downlink.onFeedback(this.#member, this.#sequencer.results(feedback), performance.now());
  }

  /** The client's downlink estimate and what fed it (shared by its subscriber connections). */
  get downlink(): DownlinkStats {
    return this.#downlink.stats;
  }

  getStats(): { id: string; state: TransportState; consumers: ConsumerStats[]; downlink: DownlinkStats } {
    return { id: this.id, state: this.state, consumers: this.#entries.map((e) => e.consumer.getStats()), downlink: this.downlink };
  }

  dump(): Record<string, unknown> {
    return this.dumpWith({ offered: this.#offered, answered: this.#answered, consumers: this.#entries.map((e) => e.consumer.dump()) });
  }

  /** close(): consumers and timers first, then the base closes the peer connection. */
  protected closeMedia(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#sink = null;
    this.#downlink.leave(this.#member);
    for (const { consumer } of [...this.#entries]) consumer.close();
    this.#entries = [];
  }
}

/** The RTX payload type the answer's m-section `mid` accepted for `apt`, or null. */
export function rtxPayloadTypeIn(sdp: string, mid: string, apt: number): number | null {
  const sections = sdp.split(/\r?\n(?=m=)/).map((section) => section.split(/\r?\n/));
  const lines = sections.find((section) => section.includes(`a=mid:${mid}`));
  if (lines === undefined) return null;
  for (const line of lines) {
    const fmtp = /^a=fmtp:(\d+) apt=(\d+)$/.exec(line.trim());
    if (fmtp === null || Number(fmtp[2]) !== apt) continue;
    if (lines.some((l) => l.trim().toLowerCase() === `a=rtpmap:${fmtp[1]} rtx/90000`)) return Number(fmtp[1]);
  }
  return null;
}

/** werift's DTLS transport as the consumers' sink; the header is our duck-typed OutgoingHeader. */
function sinkOf(dtls: RTCDtlsTransport): RtpSink {
  return { sendRtp: (payload, header) => dtls.sendRtp(payload, header as unknown as RtpHeader) };
}
