// The Audio Connector (OpenTok's `connect`): a session's audio streamed to a WebSocket server the app
// names, and (bidirectional) that server's audio played back into the session. A connect checks the
// session and token, opens the WebSocket (6 s, as OpenTok: past that the call fails), sends the
// initial JSON message, then joins the session as a Connection of the token's data (like the SIP
// leg) and, when bidirectional, publishes an audio stream for the socket's audio. The socket and the
// connection end together: the socket closing or failing closes the connection, and `stop`, a
// `forceDisconnect` or the session ending closes the socket. Media is websocket-audio.ts.

import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { ColloquyError, invalid, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import { publishAudioStream, type SessionPublisher } from '../session-audio/index.js';
import { admitServerParticipant } from '../sessions/server-participant.js';
import type { Connection, DisconnectReason, SessionManager } from '../sessions/session-manager.js';
import type { Project, Store } from '../store/index.js';
import { initialMessage, WebSocketAudio, type AudioRate, type WebSocketAudioStats } from './websocket-audio.js';

/** OpenTok: a WebSocket server that does not answer within 6 seconds fails the connect call. */
const OPEN_TIMEOUT_MS = 6000;
/** The largest message the WebSocket server may send (1 s of audio at 24 kHz is 48 kB). */
const MAX_MESSAGE_BYTES = 1 << 20;

export interface ConnectRequest {
  sessionId: string;
  token: string;
  websocket: {
    uri: string;
    /** Only these streams are sent (mixed); null: every stream of the session. */
    streams: string[] | null;
    /** Sent on the HTTP upgrade and as fields of the initial message. */
    headers: Record<string, string>;
    audioRate: AudioRate;
    bidirectional: boolean;
  };
}

export interface ConnectResult {
  id: string;
  connectionId: string;
}

/** One connector as tests and logs see it. */
export interface AudioConnectorInfo {
  id: string;
  projectId: string;
  sessionId: string;
  connectionId: string;
  /** Bidirectional: the stream the socket's audio plays on. */
  streamId: string | null;
  uri: string;
  audioRate: AudioRate;
  createdAt: number;
}

interface LiveConnector {
  info: AudioConnectorInfo;
  ws: WebSocket;
  audio: WebSocketAudio;
  publisher: SessionPublisher | null;
  connection: Connection;
}

export class AudioConnector {
  readonly #sessions: SessionManager;
  readonly #store: Store;
  readonly #sfuAddress: string;
  readonly #log: Logger;
  readonly #live = new Map<string, LiveConnector>();
  #closed = false;

  constructor(params: { sessions: SessionManager; store: Store; sfuAddress: string; logger: Logger }) {
    this.#sessions = params.sessions;
    this.#store = params.store;
    this.#sfuAddress = params.sfuAddress;
    this.#log = params.logger.child({ module: 'audio-connector' });
  }

  /** Connectors running now. */
  get connectors(): AudioConnectorInfo[] {
    return [...this.#live.values()].map((c) => ({ ...c.info }));
  }

  /** Counters of a running connector (frames to the socket, audio from it) and the streams it sends. */
  stats(id: string): (WebSocketAudioStats & { streams: string[] }) | undefined {
    const live = this.#live.get(id);
    return live ? { ...live.audio.currentStats, streams: live.audio.streamIds } : undefined;
  }

  async connect(project: Project, request: ConnectRequest): Promise<ConnectResult> {
    if (this.#closed) throw new ColloquyError('unavailable', 'The server is shutting down');
    const { bidirectional, audioRate, uri, headers } = request.websocket;
    const { record, claims } = await admitServerParticipant({
      sessions: this.#sessions,
      store: this.#store,
      project,
      sessionId: request.sessionId,
      token: request.token,
      what: bidirectional ? 'Bidirectional Audio Connector WebSockets' : 'Audio Connector WebSockets',
      publishes: bidirectional,
    });
    const ws = await this.#open(uri, headers);
    ws.send(initialMessage(audioRate, headers));
    let connection: Connection;
    try {
      ({ connection } = this.#sessions.join(record, claims, { userAgent: 'Colloquy Audio Connector', ip: new URL(uri).hostname, sdk: { name: 'audio-connector', version: '1' } }));
    } catch (err) {
      ws.close(1011, 'could not join the session');
      throw err;
    }
    let own: { streamId: string; publisher: SessionPublisher } | null = null;
    if (bidirectional) {
      try {
        const { publisher, stream } = await publishAudioStream({ sessions: this.#sessions, connection, sfuAddress: this.#sfuAddress, name: '', logger: this.#log });
        own = { streamId: stream.id, publisher };
      } catch (err) {
        connection.close('networkDisconnected');
        ws.close(1011, 'could not publish into the session');
        throw err;
      }
    }
    if (this.#closed || connection.closed || ws.readyState !== WebSocket.OPEN) {
      // The server began shutting down, or the socket or the session went away, while the stream
      // was being published.
      void own?.publisher.close();
      if (!connection.closed) connection.close('networkDisconnected');
      ws.terminate();
      if (this.#closed) throw new ColloquyError('unavailable', 'The server is shutting down');
      throw invalid('The WebSocket server closed the connection before the Audio Connector started');
    }
    const audio = new WebSocketAudio({ ws, sessions: this.#sessions, sessionId: record.id, streams: request.websocket.streams, audioRate, own, logger: this.#log });
    const info: AudioConnectorInfo = {
      id: randomUUID(),
      projectId: project.id,
      sessionId: record.id,
      connectionId: connection.id,
      streamId: own?.streamId ?? null,
      uri,
      audioRate,
      createdAt: Date.now(),
    };
    const live: LiveConnector = { info, ws, audio, publisher: own?.publisher ?? null, connection };
    this.#live.set(info.id, live);
    this.#wire(live);
    audio.start();
    this.#log.info({ id: info.id, sessionId: record.id, connectionId: connection.id, streamId: info.streamId, audioRate, bidirectional, host: new URL(uri).host }, 'Audio Connector started');
    return { id: info.id, connectionId: connection.id };
  }

  /** OpenTok's stop: the socket is closed and the connector's connection leaves the session. 404 when unknown. */
  stop(project: Project, id: string): void {
    const live = this.#live.get(id);
    if (!live || live.info.projectId !== project.id) throw notFound('Not found. There is no Audio Connector with this ID in the project.', 404);
    this.#finish(live, 'clientDisconnected', 1000, 'stopped');
  }

  /** Opens the socket with the request's headers on the upgrade; 400 when it cannot within 6 s. */
  #open(uri: string, headers: Record<string, string>): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(uri, { headers, handshakeTimeout: OPEN_TIMEOUT_MS, perMessageDeflate: false, followRedirects: false, maxPayload: MAX_MESSAGE_BYTES });
      const timer = setTimeout(() => fail(new Error(`no answer within ${OPEN_TIMEOUT_MS / 1000} s`)), OPEN_TIMEOUT_MS);
      const fail = (err: Error) => {
        clearTimeout(timer);
        ws.removeAllListeners();
        ws.on('error', () => {});
        ws.terminate();
        reject(invalid(`The Audio Connector could not connect to the WebSocket server: ${err.message}`));
      };
      ws.once('error', fail);
      ws.once('unexpected-response', (_req, res) => fail(new Error(`it answered HTTP ${res.statusCode} to the upgrade`)));
      ws.once('open', () => {
        clearTimeout(timer);
        ws.removeAllListeners();
        // Until #wire listens: an 'error' with no listener would throw out of the event loop.
        ws.on('error', () => {});
        resolve(ws);
      });
    });
  }

  #wire(live: LiveConnector): void {
    const { ws, connection } = live;
    ws.on('close', (code) => {
      // The WebSocket server hung up (a normal close) or the socket broke: the connection leaves.
      this.#finish(live, code === 1000 || code === 1001 ? 'clientDisconnected' : 'networkDisconnected', null, '');
    });
    ws.on('error', (err) => {
      this.#log.info({ err, id: live.info.id }, 'Audio Connector WebSocket failed');
      this.#finish(live, 'networkDisconnected', null, '');
    });
    // forceDisconnect, or the session closing: the socket closes.
    connection.once('close', () => this.#finish(live, connection.closeReason ?? 'clientDisconnected', 1000, 'session connection closed'));
  }

  /** Ends a connector once: the media stops, the socket closes (`wsCode`, or it is already closed), the connection leaves. */
  #finish(live: LiveConnector, reason: DisconnectReason, wsCode: number | null, wsReason: string): void {
    if (!this.#live.delete(live.info.id)) return;
    live.audio.close();
    void live.publisher?.close();
    if (wsCode !== null && (live.ws.readyState === WebSocket.OPEN || live.ws.readyState === WebSocket.CONNECTING)) live.ws.close(wsCode, wsReason);
    // A socket that never answers the close handshake is cut after a while.
    const cut = setTimeout(() => live.ws.terminate(), 5000);
    cut.unref();
    live.ws.once('close', () => clearTimeout(cut));
    if (live.ws.readyState === WebSocket.CLOSED) clearTimeout(cut);
    if (!live.connection.closed) live.connection.close(reason);
    this.#log.info({ id: live.info.id, reason, stats: live.audio.stats }, 'Audio Connector ended');
  }

  /** Ends every connector (server shutdown): sockets close with 1001 (going away). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const live of [...this.#live.values()]) this.#finish(live, 'clientDisconnected', 1001, 'server shutting down');
  }
}
