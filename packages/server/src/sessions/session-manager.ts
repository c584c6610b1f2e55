// The session domain's entry point: creating sessions, and the live ones (Session, Connection,
// Stream, Subscription): who joins, who leaves, who publishes and subscribes, signals and
// moderation. REST and signaling call this; it enforces roles and knows nothing of HTTP or
// WebSockets. Each action a REST caller and a client can both take is one method taking an Actor.
// Events are emitted on the level they happen at (mediasoup's observer on each level): the manager
// announces sessions starting and ending, signals, moderation and what clients report; each
// Session announces its own connections, streams and subscriptions. observeSessions() attaches
// listeners to every session for the Inspector, archiving, callbacks and captions.

import type { ClientErrorMessage, ClientStatsMessage, IceCandidate, SessionDescription, VideoDimensions } from '@colloquy/protocol';
import { createSessionId, parseSessionId } from '@colloquy/tokens';
import type { ClientTokenClaims } from '../auth/client-token.js';
import { ColloquyError, domainError, forbidden, invalid, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import type { MediaEngine } from '@colloquy/sfu';
import type { ArchiveMode, ArchiveResolution, MediaMode, Project, SessionRecord, Store } from '../store/index.js';
import type { Connection } from './connection.js';
import { Session, type ArchiveNotice, type PublishInit, type SessionEvents } from './session.js';
import type { RemoteSubscriberMedia, SubscribeOptions, SubscriberChanges } from './subscription.js';
import type { Stream, StreamSummary } from './stream.js';
import type { Subscription } from './subscription.js';
import { TypedEmitter } from '../typed-emitter.js';

export { Session, type ArchiveNotice, type PublishInit, type SessionEvents } from './session.js';
export { Connection, type CaptionDelivery, type DisconnectReason, type SignalDelivery, type RelayDelivery, type RelayStart } from './connection.js';
export { Stream, type StreamSummary, type StreamEvents } from './stream.js';
export { Subscription, type SubscriptionEndReason, type SubscriptionEvents } from './subscription.js';

export const MAX_ARCHIVE_NAME_LENGTH = 80;

export interface CreateSessionOptions {
  /** `routed` goes through our SFU; `relayed` is peer to peer. */
  mediaMode: MediaMode;
  archiveMode: ArchiveMode;
  /** IPv4 hint, kept for the session ID; null when none. */
  location: string | null;
  archiveName: string | null;
  archiveResolution: ArchiveResolution | null;
  e2ee: boolean;
}

/** A connection as REST lists it. */
export interface ConnectionSummary {
  connectionId: string;
  connectionState: 'Connected' | 'Connecting';
  createdAt: number;
}

export interface SessionManagerOptions {
  /** Per-connection signal rate limit (token bucket); REST signals are not limited. */
  signalRate: { capacity: number; perSecond: number };
  /** The SFU for routed sessions (one router per session); null: routed publishing fails. */
  media?: MediaEngine | null;
  /** How long a media transport may take to connect, and stay disconnected once connected (ms). */
  mediaConnectTimeoutMs?: number;
  mediaDisconnectGraceMs?: number;
  /**
   * Why the media engine takes no new routed publishes or subscribes now (saturated: ops/load-monitor),
   * or null when it does. Those already running are left alone.
   */
  admission?: () => string | null;
}

export const DEFAULT_SESSION_MANAGER_OPTIONS: SessionManagerOptions = { signalRate: { capacity: 50, perSecond: 20 } };

/**
 * A stream's publish options as the client states them (validated by the protocol schema); `e2ee`:
 * the client says it encrypts the stream's frames end to end (required in an e2ee session).
 */
export type PublishOptions = PublishInit & { e2ee?: boolean };

/** Who the client is, as the transport saw it; kept on the Connection for the Inspector. */
export interface ClientInfo {
  userAgent: string;
  ip: string;
  sdk: { name: string; version: string } | null;
  /** Cluster: the node the socket entered at, when another node proxied it here. */
  mediaNode?: string | null;
}

/**
 * Who takes an action, and where: the app server through the REST API, in one session of its
 * project, or a client's connection, in its own session (moderation needs the moderator role).
 */
export type Actor = { origin: 'rest'; record: SessionRecord } | { origin: 'client'; connection: Connection };

/** An Actor as events and logs carry it: ids only. */
export type ActorRef = { origin: 'rest' } | { origin: 'client'; connectionId: string };

/**
 * The app server acting in one of its project's sessions (the REST routes). The record is the proof
 * that the session is the project's: take it from `SessionManager.require` (or use
 * `SessionManager.restActor`, which does both), so that the actions themselves stay synchronous
 * for REST and clients alike.
 */
export function restActor(record: SessionRecord): Actor {
  return { origin: 'rest', record };
}

/** A client acting through its connection (signaling, server-side participants). */
export function clientActor(connection: Connection): Actor {
  return { origin: 'client', connection };
}

/** A listener of one Session event, also given the session (observeSessions). */
export type SessionListener<K extends keyof SessionEvents> = (session: Session, ...args: SessionEvents[K]) => void;

/** Listeners of the events of every session (observeSessions). */
export type SessionObserver = { [K in keyof SessionEvents]?: SessionListener<K> };

export interface SignalSent {
  sessionId: string;
  projectId: string;
  origin: 'rest' | 'client';
  /** Sender connection id; null for REST. */
  from: string | null;
  /** Target connection id; null for the whole session. */
  to: string | null;
  /** The signal type only: data is never carried into logs or the Inspector. */
  type: string | undefined;
  recipients: number;
  at: number;
}

export interface ModerationAction {
  action: 'forceDisconnect' | 'forceUnpublish' | 'forceMute' | 'forceMuteAll' | 'disableForceMute';
  sessionId: string;
  projectId: string;
  /** The connection acted on (forceDisconnect), or the owner of the stream acted on. */
  connectionId?: string;
  streamId?: string;
  by: ActorRef;
  at: number;
}

export type SessionManagerEvents = {
  /**
   * A session is starting: its first connection is about to be added. Listeners attached to it now
   * hear everything in it, that first connectionCreated included.
   */
  sessionStarted: [session: Session];
  /** A live session's last connection left. */
  sessionEnded: [session: Session];
  signalSent: [signal: SignalSent];
  moderation: [action: ModerationAction];
  /** A client's getStats summary (already validated by the protocol schema; the Inspector parses it again). */
  clientStats: [session: Session, connection: Connection, report: Pick<ClientStatsMessage, 'tracks'>];
  /** An error a client's SDK reported. */
  clientError: [session: Session, connection: Connection, report: Omit<ClientErrorMessage, 'type'>];
};

export class SessionManager extends TypedEmitter<SessionManagerEvents> {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #options: SessionManagerOptions;
  /** Sessions under "mute all": the stream ids excluded from it. */
  readonly #muteAll = new Map<string, Set<string>>();
  /** Sessions with at least one connection. */
  readonly #live = new Map<string, Session>();
  #closed = false;

  constructor(store: Store, logger: Logger, options: SessionManagerOptions = DEFAULT_SESSION_MANAGER_OPTIONS) {
    super();
    this.#store = store;
    this.#log = logger.child({ module: 'sessions' });
    this.#options = options;
  }

  async create(project: Project, options: CreateSessionOptions): Promise<SessionRecord> {
    if (options.archiveMode === 'always' && options.mediaMode === 'relayed') {
      throw invalid('archiveMode "always" requires a routed session (p2p.preference=disabled): relayed sessions cannot be archived');
    }
    if (options.e2ee && options.mediaMode === 'relayed') {
      throw invalid('e2ee requires a routed session (p2p.preference=disabled)');
    }
    if (options.e2ee && options.archiveMode === 'always') {
      throw invalid('e2ee sessions cannot use archiveMode "always": encrypted media cannot be archived');
    }
    const createdAt = Date.now();
    const record: SessionRecord = {
      id: createSessionId(project.id, options.location ?? '', createdAt),
      projectId: project.id,
      mediaMode: options.mediaMode,
      archiveMode: options.archiveMode,
      archiveName: options.archiveName,
      archiveResolution: options.archiveResolution ?? (options.archiveMode === 'always' ? '640x480' : null),
      e2ee: options.e2ee,
      location: options.location,
      createdAt,
    };
    await this.#store.sessions.insert(record);
    this.#log.info({ sessionId: record.id, projectId: project.id, mediaMode: record.mediaMode, archiveMode: record.archiveMode }, 'session created');
    return record;
  }

  /** The project's session with this ID; 404 when it does not exist or belongs to another project. */
  async require(project: Project, sessionId: string): Promise<SessionRecord> {
    const fields = parseSessionId(sessionId);
    if (!fields) throw notFound('Session not found: the session ID is not valid', 404);
    const record = await this.#store.sessions.get(sessionId);
    if (!record || record.projectId !== project.id) throw notFound('Session not found', 404);
    return record;
  }

  /** The stored session with this id, whatever its project; null when unknown or malformed. */
  async find(sessionId: string): Promise<SessionRecord | null> {
    if (!parseSessionId(sessionId)) return null;
    return this.#store.sessions.get(sessionId);
  }

  /** The app server as the actor in one of its project's sessions; 404 when it is not the project's. */
  async restActor(project: Project, sessionId: string): Promise<Actor> {
    return restActor(await this.require(project, sessionId));
  }

  /** The live session, if anyone is in it. */
  live(sessionId: string): Session | undefined {
    return this.#live.get(sessionId);
  }

  /** Every live session (for the Inspector and shutdown). */
  liveSessions(): Session[] {
    return [...this.#live.values()];
  }

  /**
   * Adds a client whose token the caller has verified for this session. Creates the live Session on
   * the first join; it ends when the last connection leaves.
   */
  join(record: SessionRecord, claims: ClientTokenClaims, client: ClientInfo): { session: Session; connection: Connection } {
    if (this.#closed) throw new ColloquyError('unsupported', 'The server is shutting down');
    if (claims.sessionId !== record.id || claims.projectId !== record.projectId) {
      throw forbidden('The token is not for this session', 1004);
    }
    let session = this.#live.get(record.id);
    if (!session) {
      session = this.#startSession(record);
    }
    const connection = session.addConnection({
      role: claims.role,
      data: claims.connectionData,
      tokenKind: claims.kind,
      userAgent: client.userAgent,
      ip: client.ip,
      sdk: client.sdk,
      mediaNode: client.mediaNode ?? null,
      signalRate: this.#options.signalRate,
      layoutClassList: claims.initialLayoutClassList,
    });
    return { session, connection };
  }

  /** Connections currently in the session, oldest first. */
  async listConnections(project: Project, sessionId: string): Promise<ConnectionSummary[]> {
    await this.require(project, sessionId);
    const session = this.#live.get(sessionId);
    if (!session) return [];
    return [...session.connections.values()].map((c) => ({ connectionId: c.id, connectionState: 'Connected', createdAt: c.creationTime }));
  }

  /**
   * Sends a signal to every connection of the session, or to one. A client's signals are
   * rate-limited per connection (429); the app server's (REST) are not.
   */
  signal(by: Actor, to: string | null, type: string | undefined, data: string): void {
    let session: Session;
    if (by.origin === 'rest') {
      const live = this.#live.get(by.record.id);
      if (!live) {
        if (to === null) throw notFound('Not found. No clients are actively connected to the OpenTok session.', 404);
        throw notFound('Not found. The client specified by the connection ID is not connected to the session.', 404);
      }
      session = live;
    } else {
      session = this.#liveSessionOf(by.connection);
      if (!by.connection.signalBucket.take()) {
        throw new ColloquyError('rate-limited', 'Too many signals: the rate limit of this connection was exceeded', 429);
      }
    }
    const from = by.origin === 'client' ? by.connection : null;
    const recipients = session.signal(from, to, type, data);
    this.emit('signalSent', { sessionId: session.id, projectId: session.projectId, origin: by.origin, from: from?.id ?? null, to, type, recipients, at: Date.now() });
  }

  /** Force-disconnects a connection; a client must be a moderator (1520). */
  forceDisconnect(by: Actor, connectionId: string): void {
    let target: Connection | undefined;
    if (by.origin === 'rest') {
      target = this.#live.get(by.record.id)?.getConnection(connectionId);
      if (!target) throw notFound('Not found. The client specified by the connection ID is not connected to the session.', 404);
    } else {
      const session = this.#liveSessionOf(by.connection);
      if (!by.connection.can('forcedisconnect')) {
        throw forbidden('This token does not have the moderator role: it may not force other clients to disconnect', 1520);
      }
      target = session.getConnection(connectionId);
      if (!target) throw notFound('Not found. The connection is not in the session.', 404);
    }
    const ref = actorRef(by);
    this.#log.info({ sessionId: target.sessionId, connectionId: target.id, by: ref }, 'force disconnect');
    this.emit('moderation', { action: 'forceDisconnect', sessionId: target.sessionId, projectId: target.projectId, connectionId: target.id, by: ref, at: Date.now() });
    target.close('forceDisconnected');
  }

  /**
   * Calls the observer's listeners for the events of every session live now and of every session
   * that starts later, each with the session it happened in. Returns the function that detaches
   * them all. A session's listeners go with it when it ends.
   */
  observeSessions(observer: SessionObserver): () => void {
    const detachers = new Map<Session, () => void>();
    const attach = (session: Session): void => {
      const bound: Array<[keyof SessionEvents, (...args: never[]) => void]> = [];
      for (const event of Object.keys(observer) as Array<keyof SessionEvents>) {
        const listener = observer[event] as ((session: Session, ...args: unknown[]) => void) | undefined;
        if (!listener) continue;
        const onEvent = (...args: unknown[]): void => listener(session, ...args);
        // One cast for the loop over event names; each observer entry is typed by SessionObserver.
        session.on(event, onEvent as never);
        bound.push([event, onEvent]);
      }
      detachers.set(session, () => {
        for (const [event, onEvent] of bound) session.off(event, onEvent as never);
      });
      session.once('close', () => detachers.delete(session));
    };
    for (const session of this.#live.values()) attach(session);
    this.on('sessionStarted', attach);
    return () => {
      this.off('sessionStarted', attach);
      for (const detach of detachers.values()) detach();
      detachers.clear();
    };
  }

  /** Ends every live session (server shutdown). */
  /** True once close() began: connections destroyed from then on are the server shutting down. */
  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const session of [...this.#live.values()]) session.close('networkDisconnected');
  }

  #startSession(record: SessionRecord): Session {
    const session = new Session(
      record,
      {
        engine: this.#options.media ?? null,
        connectTimeoutMs: this.#options.mediaConnectTimeoutMs ?? 20_000,
        disconnectGraceMs: this.#options.mediaDisconnectGraceMs ?? 10_000,
        remoteSubscriber: async (subscription, nodeId) => (nodeId === null ? null : (this.remoteSubscriber?.(subscription, nodeId) ?? null)) ?? (await this.mediaWorkers?.place(subscription)) ?? null,
      },
      this.#log,
    );
    this.#live.set(record.id, session);
    // Captions started before anyone joined apply from the first stream on.
    if (this.captionsRunning(record.id)) session.setCaptionsRunning(true);
    session.once('close', () => {
      if (this.#live.get(session.id) === session) this.#live.delete(session.id);
      this.#log.debug({ sessionId: session.id }, 'live session ended');
      this.emit('sessionEnded', session);
    });
    this.emit('sessionStarted', session);
    return session;
  }

  #liveSessionOf(connection: Connection): Session {
    const session = this.#live.get(connection.sessionId);
    if (connection.closed || !session || session.getConnection(connection.id) !== connection) {
      throw new ColloquyError('not-allowed', 'This connection is no longer in the session', 1010);
    }
    return session;
  }

  // ---------------------------------------------------------------------------------------------
  // Streams and subscriptions, from clients

  /** Publishes a stream; 1500 OT_PERMISSION_DENIED for roles that may not publish. */
  async publish(connection: Connection, options: PublishOptions): Promise<{ stream: Stream; sdp?: string; muteForced: boolean }> {
    const session = this.#liveSessionOf(connection);
    if (!connection.can('publish')) {
      throw forbidden('This token does not allow publishing. The role must be at least `publisher` to enable this functionality', 1500, 'OT_PERMISSION_DENIED');
    }
    const { e2ee, ...init } = options;
    if (session.record.e2ee && e2ee !== true) {
      // The server cannot check ciphertext, but it can refuse a client that does not even say it
      // encrypts (an old SDK, a bot): its media would reach the SFU and everyone in clear.
      throw forbidden('This session is end-to-end encrypted (e2ee): publish only with a client that encrypts its media (set an encryption secret)', 1500, 'OT_ENCRYPTION_SECRET_MISSING');
    }
    this.#admit(session, 1500, 'OT_UNABLE_TO_PUBLISH');
    const { stream, sdp } = await session.publish(connection, init);
    // "Mute all" active: the stream starts muted (the publisher hears it in its reply).
    const muteForced = this.isMutedOnPublish(session.id, stream.id) && stream.hasAudio;
    if (muteForced) stream.forceMuteAudio({ notify: false });
    this.#log.debug({ sessionId: session.id, streamId: stream.id, connectionId: connection.id, mediaMode: session.mediaMode, muteForced }, 'publishing');
    return sdp === undefined ? { stream, muteForced } : { stream, sdp, muteForced };
  }

  /** The publisher stops its own stream (reason clientDisconnected, or mediaStopped when its track ended). */
  unpublish(connection: Connection, streamId: string, reason: 'clientDisconnected' | 'mediaStopped' = 'clientDisconnected'): void {
    const stream = this.#ownStream(connection, streamId);
    stream.close(reason);
  }

  /**
   * The publisher's property update (publishAudio/publishVideo, picture size), and its audio
   * fallback's word (videoDisabledForQuality): refused (1011, nothing applied) unless the stream is
   * routed and was published with audioFallback.publisher — relayed streams have no SFU to tell
   * subscribers, and OpenTok's audio fallback is a routed-session feature.
   */
  updateStream(
    connection: Connection,
    streamId: string,
    changes: { hasAudio?: boolean; hasVideo?: boolean; videoDimensions?: VideoDimensions; publishCaptions?: boolean; videoDisabledForQuality?: boolean },
  ): void {
    const stream = this.#ownStream(connection, streamId);
    const { videoDisabledForQuality, ...properties } = changes;
    if (videoDisabledForQuality !== undefined) {
      if (stream.mediaMode !== 'routed') throw invalid('videoDisabledForQuality: publisher audio fallback is for routed sessions only');
      if (!stream.publisherAudioFallback) throw invalid('videoDisabledForQuality: this stream was not published with audioFallback.publisher');
    }
    stream.update(properties);
    if (videoDisabledForQuality !== undefined) stream.setVideoDisabledForQuality(videoDisabledForQuality);
  }

  /** Subscribes to a live stream; 1501 OT_PERMISSION_DENIED for publisheronly tokens. */
  async subscribe(connection: Connection, streamId: string, options: SubscribeOptions): Promise<{ subscription: Subscription; sdp?: string }> {
    const session = this.#liveSessionOf(connection);
    if (!connection.can('subscribe')) {
      throw forbidden('This token does not allow subscribing. The role must be `subscriber`, `publisher` or `moderator`', 1501, 'OT_PERMISSION_DENIED');
    }
    this.#admit(session, 1501, 'OT_UNABLE_TO_SUBSCRIBE');
    return session.subscribe(connection, streamId, options);
  }

  /** Refuses new routed media while the server is saturated (relayed media does not touch the SFU). */
  #admit(session: Session, code: number, otName: string): void {
    if (session.mediaMode !== 'routed') return;
    const reason = this.#options.admission?.();
    if (reason) throw new ColloquyError('unavailable', `The media server is at capacity (${reason}); try again later`, code, otName);
  }

  /** Routed: the subscriber's SDP answer. */
  async answer(connection: Connection, subscriberId: string, sdp: string): Promise<void> {
    const subscription = this.#ownSubscription(connection, subscriberId);
    const transport = subscription.negotiation;
    if (!transport) throw invalid('answer is for routed sessions: in a relayed session answer the publisher through relay');
    try {
      await transport.acceptAnswer(sdp);
    } catch (err) {
      const domain = domainError(err);
      if (domain && domain.code === undefined) throw new ColloquyError(domain.kind, `Unable to subscribe: ${domain.message}`, 1501);
      throw err;
    }
  }

  /** Routed, optional: a browser's trickled candidate for its publisher or subscriber transport. */
  async addIceCandidate(connection: Connection, target: { streamId?: string; subscriberId?: string }, candidate: IceCandidate | null): Promise<void> {
    const transport =
      target.streamId !== undefined ? this.#ownStream(connection, target.streamId).transport : this.#ownSubscription(connection, target.subscriberId ?? '').negotiation;
    if (!transport) throw invalid('iceCandidate is for routed sessions: in a relayed session send candidates through relay');
    await transport.addRemoteCandidate(candidate);
  }

  /** Relayed: an offer, answer or candidate for the other browser of a subscription. */
  relay(connection: Connection, subscriberId: string, message: { description?: SessionDescription; candidate?: IceCandidate | null }): void {
    this.#liveSessionOf(connection).relay(connection, subscriberId, message);
  }

  /** subscribeToAudio/subscribeToVideo. */
  updateSubscriber(connection: Connection, subscriberId: string, changes: SubscriberChanges): void {
    const subscription = this.#ownSubscription(connection, subscriberId);
    subscription.setReceive(changes);
    if (changes.preferredResolution !== undefined) subscription.setPreferredResolution(changes.preferredResolution);
    if (changes.preferredFrameRate !== undefined) subscription.setPreferredFrameRate(changes.preferredFrameRate);
    if (changes.captions !== undefined) subscription.setCaptions(changes.captions);
  }

  unsubscribe(connection: Connection, subscriberId: string): void {
    this.#ownSubscription(connection, subscriberId).close('unsubscribed');
  }

  /** A client's getStats summary, for the Inspector. */
  reportClientStats(connection: Connection, report: Pick<ClientStatsMessage, 'tracks'>): void {
    const session = this.#liveSessionOf(connection);
    this.emit('clientStats', session, connection, report);
  }

  /** An error a client's SDK hit, for the Inspector. */
  reportClientError(connection: Connection, report: Omit<ClientErrorMessage, 'type'>): void {
    const session = this.#liveSessionOf(connection);
    this.emit('clientError', session, connection, report);
  }

  // ---------------------------------------------------------------------------------------------
  // Moderation of streams, from moderators' clients and from REST

  /** Stops someone's stream (reason forceUnpublished); a client must be a moderator (1530). */
  forceUnpublish(by: Actor, streamId: string): void {
    const { session, stream } = this.#moderatedStream(by, streamId, 'forceunpublish', 'it may not force other clients to stop publishing', 1530);
    this.#moderation(session, 'forceUnpublish', by, stream);
    stream.close('forceUnpublished');
  }

  /** Mutes one stream's audio; a client must be a moderator (1540). */
  forceMuteStream(by: Actor, streamId: string): void {
    const { session, stream } = this.#moderatedStream(by, streamId, 'forcemute', 'it may not force other clients to mute', 1540);
    this.#moderation(session, 'forceMute', by, stream);
    stream.forceMuteAudio();
  }

  /** Streams currently live in the session, oldest first (REST). */
  async listStreams(project: Project, sessionId: string): Promise<StreamSummary[]> {
    await this.require(project, sessionId);
    return (this.#live.get(sessionId)?.liveStreams() ?? []).map((s) => s.summary());
  }

  async getStream(project: Project, sessionId: string, streamId: string): Promise<StreamSummary> {
    await this.require(project, sessionId);
    return this.#liveStream(sessionId, streamId).summary();
  }

  /**
   * Sets the layout classes of live streams (REST); every id is checked before anything changes,
   * so a request naming one unknown stream changes nothing (404).
   */
  async setStreamClassLists(project: Project, sessionId: string, items: Array<{ id: string; layoutClassList: string[] }>): Promise<void> {
    await this.require(project, sessionId);
    const streams = items.map((item) => this.#liveStream(sessionId, item.id));
    items.forEach((item, i) => streams[i]!.setLayoutClassList(item.layoutClassList));
  }

  /**
   * Force-mutes every stream but the excluded ones, and (while active) every stream published later;
   * `active: false` lifts it for later publishers (streams already muted stay muted). A client must
   * be a moderator (1540). Kept per session id: REST may set it while nobody is connected.
   */
  muteAll(by: Actor, active: boolean, excludedStreamIds: string[]): void {
    let sessionId: string;
    let session: Session | undefined;
    let projectId: string;
    if (by.origin === 'rest') {
      projectId = by.record.projectId;
      sessionId = by.record.id;
      session = this.#live.get(sessionId);
    } else {
      session = this.#liveSessionOf(by.connection);
      this.#assertCanForceMute(by.connection);
      sessionId = session.id;
      projectId = session.projectId;
    }
    if (active) this.#muteAll.set(sessionId, new Set(excludedStreamIds));
    else this.#muteAll.delete(sessionId);
    const action = active ? 'forceMuteAll' : 'disableForceMute';
    if (session) {
      this.#moderation(session, action, by);
      session.muteAll(active, new Set(excludedStreamIds));
    } else {
      this.emit('moderation', { action, sessionId, projectId, by: actorRef(by), at: Date.now() });
    }
  }

  /** Whether a new stream in this session starts force-muted. */
  isMutedOnPublish(sessionId: string, streamId: string): boolean {
    const excluded = this.#muteAll.get(sessionId);
    return excluded !== undefined && !excluded.has(streamId);
  }

  /** Sends archiveStarted/archiveStopped to every client of the session (no-op when nobody is there). */
  broadcastArchive(sessionId: string, notice: ArchiveNotice): void {
    this.#live.get(sessionId)?.notifyArchive(notice);
  }

  /**
   * The archives recording a session right now, as archiveStarted notices for a client that joins
   * (OpenTok.js tells a newcomer the session is being recorded). Archiving sets this; by default none.
   */
  activeArchiveNotices: (sessionId: string) => ArchiveNotice[] = () => [];

  /** Cluster mode (media-span/, cluster/): serves a subscription on the node its subscriber entered at. */
  remoteSubscriber: ((subscription: Subscription, nodeId: string) => RemoteSubscriberMedia | null) | null = null;

  /** Media worker threads (media-workers/): a busy node serves some subscribers on its other cores. */
  mediaWorkers: { place(subscription: Subscription): Promise<RemoteSubscriberMedia | null> } | null = null;

  /** Whether live captions run for a session (captions/ sets this); a session starting live applies it. */
  captionsRunning: (sessionId: string) => boolean = () => false;

  #liveStream(sessionId: string, streamId: string): Stream {
    const stream = this.#live.get(sessionId)?.getLiveStream(streamId);
    if (!stream) throw notFound('Stream not found', 404);
    return stream;
  }

  /** The live stream a moderation acts on: REST: the project's session (404s); a client: its own session and the moderator right. */
  #moderatedStream(by: Actor, streamId: string, right: 'forceunpublish' | 'forcemute', refusal: string, code: number): { session: Session; stream: Stream } {
    if (by.origin === 'rest') {
      const stream = this.#liveStream(by.record.id, streamId);
      return { session: this.#live.get(by.record.id)!, stream };
    }
    const session = this.#liveSessionOf(by.connection);
    if (!by.connection.can(right)) throw forbidden(`This token does not have the moderator role: ${refusal}`, code);
    const stream = session.getLiveStream(streamId);
    if (!stream) throw notFound('Not found. The stream is not in the session.', 404);
    return { session, stream };
  }

  #ownStream(connection: Connection, streamId: string): Stream {
    const session = this.#liveSessionOf(connection);
    const stream = session.streams.get(streamId);
    if (!stream || stream.connection !== connection) throw notFound('Not found. This connection publishes no such stream.', 404);
    return stream;
  }

  #ownSubscription(connection: Connection, subscriberId: string): Subscription {
    const session = this.#liveSessionOf(connection);
    const subscription = session.subscriptions.get(subscriberId);
    if (!subscription || subscription.connection !== connection) throw notFound('Not found. This connection has no such subscriber.', 404);
    return subscription;
  }

  #assertCanForceMute(connection: Connection): void {
    if (!connection.can('forcemute')) {
      throw forbidden('This token does not have the moderator role: it may not force other clients to mute', 1540);
    }
  }

  #moderation(session: Session, action: ModerationAction['action'], actor: Actor, stream?: Stream): void {
    const by = actorRef(actor);
    this.#log.info({ sessionId: session.id, action, by, streamId: stream?.id }, 'moderation');
    this.emit('moderation', {
      action,
      sessionId: session.id,
      projectId: session.projectId,
      ...(stream ? { connectionId: stream.connection.id, streamId: stream.id } : {}),
      by,
      at: Date.now(),
    });
  }
}

function actorRef(actor: Actor): ActorRef {
  return actor.origin === 'rest' ? { origin: 'rest' } : { origin: 'client', connectionId: actor.connection.id };
}
