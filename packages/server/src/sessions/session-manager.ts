// The session domain: creating sessions and answering for "who is in the room". REST and
// signaling call this; it knows nothing of HTTP or WebSockets.

import { createSessionId, parseSessionId } from '@colloquy/tokens';
import { invalid, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ArchiveMode, MediaMode, Project, SessionRecord, Store } from '../store/index.js';

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

export class SessionManager {
  readonly #store: Store;
  readonly #log: Logger;
  /** Sessions under "mute all": the stream ids excluded from it. */
  readonly #muteAll = new Map<string, Set<string>>();

  constructor(store: Store, logger: Logger) {
    this.#store = store;
    this.#log = logger.child({ module: 'sessions' });
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

  /** Connections currently in the session. Nobody can connect until the signaling layer exists. */
  listConnections(project: Project, sessionId: string): ConnectionSummary[] {
    this.require(project, sessionId);
    return [];
  }

  /** Sends a signal to every connection, or to one. */
  signal(project: Project, sessionId: string, connectionId: string | null, _type: string | undefined, _data: string): void {
    this.require(project, sessionId);
    if (connectionId === null) throw notFound('Not found. No clients are actively connected to the OpenTok session.', 404);
    throw notFound('Not found. The client specified by the connection ID is not connected to the session.', 404);
  }

  /** Force-disconnects a connection. */
  forceDisconnect(project: Project, sessionId: string, _connectionId: string): void {
    this.require(project, sessionId);
    throw notFound('Not found. The client specified by the connection ID is not connected to the session.', 404);
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
