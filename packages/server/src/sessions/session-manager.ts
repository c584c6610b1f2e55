// The session domain's entry point: creating sessions, and the live ones (Session, Connection):
// who joins, who leaves, signals and moderation. REST and signaling call this; it knows nothing of
// HTTP or WebSockets. Its typed events are what the Inspector and logs subscribe to.

import { createSessionId, parseSessionId } from '@colloquy/tokens';
import type { ClientTokenClaims } from '../auth/client-token.js';
import { ColloquyError, forbidden, invalid, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ArchiveMode, MediaMode, Project, SessionRecord, Store } from '../store/index.js';
import type { Connection, DisconnectReason } from './connection.js';
import { Session } from './session.js';
import { TypedEmitter } from './typed-emitter.js';

export { Session } from './session.js';
export { Connection, type DisconnectReason, type SignalDelivery } from './connection.js';

/** Resolutions OpenTok composes archives at (reference §1.2, §6). */
export const ARCHIVE_RESOLUTIONS = ['640x480', '480x640', '1280x720', '720x1280', '1920x1080', '1080x1920'] as const;
export type ArchiveResolution = (typeof ARCHIVE_RESOLUTIONS)[number];
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

/** A stream as REST describes it (reference §1.7). */
export interface StreamSummary {
  id: string;
  videoType: 'camera' | 'screen' | 'custom';
  name: string;
  layoutClassList: string[];
}

export interface SessionManagerOptions {
  /** Per-connection signal rate limit (token bucket); REST signals are not limited. */
  signalRate: { capacity: number; perSecond: number };
}

export const DEFAULT_SESSION_MANAGER_OPTIONS: SessionManagerOptions = { signalRate: { capacity: 50, perSecond: 20 } };

/** Who the client is, as the transport saw it; kept on the Connection for the Inspector. */
export interface ClientInfo {
  userAgent: string;
  ip: string;
  sdk: { name: string; version: string } | null;
}

/** Who did a moderation action: the REST API (the app server) or a moderator's connection. */
export type Actor = { origin: 'rest' } | { origin: 'client'; connectionId: string };

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
  action: 'forceDisconnect';
  sessionId: string;
  projectId: string;
  /** The connection acted on. */
  connectionId: string;
  by: Actor;
  at: number;
}

export type SessionManagerEvents = {
  /** A session got its first connection. */
  sessionStarted: [session: Session];
  /** A live session's last connection left. */
  sessionEnded: [session: Session];
  connectionCreated: [session: Session, connection: Connection];
  connectionDestroyed: [session: Session, connection: Connection, reason: DisconnectReason];
  signalSent: [signal: SignalSent];
  moderation: [action: ModerationAction];
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
    this.onListenerError = (event, err) => this.#log.error({ err, event }, 'session event listener failed');
  }

  create(project: Project, options: CreateSessionOptions): SessionRecord {
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
    this.#store.sessions.insert(record);
    this.#log.info({ sessionId: record.id, projectId: project.id, mediaMode: record.mediaMode, archiveMode: record.archiveMode }, 'session created');
    return record;
  }

  /** The project's session with this ID; 404 when it does not exist or belongs to another project. */
  require(project: Project, sessionId: string): SessionRecord {
    const fields = parseSessionId(sessionId);
    if (!fields) throw notFound('Session not found: the session ID is not valid', 404);
    const record = this.#store.sessions.get(sessionId);
    if (!record || record.projectId !== project.id) throw notFound('Session not found', 404);
    return record;
  }

  /** The stored session with this id, whatever its project; null when unknown or malformed. */
  find(sessionId: string): SessionRecord | null {
    if (!parseSessionId(sessionId)) return null;
    return this.#store.sessions.get(sessionId);
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
      signalRate: this.#options.signalRate,
    });
    return { session, connection };
  }

  /** Connections currently in the session, oldest first. */
  listConnections(project: Project, sessionId: string): ConnectionSummary[] {
    this.require(project, sessionId);
    const session = this.#live.get(sessionId);
    if (!session) return [];
    return [...session.connections.values()].map((c) => ({ connectionId: c.id, connectionState: 'Connected', createdAt: c.creationTime }));
  }

  /** Sends a signal from the app server (REST) to every connection, or to one. Not rate-limited. */
  signal(project: Project, sessionId: string, connectionId: string | null, type: string | undefined, data: string): void {
    this.require(project, sessionId);
    const session = this.#live.get(sessionId);
    if (!session) {
      if (connectionId === null) throw notFound('Not found. No clients are actively connected to the OpenTok session.', 404);
      throw notFound('Not found. The client specified by the connection ID is not connected to the session.', 404);
    }
    const recipients = session.signal(null, connectionId, type, data);
    this.#signalSent(session, 'rest', null, connectionId, type, recipients);
  }

  /** A client's signal: rate-limited per connection (429), then delivered like a REST one. */
  signalFrom(sender: Connection, to: string | null, type: string | undefined, data: string): void {
    const session = this.#liveSessionOf(sender);
    if (!sender.signalBucket.take()) {
      throw new ColloquyError('rate-limited', 'Too many signals: the rate limit of this connection was exceeded', 429);
    }
    const recipients = session.signal(sender, to, type, data);
    this.#signalSent(session, 'client', sender.id, to, type, recipients);
  }

  /** Force-disconnects a connection on behalf of the app server (REST). */
  forceDisconnect(project: Project, sessionId: string, connectionId: string): void {
    this.require(project, sessionId);
    const target = this.#live.get(sessionId)?.getConnection(connectionId);
    if (!target) throw notFound('Not found. The client specified by the connection ID is not connected to the session.', 404);
    this.#forceDisconnect(target, { origin: 'rest' });
  }

  /** Force-disconnects a connection on behalf of a client; only a moderator may (1520 otherwise). */
  forceDisconnectBy(moderator: Connection, connectionId: string): void {
    const session = this.#liveSessionOf(moderator);
    if (!moderator.can('forcedisconnect')) {
      throw forbidden('This token does not have the moderator role: it may not force other clients to disconnect', 1520);
    }
    const target = session.getConnection(connectionId);
    if (!target) throw notFound('Not found. The connection is not in the session.', 404);
    this.#forceDisconnect(target, { origin: 'client', connectionId: moderator.id });
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
    const session = new Session(record);
    this.#live.set(record.id, session);
    session.on('connectionCreated', (connection) => {
      this.#log.info({ sessionId: session.id, connectionId: connection.id, role: connection.role, ip: connection.ip }, 'connection created');
      this.emit('connectionCreated', session, connection);
    });
    session.on('connectionDestroyed', (connection, reason) => {
      this.#log.info({ sessionId: session.id, connectionId: connection.id, reason }, 'connection destroyed');
      this.emit('connectionDestroyed', session, connection, reason);
    });
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

  #forceDisconnect(target: Connection, by: Actor): void {
    this.#log.info({ sessionId: target.sessionId, connectionId: target.id, by }, 'force disconnect');
    this.emit('moderation', { action: 'forceDisconnect', sessionId: target.sessionId, projectId: target.projectId, connectionId: target.id, by, at: Date.now() });
    target.close('forceDisconnected');
  }

  #signalSent(session: Session, origin: 'rest' | 'client', from: string | null, to: string | null, type: string | undefined, recipients: number): void {
    this.emit('signalSent', { sessionId: session.id, projectId: session.projectId, origin, from, to, type, recipients, at: Date.now() });
  }

  /** Streams currently published in the session. Nobody can publish until the media layer exists. */
  listStreams(project: Project, sessionId: string): StreamSummary[] {
    this.require(project, sessionId);
    return [];
  }

  getStream(project: Project, sessionId: string, streamId: string): StreamSummary {
    const found = this.listStreams(project, sessionId).find((s) => s.id === streamId);
    if (!found) throw notFound('Stream not found', 404);
    return found;
  }

  /**
   * Force-mutes every stream but the excluded ones, and (while active) every stream published later;
   * `active: false` lifts it for later publishers.
   */
  muteAll(project: Project, sessionId: string, active: boolean, excludedStreamIds: string[]): void {
    this.require(project, sessionId);
    if (active) this.#muteAll.set(sessionId, new Set(excludedStreamIds));
    else this.#muteAll.delete(sessionId);
  }

  /** Whether a new stream in this session starts force-muted. */
  isMutedOnPublish(sessionId: string, streamId: string): boolean {
    const excluded = this.#muteAll.get(sessionId);
    return excluded !== undefined && !excluded.has(streamId);
  }
}
