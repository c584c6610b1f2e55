// ForwardingTable: the router's producer → consumers map (as mediasoup's Router keeps
// mapProducerConsumers). Producer and Consumer do not know each other's classes: each sees the
// other through one narrow interface declared here.
//
//   Producer ── ProducerOutput ──▶ FanOut (one per producer, owned by the table) ──▶ ConsumerSink × n
//   Consumer ── ProducerSource ──▶ its producer (keyframes, layers, sender reports, codec, pause state)
//
// The router adds every producer of its transports (publisher and pipe) with addProducer(), which
// binds the producer's output to a FanOut; its subscriber transports add each consumer they make with
// addConsumer(). The fan-out keeps its sinks in an array replaced on every change (copy on write):
// the packet path is one call from the producer and then an indexed loop, with no allocation and
// no lookup, and a consumer added or removed while a packet is being fanned out does not disturb
// that loop (the new one gets the next packet; the removed one has stopped sending already).

import { MediaError } from './errors.js';
import type { PayloadRing } from './payload-ring.js';
import type { RtpView } from './rtp-view.js';
import type { CodecInfo, MediaKind } from './types.js';

/** A spatial layer as a consumer sees it: index (0 = lowest), rid, SSRC once known, picture size. */
export interface ProducerLayer {
  index: number;
  rid: string;
  /** 0 until its first packet. */
  ssrc: number;
  /** From its last keyframe (0 until one was seen). */
  width: number;
  height: number;
  /** Received media bits per second over the last sample interval. */
  bitrate: number;
  /**
   * The same smoothed over about 2 s (0 while the layer does not flow): what the downlink allocator
   * sizes the layer by, so that one keyframe in a 500 ms sample does not read as the layer's need.
   */
  steadyBitrate: number;
  /** Asked to be sent (false: paused at the publisher because no one needs it). */
  active: boolean;
  /**
   * VP8 temporal layers: frames per second up to each TID (index t: frames with TID ≤ t), measured;
   * empty when the layer's frames carry no TID.
   */
  frameRates: number[];
  /**
   * VP8 temporal layers: the share of the layer's bytes (keyframes aside) up to each TID (the last
   * is 1), measured; empty when its frames carry no TID.
   */
  byteShares: number[];
}

/** The last RTCP sender report of the publisher, to map RTP time to wall time for consumers' SRs. */
export interface SenderReportSample {
  rtpTimestamp: number;
  /** performance.now() when it arrived. */
  receivedAt: number;
}

/** What a consumer needs from its producer (Producer implements it). */
export interface ProducerSource {
  readonly id: string;
  readonly kind: MediaKind;
  readonly codec: CodecInfo;
  /** Spatial layers: 1 for a single encoding. */
  readonly layerCount: number;
  /** The publisher's header extension URI by id, for the consumer's remapping. */
  readonly extensionUris: readonly (string | undefined)[];
  readonly paused: boolean;
  readonly closed: boolean;
  readonly layers: ProducerLayer[];
  /** Video: where consumers keep the payloads they sent, for NACKs (shared, one copy per packet); audio: null. */
  readonly payloadRing: PayloadRing | null;
  /** Asks the publisher for a keyframe of one layer (default: every layer), throttled by the producer. */
  requestKeyFrame(layer?: number): void;
  /** Recomputes which layers anyone needs (a consumer's layer choice, pause or quality state changed). */
  updateLayerDemand(): void;
  layerFlowing(layer: number): boolean;
  layerStopped(layer: number): boolean;
  /** Asked for a while and bringing nothing: the publisher does not send it (see Producer.layerUnavailable). */
  layerUnavailable(layer: number, now?: number): boolean;
  layerForResolution(preferred: { width: number; height: number } | null): number;
  temporalFrameRates(layer: number): number[];
  /** The payload bytes of the layer's last whole keyframe (0 before one came). */
  keyFrameBytes(layer: number): number;
  senderReport(layer?: number): SenderReportSample | undefined;
}

/** What a producer hands a packet or a state change to, and asks for layer demand (Consumer implements it). */
export interface ConsumerSink {
  readonly id: string;
  readonly paused: boolean;
  readonly closed: boolean;
  readonly qualityDisabled: boolean;
  /** The spatial layer forwarded (-1: none yet) and the one wanted: both are kept on at the publisher. */
  readonly currentLayer: number;
  readonly targetLayer: number;
  /** Packet path: one producer packet of spatial layer `layer`. */
  forward(packet: RtpView, keyFrame: boolean, layer: number): void;
  handleProducerPause(): void;
  handleProducerResume(): void;
  /** The producer closed: the sink closes itself (and so leaves the fan-out). */
  handleProducerClose(): void;
  /** The table removes the sink from the fan-out when it closes. */
  once(event: 'close', listener: () => void): unknown;
}

/** Where a producer's packets and state changes go: its FanOut, bound by ForwardingTable.addProducer. */
export interface ProducerOutput {
  /** Packet path (not while the producer is paused). */
  forward(packet: RtpView, keyFrame: boolean, layer: number): void;
  producerPaused(): void;
  producerResumed(): void;
  /** Closes every consumer (each emits producerClose, then close) and leaves the table. */
  producerClosed(): void;
  /** Marks `needed[i]` for every layer an unpaused, enabled consumer forwards or wants. */
  addNeededLayers(needed: boolean[]): void;
  readonly consumerCount: number;
  consumerIds(): string[];
}

/** A producer as the table takes it: a source for its consumers, whose output the table binds. */
export interface ForwardedProducer extends ProducerSource {
  /** @internal Where its packets go from now on (null: nowhere). */
  bindOutput(output: ProducerOutput | null): void;
}

/** One producer's consumers: the fan-out its packets go through. */
export class FanOut implements ProducerOutput {
  readonly producer: ProducerSource;
  /** Array (not Set), replaced on change, so the packet path iterates without an iterator object. */
  #sinks: ConsumerSink[] = [];
  readonly #onClosed: () => void;

  constructor(producer: ProducerSource, onClosed: () => void = () => {}) {
    this.producer = producer;
    this.#onClosed = onClosed;
  }

  get sinks(): readonly ConsumerSink[] {
    return this.#sinks;
  }

  get consumerCount(): number {
    return this.#sinks.length;
  }

  consumerIds(): string[] {
    return this.#sinks.map((s) => s.id);
  }

  add(sink: ConsumerSink): void {
    if (this.#sinks.includes(sink)) return;
    this.#sinks = [...this.#sinks, sink];
  }

  remove(sink: ConsumerSink): void {
    if (this.#sinks.includes(sink)) this.#sinks = this.#sinks.filter((s) => s !== sink);
  }

  forward(packet: RtpView, keyFrame: boolean, layer: number): void {
    const sinks = this.#sinks;
    for (let i = 0; i < sinks.length; i++) sinks[i]!.forward(packet, keyFrame, layer);
  }

  producerPaused(): void {
    const sinks = this.#sinks;
    for (let i = 0; i < sinks.length; i++) sinks[i]!.handleProducerPause();
  }

  producerResumed(): void {
    const sinks = this.#sinks;
    for (let i = 0; i < sinks.length; i++) sinks[i]!.handleProducerResume();
  }

  producerClosed(): void {
    const sinks = this.#sinks;
    for (let i = 0; i < sinks.length; i++) sinks[i]!.handleProducerClose();
    this.#sinks = [];
    this.#onClosed();
  }

  addNeededLayers(needed: boolean[]): void {
    for (const sink of this.#sinks) {
      if (sink.paused || sink.closed || sink.qualityDisabled) continue;
      const current = sink.currentLayer;
      const target = sink.targetLayer;
      if (current >= 0 && current < needed.length) needed[current] = true;
      if (target >= 0 && target < needed.length) needed[target] = true;
    }
  }
}

/** A router's producer → consumers map: one FanOut per producer, by producer id. */
export class ForwardingTable {
  readonly #fanOuts = new Map<string, FanOut>();

  /** Starts forwarding a producer's packets through this table (the router adopts it). */
  addProducer(producer: ForwardedProducer): FanOut {
    if (producer.closed) throw new MediaError('not-allowed', `producer ${producer.id} is closed`);
    const existing = this.#fanOuts.get(producer.id);
    if (existing !== undefined) {
      if (existing.producer === producer) return existing;
      throw new MediaError('conflict', `producer ${producer.id} exists`);
    }
    const fanOut = new FanOut(producer, () => {
      if (this.#fanOuts.get(producer.id) === fanOut) this.#fanOuts.delete(producer.id);
    });
    this.#fanOuts.set(producer.id, fanOut);
    producer.bindOutput(fanOut);
    return fanOut;
  }

  /** Is this producer (this object, not only its id) forwarded here? */
  has(producer: ProducerSource): boolean {
    return this.#fanOuts.get(producer.id)?.producer === producer;
  }

  /**
   * Adds a consumer of `producer` to its fan-out (it gets the next packet) until the consumer
   * closes, and updates the producer's layer demand.
   */
  addConsumer(producer: ProducerSource, consumer: ConsumerSink): void {
    const fanOut = this.#fanOuts.get(producer.id);
    if (fanOut === undefined || fanOut.producer !== producer) throw new MediaError(producer.closed ? 'not-found' : 'invalid', `producer ${producer.id} is not forwarded here`);
    if (consumer.closed) throw new MediaError('not-allowed', `consumer ${consumer.id} is closed`);
    fanOut.add(consumer);
    consumer.once('close', () => fanOut.remove(consumer));
    producer.updateLayerDemand();
  }

  /** The consumers of a producer (empty for one not forwarded here). */
  consumersOf(producerId: string): readonly ConsumerSink[] {
    return this.#fanOuts.get(producerId)?.sinks ?? [];
  }

  get producerCount(): number {
    return this.#fanOuts.size;
  }
}
