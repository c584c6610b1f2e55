// PipeTransport: plain RTP over UDP between the routers of two nodes of a cluster, as mediasoup's
// PipeTransport links routers. One pipe carries one published stream (its audio and video
// producers, every simulcast layer) from the node that receives it from the browser (the session's
// home) to one other node, where it becomes ordinary producers that the node's own subscriber
// transports consume: the stream crosses the network once per node, however many subscribers
// that node serves.
//
//   home node                                   edge node
//   Producer ── addLayerListener ──▶ pipe ═UDP═▶ pipe ── Producer (pipe) ──▶ Consumers (local SFU)
//            ◀── requestKeyFrame(layer) ◀═ RTCP PLI ═══ sendPli(ssrc) ◀── consumers' PLI/FIR, joins
//            ◀── LayerDemand ◀═══ RTCP APP 'CLAY' ═══ 'layers' ◀── the edge consumers' layer choices
//
// No ICE, DTLS or SRTP (the pipe runs on loopback or a private network between nodes, as
// mediasoup's pipes do by default), no RTX or NACK (a packet lost between nodes is lost to the
// edge's subscribers, who are answered from their own consumer's history where it has it). Each
// producer gets an SSRC base on the pipe (a multiple of 4); layer i travels as SSRC base + i, so the
// far end knows the layer of each packet and a keyframe request names it. The publisher's RTCP
// sender reports are re-sent on the pipe every second (audio/video sync survives the hop). The
// socket takes datagrams from the far end's address only.
//
// Simulcast layers the edge's subscribers do not watch pause at the publisher, as on one node: the
// edge's pipe producer tracks its consumers' layer needs (on at once, off after the producer's
// pause delay) and each change, and every second as a repeat (a datagram may be lost), crosses as
// an RTCP APP packet (name 'CLAY', the SSRC base, a bit mask of needed layers); at home it narrows
// the pipe's LayerDemand on the publisher's producer, which keeps a layer on while any local
// consumer or pipe needs it. Until the first mask arrives, every layer stays on.

import { randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { PictureLossIndication, RtcpPacketConverter, RtcpPayloadSpecificFeedback, RtcpSenderInfo, RtcpSrPacket } from 'werift';
import { RtpView } from './rtp-view.js';
import { everyPeriod, type ClockTask } from './media-clock.js';
import { MediaError, invalid } from './errors.js';
import type { Logger } from 'pino';
import { ntpTimestamp } from './consumer.js';
import { isRtcp } from './srtp/index.js';
import { Producer, type LayerDemand } from './producer.js';
import { TypedEmitter } from './typed-emitter.js';
import type { CodecInfo, MediaKind } from './types.js';

/** Where a pipe's socket is: the far end sends there. */
export interface PipeAddress {
  ip: string;
  port: number;
}

/** A producer as the far end of a pipe recreates it (plain data: it travels between nodes as JSON). */
export interface PipeProducerParams {
  id: string;
  kind: MediaKind;
  codec: CodecInfo;
  rids: string[];
  streamId: string;
  /** The publisher's header extension URIs by id: the packets keep the publisher's ids. */
  extensionUris: (string | null)[];
  /** Layer i travels with SSRC ssrcBase + i. */
  ssrcBase: number;
}

export interface PipeTransportStats {
  id: string;
  local: PipeAddress;
  remote: PipeAddress | null;
  /** Producers this end sends (home side) and receives (edge side). */
  consumed: number;
  produced: number;
  packetsSent: number;
  bytesSent: number;
  packetsReceived: number;
  bytesReceived: number;
  /** Keyframe requests sent to the far end, and received from it. */
  pliSent: number;
  pliReceived: number;
  /** Layer demands (RTCP APP 'CLAY') sent to the far end (edge side), and received from it (home side). */
  layerDemandsSent: number;
  layerDemandsReceived: number;
  /** Datagrams refused: from another address, unknown SSRC, or not RTP/RTCP. */
  dropped: number;
}

export type PipeTransportEvents = {
  /** A producer made by produce() (the router adds it to its producers). */
  producer: [Producer];
  close: [];
};

/** How often the publisher's sender reports are re-sent on the pipe, and producers sampled. */
const SR_INTERVAL_MS = 1000;
const SAMPLE_INTERVAL_MS = 500;
const MAX_LAYERS = 4;
/** Send buffer: loopback and LAN sends complete at once; room for a burst. */
const PIPE_SEND_BUFFER_BYTES = 4 << 20;
/**
 * Receive buffer: room for an event-loop stall (Linux doubles what is set: ~440 packets, 0.2 s of a
 * 2000 packets/s stream, 1.5 s of a 1.5 Mbps one), but not a standing queue. Under saturation the
 * far end reads slower than the stream arrives and the buffer stays full: every packet then waits a
 * buffer's worth. With 4 MB a 1 Mbps stream waited 24 s at a saturated media worker (bench, 1→300
 * at 1 Mbps), with 1 MB 4.4 s (16↔16 at 1.5 Mbps); past this buffer packets are dropped instead.
 */
const PIPE_RECV_BUFFER_BYTES = 256 << 10;

interface SentProducer {
  producer: Producer;
  ssrcBase: number;
  /** The far end's layer needs (null until it says). */
  demand: LayerDemand;
  stop: () => void;
}

/** RTCP APP name of a layer demand. */
const LAYER_DEMAND_NAME = 'CLAY';
const RTCP_APP = 204;

/** An RTCP APP packet saying which layers of the producer at `ssrcBase` the sender's consumers need. */
export function layerDemandPacket(ssrcBase: number, active: readonly boolean[]): Buffer {
  const packet = Buffer.alloc(16);
  packet[0] = 0x80; // V=2, no padding, subtype 0
  packet[1] = RTCP_APP;
  packet.writeUInt16BE(3, 2); // length: 4 words, minus one
  packet.writeUInt32BE(ssrcBase >>> 0, 4);
  packet.write(LAYER_DEMAND_NAME, 8, 'ascii');
  let mask = 0;
  for (let i = 0; i < Math.min(active.length, MAX_LAYERS); i++) if (active[i]) mask |= 1 << i;
  packet.writeUInt32BE(mask, 12);
  return packet;
}

/** The SSRC base and needed-layer mask of a layer demand packet; null for any other datagram. */
export function parseLayerDemand(data: Buffer): { ssrcBase: number; mask: number } | null {
  if (data.length !== 16 || data[1] !== RTCP_APP || data.readUInt16BE(2) !== 3 || data.toString('ascii', 8, 12) !== LAYER_DEMAND_NAME) return null;
  return { ssrcBase: data.readUInt32BE(4), mask: data.readUInt32BE(12) };
}

export class PipeTransport extends TypedEmitter<PipeTransportEvents> {
  readonly id: string;
  readonly #socket: Socket;
  readonly #local: PipeAddress;
  readonly #log: Logger;
  #remote: PipeAddress | null = null;
  /** By SSRC base / 4: what this end sends, and what it receives. */
  readonly #sent = new Map<number, SentProducer>();
  readonly #received = new Map<number, Producer>();
  readonly #timer: ClockTask;
  #closed = false;
  #lastSr = 0;
  #packetsSent = 0;
  #bytesSent = 0;
  #packetsReceived = 0;
  #bytesReceived = 0;
  #pliSent = 0;
  #pliReceived = 0;
  #layerDemandsSent = 0;
  #layerDemandsReceived = 0;
  #dropped = 0;
  /** One parse per received datagram, reused (the producer and its consumers copy what they keep). */
  readonly #view = new RtpView();

  private constructor(id: string, socket: Socket, local: PipeAddress, logger: Logger) {
    super();
    this.id = id;
    this.#socket = socket;
    this.#local = local;
    this.#log = logger.child({ module: 'pipe', pipeId: id });
    socket.on('message', (data, from) => this.#onDatagram(data, from));
    socket.on('error', (err) => this.#log.warn({ err: err.message }, 'pipe socket error'));
    this.#timer = everyPeriod(SAMPLE_INTERVAL_MS, () => this.#tick(), { unref: true });
  }

  /** @internal Made by Router.createPipeTransport: binds a UDP port on `listenIp` (the OS picks it). */
  static async open(options: { id: string; listenIp: string; logger: Logger }): Promise<PipeTransport> {
    const socket = createSocket({ type: options.listenIp.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: options.listenIp, port: 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    // A pipe carries a whole stream between nodes (every layer): a stall of the event loop must not
    // overflow the default buffer (~200 kB, about 190 packets; 2000 packets/s dropped hundreds in a
    // loaded bench run). The kernel's cap (net.core.rmem_max / wmem_max) applies.
    for (const set of [() => socket.setRecvBufferSize(PIPE_RECV_BUFFER_BYTES), () => socket.setSendBufferSize(PIPE_SEND_BUFFER_BYTES)]) {
      try {
        set();
      } catch {
        // Above the cap: the default still works.
      }
    }
    const address = socket.address();
    return new PipeTransport(options.id, socket, { ip: address.address, port: address.port }, options.logger);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Where the far end sends. */
  get localAddress(): PipeAddress {
    return { ...this.#local };
  }

  get remoteAddress(): PipeAddress | null {
    return this.#remote ? { ...this.#remote } : null;
  }

  /** The far end's socket: packets go there, and only its datagrams are taken. */
  connect(remote: PipeAddress): void {
    if (this.#closed) throw new MediaError('not-allowed', 'pipe closed');
    if (typeof remote?.ip !== 'string' || !Number.isInteger(remote.port) || remote.port < 1 || remote.port > 65_535) throw invalid('a pipe needs the far end as { ip, port }');
    this.#remote = { ip: remote.ip, port: remote.port };
  }

  /**
   * Home side: sends every packet of `producer` (every layer, not while paused) to the far end, and
   * turns the far end's keyframe requests into requests to it. Returns what the far end's produce() takes.
   */
  consume(producer: Producer): PipeProducerParams {
    if (this.#closed) throw new MediaError('not-allowed', 'pipe closed');
    if (producer.closed) throw new MediaError('not-allowed', `producer ${producer.id} is closed`);
    for (const sent of this.#sent.values()) if (sent.producer === producer) throw new MediaError('conflict', `producer ${producer.id} is already piped here`);
    let key: number;
    do key = randomInt(1, 2 ** 30);
    while (this.#sent.has(key));
    const ssrcBase = key * MAX_LAYERS;
    const demand: LayerDemand = { layers: null };
    const stopListening = producer.addLayerListener((packet, layer) => this.#sendRtp(packet, ssrcBase + layer), demand);
    const onClose = (): void => void this.#sent.delete(key);
    producer.once('close', onClose);
    this.#sent.set(key, {
      producer,
      ssrcBase,
      demand,
      stop: () => {
        stopListening();
        producer.off('close', onClose);
      },
    });
    return {
      id: producer.id,
      kind: producer.kind,
      codec: { ...producer.codec },
      rids: [...producer.rids],
      streamId: producer.streamId,
      extensionUris: producer.extensionUris.map((uri) => uri ?? null),
      ssrcBase,
    };
  }

  /** Edge side: a producer fed by the far end's consume() of the same stream. */
  produce(params: PipeProducerParams): Producer {
    if (this.#closed) throw new MediaError('not-allowed', 'pipe closed');
    if (!Number.isInteger(params.ssrcBase) || params.ssrcBase <= 0 || params.ssrcBase % MAX_LAYERS !== 0 || params.ssrcBase >= 2 ** 32) throw invalid('a pipe producer needs an SSRC base (a multiple of 4)');
    if (params.rids.length > 3) throw invalid('a pipe producer has at most 3 layers');
    const key = params.ssrcBase / MAX_LAYERS;
    if (this.#received.has(key)) throw new MediaError('conflict', `SSRC base ${params.ssrcBase} is in use on this pipe`);
    const producer = new Producer({
      id: params.id,
      kind: params.kind,
      codec: params.codec,
      ssrc: params.ssrcBase,
      ...(params.rids.length > 1 ? { rids: params.rids } : {}),
      streamId: params.streamId,
      extensionUris: params.extensionUris.map((uri) => uri ?? undefined),
      link: {
        sendPli: (ssrc) => this.#sendPli(ssrc),
        receiveStats: () => undefined,
        nackCount: () => 0,
      },
    });
    this.#received.set(key, producer);
    producer.once('close', () => this.#received.delete(key));
    // The layers this node's consumers need go back to the home (and are repeated every second).
    if (producer.layerCount > 1) producer.on('layers', (active) => this.#sendLayerDemand(params.ssrcBase, active));
    this.emit('producer', producer);
    return producer;
  }

  get producers(): Producer[] {
    return [...this.#received.values()];
  }

  #sendRtp(packet: RtpView, ssrc: number): void {
    const remote = this.#remote;
    if (remote === null || this.#closed) return;
    // A copy of the packet's bytes (the view and its buffer belong to the receive path).
    const buf = Buffer.from(packet.bytes());
    buf.writeUInt32BE(ssrc >>> 0, 8);
    this.#packetsSent++;
    this.#bytesSent += buf.length;
    this.#socket.send(buf, remote.port, remote.ip);
  }

  #sendRtcp(buf: Buffer): void {
    const remote = this.#remote;
    if (remote === null || this.#closed) return;
    this.#socket.send(buf, remote.port, remote.ip);
  }

  #sendLayerDemand(ssrcBase: number, active: readonly boolean[]): void {
    if (this.#remote === null || this.#closed) return;
    this.#layerDemandsSent++;
    this.#sendRtcp(layerDemandPacket(ssrcBase, active));
  }

  /** Home side: the far end's consumers need these layers of one of our producers. */
  #onLayerDemand(ssrcBase: number, mask: number): void {
    const sent = ssrcBase % MAX_LAYERS === 0 ? this.#sent.get(ssrcBase / MAX_LAYERS) : undefined;
    if (!sent) {
      this.#dropped++;
      return;
    }
    this.#layerDemandsReceived++;
    const layers = Array.from({ length: sent.producer.layerCount }, (_, i) => (mask & (1 << i)) !== 0);
    const before = sent.demand.layers;
    if (before !== null && before.length === layers.length && before.every((v, i) => v === layers[i])) return;
    sent.demand.layers = layers;
    sent.producer.updateLayerDemand();
  }

  #sendPli(ssrc: number): void {
    this.#pliSent++;
    this.#sendRtcp(new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: 1, mediaSsrc: ssrc }) }).serialize());
  }

  #onDatagram(data: Buffer, from: RemoteInfo): void {
    const remote = this.#remote;
    if (remote === null || from.port !== remote.port || from.address !== remote.ip || data.length < 12 || data[0]! >> 6 !== 2) {
      this.#dropped++;
      return;
    }
    if (isRtcp(data)) this.#onRtcp(data);
    else this.#onRtp(data);
  }

  #onRtp(data: Buffer): void {
    const ssrc = data.readUInt32BE(8);
    const producer = this.#received.get(Math.floor(ssrc / MAX_LAYERS));
    const layer = ssrc % MAX_LAYERS;
    if (!producer || layer >= producer.layerCount) {
      this.#dropped++;
      return;
    }
    const packet = this.#view;
    if (!packet.parse(data)) {
      this.#dropped++;
      return;
    }
    this.#packetsReceived++;
    this.#bytesReceived += data.length;
    producer.receive(packet, layer);
  }

  #onRtcp(data: Buffer): void {
    const demand = parseLayerDemand(data);
    if (demand !== null) {
      this.#onLayerDemand(demand.ssrcBase, demand.mask);
      return;
    }
    let packets;
    try {
      packets = RtcpPacketConverter.deSerialize(data);
    } catch {
      this.#dropped++;
      return;
    }
    for (const packet of packets) {
      if (packet instanceof RtcpPayloadSpecificFeedback && packet.feedback instanceof PictureLossIndication) {
        const ssrc = packet.feedback.mediaSsrc;
        const sent = this.#sent.get(Math.floor(ssrc / MAX_LAYERS));
        if (!sent) continue;
        this.#pliReceived++;
        sent.producer.requestKeyFrame(ssrc % MAX_LAYERS);
      } else if (packet instanceof RtcpSrPacket) {
        this.#received.get(Math.floor(packet.ssrc / MAX_LAYERS))?.handleSenderReport(packet.ssrc, packet.senderInfo.rtpTimestamp);
      }
    }
  }

  #tick(): void {
    const now = performance.now();
    for (const producer of this.#received.values()) producer.sample(now);
    if (now - this.#lastSr < SR_INTERVAL_MS || this.#remote === null) return;
    this.#lastSr = now;
    for (const [key, producer] of this.#received) {
      if (producer.layerCount > 1) this.#sendLayerDemand(key * MAX_LAYERS, producer.layers.map((l) => l.active));
    }
    // The publisher's SRs, mapped to now: the far end's consumers keep audio and video in sync.
    const wall = Date.now();
    for (const { producer, ssrcBase } of this.#sent.values()) {
      for (let layer = 0; layer < producer.layerCount; layer++) {
        const sr = producer.senderReport(layer);
        if (!sr) continue;
        const rtpTimestamp = (sr.rtpTimestamp + Math.round(((now - sr.receivedAt) * producer.codec.clockRate) / 1000)) >>> 0;
        this.#sendRtcp(new RtcpSrPacket({ ssrc: ssrcBase + layer, senderInfo: new RtcpSenderInfo({ ntpTimestamp: ntpTimestamp(wall), rtpTimestamp, packetCount: 0, octetCount: 0 }) }).serialize());
      }
    }
  }

  getStats(): PipeTransportStats {
    return {
      id: this.id,
      local: this.localAddress,
      remote: this.remoteAddress,
      consumed: this.#sent.size,
      produced: this.#received.size,
      packetsSent: this.#packetsSent,
      bytesSent: this.#bytesSent,
      packetsReceived: this.#packetsReceived,
      bytesReceived: this.#bytesReceived,
      pliSent: this.#pliSent,
      pliReceived: this.#pliReceived,
      layerDemandsSent: this.#layerDemandsSent,
      layerDemandsReceived: this.#layerDemandsReceived,
      dropped: this.#dropped,
    };
  }

  dump(): Record<string, unknown> {
    return { ...this.getStats(), closed: this.#closed, producerIds: [...this.#received.values()].map((p) => p.id), consumedProducerIds: [...this.#sent.values()].map((s) => s.producer.id) };
  }

  /** Stops sending, closes the producers it made (their consumers get producerClose) and the socket. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer.cancel();
    for (const sent of this.#sent.values()) sent.stop();
    this.#sent.clear();
    for (const producer of [...this.#received.values()]) producer.close();
    this.#received.clear();
    this.#socket.close();
    this.emit('close');
    this.removeAllListeners();
  }
}
