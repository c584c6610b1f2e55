// A live Session: the connections (and, once media exists, the streams) of one session id while
// anyone is in it. The single source of truth for "who is in the room"; signaling subscribes to its
// events and fans them out. It closes itself when its last connection leaves; close() cascades to
// every connection and is idempotent.

import type { DisconnectReason, StreamInfo } from '@colloquy/protocol';
import { notFound } from '../errors.js';
import type { SessionRecord } from '../store/index.js';
import { Connection, type ConnectionInit } from './connection.js';
import { TypedEmitter } from './typed-emitter.js';

export type SessionEvents = {
  connectionCreated: [connection: Connection];
  connectionDestroyed: [connection: Connection, reason: DisconnectReason];
  /** The session has no one left (or the server is stopping); emitted once. */
  close: [];
};

export class Session extends TypedEmitter<SessionEvents> {
  readonly id: string;
  readonly projectId: string;
  readonly record: SessionRecord;
  /** Epoch ms when the first connection of this live period arrived. */
  readonly startedAt = Date.now();
  /** In join order, so snapshots list the oldest first. */
  readonly connections = new Map<string, Connection>();
  /** Published streams by id. Empty until the media work adds publishing. */
  readonly streams = new Map<string, StreamInfo>();
  #closed = false;

  constructor(record: SessionRecord) {
    super();
    this.id = record.id;
    this.projectId = record.projectId;
    this.record = record;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Adds a connection and tells everyone already here. */
  addConnection(init: Omit<ConnectionInit, 'sessionId' | 'projectId'>): Connection {
    if (this.#closed) throw new Error('session is closed');
    const connection = new Connection({ ...init, sessionId: this.id, projectId: this.projectId });
    this.connections.set(connection.id, connection);
    connection.once('close', (reason) => this.#onConnectionClosed(connection, reason));
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
    for (const connection of recipients) connection.deliverSignal({ from, type, data });
    return recipients.length;
  }

  dump(): Record<string, unknown> {
    return {
      sessionId: this.id,
      projectId: this.projectId,
      mediaMode: this.record.mediaMode,
      startedAt: this.startedAt,
      connections: [...this.connections.values()].map((c) => c.dump()),
      streams: [...this.streams.values()],
      closed: this.#closed,
    };
  }

  /** Closes every connection (with `reason`) and then the session. Idempotent. */
  close(reason: DisconnectReason = 'networkDisconnected'): void {
    if (this.#closed) return;
    for (const connection of [...this.connections.values()]) connection.close(reason);
    this.#finish();
  }

  #onConnectionClosed(connection: Connection, reason: DisconnectReason): void {
    if (!this.connections.delete(connection.id)) return;
    this.emit('connectionDestroyed', connection, reason);
    if (this.connections.size === 0) this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('close');
    this.removeAllListeners();
  }
}
