// A live Session: the connections, streams and subscriptions of one session id while anyone is in
// it. The single source of truth for "who is in the room and who sends what"; signaling subscribes
// to its events and fans them out. Routed sessions get a media Router on their first publish and
// release it when the session ends; relayed sessions never touch media/ (the server only carries
// SDP and ICE between browsers). It closes itself when its last connection leaves; close()
// cascades to every stream, subscription and connection and is idempotent.

import type { DisconnectReason, IceCandidate, SessionDescription, StreamDestroyedReason, StreamProperty, VideoDimensions, VideoType } from '@colloquy/protocol';
import { ColloquyError, domainError, invalid, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MediaEngine, Router } from '@colloquy/sfu';
import type { SessionRecord } from '../store/index.js';
import { Connection, type ConnectionInit, type SignalDelivery } from './connection.js';
import { Stream } from './stream.js';
import { Subscription, type RemoteSubscriberMedia, type SubscribeOptions, type SubscriptionEndReason } from './subscription.js';
import { TypedEmitter } from '../typed-emitter.js';

/** What archiving sends to a session's clients (OpenTok.js archiveStarted / archiveStopped). */
export interface ArchiveNotice {
  type: 'archiveStarted' | 'archiveStopped';
  archiveId: string;
  name: string;
}

export type SessionEvents = {
  connectionCreated: [connection: Connection];
  connectionDestroyed: [connection: Connection, reason: DisconnectReason];
  /** A signal to everyone in the session (each connection also gets it, with `toAll`). */
  broadcastSignal: [SignalDelivery];
  /** A stream is live: its media connected (routed) or it was published (relayed). */
  streamCreated: [stream: Stream];
  /** A stream ended. `stream.live` tells whether anyone but its publisher had been told of it. */
  streamDestroyed: [stream: Stream, reason: StreamDestroyedReason];
  streamPropertyChanged: [stream: Stream, property: StreamProperty, oldValue: boolean | VideoDimensions | null, newValue: boolean | VideoDimensions | null];
  /** Publisher audio fallback: the stream's publisher turned its video off (true) or on again (false) for its uplink. */
  streamVideoDisabledForQuality: [stream: Stream, disabled: boolean];
  /** Layout classes changed (REST). */
  streamLayoutChanged: [stream: Stream];
  subscriberCreated: [subscription: Subscription];
  subscriberDestroyed: [subscription: Subscription, reason: SubscriptionEndReason];
  /** "Mute all" began (true) or ended (false). */
  muteForced: [active: boolean];
  /** An archive started or stopped (archiving broadcasts it). */
  archive: [notice: ArchiveNotice];
  /** The session has no one left (or the server is stopping); emitted once. */
  close: [];
};

/** Media settings the session applies to its streams and subscriptions. */
export interface SessionMediaOptions {
  /** The SFU; null disables routed media (publish in a routed session then fails). */
  engine: MediaEngine | null;
  /** How long a transport may take to connect before the stream/subscription ends (ms). */
  connectTimeoutMs: number;
  /** How long a connected transport may stay `disconnected` before it ends (ms). */
  disconnectGraceMs: number;
  /**
   * Where a routed subscription's media is served when not by this thread's SFU (media-span/): a
   * cluster node the subscriber entered at (`nodeId`), or a media worker thread of this node;
   * null: served here.
   */
  remoteSubscriber?: RemoteSubscriberFactory;
}

/** Makes the remote media of a subscription (its subscriber entered the cluster at `nodeId`, null: here), or null to serve it here. */
export type RemoteSubscriberFactory = (subscription: Subscription, nodeId: string | null) => RemoteSubscriberMedia | null | Promise<RemoteSubscriberMedia | null>;

/** Streams one connection may publish at once (a camera and a screen share, with room to spare). */
export const MAX_STREAMS_PER_CONNECTION = 8;
/** Subscriptions one connection may hold at once. */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 256;
/**
 * Publishes and subscribes one connection may have in negotiation at once (the SFU answering or
 * offering: each binds a UDP socket). A client joining a room subscribes to every stream in it at
 * once, so this is sized for a large gallery (a limit of 4 refused the 5th stream of a 6-person
 * room); a burst beyond it is refused rather than let one token tie up the port range.
 */
export const MAX_NEGOTIATIONS_PER_CONNECTION = 64;

export interface PublishInit {
  name: string;
  videoType: VideoType | null;
  hasAudio: boolean;
  hasVideo: boolean;
  videoDimensions: VideoDimensions | null;
  frameRate: number | null;
  /** Routed: the browser's SDP offer. */
  sdp?: string;
  /** OpenTok.js publishCaptions. */
  publishCaptions?: boolean;
  /** OT.initPublisher's audioFallback.subscriber (default true). */
  subscriberAudioFallback?: boolean;
  /** OT.initPublisher's audioFallback.publisher (default false). */
  publisherAudioFallback?: boolean;
}

export class Session extends TypedEmitter<SessionEvents> {
  /** Negotiations in flight per connection id (MAX_NEGOTIATIONS_PER_CONNECTION). */
  readonly #negotiating = new Map<string, number>();
  readonly id: string;
  readonly projectId: string;
  readonly record: SessionRecord;
  /** Epoch ms when the first connection of this live period arrived. */
  readonly startedAt = Date.now();
  /** In join order, so snapshots list the oldest first. */
  readonly connections = new Map<string, Connection>();
  /** Every stream not yet ended, live or still connecting, in publish order. */
  readonly streams = new Map<string, Stream>();
  readonly subscriptions = new Map<string, Subscription>();
  readonly #media: SessionMediaOptions;
  readonly #log: Logger | undefined;
  #router: Router | null = null;
  #closed = false;
  /** Live captions run for this session (captions/): streams that publish captions have them. */
  #captionsRunning = false;

  constructor(record: SessionRecord, media: SessionMediaOptions = { engine: null, connectTimeoutMs: 20_000, disconnectGraceMs: 10_000 }, log?: Logger) {
    super();
    this.id = record.id;
    this.projectId = record.projectId;
    this.record = record;
    this.#media = media;
    this.#log = log;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get mediaMode(): 'routed' | 'relayed' {
    return this.record.mediaMode;
  }

  /** Routed: the session's SFU router (null until the first publish, and in relayed sessions). */
  get router(): Router | null {
    return this.#router;
  }

  get captionsRunning(): boolean {
    return this.#captionsRunning;
  }

  /** Captions started or stopped for the session: every stream's hasCaptions follows. */
  setCaptionsRunning(running: boolean): void {
    this.#captionsRunning = running;
    for (const stream of this.streams.values()) stream.setCaptionsRunning(running);
  }

  /**
   * A caption of `stream`'s audio, to every connection subscribed to it with subscribeToCaptions
   * (OpenTok.js Subscriber captionReceived).
   */
  deliverCaption(stream: Stream, caption: string, isFinal: boolean): number {
    let recipients = 0;
    for (const subscription of this.subscriptions.values()) {
      if (subscription.stream !== stream || !subscription.subscribeToCaptions || subscription.closed) continue;
      subscription.connection.deliverCaption({ subscriberId: subscription.id, streamId: stream.id, caption, isFinal });
      recipients++;
    }
    return recipients;
  }

  /** Live streams (announced to clients), oldest first. */
  liveStreams(): Stream[] {
    return [...this.streams.values()].filter((s) => s.live);
  }

  getLiveStream(streamId: string): Stream | undefined {
    const stream = this.streams.get(streamId);
    return stream?.live ? stream : undefined;
  }

  /** Adds a connection and tells everyone already here. */
  addConnection(init: Omit<ConnectionInit, 'sessionId' | 'projectId'>): Connection {
    if (this.#closed) throw new Error('session is closed');
    const connection = new Connection({ ...init, sessionId: this.id, projectId: this.projectId });
    this.connections.set(connection.id, connection);
    connection.once('close', (reason) => this.#onConnectionClosed(connection, reason));
    this.#log?.info({ sessionId: this.id, connectionId: connection.id, role: connection.role, ip: connection.ip }, 'connection created');
    this.emit('connectionCreated', connection);
    return connection;
  }

  getConnection(connectionId: string): Connection | undefined {
    return this.connections.get(connectionId);
  }

  /**
   * Delivers a signal to one connection or to everyone (the sender included, as OpenTok does).
   * Returns how many received it; 404 when the target (or anyone) is not here.
   */
  signal(from: Connection | null, to: string | null, type: string | undefined, data: string): number {
    if (to !== null) {
      const target = this.connections.get(to);
      if (!target) throw notFound('Not found. The client specified by the connection ID is not connected to the session.', 404);
      target.deliverSignal({ from, type, data });
      return 1;
    }
    if (this.connections.size === 0) throw notFound('Not found. No clients are actively connected to the OpenTok session.', 404);
    // Copy first: a listener may close a connection while we iterate.
    const recipients = [...this.connections.values()];
    // Once for the whole session (signaling v2 frames it once for everyone), then to each
    // connection marked as a broadcast (v1 channels number it per connection).
    this.emit('broadcastSignal', { from, type, data });
    for (const connection of recipients) connection.deliverSignal({ from, type, data, toAll: true });
    return recipients.length;
  }

  /**
   * Publishes a stream for `connection` (permissions are the caller's business). Routed: creates the
   * SFU transport and answers the offer; the stream goes live when the transport connects. Relayed:
   * the stream goes live on the next turn (after the caller has replied with its id).
   */
  async publish(connection: Connection, init: PublishInit): Promise<{ stream: Stream; sdp?: string }> {
    this.#assertMember(connection);
    // Each stream holds a UDP socket on the SFU: a client cannot make unbounded many.
    if ([...this.streams.values()].filter((s) => s.connection === connection).length >= MAX_STREAMS_PER_CONNECTION) {
      throw new ColloquyError('rate-limited', `A connection may publish at most ${MAX_STREAMS_PER_CONNECTION} streams at once`, 1605);
    }
    const release = this.#beginNegotiation(connection);
    try {
      return await this.#publish(connection, init);
    } finally {
      release();
    }
  }

  async #publish(connection: Connection, init: PublishInit): Promise<{ stream: Stream; sdp?: string }> {
    const stream = new Stream({
      connection,
      mediaMode: this.mediaMode,
      name: init.name,
      videoType: init.hasVideo || init.videoType ? init.videoType : null,
      hasAudio: init.hasAudio,
      hasVideo: init.hasVideo,
      videoDimensions: init.videoDimensions,
      frameRate: init.frameRate,
      publishCaptions: init.publishCaptions ?? false,
      subscriberAudioFallback: init.subscriberAudioFallback ?? true,
      publisherAudioFallback: init.publisherAudioFallback ?? false,
      layoutClassList: connection.layoutClassList,
      connectTimeoutMs: this.#media.connectTimeoutMs,
      disconnectGraceMs: this.#media.disconnectGraceMs,
    });
    if (this.#captionsRunning) stream.setCaptionsRunning(true);
    this.#adopt(stream);
    if (this.mediaMode === 'relayed') {
      if (init.sdp !== undefined) {
        stream.close('networkDisconnected');
        throw invalid('This is a relayed session: publish without an SDP offer; media goes peer to peer', 1500);
      }
      setImmediate(() => stream.goLive());
      return { stream };
    }
    if (init.sdp === undefined) {
      stream.close('networkDisconnected');
      throw invalid('This is a routed session: publish needs the SDP offer of the publisher peer connection', 1500);
    }
    try {
      const transport = this.#routerFor().createPublisherTransport({ id: stream.id });
      stream.attachTransport(transport);
      const { answer, producers } = await transport.acceptOffer(init.sdp);
      if (stream.closed) throw new ColloquyError('not-allowed', 'The stream ended while it was being set up', 1010);
      const kinds = new Set(producers.map((p) => p.kind));
      // What arrives is what is announced: a track the SFU could not take is not in the stream.
      if (!kinds.has('audio')) stream.update({ hasAudio: false });
      if (!kinds.has('video')) stream.update({ hasVideo: false });
      return { stream, sdp: answer };
    } catch (err) {
      stream.close('networkDisconnected');
      const domain = domainError(err);
      if (domain && (domain.kind === 'invalid' || domain.kind === 'unsupported' || domain.kind === 'conflict')) {
        throw new ColloquyError('invalid', `Unable to publish: ${domain.message}`, 1500);
      }
      throw err;
    }
  }

  /**
   * Subscribes `connection` to a live stream. Routed: consumes the stream's producers on a new SFU
   * transport and returns its offer. Relayed: tells the publisher, who offers through `relay`.
   */
  async subscribe(connection: Connection, streamId: string, options: SubscribeOptions): Promise<{ subscription: Subscription; sdp?: string }> {
    this.#assertMember(connection);
    const stream = this.getLiveStream(streamId);
    if (!stream) throw new ColloquyError('not-found', 'The stream does not exist or has ended', 1501);
    if ([...this.subscriptions.values()].filter((s) => s.connection === connection).length >= MAX_SUBSCRIPTIONS_PER_CONNECTION) {
      throw new ColloquyError('rate-limited', `A connection may hold at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions at once`, 1605);
    }
    if (this.mediaMode === 'relayed' && stream.connection === connection) {
      // Peer to peer with oneself would need two ends on one page; OpenTok.js does not offer it either.
      throw invalid('In a relayed session a client cannot subscribe to its own stream', 1501);
    }
    // Routed: the SFU offers on a new transport, a negotiation counted against the connection.
    const release = this.mediaMode === 'routed' ? this.#beginNegotiation(connection) : undefined;
    const subscription = new Subscription({
      stream,
      connection,
      subscribeToAudio: options.audio,
      subscribeToVideo: options.video,
      preferredResolution: options.preferredResolution ?? null,
      preferredFrameRate: options.preferredFrameRate ?? null,
      subscribeToCaptions: options.captions ?? false,
      audioFallbackEnabled: options.audioFallbackEnabled ?? true,
      connectTimeoutMs: this.#media.connectTimeoutMs,
      disconnectGraceMs: this.#media.disconnectGraceMs,
    });
    this.subscriptions.set(subscription.id, subscription);
    subscription.once('close', (reason) => {
      this.subscriptions.delete(subscription.id);
      // The subscriber is told only when it did not ask and its stream did not end (streamDestroyed says that).
      if (reason !== 'unsubscribed' && !stream.closed && !connection.closed) connection.deliverSubscriberDestroyed(subscription.id, stream.id, reason);
      if (this.mediaMode === 'relayed' && !stream.closed) stream.connection.deliverSubscriberDestroyed(subscription.id, stream.id, reason);
      this.#log?.debug({ sessionId: this.id, subscriberId: subscription.id, reason }, 'subscriber destroyed');
      this.emit('subscriberDestroyed', subscription, reason);
    });
    this.#log?.debug({ sessionId: this.id, subscriberId: subscription.id, streamId: stream.id, connectionId: connection.id }, 'subscriber created');
    this.emit('subscriberCreated', subscription);
    if (this.mediaMode === 'relayed') {
      stream.connection.deliverRelayStart({ subscriberId: subscription.id, streamId: stream.id, connectionId: connection.id });
      return { subscription };
    }
    try {
      // Cluster: a subscriber that reached another node is served by that node's SFU; on a busy
      // node, a media worker thread may serve it (either way the stream is piped there once).
      const remote = (await this.#media.remoteSubscriber?.(subscription, connection.mediaNode)) ?? null;
      if (subscription.closed) {
        remote?.close();
        throw new ColloquyError('not-allowed', 'The subscription ended while it was being set up', 1501);
      }
      let sdp: string;
      if (remote) {
        subscription.attachRemote(remote);
        sdp = await remote.createOffer();
      } else {
        // The subscribing connection's subscribers share its downlink (one estimate, allocator and probe: sfu downlink.ts).
        const transport = this.#routerFor().createSubscriberTransport({ id: subscription.id, downlinkGroup: connection.id });
        subscription.attachTransport(transport);
        sdp = await transport.createOffer();
      }
      if (subscription.closed) throw new ColloquyError('not-allowed', 'The subscription ended while it was being set up', 1501);
      return { subscription, sdp };
    } catch (err) {
      subscription.close('networkDisconnected');
      const domain = domainError(err);
      if (domain && domain.code === undefined) throw new ColloquyError(domain.kind, `Unable to subscribe: ${domain.message}`, 1501);
      throw err;
    } finally {
      release?.();
    }
  }

  /** Counts a negotiation of `connection` in flight; refuses one over the limit. Returns its release. */
  #beginNegotiation(connection: Connection): () => void {
    const n = this.#negotiating.get(connection.id) ?? 0;
    if (n >= MAX_NEGOTIATIONS_PER_CONNECTION) {
      throw new ColloquyError('rate-limited', `A connection may set up at most ${MAX_NEGOTIATIONS_PER_CONNECTION} streams or subscriptions at once`, 1605);
    }
    this.#negotiating.set(connection.id, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#negotiating.get(connection.id) ?? 1) - 1;
      if (left > 0) this.#negotiating.set(connection.id, left);
      else this.#negotiating.delete(connection.id);
    };
  }

  /** Relayed: passes an offer, answer or candidate to the other browser of the subscription. */
  relay(from: Connection, subscriberId: string, message: { description?: SessionDescription; candidate?: IceCandidate | null }): void {
    const subscription = this.subscriptions.get(subscriberId);
    const publisher = subscription?.stream.connection;
    if (!subscription || (from !== publisher && from !== subscription.connection)) {
      throw notFound('Not found. No such subscriber in the session.', 404);
    }
    if (this.mediaMode !== 'relayed') throw invalid('relay is for relayed sessions; routed media goes through the SFU');
    const fromPublisher = from === publisher;
    // Offers come from the publisher, answers from the subscriber: neither can start the other's negotiation.
    if (message.description && message.description.type !== (fromPublisher ? 'offer' : 'answer')) {
      throw invalid(`the ${fromPublisher ? 'publisher sends offers' : 'subscriber sends answers'}, not an ${message.description.type}`);
    }
    if (!subscription.countRelay()) throw new ColloquyError('rate-limited', 'Too many relayed messages for this subscriber', 429);
    const to = fromPublisher ? subscription.connection : publisher!;
    to.deliverRelay({ subscriberId, streamId: subscription.stream.id, ...message });
  }

  /** Closes every stream of the session but the excluded ones' audio, and says so to everyone. */
  muteAll(active: boolean, excludedStreamIds: ReadonlySet<string>): void {
    if (active) {
      for (const stream of [...this.streams.values()]) if (!excludedStreamIds.has(stream.id)) stream.forceMuteAudio();
    }
    this.emit('muteForced', active);
  }

  /** Tells every client that an archive started or stopped. */
  notifyArchive(notice: ArchiveNotice): void {
    if (!this.#closed) this.emit('archive', notice);
  }

  dump(): Record<string, unknown> {
    return {
      sessionId: this.id,
      projectId: this.projectId,
      mediaMode: this.record.mediaMode,
      startedAt: this.startedAt,
      connections: [...this.connections.values()].map((c) => c.dump()),
      streams: [...this.streams.values()].map((s) => s.dump()),
      subscriptions: [...this.subscriptions.values()].map((s) => s.dump()),
      router: this.#router ? { id: this.#router.id, transports: this.#router.transportCount } : null,
      closed: this.#closed,
    };
  }

  /** Closes every connection (with `reason`) and then the session. Idempotent. */
  close(reason: DisconnectReason = 'networkDisconnected'): void {
    if (this.#closed) return;
    for (const connection of [...this.connections.values()]) connection.close(reason);
    this.#finish();
  }

  #assertMember(connection: Connection): void {
    if (this.#closed || connection.closed || this.connections.get(connection.id) !== connection) {
      throw new ColloquyError('not-allowed', 'This connection is no longer in the session', 1010);
    }
  }

  #routerFor(): Router {
    if (this.#router && !this.#router.closed) return this.#router;
    const engine = this.#media.engine;
    if (!engine) throw new ColloquyError('unsupported', 'This server has no media engine: routed sessions cannot publish');
    this.#router = engine.createRouter({ id: this.id });
    this.#log?.debug({ sessionId: this.id }, 'router created');
    return this.#router;
  }

  #adopt(stream: Stream): void {
    this.streams.set(stream.id, stream);
    stream.on('live', () => {
      this.#log?.info({ sessionId: this.id, streamId: stream.id, connectionId: stream.connection.id, videoType: stream.videoType }, 'stream created');
      this.emit('streamCreated', stream);
    });
    stream.on('propertyChanged', (property, oldValue, newValue) => {
      if (stream.live) this.emit('streamPropertyChanged', stream, property, oldValue, newValue);
    });
    stream.on('layoutChanged', () => this.emit('streamLayoutChanged', stream));
    stream.on('muteForced', () => stream.connection.deliverStreamMuteForced(stream.id));
    stream.on('videoLayers', (layers) => stream.connection.deliverVideoLayers(stream.id, layers));
    // Its subscribers hear of it through their Subscription (videoQuality, reason quality).
    stream.on('videoDisabledForQuality', (disabled) => {
      if (stream.live) this.emit('streamVideoDisabledForQuality', stream, disabled);
    });
    stream.once('close', (reason) => {
      this.streams.delete(stream.id);
      // Its subscribers go with it (their consumers already closed with the producers).
      for (const subscription of [...this.subscriptions.values()]) if (subscription.stream === stream) subscription.close(reason);
      this.#log?.info({ sessionId: this.id, streamId: stream.id, reason, live: stream.live }, 'stream destroyed');
      this.emit('streamDestroyed', stream, reason);
    });
  }

  #onConnectionClosed(connection: Connection, reason: DisconnectReason): void {
    if (!this.connections.has(connection.id)) return;
    // OpenTok order: its subscriptions and streams end first, then everyone hears it left.
    for (const subscription of [...this.subscriptions.values()]) if (subscription.connection === connection) subscription.close(reason);
    for (const stream of [...this.streams.values()]) if (stream.connection === connection) stream.close(reason);
    this.connections.delete(connection.id);
    this.#log?.info({ sessionId: this.id, connectionId: connection.id, reason }, 'connection destroyed');
    this.emit('connectionDestroyed', connection, reason);
    if (this.connections.size === 0) this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const stream of [...this.streams.values()]) stream.close('networkDisconnected');
    const router = this.#router;
    this.#router = null;
    if (router) {
      router.close().catch((err: unknown) => this.#log?.warn({ err, sessionId: this.id }, 'router close failed'));
    }
    this.emit('close');
    this.removeAllListeners();
  }
}
