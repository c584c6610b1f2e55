// SubscriberTransport: the server end of one subscriber's peer connection. We add a sendonly
// transceiver per consumed producer and make the offer; the browser answers. Consumers start when
// DTLS is up; a timer sends their RTCP sender reports and samples their bitrates.

import { randomUUID } from 'node:crypto';
import type { RTCDtlsTransport, RTCPeerConnection, RTCRtpTransceiver, RtcpPacket, RtpHeader } from 'werift';
import { ColloquyError, conflict, invalid } from '../errors.js';
import type { Logger } from '../logger.js';
import { Consumer, type RtpSink } from './consumer.js';
import { TypedEmitter } from '../typed-emitter.js';
import { createSubscriberPeer, opusCodec, videoCodec, waitForGathering, type IceSettings } from './peer-config.js';
import type { Producer } from './producer.js';
import { candidateLines } from './publisher-transport.js';
import { checkSdp } from './sdp-checks.js';
import { attachOurSrtp, srtpDump, type SrtpImplementation } from './srtp-path.js';
import { addRemoteCandidate, LocalNegotiation, subscribeState, type Subscription } from './transport-common.js';
import type { ConsumerStats, IceCandidateInit, TransportState } from './types.js';

export type SubscriberTransportEvents = {
  stateChange: [TransportState];
  close: [];
};

export interface SubscriberTransportOptions {
  id: string;
  ice: IceSettings;
  srtp: SrtpImplementation;
  logger: Logger;
  /** Is this producer one of our router's (consumers never cross sessions)? */
  ownsProducer: (producer: Producer) => boolean;
}

/** RTCP sender reports per consumer about once a second (RFC 3550 allows 5 %; this is far below). */
const SR_INTERVAL_MS = 1000;

/** Fixed payload types for what we offer, the ones Chromium itself uses for these codecs. */
const PAYLOAD_TYPE = { opus: 111, VP8: 96, H264: 102 } as const;

interface Entry {
  consumer: Consumer;
  transceiver: RTCRtpTransceiver;
}

export class SubscriberTransport extends TypedEmitter<SubscriberTransportEvents> {
  readonly id: string;
  readonly #pc: RTCPeerConnection;
  readonly #logger: Logger;
  readonly #ownsProducer: (producer: Producer) => boolean;
  readonly #srtp: SrtpImplementation;
  readonly #negotiation: LocalNegotiation;
  #entries: Entry[] = [];
  readonly #subscriptions: Subscription[] = [];
  #state: TransportState = 'new';
  #offered = false;
  #answered = false;
  #timer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #sink: RtpSink | null = null;

  constructor(options: SubscriberTransportOptions) {
    super();
    this.id = options.id;
    this.#logger = options.logger;
    this.#ownsProducer = options.ownsProducer;
    this.#srtp = options.srtp;
    this.#pc = createSubscriberPeer(options.ice);
    this.#negotiation = new LocalNegotiation(this.#pc, () => this.closed);
    this.#subscriptions.push(subscribeState(this.#pc, (state) => this.#onState(state)));
  }

  get state(): TransportState {
    return this.#state;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  get consumers(): Consumer[] {
    return this.#entries.map((e) => e.consumer);
  }

  /**
   * One consumer per producer, each on its own sendonly m-line. Call before createOffer(): a
   * subscriber's connection is negotiated once (one per OpenTok Subscriber), never renegotiated.
   */
  consume(producers: Producer[], options: { paused?: boolean } = {}): Consumer[] {
    if (this.closed) throw new ColloquyError('not-allowed', 'transport is closed');
    if (this.#offered) throw new ColloquyError('not-allowed', 'consume() must come before createOffer()');
    if (!Array.isArray(producers) || producers.length === 0) throw invalid('consume() needs at least one producer');
    for (const producer of producers) {
      if (producer.closed) throw new ColloquyError('not-found', `producer ${producer.id} is closed`);
      if (!this.#ownsProducer(producer)) throw invalid(`producer ${producer.id} belongs to another router`);
      if (this.#entries.some((e) => e.consumer.producer === producer)) throw conflict(`producer ${producer.id} is already consumed here`);
    }
    return producers.map((producer) => this.#consumeOne(producer, options.paused ?? false));
  }

  #consumeOne(producer: Producer, paused: boolean): Consumer {
    const transceiver = this.#pc.addTransceiver(producer.kind, { direction: 'sendonly' });
    const codec = producer.codec;
    transceiver.codecs = [
      codec.name === 'opus'
        ? opusCodec(PAYLOAD_TYPE.opus, codec.parameters)
        : videoCodec(codec.name, {
            payloadType: PAYLOAD_TYPE[codec.name],
            ...(codec.parameters ? { parameters: codec.parameters } : {}),
          }),
    ];
    // Audio and video of one published stream share an msid stream id, so the browser syncs them.
    transceiver.sender.streamId = producer.streamId;
    const consumer = new Consumer({ id: randomUUID(), producer, ssrc: transceiver.sender.ssrc, paused });
    const entry: Entry = { consumer, transceiver };
    this.#entries.push(entry);
    this.#subscriptions.push(transceiver.sender.onRtcp.subscribe((packet: RtcpPacket) => consumer.handleRtcp(packet)));
    consumer.on('close', () => {
      this.#entries = this.#entries.filter((e) => e !== entry);
    });
    return consumer;
  }

  /** Our SDP offer, ICE candidates included. */
  async createOffer(): Promise<string> {
    if (this.closed) throw new ColloquyError('not-allowed', 'transport is closed');
    if (this.#offered) throw conflict('this transport already made its offer');
    if (this.#entries.length === 0) throw new ColloquyError('not-allowed', 'nothing to offer: call consume() first');
    this.#offered = true;
    const offer = await this.#pc.createOffer();
    await this.#negotiation.setLocalDescription(offer);
    await waitForGathering(this.#pc);
    if (this.closed) throw new ColloquyError('not-allowed', 'transport closed while offering');
    return this.#pc.localDescription!.sdp;
  }

  /** The browser's answer: settles each consumer's payload type, mid and header-extension ids. */
  async acceptAnswer(sdp: unknown): Promise<void> {
    if (this.closed) throw new ColloquyError('not-allowed', 'transport is closed');
    if (!this.#offered) throw new ColloquyError('not-allowed', 'no offer was made');
    if (this.#answered) throw conflict('this transport already accepted an answer');
    const answer = checkSdp(sdp, 'answer');
    this.#answered = true;
    try {
      await this.#pc.setRemoteDescription({ type: 'answer', sdp: answer });
    } catch (err) {
      throw invalid(`unusable SDP answer: ${(err as Error).message}`);
    }
    for (const { consumer, transceiver } of this.#entries) {
      const codec = transceiver.codecs[0];
      if (!codec || !transceiver.mid) {
        this.#logger.debug({ consumerId: consumer.id }, 'answer rejected the consumer m-line');
        consumer.close();
        continue;
      }
      const extensionIds = new Map(transceiver.headerExtensions.map((e) => [e.uri, e.id]));
      consumer.setNegotiated({ payloadType: codec.payloadType, mid: transceiver.mid, extensionIds });
      if (this.#sink) consumer.connect(this.#sink);
    }
  }

  async addRemoteCandidate(candidate: IceCandidateInit | null | undefined): Promise<void> {
    if (this.closed) return;
    await addRemoteCandidate(this.#pc, candidate);
  }

  #onState(state: TransportState): void {
    if (this.closed || state === this.#state) return;
    this.#state = state;
    if (state === 'connected') {
      const dtls = this.#pc.dtlsTransports[0];
      if (dtls) {
        this.#sink = (this.#srtp === 'colloquy' ? attachOurSrtp(dtls) : null) ?? sinkOf(dtls);
        for (const { consumer } of this.#entries) consumer.connect(this.#sink);
      }
      this.#timer ??= setInterval(() => this.#tick(), SR_INTERVAL_MS);
    } else if (state === 'disconnected' || state === 'failed') {
      this.#sink = null;
      for (const { consumer } of this.#entries) consumer.disconnect();
    }
    this.emit('stateChange', state);
  }

  #tick(): void {
    const now = performance.now();
    const reports = [];
    for (const { consumer } of this.#entries) {
      consumer.sample(now);
      const sr = consumer.senderReport();
      if (sr) reports.push(sr);
    }
    const dtls = this.#pc.dtlsTransports[0];
    if (reports.length === 0 || !dtls || dtls.state !== 'connected') return;
    dtls.sendRtcp(reports).catch((err: unknown) => this.#logger.debug({ err }, 'SR send failed'));
  }

  getStats(): { id: string; state: TransportState; consumers: ConsumerStats[] } {
    return { id: this.id, state: this.#state, consumers: this.#entries.map((e) => e.consumer.getStats()) };
  }

  dump(): Record<string, unknown> {
    return {
      id: this.id,
      kind: 'subscriber',
      state: this.#state,
      closed: this.closed,
      offered: this.#offered,
      answered: this.#answered,
      consumers: this.#entries.map((e) => e.consumer.dump()),
      srtp: srtpDump(this.#pc.dtlsTransports[0]),
      localCandidates: candidateLines(this.#pc.localDescription?.sdp),
    };
  }

  /** Closes consumers, then the peer connection and its socket. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#sink = null;
      for (const { consumer } of [...this.#entries]) consumer.close();
      this.#entries = [];
      for (const sub of this.#subscriptions.splice(0)) sub.unSubscribe();
      this.#state = 'closed';
      this.emit('close');
      this.removeAllListeners();
      await this.#pc.close().catch((err: unknown) => this.#logger.warn({ err }, 'subscriber peer close failed'));
      await this.#negotiation.settle();
    })();
    return this.#closing;
  }
}

/** werift's DTLS transport as the consumers' sink; the header is our duck-typed OutgoingHeader. */
function sinkOf(dtls: RTCDtlsTransport): RtpSink {
  return { sendRtp: (payload, header) => dtls.sendRtp(payload, header as unknown as RtpHeader) };
}
