// Shared setup for the media tests: an engine, routers cleaned up after each test, and Node
// clients connected through real transports.

import { NodePublisher, NodeSubscriber, type NodePublisherOptions, type TestMedia } from '@colloquy/testing/media';
import { pino } from 'pino';
import { MediaEngine, type Producer, type Router } from '../src/index.js';
import { Consumer } from '../src/consumer.js';
import { ForwardingTable } from '../src/forwarding-table.js';
import { Producer as ProducerClass } from '../src/producer.js';
import { RtpView } from '../src/rtp-view.js';

export function newEngine(options: { portRange?: [number, number]; srtp?: 'colloquy' | 'werift' } = {}): MediaEngine {
  return new MediaEngine({ logger: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }), ...options });
}

/**
 * A VP8 producer that a test feeds itself (producer.receive), with no transport: simulcast when
 * `rids` are given. Its keyframe requests (SSRCs) go to `plis`.
 */
export function testVideoProducer(options: { id?: string; rids?: string[]; ssrc?: number; streamId?: string; extensionUris?: (string | undefined)[]; plis?: number[] } = {}): Producer {
  const plis = options.plis;
  const producer = new ProducerClass({
    id: options.id ?? 'p',
    kind: 'video',
    codec: { name: 'VP8', mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 },
    ssrc: options.ssrc ?? 0,
    ...(options.rids?.length ? { rids: options.rids } : {}),
    streamId: options.streamId ?? 's',
    extensionUris: options.extensionUris ?? [],
    link: { sendPli: (ssrc) => void plis?.push(ssrc), receiveStats: () => undefined, nackCount: () => 0 },
  });
  // Its own producer → consumers map, as a router would hold it (testConsumer adds to it).
  const table = new ForwardingTable();
  table.addProducer(producer);
  tables.set(producer, table);
  return producer;
}

const tables = new WeakMap<Producer, ForwardingTable>();

/**
 * A consumer of `producer` that its packets reach: added to the forwarding table a subscriber
 * transport would use (a test producer's own, or `table`: e.g. a router's, for a pipe's producer).
 */
export function testConsumer(params: { id: string; producer: Producer; ssrc: number; paused?: boolean }, table = tables.get(params.producer)): Consumer {
  if (!table) throw new Error(`no forwarding table for producer ${params.producer.id}`);
  const consumer = new Consumer(params);
  table.addConsumer(params.producer, consumer);
  return consumer;
}

export class MediaFixture {
  readonly cleanups: (() => Promise<void>)[] = [];
  #rooms = 0;
  constructor(
    readonly engine: MediaEngine,
    readonly media: TestMedia,
  ) {}

  router(options: { videoCodec?: 'VP8' | 'H264'; maxIncomingBitrate?: number } = {}): Router {
    const router = this.engine.createRouter({ id: `room-${++this.#rooms}-${Math.random()}`, ...options });
    this.cleanups.push(() => router.close());
    return router;
  }

  async publish(router: Router, options: Partial<NodePublisherOptions> = {}) {
    const publisher = new NodePublisher({ media: this.media, videoOrientation: 3, audioLevel: 0x2a, ...options });
    this.cleanups.push(() => publisher.close());
    const transport = router.createPublisherTransport();
    let producers: Producer[] = [];
    await publisher.connect(async (offer) => {
      const result = await transport.acceptOffer(offer);
      producers = result.producers;
      return result.answer;
    });
    return { publisher, transport, producers };
  }

  async subscribe(router: Router, producers: Producer[], options: { inboundLossPercent?: number; paused?: boolean; rtx?: boolean } = {}) {
    const subscriber = new NodeSubscriber(options);
    this.cleanups.push(() => subscriber.close());
    const transport = router.createSubscriberTransport();
    const consumers = transport.consume(producers, { paused: options.paused ?? false });
    const answer = await subscriber.answer(await transport.createOffer());
    await transport.acceptAnswer(answer);
    await subscriber.connected();
    return { subscriber, transport, consumers };
  }

  async cleanup(): Promise<void> {
    for (const c of this.cleanups.splice(0).reverse()) await c();
  }
}

/** Number of places where consecutive sequence numbers are not +1 (mod 2^16). */
export function gaps(seqs: number[]): number {
  let n = 0;
  for (let i = 1; i < seqs.length; i++) if (((seqs[i]! - seqs[i - 1]!) & 0xffff) !== 1) n++;
  return n;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A VP8 payload: a keyframe with its 10-byte header (S=1, P=0, start code, width × height) or a delta frame. */
export function vp8Payload(keyFrame: boolean, width = 640, height = 360): Buffer {
  if (!keyFrame) return Buffer.from([0x10, 0x01, 0, 0, 1, 2, 3]);
  const p = Buffer.alloc(12);
  p[0] = 0x10; // S=1, PID 0
  p[1] = 0x00; // P=0: keyframe
  p[4] = 0x9d;
  p[5] = 0x01;
  p[6] = 0x2a;
  p.writeUInt16LE(width, 7);
  p.writeUInt16LE(height, 9);
  return p;
}

/** A werift-built packet as the receive path hands it on: our RtpView over its bytes (its own view). */
export function viewOf(packet: { serialize(): Buffer }): RtpView {
  const view = new RtpView();
  if (!view.parse(packet.serialize())) throw new Error('viewOf: not an RTP packet');
  return view;
}
