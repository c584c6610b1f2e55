// A Channel carries one Connection's messages to its client. It outlives sockets: every message it
// sends is numbered (`seq`) and kept until the client acknowledges it, so when a socket drops the
// connection waits `resumeGraceMs` for the client to come back on a new socket and replays what
// it missed, exactly once and in order. It also remembers the last request id it processed, so a
// resumed client resends only requests the server never saw.
//
// Protocol v2 (a `broadcast` given): session-wide events are not numbered here but in the session's
// broadcast log for this client's audience (broadcast-log.ts, `bseq`), framed once for everyone;
// the channel writes those frames to its socket and numbers only messages for this connection.
// Each of its own messages remembers the last bseq published before it, so a resume replays both
// streams interleaved exactly as they were first sent.

import { CloseCodes, type DisconnectReason, type ServerMessage, type StreamDestroyedReason, type VideoQualityEvent } from '@colloquy/protocol';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { WebSocket } from 'ws';
import type { ClientSocket } from './socket.js';
import type { Logger } from '../logger.js';
import type { CaptionDelivery, Connection, RelayDelivery, RelayStart, Session, SignalDelivery, Stream } from '../sessions/session-manager.js';
import type { BroadcastEntry, BroadcastLog, BroadcastMember, SessionBroadcast } from './broadcast-log.js';
import { listenToSession, signalMessage, type BroadcastMessage, type Subject } from './session-events.js';
import { sendBatched, sendFrameBatched } from './write-batching.js';

export interface ChannelOptions {
  resumeGraceMs: number;
  /** Unacknowledged messages kept for a resume; past this a detached connection is ended. */
  maxBufferedMessages: number;
  maxBufferedBytes: number;
  /** A socket whose send buffer grows past this is a stalled client: drop the socket (it may resume). */
  maxSocketBufferBytes: number;
}

/** A message as the channel sends it: without `seq`, which the channel assigns. */
type Unsequenced<M> = M extends unknown ? Omit<M, 'seq' | 'bseq'> : never;
export type OutgoingMessage = Unsequenced<ServerMessage>;

export class Channel implements BroadcastMember {
  readonly session: Session;
  readonly connection: Connection;
  readonly connectionEventsSuppressed: boolean;
  /** Given to the client at connect; required, with the connection id, to resume. */
  readonly resumeSecret = randomBytes(24).toString('base64url');
  readonly #options: ChannelOptions;
  readonly #logger: Logger;
  readonly #onEnded: (channel: Channel) => void;
  #ws: ClientSocket | null = null;
  #nextSeq = 1;
  /** Sent but not acknowledged, oldest first; `afterBseq`: the broadcast log's last bseq when sent (v2). */
  #buffer: Array<{ seq: number; text: string; afterBseq: number }> = [];
  /** v2: the session's broadcasts and this client's log in it; null for a v1 client. */
  readonly #broadcast: SessionBroadcast | null;
  readonly #log: BroadcastLog | null;
  /** v2: the log's last bseq when this connection joined (its first broadcast is the next one). */
  readonly baseBseq: number;
  #ackedBseq = 0;
  readonly #unsubscribeSession: () => void;
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
  constructor(
    session: Session,
    connection: Connection,
    options: ChannelOptions,
    log: Logger,
    onEnded: (channel: Channel) => void,
    connectionEventsSuppressed = false,
    broadcast: SessionBroadcast | null = null,
  ) {
    this.session = session;
    this.connection = connection;
    this.#options = options;
    this.#logger = log.child({ connectionId: connection.id });
    this.#onEnded = onEnded;
    this.connectionEventsSuppressed = connectionEventsSuppressed;
    this.#broadcast = broadcast;
    this.#log = broadcast?.logFor(connectionEventsSuppressed) ?? null;
    this.baseBseq = this.#log?.lastBseq ?? 0;
    this.#ackedBseq = this.baseBseq;
    if (this.#log) {
      this.#log.members.add(this);
      // Session-wide events come from the broadcast log; only a stream of ours that never went
      // live (known to no one else) is told here.
      session.on('streamDestroyed', this.#onUnannouncedStreamDestroyed);
      this.#unsubscribeSession = () => session.off('streamDestroyed', this.#onUnannouncedStreamDestroyed);
    } else {
      this.#unsubscribeSession = listenToSession(session, { connectionEvents: !connectionEventsSuppressed, signals: false }, this.#onSessionEvent);
    }
    connection.on('signal', this.#onSignal);
    connection.on('streamMuteForced', this.#onStreamMuteForced);
    connection.on('videoLayers', this.#onVideoLayers);
    connection.on('videoQuality', this.#onVideoQuality);
    connection.on('relayStart', this.#onRelayStart);
    connection.on('caption', this.#onCaption);
    connection.on('relay', this.#onRelay);
    connection.on('subscriberDestroyed', this.#onSubscriberDestroyed);
    connection.once('close', (reason) => this.#onClose(reason));
  }

  get socket(): ClientSocket | null {
    return this.#ws;
  }

  get lastRequestId(): number {
    return this.#lastRequestId;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The protocol version this connection speaks. */
  get version(): 1 | 2 {
    return this.#log ? 2 : 1;
  }

  get ackedBseq(): number {
    return this.#ackedBseq;
  }

  /** v2: a broadcast of this client's audience; written now, kept by the log for a resume. */
  deliver(entry: BroadcastEntry): void {
    this.#writeFrame(entry.frame);
  }

  /** v2: the log dropped broadcasts this client (away) had not seen: it cannot resume. */
  lost(): void {
    if (this.#ended) return;
    this.#logger.info('broadcast replay buffer overflowed while the client was away');
    this.end('networkDisconnected');
  }

  /** Puts `ws` under this channel; returns the socket it replaces, which the caller closes. */
  attach(ws: ClientSocket): ClientSocket | null {
    const previous = this.#ws;
    this.#ws = ws;
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    this.#log?.away.delete(this);
    this.connection.markBack();
    return previous === ws ? null : previous;
  }

  /** The socket is gone: keep the connection for the grace period, then end it. */
  detach(ws: ClientSocket): void {
    if (this.#ws !== ws || this.#ended) return;
    this.#ws = null;
    this.#log?.away.add(this);
    this.connection.markAway();
    this.#logger.debug({ graceMs: this.#options.resumeGraceMs }, 'socket dropped; waiting for resume');
    this.#graceTimer = setTimeout(() => {
      this.#logger.info('resume grace period over');
      this.end('networkDisconnected');
    }, this.#options.resumeGraceMs);
    this.#graceTimer.unref?.();
  }

  /** The client closed `ws` saying it is leaving (1000, 1001): the connection ends now, no grace period. */
  leave(ws: ClientSocket): void {
    if (this.#ws !== ws || this.#ended) return;
    this.#ws = null;
    this.#logger.debug('socket closed by a leaving client');
    this.end('clientDisconnected');
  }

  /** Checks the secret a resuming client presents, in constant time. */
  secretMatches(secret: string): boolean {
    const a = Buffer.from(secret);
    const b = Buffer.from(this.resumeSecret);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /**
   * Whether everything after `lastSeq` (and, v2, after broadcast `lastBseq`) is still buffered and
   * both were sent to this connection.
   */
  canResumeFrom(lastSeq: number, lastBseq = this.baseBseq): boolean {
    if (!(lastSeq <= this.#nextSeq - 1 && lastSeq + 1 >= this.#firstReplayableSeq)) return false;
    return !this.#log || (lastBseq >= this.baseBseq && this.#log.canReplayAfter(lastBseq));
  }

  /** How many buffered messages come after `lastSeq` / `lastBseq` (what a resume will replay). */
  countAfter(lastSeq: number, lastBseq = this.baseBseq): number {
    let count = this.#buffer.filter((m) => m.seq > lastSeq).length;
    if (this.#log) for (const _ of this.#log.after(lastBseq)) count++;
    return count;
  }

  /**
   * Sends every buffered message after `lastSeq` (and broadcast after `lastBseq`) again on the
   * current socket, in the order they were first sent.
   */
  replayAfter(lastSeq: number, lastBseq = this.baseBseq): void {
    this.ack(lastSeq, lastBseq);
    if (!this.#log) {
      for (const m of this.#buffer) this.#write(m.text);
      return;
    }
    const broadcasts = this.#log.after(lastBseq)[Symbol.iterator]();
    let next = broadcasts.next();
    for (const m of this.#buffer) {
      while (!next.done && next.value.bseq <= m.afterBseq) {
        this.#writeFrame(next.value.frame);
        next = broadcasts.next();
      }
      this.#write(m.text);
    }
    for (; !next.done; next = broadcasts.next()) this.#writeFrame(next.value.frame);
  }

  /** Request ids must increase per connection; false for a repeated or older one. */
  acceptRequestId(id: number): boolean {
    if (id <= this.#lastRequestId) return false;
    this.#lastRequestId = id;
    return true;
  }

  /** The client has processed everything up to `seq` (and broadcast `bseq`, v2): forget it. */
  ack(seq: number | undefined, bseq?: number): void {
    if (bseq !== undefined && this.#log) this.#ackedBseq = Math.max(this.#ackedBseq, Math.min(bseq, this.#log.lastBseq));
    if (seq === undefined) return;
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
    this.#buffer.push({ seq, text, afterBseq: this.#log?.lastBseq ?? 0 });
    this.#bufferBytes += text.length;
    while (this.#buffer.length > this.#options.maxBufferedMessages || this.#bufferBytes > this.#options.maxBufferedBytes) {
      if (!this.#ws) {
        // Nobody is acknowledging and the client could no longer be brought up to date.
        this.#logger.info('resume buffer overflowed while the client was away');
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

  /** sendUnsequenced of a message already serialized (the connect reply, connection-list.ts). */
  sendUnsequencedText(text: string): void {
    this.#write(text);
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
    const ws = this.#writable();
    if (ws) sendBatched(ws, text);
  }

  #writeFrame(frame: Buffer): void {
    const ws = this.#writable();
    if (ws) sendFrameBatched(ws, frame);
  }

  /**
   * The socket, unless there is none or its client stopped reading: past maxSocketBufferBytes the
   * socket is dropped (the connection waits for a resume, then ends with networkDisconnected, as
   * for any network loss) rather than buffered without bound.
   */
  #writable(): ClientSocket | null {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return null;
    if (ws.bufferedAmount > this.#options.maxSocketBufferBytes) {
      this.#logger.warn({ buffered: ws.bufferedAmount }, 'client is not reading; dropping its socket');
      ws.terminate();
      return null;
    }
    return ws;
  }

  /** v1: a session-wide event, numbered for this connection. */
  readonly #onSessionEvent = (message: BroadcastMessage, subject: Subject): void => {
    // Never told of itself; a stream that never went live was known only to its publisher (whose publish is pending).
    if (subject && 'connection' in subject && subject.connection === this.connection) return;
    if (message.type === 'streamDestroyed' && subject && 'stream' in subject && !subject.stream.live && subject.stream.connection !== this.connection) return;
    this.send(message);
  };

  /** v2: our own stream ended before it went live (the broadcast log tells everyone of live ones). */
  readonly #onUnannouncedStreamDestroyed = (stream: Stream, reason: StreamDestroyedReason): void => {
    if (!stream.live && stream.connection === this.connection) this.send({ type: 'streamDestroyed', streamId: stream.id, reason });
  };

  readonly #onStreamMuteForced = (streamId: string): void => {
    this.send({ type: 'streamMuteForced', streamId });
  };

  readonly #onVideoLayers = (streamId: string, layers: { rid: string; active: boolean }[]): void => {
    this.send({ type: 'videoLayers', streamId, layers });
  };

  readonly #onVideoQuality = (subscriberId: string, streamId: string, event: VideoQualityEvent['event']): void => {
    this.send({ type: 'videoQuality', subscriberId, streamId, event });
  };

  readonly #onRelayStart = (start: RelayStart): void => {
    this.send({ type: 'relayStart', subscriberId: start.subscriberId, streamId: start.streamId, connectionId: start.connectionId });
  };

  readonly #onCaption = (caption: CaptionDelivery): void => {
    this.send({ type: 'caption', ...caption });
  };

  readonly #onRelay = (message: RelayDelivery): void => {
    this.send({ type: 'relay', ...message });
  };

  readonly #onSubscriberDestroyed = (subscriberId: string, streamId: string, reason: StreamDestroyedReason | 'unsubscribed'): void => {
    this.send({ type: 'subscriberDestroyed', subscriberId, streamId, reason });
  };

  readonly #onSignal = (signal: SignalDelivery): void => {
    if (signal.toAll && this.#log) return; // v2: from the broadcast log
    this.send(signalMessage(signal));
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
    if (this.#log) this.#broadcast!.leave(this.#log, this);
    this.#unsubscribeSession();
    this.connection.off('signal', this.#onSignal);
    this.connection.off('streamMuteForced', this.#onStreamMuteForced);
    this.connection.off('videoLayers', this.#onVideoLayers);
    this.connection.off('videoQuality', this.#onVideoQuality);
    this.connection.off('relayStart', this.#onRelayStart);
    this.connection.off('caption', this.#onCaption);
    this.connection.off('relay', this.#onRelay);
    this.connection.off('subscriberDestroyed', this.#onSubscriberDestroyed);
  }
}
