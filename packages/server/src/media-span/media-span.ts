// A routed session's subscribers served by another SFU than the session's own: the session's
// home (the main thread of the node that holds it) pipes each stream such a subscriber watches to
// the serving SFU ONCE (@colloquy/sfu's pipe-transport.ts: plain RTP over UDP, every layer), and
// that SFU (the "edge") fans it out to its own subscribers. The edge is a peer of the home:
//   - another node of the cluster, the node the subscriber's socket reached (cluster/media-link.ts
//     carries these requests over HTTP between nodes): a 1→1000 webinar spreads its downlink over
//     the nodes its viewers reached;
//   - a media worker thread of this node (media-workers/: the requests cross a MessagePort): a
//     1→300 stream uses every core of the machine.
//
// The home drives; the edge obeys. Every step is a request from one peer to the other (`link.post`),
// answered by the far end's `handle`:
//
//   home → edge  openPipe     the home's pipe address and the stream's producers → the edge's pipe address
//                subscribe    a subscriber transport on the edge consuming the piped producers → its SDP offer
//                answer / candidate / update / unsubscribe       the subscriber's negotiation and changes
//                producerPaused                                   a server-side mute (forceMute) of a piped producer
//                closePipe    the last of the edge's subscribers of that stream left, or the stream ended
//   edge → home  subscriberLost   the subscriber's transport failed (the home ends the subscription)
//                videoQuality     the edge's downlink allocator's warnings (videoDisableWarning …)
//                subscriberStats  every Inspector sample period, its subscribers' consumer figures
//                                 (the home's Inspector records them as it does its own consumers')
//
// One pipe per (stream, edge): the home keeps the subscriptions each pipe serves and closes it with
// the last one. An edge that dies (a node's Redis key expired, a worker thread exited) takes its
// pipes with it (nodesAlive): the home ends the subscriptions it served, an edge drops what it
// received from a dead home.

import { ColloquyError, invalid } from '../errors.js';
import type { Logger } from '../logger.js';
import type { IceCandidateInit, MediaEngine, PipeAddress, PipeProducerParams, PipeTransport, Router, SubscriberTransport, VideoCodecName } from '@colloquy/sfu';
import type { SessionManager } from '../sessions/session-manager.js';
import type { RemoteConsumerSample, RemoteSubscriberMedia, Subscription } from '../sessions/subscription.js';
import { TransportWatch } from '../sessions/transport-watch.js';
import { every, type ClockTask } from '../ops/thread-clock.js';

/** As a local subscriber transport (SessionManager's defaults). */
const CONNECT_TIMEOUT_MS = 20_000;
const DISCONNECT_GRACE_MS = 10_000;

/** How a span reaches its peers: one request to a peer, answered by that peer's MediaSpan.handle. */
export interface MediaSpanLink {
  /** Rejects with a ColloquyError (kind 'unavailable' when the peer cannot be reached). */
  post(peer: string, body: Record<string, unknown>): Promise<unknown>;
}

export interface MediaSpanOptions {
  /** This end's name, as its peers know it (a node id, or a media worker's name). */
  nodeId: string;
  link: MediaSpanLink;
  /** The sessions this end is home to (null: an edge only, as a media worker thread is). */
  sessions: SessionManager | null;
  engine: MediaEngine;
  /** The address this node's pipes bind (and other nodes send to). */
  pipeIp: string;
  /** How often an edge reports its subscribers' figures to their homes (the Inspector's sample period, ms). */
  statsIntervalMs: number;
  logger: Logger;
}

/** Subscribers per subscriberStats request, and consumers per subscriber (audio, video). */
const MAX_STATS_PER_REQUEST = 500;
const MAX_CONSUMERS_PER_SUBSCRIBER = 4;

/** A subscriber's pauses and preferences, sent with subscribe and each update. */
interface SubscriberState {
  audio: boolean;
  video: boolean;
  preferredResolution: { width: number; height: number } | null;
  preferredFrameRate: number | null;
}

/** The home's end of one pipe: one stream to one edge node. */
interface HomePipe {
  key: string;
  sessionId: string;
  streamId: string;
  nodeId: string;
  /** The subscriptions it serves. */
  users: Set<string>;
  ready: Promise<void>;
  transport: PipeTransport | null;
  closed: boolean;
  off: Array<() => void>;
}

/** The edge's end: the piped producers of one stream. */
interface EdgePipe {
  key: string;
  sessionId: string;
  home: string;
  transport: PipeTransport;
}

interface EdgeSubscriber {
  id: string;
  sessionId: string;
  home: string;
  transport: SubscriberTransport;
  watch: TransportWatch;
}

export interface MediaSpanStats {
  /** Pipes this node sends (home) and receives (edge). */
  pipesOut: number;
  pipesIn: number;
  /** Subscriptions of this node's sessions served by other nodes, and subscribers served here for other homes. */
  remoteSubscriptions: number;
  edgeSubscribers: number;
  packetsSent: number;
  packetsReceived: number;
  /** Per pipe, for the Inspector and tests: stream, far node, direction, packets. */
  pipes: Array<{ streamId: string; node: string; direction: 'out' | 'in'; packets: number; users?: number }>;
}

export class MediaSpan {
  readonly #o: MediaSpanOptions;
  readonly #log: Logger;
  readonly #homePipes = new Map<string, HomePipe>();
  readonly #remote = new Map<string, RemoteSubscription>();
  readonly #edgeRouters = new Map<string, Router>();
  readonly #edgePipes = new Map<string, EdgePipe>();
  readonly #edgeSubscribers = new Map<string, EdgeSubscriber>();
  #closed = false;
  /** The live, non-draining nodes at the last heartbeat (null: not known yet). */
  #live: ReadonlySet<string> | null = null;
  readonly #statsTimer: ClockTask;

  constructor(options: MediaSpanOptions) {
    this.#o = options;
    this.#log = options.logger.child({ module: 'cluster', node: options.nodeId });
    this.#statsTimer = every(options.statsIntervalMs, () => this.#reportStats());
  }

  get nodeId(): string {
    return this.#o.nodeId;
  }

  get statsIntervalMs(): number {
    return this.#o.statsIntervalMs;
  }

  // ---- home side ----

  /** SessionManager's remoteSubscriber hook: the media of `subscription`, served by `nodeId`. */
  remoteSubscriber(subscription: Subscription, nodeId: string): RemoteSubscriberMedia | null {
    // A node that is gone (or draining away) cannot serve it: this node does, as before.
    if (this.#closed || nodeId === this.#o.nodeId || (this.#live !== null && !this.#live.has(nodeId))) return null;
    const remote = new RemoteSubscription(this, subscription, nodeId);
    this.#remote.set(subscription.id, remote);
    return remote;
  }

  /** @internal The pipe of `subscription`'s stream to `nodeId`, opened if needed; the subscription counts as its user. */
  async usePipe(subscription: Subscription, nodeId: string): Promise<void> {
    const stream = subscription.stream;
    const sessionId = subscription.connection.sessionId;
    const key = `${stream.id}\n${nodeId}`;
    let pipe = this.#homePipes.get(key);
    if (!pipe || pipe.closed) {
      const created: HomePipe = { key, sessionId, streamId: stream.id, nodeId, users: new Set(), ready: Promise.resolve(), transport: null, closed: false, off: [] };
      created.ready = this.#openPipe(created, subscription);
      // A failed open is not kept: the next subscriber tries again.
      created.ready.catch(() => this.#closePipe(created, false));
      this.#homePipes.set(key, created);
      pipe = created;
    }
    pipe.users.add(subscription.id);
    await pipe.ready;
  }

  async #openPipe(pipe: HomePipe, subscription: Subscription): Promise<void> {
    const stream = subscription.stream;
    const router = this.#o.sessions?.live(pipe.sessionId)?.router;
    if (!router || router.closed || stream.closed) throw new ColloquyError('not-found', 'The stream has ended', 1501);
    const transport = await router.createPipeTransport({ listenIp: this.#o.pipeIp });
    pipe.transport = transport;
    if (pipe.closed) {
      transport.close();
      throw new ColloquyError('not-allowed', 'The subscription ended while it was being set up', 1501);
    }
    const producers = stream.producers.filter((p) => !p.closed);
    const params = producers.map((p) => transport.consume(p));
    // A server-side mute of the publisher (forceMute) pauses the edge's producer too.
    for (const producer of producers) {
      const pause = (): void => void this.#post(pipe.nodeId, { op: 'producerPaused', sessionId: pipe.sessionId, streamId: pipe.streamId, producerId: producer.id, paused: true }).catch(() => {});
      const resume = (): void => void this.#post(pipe.nodeId, { op: 'producerPaused', sessionId: pipe.sessionId, streamId: pipe.streamId, producerId: producer.id, paused: false }).catch(() => {});
      producer.on('pause', pause);
      producer.on('resume', resume);
      pipe.off.push(() => {
        producer.off('pause', pause);
        producer.off('resume', resume);
      });
    }
    const onStreamClose = (): void => this.#closePipe(pipe, true);
    stream.once('close', onStreamClose);
    pipe.off.push(() => stream.off('close', onStreamClose));
    const answer = (await this.#post(pipe.nodeId, {
      op: 'openPipe',
      sessionId: pipe.sessionId,
      streamId: pipe.streamId,
      videoCodec: router.videoCodec,
      homeAddress: transport.localAddress,
      producers: params,
      paused: producers.filter((p) => p.paused).map((p) => p.id),
    })) as { address: PipeAddress };
    if (pipe.closed) {
      // Its last user left while the edge opened it: the edge's end goes too (our closePipe may have come first).
      void this.#post(pipe.nodeId, { op: 'closePipe', sessionId: pipe.sessionId, streamId: pipe.streamId }).catch(() => {});
      throw new ColloquyError('not-allowed', 'The subscription ended while it was being set up', 1501);
    }
    transport.connect(answer.address);
    this.#log.info({ sessionId: pipe.sessionId, streamId: pipe.streamId, node: pipe.nodeId, local: transport.localAddress, remote: answer.address }, 'pipe opened');
  }

  /** @internal A subscription served remotely ended: its pipe closes with its last user. */
  releasePipe(subscription: Subscription, nodeId: string): void {
    this.#remote.delete(subscription.id);
    const pipe = this.#homePipes.get(`${subscription.stream.id}\n${nodeId}`);
    if (!pipe) return;
    pipe.users.delete(subscription.id);
    if (pipe.users.size === 0) this.#closePipe(pipe, true);
  }

  #closePipe(pipe: HomePipe, tellEdge: boolean): void {
    if (this.#homePipes.get(pipe.key) === pipe) this.#homePipes.delete(pipe.key);
    if (pipe.closed) return;
    pipe.closed = true;
    for (const off of pipe.off) off();
    pipe.transport?.close();
    if (tellEdge) void this.#post(pipe.nodeId, { op: 'closePipe', sessionId: pipe.sessionId, streamId: pipe.streamId }).catch(() => {});
    this.#log.info({ sessionId: pipe.sessionId, streamId: pipe.streamId, node: pipe.nodeId }, 'pipe closed');
  }

  // ---- requests between peers ----

  /** @internal Sends one request to a peer; rejects with a ColloquyError. */
  post(nodeId: string, body: Record<string, unknown>): Promise<unknown> {
    return this.#post(nodeId, body);
  }

  #post(nodeId: string, body: Record<string, unknown>): Promise<unknown> {
    return this.#o.link.post(nodeId, body);
  }

  /** A peer's request (`from`: its name, as authenticated by the link); the answer, or a ColloquyError. */
  handle(from: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    return this.#handle(from, body);
  }

  async #handle(from: string, b: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.#closed) throw new ColloquyError('unavailable', 'node shutting down');
    switch (b['op']) {
      case 'openPipe':
        return { address: await this.#edgeOpenPipe(from, b) };
      case 'closePipe': {
        // Only the home that opened a pipe closes it.
        const pipe = this.#edgePipes.get(edgeKey(str(b, 'sessionId'), str(b, 'streamId')));
        if (pipe?.home === from) pipe.transport.close();
        return {};
      }
      case 'producerPaused': {
        const pipe = this.#edgePipes.get(edgeKey(str(b, 'sessionId'), str(b, 'streamId')));
        const producer = pipe?.home === from ? pipe.transport.producers.find((p) => p.id === str(b, 'producerId')) : undefined;
        if (producer) b['paused'] === true ? producer.pause() : producer.resume();
        return {};
      }
      case 'subscribe':
        return { sdp: await this.#edgeSubscribe(from, b) };
      case 'answer':
        await this.#edgeSubscriber(from, b).transport.acceptAnswer(str(b, 'sdp', 100_000));
        return {};
      case 'candidate': {
        const candidate = b['candidate'];
        if (candidate !== null && (typeof candidate !== 'object' || typeof (candidate as { candidate?: unknown }).candidate !== 'string')) throw invalid('candidate must be an ICE candidate or null');
        await this.#edgeSubscriber(from, b).transport.addRemoteCandidate(candidate as IceCandidateInit | null);
        return {};
      }
      case 'update':
        applyState(this.#edgeSubscriber(from, b).transport, state(b['state']));
        return {};
      case 'unsubscribe': {
        const subscriber = this.#edgeSubscribers.get(str(b, 'subscriptionId'));
        if (subscriber?.home === from) void subscriber.transport.close();
        return {};
      }
      case 'subscriberStats': {
        const stats = b['stats'];
        if (!Array.isArray(stats) || stats.length > MAX_STATS_PER_REQUEST) throw invalid(`stats must be an array of at most ${MAX_STATS_PER_REQUEST}`);
        for (const entry of stats) {
          if (typeof entry !== 'object' || entry === null) throw invalid('a stats entry must be an object');
          const e = entry as Record<string, unknown>;
          const consumers = e['consumers'];
          if (!Array.isArray(consumers) || consumers.length > MAX_CONSUMERS_PER_SUBSCRIBER) throw invalid(`consumers must be an array of at most ${MAX_CONSUMERS_PER_SUBSCRIBER}`);
          const samples = consumers.map(consumerSample);
          const remote = this.#remote.get(str(e, 'subscriptionId'));
          if (remote?.nodeId === from) remote.reported(samples);
        }
        return {};
      }
      case 'subscriberLost':
      case 'videoQuality': {
        const remote = this.#remote.get(str(b, 'subscriptionId'));
        if (!remote || remote.nodeId !== from) return {};
        if (b['op'] === 'subscriberLost') remote.subscription.close('networkDisconnected');
        else remote.videoQuality(str(b, 'event'));
        return {};
      }
      default:
        throw invalid(`unknown op ${JSON.stringify(b['op'])}`);
    }
  }

  // ---- edge side ----

  async #edgeOpenPipe(home: string, b: Record<string, unknown>): Promise<PipeAddress> {
    const sessionId = str(b, 'sessionId');
    const streamId = str(b, 'streamId');
    const videoCodec = str(b, 'videoCodec') as VideoCodecName;
    if (videoCodec !== 'VP8' && videoCodec !== 'H264') throw invalid('videoCodec must be VP8 or H264');
    const homeAddress = b['homeAddress'] as PipeAddress;
    const producers = b['producers'];
    if (!Array.isArray(producers) || producers.length === 0 || producers.length > 4) throw invalid('producers: 1 to 4 expected');
    const paused = Array.isArray(b['paused']) ? (b['paused'] as unknown[]) : [];
    const key = edgeKey(sessionId, streamId);
    this.#edgePipes.get(key)?.transport.close(); // a home that opens again replaces the old one
    let router = this.#edgeRouters.get(sessionId);
    if (!router || router.closed) {
      router = this.#o.engine.createRouter({ id: `pipe:${sessionId}`, videoCodec });
      this.#edgeRouters.set(sessionId, router);
    }
    const transport = await router.createPipeTransport({ listenIp: this.#o.pipeIp });
    try {
      transport.connect(homeAddress);
      for (const params of producers as PipeProducerParams[]) {
        if (typeof params !== 'object' || params === null || typeof params.id !== 'string' || (params.kind !== 'audio' && params.kind !== 'video') || typeof params.codec?.mimeType !== 'string' || !Array.isArray(params.rids) || !Array.isArray(params.extensionUris)) {
          throw invalid('a piped producer needs id, kind, codec, rids and extensionUris');
        }
        const producer = transport.produce({ ...params, streamId: params.streamId ?? streamId });
        if (paused.includes(producer.id)) producer.pause();
      }
    } catch (err) {
      transport.close();
      throw err;
    }
    const pipe: EdgePipe = { key, sessionId, home, transport };
    this.#edgePipes.set(key, pipe);
    transport.on('close', () => {
      if (this.#edgePipes.get(key) === pipe) this.#edgePipes.delete(key);
      this.#dropIdleRouter(sessionId);
    });
    return transport.localAddress;
  }

  async #edgeSubscribe(home: string, b: Record<string, unknown>): Promise<string> {
    const sessionId = str(b, 'sessionId');
    const id = str(b, 'subscriptionId');
    const pipe = this.#edgePipes.get(edgeKey(sessionId, str(b, 'streamId')));
    const router = this.#edgeRouters.get(sessionId);
    if (!pipe || pipe.home !== home || !router) throw new ColloquyError('not-found', 'no pipe for this stream here');
    if (this.#edgeSubscribers.has(id)) throw new ColloquyError('conflict', 'subscription exists');
    const group = b['downlinkGroup'];
    const transport = router.createSubscriberTransport({ id, ...(typeof group === 'string' && group.length > 0 ? { downlinkGroup: group } : {}) });
    const consumers = transport.consume(pipe.transport.producers);
    for (const consumer of consumers) {
      if (consumer.kind !== 'video') continue;
      consumer.audioFallback = b['audioFallback'] === true;
      consumer.screenShare = b['screenShare'] === true;
      consumer.on('qualityWarning', (warning) => this.#toHome(home, { op: 'videoQuality', subscriptionId: id, event: warning ? 'videoDisableWarning' : 'videoDisableWarningLifted' }));
      consumer.on('qualityDisabled', (off) => this.#toHome(home, { op: 'videoQuality', subscriptionId: id, event: off ? 'videoDisabled' : 'videoEnabled' }));
    }
    applyState(transport, state(b['state']));
    const watch = new TransportWatch(transport, {
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      disconnectGraceMs: DISCONNECT_GRACE_MS,
      onConnected: () => {},
      onLost: () => {
        if (this.#edgeSubscribers.get(id)?.transport === transport) this.#toHome(home, { op: 'subscriberLost', subscriptionId: id });
        void transport.close();
      },
    });
    const subscriber: EdgeSubscriber = { id, sessionId, home, transport, watch };
    this.#edgeSubscribers.set(id, subscriber);
    transport.on('close', () => {
      watch.stop();
      if (this.#edgeSubscribers.get(id) === subscriber) this.#edgeSubscribers.delete(id);
      this.#dropIdleRouter(sessionId);
    });
    return transport.createOffer();
  }

  #edgeSubscriber(home: string, b: Record<string, unknown>): EdgeSubscriber {
    const subscriber = this.#edgeSubscribers.get(str(b, 'subscriptionId'));
    if (!subscriber || subscriber.home !== home) throw new ColloquyError('not-found', 'no such subscriber here');
    return subscriber;
  }

  /** Edge: each home hears its subscribers' consumer figures here, once per Inspector sample period. */
  #reportStats(): void {
    if (this.#closed || this.#edgeSubscribers.size === 0) return;
    const byHome = new Map<string, Array<{ subscriptionId: string; consumers: RemoteConsumerSample[] }>>();
    for (const subscriber of this.#edgeSubscribers.values()) {
      const consumers = subscriber.transport.consumers.slice(0, MAX_CONSUMERS_PER_SUBSCRIBER).map((consumer): RemoteConsumerSample => {
        const s = consumer.getStats();
        return {
          kind: s.kind,
          bitrate: s.bitrate,
          fractionLost: s.fractionLost,
          jitter: s.jitter,
          roundTripTime: s.roundTripTime,
          nackCount: s.nackCount,
          pliCount: s.pliCount + s.firCount,
          layer: consumer.producer.layerCount > 1 && s.currentLayer !== undefined && s.currentLayer >= 0 ? s.currentLayer : null,
          paused: s.paused || s.producerPaused,
        };
      });
      let list = byHome.get(subscriber.home);
      if (!list) byHome.set(subscriber.home, (list = []));
      list.push({ subscriptionId: subscriber.id, consumers });
    }
    for (const [home, list] of byHome) {
      for (let i = 0; i < list.length; i += MAX_STATS_PER_REQUEST) this.#toHome(home, { op: 'subscriberStats', stats: list.slice(i, i + MAX_STATS_PER_REQUEST) });
    }
  }

  #toHome(home: string, body: Record<string, unknown>): void {
    void this.#post(home, body).catch((err: Error) => this.#log.debug({ err: err.message, op: body['op'] }, 'cannot tell the home'));
  }

  /** An edge router with no pipe and no subscriber left goes. */
  #dropIdleRouter(sessionId: string): void {
    const router = this.#edgeRouters.get(sessionId);
    if (!router || router.pipes.length > 0 || router.transportCount > 0) return;
    this.#edgeRouters.delete(sessionId);
    void router.close();
  }

  // ---- node deaths, stats, close ----

  /**
   * The live nodes at a heartbeat: pipes to and from nodes that are gone end; new subscriptions are
   * served only by `open` nodes (live and not draining).
   */
  nodesAlive(live: ReadonlySet<string>, open: ReadonlySet<string> = live): void {
    this.#live = open;
    for (const remote of [...this.#remote.values()]) {
      if (!live.has(remote.nodeId)) {
        this.#log.warn({ subscriptionId: remote.subscription.id, node: remote.nodeId }, 'the node serving a subscription is gone');
        remote.subscription.close('networkDisconnected');
      }
    }
    for (const pipe of [...this.#homePipes.values()]) if (!live.has(pipe.nodeId)) this.#closePipe(pipe, false);
    for (const subscriber of [...this.#edgeSubscribers.values()]) if (!live.has(subscriber.home)) void subscriber.transport.close();
    for (const pipe of [...this.#edgePipes.values()]) if (!live.has(pipe.home)) pipe.transport.close();
  }

  /**
   * SIGTERM: the subscribers this node serves for other homes go now (their sockets, proxied here,
   * were just closed): each home ends the subscription as a network drop, which its client hears
   * after it resumed through another node, and subscribes again there. New pipes are refused.
   */
  async drain(): Promise<void> {
    const subscribers = [...this.#edgeSubscribers.values()];
    this.#closed = true;
    await Promise.all(subscribers.map((s) => this.#post(s.home, { op: 'subscriberLost', sessionId: s.sessionId, subscriptionId: s.id }).catch(() => {})));
    for (const s of subscribers) void s.transport.close();
  }

  stats(): MediaSpanStats {
    const pipes: MediaSpanStats['pipes'] = [];
    let packetsSent = 0;
    let packetsReceived = 0;
    for (const pipe of this.#homePipes.values()) {
      const packets = pipe.transport?.getStats().packetsSent ?? 0;
      packetsSent += packets;
      pipes.push({ streamId: pipe.streamId, node: pipe.nodeId, direction: 'out', packets, users: pipe.users.size });
    }
    for (const pipe of this.#edgePipes.values()) {
      const packets = pipe.transport.getStats().packetsReceived;
      packetsReceived += packets;
      pipes.push({ streamId: pipe.key.split('\n')[1]!, node: pipe.home, direction: 'in', packets });
    }
    return { pipesOut: this.#homePipes.size, pipesIn: this.#edgePipes.size, remoteSubscriptions: this.#remote.size, edgeSubscribers: this.#edgeSubscribers.size, packetsSent, packetsReceived, pipes };
  }

  /** Forwarded packets of the edge routers' subscribers (this node's share of spanning sessions). */
  edgeRouters(): Router[] {
    return [...this.#edgeRouters.values()];
  }

  close(): void {
    this.#closed = true;
    this.#statsTimer.cancel();
    for (const pipe of [...this.#homePipes.values()]) this.#closePipe(pipe, true);
    for (const router of this.#edgeRouters.values()) void router.close();
    this.#edgeRouters.clear();
  }
}

/** The home's handle on a subscription served by another node. */
class RemoteSubscription implements RemoteSubscriberMedia {
  readonly nodeId: string;
  readonly subscription: Subscription;
  readonly #span: MediaSpan;
  #state: SubscriberState = { audio: true, video: true, preferredResolution: null, preferredFrameRate: null };
  #created = false;
  #closed = false;
  /** What the serving node last reported of this subscriber's consumers, and when. */
  #samples: { at: number; consumers: RemoteConsumerSample[] } | null = null;
  /** Requests after subscribe go in order (an update never overtakes the subscribe or another update). */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(span: MediaSpan, subscription: Subscription, nodeId: string) {
    this.#span = span;
    this.subscription = subscription;
    this.nodeId = nodeId;
  }

  #send(body: Record<string, unknown>): Promise<unknown> {
    const next = this.#chain.then(() => this.#span.post(this.nodeId, { sessionId: this.subscription.connection.sessionId, subscriptionId: this.subscription.id, ...body }));
    this.#chain = next.catch(() => {});
    return next;
  }

  async createOffer(): Promise<string> {
    await this.#span.usePipe(this.subscription, this.nodeId);
    if (this.#closed) throw new ColloquyError('not-allowed', 'The subscription ended while it was being set up', 1501);
    const stream = this.subscription.stream;
    const answer = (await this.#send({
      op: 'subscribe',
      streamId: stream.id,
      state: this.#state,
      audioFallback: this.subscription.audioFallbackEnabled && stream.subscriberAudioFallback,
      screenShare: stream.videoType === 'screen',
      // The subscribing connection: its subscribers served on that node share its downlink.
      downlinkGroup: this.subscription.connection.id,
    })) as { sdp?: unknown };
    if (typeof answer.sdp !== 'string') throw new ColloquyError('unavailable', `node ${this.nodeId} gave no offer`, 1501);
    this.#created = true;
    return answer.sdp;
  }

  async acceptAnswer(sdp: string): Promise<void> {
    await this.#send({ op: 'answer', sdp });
  }

  async addRemoteCandidate(candidate: IceCandidateInit | null): Promise<void> {
    await this.#send({ op: 'candidate', candidate });
  }

  update(next: SubscriberState): void {
    this.#state = { ...next };
    if (this.#created && !this.#closed) void this.#send({ op: 'update', state: this.#state }).catch(() => {});
  }

  reported(consumers: RemoteConsumerSample[]): void {
    this.#samples = { at: Date.now(), consumers };
  }

  consumerSamples(): RemoteConsumerSample[] {
    // A report older than three periods is stale (the node is slow or gone): no figures rather than old ones.
    const samples = this.#samples;
    return samples !== null && Date.now() - samples.at <= 3 * this.#span.statsIntervalMs ? samples.consumers : [];
  }

  videoQuality(event: string): void {
    if (event === 'videoDisableWarning' || event === 'videoDisableWarningLifted') {
      if (!this.subscription.closed) this.subscription.connection.deliverVideoQuality(this.subscription.id, this.subscription.stream.id, event);
    } else if (event === 'videoDisabled' || event === 'videoEnabled') {
      // One state with the publisher's own audio fallback (Subscription).
      this.subscription.downlinkQuality(event === 'videoDisabled');
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    void this.#send({ op: 'unsubscribe' }).catch(() => {});
    this.#span.releasePipe(this.subscription, this.nodeId);
  }
}

function edgeKey(sessionId: string, streamId: string): string {
  return `${sessionId}\n${streamId}`;
}

function str(b: Record<string, unknown>, name: string, max = 512): string {
  const value = b[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > max) throw invalid(`${name} must be a string of 1 to ${max} characters`);
  return value;
}

/** A consumer's figures as an edge reports them (validated: they come from another node). */
function consumerSample(raw: unknown): RemoteConsumerSample {
  if (typeof raw !== 'object' || raw === null) throw invalid('a consumer sample must be an object');
  const c = raw as Record<string, unknown>;
  const figure = (name: string): number => {
    const v = c[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw invalid(`${name} must be a number ≥ 0`);
    return v;
  };
  if (c['kind'] !== 'audio' && c['kind'] !== 'video') throw invalid('kind must be audio or video');
  const rtt = c['roundTripTime'];
  if (rtt !== null && (typeof rtt !== 'number' || !Number.isFinite(rtt) || rtt < 0)) throw invalid('roundTripTime must be a number ≥ 0 or null');
  const layer = c['layer'];
  if (layer !== null && (!Number.isInteger(layer) || (layer as number) < 0 || (layer as number) > 3)) throw invalid('layer must be 0 to 3 or null');
  const fractionLost = figure('fractionLost');
  if (fractionLost > 1) throw invalid('fractionLost must be at most 1');
  return {
    kind: c['kind'],
    bitrate: figure('bitrate'),
    fractionLost,
    jitter: figure('jitter'),
    roundTripTime: rtt as number | null,
    nackCount: figure('nackCount'),
    pliCount: figure('pliCount'),
    layer: layer as number | null,
    paused: c['paused'] === true,
  };
}

function state(raw: unknown): SubscriberState {
  if (typeof raw !== 'object' || raw === null) throw invalid('state missing');
  const s = raw as Record<string, unknown>;
  const size = (v: unknown): { width: number; height: number } | null => {
    if (v === null || v === undefined) return null;
    const r = v as { width?: unknown; height?: unknown };
    if (!Number.isInteger(r.width) || !Number.isInteger(r.height)) throw invalid('preferredResolution must be { width, height }');
    return { width: r.width as number, height: r.height as number };
  };
  const fps = s['preferredFrameRate'];
  if (fps !== null && fps !== undefined && (typeof fps !== 'number' || !(fps > 0))) throw invalid('preferredFrameRate must be a positive number or null');
  return { audio: s['audio'] !== false, video: s['video'] !== false, preferredResolution: size(s['preferredResolution']), preferredFrameRate: typeof fps === 'number' ? fps : null };
}

/** Pauses and preferences onto an edge transport's consumers (as Subscription does for its own). */
function applyState(transport: SubscriberTransport, s: SubscriberState): void {
  for (const consumer of transport.consumers) {
    const wanted = consumer.kind === 'audio' ? s.audio : s.video;
    if (wanted) consumer.resume();
    else consumer.pause();
    if (consumer.kind !== 'video') continue;
    consumer.setPreferredResolution(s.preferredResolution);
    consumer.setPreferredFrameRate(s.preferredFrameRate);
  }
}

