// Router: the media side of one session. It makes the session's transports, knows every producer
// published in it, owns the producer → consumers map (its ForwardingTable: every producer's fan-out
// to the consumers its subscriber transports make), and closes all of them with itself.

import { randomUUID } from 'node:crypto';
import { MediaError } from './errors.js';
import type { Logger } from 'pino';
import type { VideoCodecName } from './codecs.js';
import { TypedEmitter } from './typed-emitter.js';
import type { IceSettings } from './peer-config.js';
import { ForwardingTable } from './forwarding-table.js';
import type { Producer } from './producer.js';
import { PipeTransport } from './pipe-transport.js';
import { Downlink } from './downlink.js';
import type { SrtpImplementation } from './srtp-path.js';
import type { UplinkEstimation } from './bitrate-controller.js';
import { PublisherTransport } from './publisher-transport.js';
import { SubscriberTransport } from './subscriber-transport.js';

export type RouterEvents = {
  close: [];
  /** A producer appeared in this router (after its transport's acceptOffer). */
  producer: [Producer];
};

export interface RouterOptions {
  /** Usually the session ID. */
  id: string;
  /** The session's video codec: publishers must send it, subscribers get it. Default VP8. */
  videoCodec?: VideoCodecName;
  /** Most bits per second one publisher may send in this session (REMB cap). Default: the engine's. */
  maxIncomingBitrate?: number;
  /** How publishers learn their uplink (bitrate-controller.ts). Default: the engine's. */
  uplinkEstimation?: UplinkEstimation;
}

export class Router extends TypedEmitter<RouterEvents> {
  readonly id: string;
  readonly videoCodec: VideoCodecName;
  readonly maxIncomingBitrate: number;
  readonly uplinkEstimation: UplinkEstimation;
  readonly #ice: IceSettings;
  readonly #logger: Logger;
  readonly #srtp: SrtpImplementation;
  readonly #publishers = new Map<string, PublisherTransport>();
  readonly #subscribers = new Map<string, SubscriberTransport>();
  /** Subscriber transports of one client, by its key (createSubscriberTransport's downlinkGroup). */
  readonly #downlinks = new Map<string, Downlink>();
  readonly #producers = new Map<string, Producer>();
  readonly #pipes = new Map<string, PipeTransport>();
  /** The producer → consumers map: each producer's fan-out to its consumers (forwarding-table.ts). */
  readonly #forwarding = new ForwardingTable();
  #closing: Promise<void> | undefined;

  /** @internal Made by MediaEngine.createRouter. */
  constructor(params: {
    id: string;
    videoCodec: VideoCodecName;
    maxIncomingBitrate: number;
    uplinkEstimation: UplinkEstimation;
    ice: IceSettings;
    srtp: SrtpImplementation;
    logger: Logger;
  }) {
    super();
    this.id = params.id;
    this.videoCodec = params.videoCodec;
    this.maxIncomingBitrate = params.maxIncomingBitrate;
    this.uplinkEstimation = params.uplinkEstimation;
    this.#ice = params.ice;
    this.#srtp = params.srtp;
    this.#logger = params.logger;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  get producers(): Producer[] {
    return [...this.#producers.values()];
  }

  getProducer(id: string): Producer | undefined {
    return this.#producers.get(id);
  }

  get transportCount(): number {
    return this.#publishers.size + this.#subscribers.size;
  }

  /** A transport for one publisher (one OpenTok Publisher): its id becomes the msid stream id. */
  createPublisherTransport(options: { id?: string; maxIncomingBitrate?: number } = {}): PublisherTransport {
    this.#assertOpen();
    const id = options.id ?? randomUUID();
    if (this.#publishers.has(id) || this.#subscribers.has(id)) throw new MediaError('conflict', `transport ${id} exists`);
    const transport = new PublisherTransport({
      id,
      ice: this.#ice,
      srtp: this.#srtp,
      videoCodec: this.videoCodec,
      maxIncomingBitrate: Math.min(options.maxIncomingBitrate ?? this.maxIncomingBitrate, this.maxIncomingBitrate),
      uplinkEstimation: this.uplinkEstimation,
      logger: this.#logger,
    });
    this.#publishers.set(id, transport);
    transport.on('producer', (producer) => this.#adoptProducer(producer));
    transport.on('close', () => this.#publishers.delete(id));
    return transport;
  }

  /**
   * A transport for one subscriber (one OpenTok Subscriber). `downlinkGroup` names the client it
   * serves (e.g. its OpenTok connection id): transports of one client share its downlink (one
   * estimate, one allocator, one probe at a time: downlink.ts).
   */
  createSubscriberTransport(options: { id?: string; downlinkGroup?: string } = {}): SubscriberTransport {
    this.#assertOpen();
    const id = options.id ?? randomUUID();
    if (this.#publishers.has(id) || this.#subscribers.has(id)) throw new MediaError('conflict', `transport ${id} exists`);
    const key = options.downlinkGroup;
    if (key !== undefined && (typeof key !== 'string' || key.length === 0)) throw new MediaError('invalid', 'downlinkGroup must be a non-empty string');
    let downlink: Downlink | undefined;
    if (key !== undefined) {
      downlink = this.#downlinks.get(key) ?? new Downlink();
      this.#downlinks.set(key, downlink);
    }
    const transport = new SubscriberTransport({
      id,
      ice: this.#ice,
      srtp: this.#srtp,
      logger: this.#logger,
      forwarding: this.#forwarding,
      ...(downlink ? { downlink } : {}),
    });
    this.#subscribers.set(id, transport);
    transport.on('close', () => {
      this.#subscribers.delete(id);
      // The transport has left its downlink as it closed: forgotten once none is left in it.
      if (downlink !== undefined && downlink.size === 0 && this.#downlinks.get(key!) === downlink) this.#downlinks.delete(key!);
    });
    return transport;
  }

  /**
   * A pipe to the router of another node (mediasoup's createPipeTransport): plain RTP over UDP on
   * `listenIp`. Producers it makes with produce() are this router's, so its subscribers consume them.
   */
  async createPipeTransport(options: { id?: string; listenIp: string }): Promise<PipeTransport> {
    this.#assertOpen();
    const id = options.id ?? randomUUID();
    if (this.#pipes.has(id)) throw new MediaError('conflict', `pipe ${id} exists`);
    const pipe = await PipeTransport.open({ id, listenIp: options.listenIp, logger: this.#logger });
    if (this.closed || this.#pipes.has(id)) {
      pipe.close();
      throw new MediaError(this.closed ? 'not-allowed' : 'conflict', this.closed ? `router ${this.id} is closed` : `pipe ${id} exists`);
    }
    this.#pipes.set(id, pipe);
    pipe.on('producer', (producer) => this.#adoptProducer(producer));
    pipe.on('close', () => this.#pipes.delete(id));
    return pipe;
  }

  /** A producer of one of this router's transports: its subscribers may consume it until it closes. */
  #adoptProducer(producer: Producer): void {
    if (producer.closed) return;
    this.#forwarding.addProducer(producer);
    this.#producers.set(producer.id, producer);
    producer.on('close', () => this.#producers.delete(producer.id));
    this.emit('producer', producer);
  }

  /** @internal The producer → consumers map (tests and benchmarks that make consumers without a subscriber transport). */
  get forwarding(): ForwardingTable {
    return this.#forwarding;
  }

  get pipes(): PipeTransport[] {
    return [...this.#pipes.values()];
  }

  #assertOpen(): void {
    if (this.closed) throw new MediaError('not-allowed', `router ${this.id} is closed`);
  }

  getStats(): Record<string, unknown> {
    return {
      id: this.id,
      publishers: [...this.#publishers.values()].map((t) => t.getStats()),
      subscribers: [...this.#subscribers.values()].map((t) => t.getStats()),
    };
  }

  dump(): Record<string, unknown> {
    return {
      id: this.id,
      videoCodec: this.videoCodec,
      maxIncomingBitrate: this.maxIncomingBitrate,
      uplinkEstimation: this.uplinkEstimation,
      closed: this.closed,
      producerIds: [...this.#producers.keys()],
      transports: [...this.#publishers.values(), ...this.#subscribers.values()].map((t) => t.dump()),
      pipes: [...this.#pipes.values()].map((p) => p.dump()),
    };
  }

  /** Closes every transport (and so every producer and consumer). Idempotent; resolves when sockets are released. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      // Subscribers first: their consumers detach before producers go away.
      const subscribers = [...this.#subscribers.values()].map((t) => t.close());
      const publishers = [...this.#publishers.values()].map((t) => t.close());
      for (const pipe of [...this.#pipes.values()]) pipe.close();
      this.emit('close');
      this.removeAllListeners();
      await Promise.all([...subscribers, ...publishers]);
    })();
    return this.#closing;
  }
}
