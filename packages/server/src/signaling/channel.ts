// A Channel carries one Connection's messages to its client. It outlives sockets: every message it
// sends is numbered (`seq`) and kept until the client acknowledges it, so when a socket drops the
// connection waits `resumeGraceMs` for the client to come back on a new socket and replays what
// it missed, exactly once and in order. It also remembers the last request id it processed, so a
// resumed client resends only requests the server never saw.

import { CloseCodes, type DisconnectReason, type ServerMessage, type StreamDestroyedReason, type StreamProperty, type VideoDimensions } from '@colloquy/protocol';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { WebSocket } from 'ws';
import type { Logger } from '../logger.js';
import type { ArchiveNotice, Connection, RelayDelivery, RelayStart, Session, SignalDelivery, Stream } from '../sessions/session-manager.js';
import { sendBatched } from './write-batching.js';

export interface ChannelOptions {
  resumeGraceMs: number;
  /** Unacknowledged messages kept for a resume; past this a detached connection is ended. */
  maxBufferedMessages: number;
  maxBufferedBytes: number;
  /** A socket whose send buffer grows past this is a stalled client: drop the socket (it may resume). */
  maxSocketBufferBytes: number;
}

/** A message as the channel sends it: without `seq`, which the channel assigns. */
type Unsequenced<M> = M extends { seq: number } ? Omit<M, 'seq'> : M extends { seq?: number } ? Omit<M, 'seq'> : M;
export type OutgoingMessage = Unsequenced<ServerMessage>;

export class Channel {
  readonly session: Session;
  readonly connection: Connection;
  readonly connectionEventsSuppressed: boolean;
  /** Given to the client at connect; required, with the connection id, to resume. */
  readonly resumeSecret = randomBytes(24).toString('base64url');
  readonly #options: ChannelOptions;
  readonly #log: Logger;
  readonly #onEnded: (channel: Channel) => void;
  #ws: WebSocket | null = null;
  #nextSeq = 1;
  /** Sent but not acknowledged, oldest first. */
  #buffer: Array<{ seq: number; text: string }> = [];
  #bufferBytes = 0;
  /** Messages below this seq were dropped unacknowledged: resuming from before it is impossible. */
  #firstReplayableSeq = 1;
  #lastRequestId = 0;
  #graceTimer: NodeJS.Timeout | undefined;
  /** How to close the socket when the connection ends with networkDisconnected. */
  #networkCloseCode: number = CloseCodes.GOING_AWAY;
  #ended = false;

  /**
   * `connectionEventsSuppressed` (OT.initSession's option, for large sessions): this client is
   * told of no other connection coming or going — each join is then O(1) messages, not O(N).
   */
  constructor(session: Session, connection: Connection, options: ChannelOptions, log: Logger, onEnded: (channel: Channel) => void, connectionEventsSuppressed = false) {
    this.session = session;
    this.connection = connection;
    this.#options = options;
    this.#log = log.child({ connectionId: connection.id });
    this.#onEnded = onEnded;
    this.connectionEventsSuppressed = connectionEventsSuppressed;
    if (!connectionEventsSuppressed) {
      session.on('connectionCreated', this.#onConnectionCreated);
      session.on('connectionDestroyed', this.#onConnectionDestroyed);
    }
    session.on('streamCreated', this.#onStreamCreated);
    session.on('streamDestroyed', this.#onStreamDestroyed);
    session.on('streamPropertyChanged', this.#onStreamPropertyChanged);
    session.on('muteForced', this.#onMuteForced);
    session.on('archive', this.#onArchive);
    connection.on('signal', this.#onSignal);
    connection.on('streamMuteForced', this.#onStreamMuteForced);
    connection.on('videoLayers', this.#onVideoLayers);
    connection.on('relayStart', this.#onRelayStart);
    connection.on('relay', this.#onRelay);
    connection.on('subscriberDestroyed', this.#onSubscriberDestroyed);
    connection.once('close', (reason) => this.#onClose(reason));
  }

  get socket(): WebSocket | null {
    return this.#ws;
  }

  get lastRequestId(): number {
    return this.#lastRequestId;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Puts `ws` under this channel; returns the socket it replaces, which the caller closes. */
  attach(ws: WebSocket): WebSocket | null {
    const previous = this.#ws;
    this.#ws = ws;
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    this.connection.markBack();
    return previous === ws ? null : previous;
  }

  /** The socket is gone: keep the connection for the grace period, then end it. */
  detach(ws: WebSocket): void {
    if (this.#ws !== ws || this.#ended) return;
    this.#ws = null;
    this.connection.markAway();
    this.#log.debug({ graceMs: this.#options.resumeGraceMs }, 'socket dropped; waiting for resume');
    this.#graceTimer = setTimeout(() => {
      this.#log.info('resume grace period over');
      this.end('networkDisconnected');
    }, this.#options.resumeGraceMs);
    this.#graceTimer.unref?.();
  }

  /** The client closed `ws` saying it is leaving (1000, 1001): the connection ends now, no grace period. */
  leave(ws: WebSocket): void {
    if (this.#ws !== ws || this.#ended) return;
    this.#ws = null;
    this.#log.debug('socket closed by a leaving client');
    this.end('clientDisconnected');
  }

  /** Checks the secret a resuming client presents, in constant time. */
  secretMatches(secret: string): boolean {
    const a = Buffer.from(secret);
    const b = Buffer.from(this.resumeSecret);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Whether everything after `lastSeq` is still buffered (and `lastSeq` is a seq we sent). */
  canResumeFrom(lastSeq: number): boolean {
    return lastSeq <= this.#nextSeq - 1 && lastSeq + 1 >= this.#firstReplayableSeq;
  }

  /** How many buffered messages come after `lastSeq` (what a resume will replay). */
  countAfter(lastSeq: number): number {
    return this.#buffer.filter((m) => m.seq > lastSeq).length;
  }

  /** Sends every buffered message after `lastSeq` again, in order, on the current socket. */
  replayAfter(lastSeq: number): void {
    this.ack(lastSeq);
    for (const m of this.#buffer) this.#write(m.text);
  }

  /** Request ids must increase per connection; false for a repeated or older one. */
  acceptRequestId(id: number): boolean {
    if (id <= this.#lastRequestId) return false;
    this.#lastRequestId = id;
    return true;
  }

  /** The client has processed everything up to `seq`: forget it. */
  ack(seq: number): void {
    let drop = 0;
    while (drop < this.#buffer.length && this.#buffer[drop]!.seq <= seq) {
      this.#bufferBytes -= this.#buffer[drop]!.text.length;
      drop++;
    }
    if (drop > 0) this.#buffer.splice(0, drop);
  }

  /** Sends a message that is numbered and kept for replay (events, replies to requests). */
  send(message: OutgoingMessage): void {
    if (this.#ended && !this.#ws) return;
    const seq = this.#nextSeq++;
    const text = JSON.stringify({ ...message, seq });
    this.#buffer.push({ seq, text });
    this.#bufferBytes += text.length;
    while (this.#buffer.length > this.#options.maxBufferedMessages || this.#bufferBytes > this.#options.maxBufferedBytes) {
      if (!this.#ws) {
        // Nobody is acknowledging and the client could no longer be brought up to date.
        this.#log.info('resume buffer overflowed while the client was away');
        this.end('networkDisconnected');
        return;
      }
      const dropped = this.#buffer.shift()!;
      this.#bufferBytes -= dropped.text.length;
      this.#firstReplayableSeq = dropped.seq + 1;
    }
    this.#write(text);
  }

  /** Sends a message outside the numbered stream (heartbeats, connect and resume replies). */
  sendUnsequenced(message: OutgoingMessage): void {
    this.#write(JSON.stringify(message));
  }

  /** Ends the connection; `closeCode` is what the socket is closed with for networkDisconnected. */
  end(reason: DisconnectReason, closeCode: number = CloseCodes.GOING_AWAY): void {
    this.#networkCloseCode = closeCode;
    this.connection.close(reason);
  }

  /** Server shutdown: drop timers and listeners without telling anyone (the sockets are closing). */
  dispose(): void {
    clearTimeout(this.#graceTimer);
    this.#unsubscribe();
  }

  #write(text: string): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > this.#options.maxSocketBufferBytes) {
      this.#log.warn({ buffered: ws.bufferedAmount }, 'client is not reading; dropping its socket');
      ws.terminate();
      return;
    }
    sendBatched(ws, text);
  }

  readonly #onConnectionCreated = (other: Connection): void => {
    if (other !== this.connection) this.send({ type: 'connectionCreated', connection: other.info() });
  };

  readonly #onConnectionDestroyed = (other: Connection, reason: DisconnectReason): void => {
    if (other !== this.connection) this.send({ type: 'connectionDestroyed', connectionId: other.id, reason });
  };

  readonly #onStreamCreated = (stream: Stream): void => {
    this.send({ type: 'streamCreated', stream: stream.info() });
  };

  readonly #onStreamDestroyed = (stream: Stream, reason: StreamDestroyedReason): void => {
    // A stream that never went live was known only to its publisher (whose publish is pending).
    if (stream.live || stream.connection === this.connection) this.send({ type: 'streamDestroyed', streamId: stream.id, reason });
  };

  readonly #onStreamPropertyChanged = (
    stream: Stream,
    changedProperty: StreamProperty,
    oldValue: boolean | VideoDimensions | null,
    newValue: boolean | VideoDimensions | null,
  ): void => {
    this.send({ type: 'streamPropertyChanged', streamId: stream.id, changedProperty, oldValue, newValue });
  };

  readonly #onMuteForced = (active: boolean): void => {
    this.send({ type: 'muteForced', active });
  };

  readonly #onArchive = (notice: ArchiveNotice): void => {
    this.send({ type: notice.type, archiveId: notice.archiveId, name: notice.name });
  };

  readonly #onStreamMuteForced = (streamId: string): void => {
    this.send({ type: 'streamMuteForced', streamId });
  };

  readonly #onVideoLayers = (streamId: string, layers: { rid: string; active: boolean }[]): void => {
    this.send({ type: 'videoLayers', streamId, layers });
  };

  readonly #onRelayStart = (start: RelayStart): void => {
    this.send({ type: 'relayStart', subscriberId: start.subscriberId, streamId: start.streamId, connectionId: start.connectionId });
  };

  readonly #onRelay = (message: RelayDelivery): void => {
    this.send({ type: 'relay', ...message });
  };

  readonly #onSubscriberDestroyed = (subscriberId: string, streamId: string, reason: StreamDestroyedReason | 'unsubscribed'): void => {
    this.send({ type: 'subscriberDestroyed', subscriberId, streamId, reason });
  };

  readonly #onSignal = (signal: SignalDelivery): void => {
    const message: OutgoingMessage = { type: 'signal', from: signal.from?.id ?? null, data: signal.data };
    if (signal.type !== undefined) (message as { signalType?: string }).signalType = signal.type;
    this.send(message);
  };

  #onClose(reason: DisconnectReason): void {
    this.#ended = true;
    clearTimeout(this.#graceTimer);
    this.#unsubscribe();
    const ws = this.#ws;
    if (ws) {
      let code = this.#networkCloseCode;
      if (reason === 'forceDisconnected') {
        this.send({ type: 'disconnected', reason });
        code = CloseCodes.FORCE_DISCONNECTED;
      } else if (reason === 'clientDisconnected') {
        code = CloseCodes.NORMAL;
      }
      // On the next turn, so that a reply to the request that caused this still goes out first.
      setImmediate(() => {
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
      });
    }
    this.#onEnded(this);
  }

  #unsubscribe(): void {
    this.session.off('connectionCreated', this.#onConnectionCreated);
    this.session.off('connectionDestroyed', this.#onConnectionDestroyed);
    this.session.off('streamCreated', this.#onStreamCreated);
    this.session.off('streamDestroyed', this.#onStreamDestroyed);
    this.session.off('streamPropertyChanged', this.#onStreamPropertyChanged);
    this.session.off('muteForced', this.#onMuteForced);
    this.session.off('archive', this.#onArchive);
    this.connection.off('signal', this.#onSignal);
    this.connection.off('streamMuteForced', this.#onStreamMuteForced);
    this.connection.off('videoLayers', this.#onVideoLayers);
    this.connection.off('relayStart', this.#onRelayStart);
    this.connection.off('relay', this.#onRelay);
    this.connection.off('subscriberDestroyed', this.#onSubscriberDestroyed);
  }
}
