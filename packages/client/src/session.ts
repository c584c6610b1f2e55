// Session: OpenTok.js's Session for one session id — connect with a token, see connections come
// and go, send and receive signals, moderate — over a SignalingChannel to the Colloquy server.
// Publisher/Subscriber (the media issue) attach here: `streams` and stream events are reserved.

import { checkSignal, type Capabilities as WireCapabilities, type ConnectResult, type DisconnectReason, type ServerEvent, type StreamInfo } from '@colloquy/protocol';
import { Connection } from './connection.js';
import { ExceptionCodes, OTError, invalidParameter, notConnected, type SignalError } from './errors.js';
import { OTEventEmitter } from './event-emitter.js';
import { ConnectionEvent, OTEvent, SessionConnectEvent, SessionDisconnectEvent, SignalEvent } from './events.js';
import { log } from './logger.js';
import { SignalingChannel, type ReconnectPolicy } from './signaling-channel.js';

/** What `session.on()` accepts, and the event each handler gets. */
export interface SessionEventMap {
  connectionCreated: ConnectionEvent<Session>;
  connectionDestroyed: ConnectionEvent<Session>;
  sessionConnected: SessionConnectEvent<Session>;
  sessionDisconnected: SessionDisconnectEvent<Session>;
  sessionReconnecting: OTEvent<Session>;
  sessionReconnected: OTEvent<Session>;
  signal: SignalEvent<Session>;
  [signalOfType: `signal:${string}`]: SignalEvent<Session>;
}

export interface SessionOptions {
  /** Do not dispatch connectionCreated/connectionDestroyed for other clients (large sessions). Default false. */
  connectionEventsSuppressed?: boolean;
  /**
   * Colloquy: the server to talk to, e.g. `https://video.example.com`. Default: the server that served
   * opentok.js, or the page's own origin when the SDK was bundled into the app.
   */
  serverUrl?: string;
  /** Colloquy: when to retry a dropped socket (default: backoff from 100 ms to 2 s, within the server's grace period). */
  reconnectPolicy?: ReconnectPolicy;
}

export interface SignalOptions {
  /** ≤ 128 characters of A-Z a-z 0-9 - _ ~. */
  type?: string;
  /** ≤ 8 kB. */
  data?: string;
  /** One connection; omitted for everyone in the session (you included). */
  to?: Connection;
  /** Send after a reconnection instead of failing while reconnecting. Default true. */
  retryAfterReconnect?: boolean;
}

export type CompletionHandler = (error?: OTError | null) => void;

/** `session.capabilities`: what this client's token allows (1 or 0). */
export interface Capabilities extends WireCapabilities {
  /** OpenTok.js: whether `action` ('publish', 'subscribe', 'forceDisconnect', …) is allowed. */
  permittedTo(action: string): boolean;
}

type State = 'disconnected' | 'connecting' | 'connected' | 'reconnecting';

const NO_CAPABILITIES: WireCapabilities = { publish: 0, subscribe: 0, forceDisconnect: 0, forceUnpublish: 0, forceMute: 0 };

export class Session extends OTEventEmitter<SessionEventMap> {
  readonly sessionId: string;
  readonly apiKey: string;
  /** Your own connection, once connected. */
  connection: Connection | undefined;
  capabilities: Capabilities = capabilitiesOf(NO_CAPABILITIES);
  readonly #options: SessionOptions;
  readonly #serverUrl: string;
  #state: State = 'disconnected';
  #channel: SignalingChannel | null = null;
  /** Everyone in the session, you included, by connection id. */
  readonly #connections = new Map<string, Connection>();
  /** Streams by id; filled once publishing exists. */
  readonly #streams = new Map<string, StreamInfo>();

  /** @internal use OT.initSession */
  constructor(apiKey: string, sessionId: string, serverUrl: string, options: SessionOptions = {}) {
    super();
    this.apiKey = String(apiKey);
    this.sessionId = sessionId;
    this.#serverUrl = options.serverUrl ?? serverUrl;
    this.#options = options;
  }

  isConnected(): boolean {
    return this.#state === 'connected' || this.#state === 'reconnecting';
  }

  /**
   * Connects with a token. The completion handler gets null or an OTError (1004 bad token, 1005 bad
   * session id, 1006 cannot reach the server). Also returns a promise; with a handler, the promise
   * never rejects (the handler gets the error), so callback-style code sees no unhandled rejection.
   */
  connect(token: string, completionHandler?: CompletionHandler): Promise<void> {
    const done = completion(completionHandler);
    if (this.#state !== 'disconnected') return done(new OTError(ExceptionCodes.CONNECT_FAILED, 'OT_CONNECT_FAILED', 'connect was already called on this session'));
    if (typeof token !== 'string' || token === '') return done(new OTError(ExceptionCodes.AUTHENTICATION_ERROR, 'OT_AUTHENTICATION_ERROR', 'a token is required'));
    if (typeof this.sessionId !== 'string' || this.sessionId === '') {
      return done(new OTError(ExceptionCodes.INVALID_SESSION_ID, 'OT_INVALID_SESSION_ID', 'the session ID is missing'));
    }
    this.#state = 'connecting';
    const channel = new SignalingChannel(
      this.#serverUrl,
      {
        onEvent: (event) => this.#onServerEvent(event),
        onReconnecting: () => {
          this.#state = 'reconnecting';
          this.dispatchEvent(new OTEvent('sessionReconnecting', this));
        },
        onReconnected: () => {
          this.#state = 'connected';
          this.dispatchEvent(new OTEvent('sessionReconnected', this));
        },
        onClosed: (reason) => this.#onClosed(reason),
      },
      this.#options.reconnectPolicy,
    );
    this.#channel = channel;
    return channel.connect({ sessionId: this.sessionId, token, apiKey: this.apiKey }).then(
      (result) => {
        if (this.#channel !== channel) return done(new OTError(ExceptionCodes.CONNECT_FAILED, 'OT_CONNECT_FAILED', 'disconnect was called while connecting'));
        this.#onConnected(result);
        return done(null);
      },
      (error: OTError) => {
        if (this.#channel === channel) {
          this.#channel = null;
          this.#state = 'disconnected';
        }
        reportException(error);
        return done(error);
      },
    );
  }

  /** Leaves the session; sessionDisconnected (reason clientDisconnected) follows. */
  disconnect(): void {
    const channel = this.#channel;
    if (!channel) return;
    if (this.#state === 'connecting') {
      this.#channel = null;
      this.#state = 'disconnected';
      void channel.disconnect();
      return;
    }
    void channel.disconnect();
  }

  /**
   * Sends a signal to everyone (no `to`) or one connection. Errors: OT_NOT_CONNECTED (1010),
   * OT_INVALID_PARAMETER (400 bad type or data, 413 too long), OT_NOT_FOUND (404 `to` is gone),
   * OT_RATE_LIMIT_EXCEEDED (429).
   */
  signal(signal: SignalOptions = {}, completionHandler?: CompletionHandler): Promise<void> {
    const done = completion(completionHandler);
    const fail = (error: OTError): Promise<void> => {
      (error as SignalError).signal = signal;
      return done(error);
    };
    if (!this.#channel || !this.isConnected()) return fail(notConnected('signal'));
    if (typeof signal !== 'object' || signal === null) return fail(invalidParameter('signal must be an object {type, data, to}', 400));
    const problem = checkSignal(signal.type, signal.data ?? '');
    if (problem) return fail(invalidParameter(problem.message, problem.problem.endsWith('too-long') ? 413 : 400));
    let to: string | undefined;
    if (signal.to !== undefined && signal.to !== null) {
      to = (signal.to as { connectionId?: unknown }).connectionId as string | undefined;
      if (typeof to !== 'string') return fail(invalidParameter('signal.to must be a Connection', 400));
    }
    const body: { to?: string; signalType?: string; data: string } = { data: signal.data ?? '' };
    if (to !== undefined) body.to = to;
    if (signal.type !== undefined) body.signalType = signal.type;
    return this.#channel.request('signal', body, { queue: signal.retryAfterReconnect !== false }).then(
      () => done(null),
      (error: OTError) => fail(error),
    );
  }

  /** Moderators only: disconnects a client. Others get OT_PERMISSION_DENIED (1520) from the server. */
  forceDisconnect(connection: Connection | string, completionHandler?: CompletionHandler): Promise<void> {
    const done = completion(completionHandler);
    if (!this.#channel || !this.isConnected()) return done(notConnected('forceDisconnect'));
    const connectionId = typeof connection === 'string' ? connection : connection?.connectionId;
    if (typeof connectionId !== 'string' || connectionId === '') return done(invalidParameter('forceDisconnect needs a Connection'));
    return this.#channel.request('forceDisconnect', { connectionId }).then(
      () => done(null),
      (error: OTError) => done(error),
    );
  }

  /** @internal the connections known to this client (the media work uses it). */
  getConnection(connectionId: string): Connection | undefined {
    return this.#connections.get(connectionId);
  }

  #onConnected(result: ConnectResult): void {
    this.#state = 'connected';
    this.connection = new Connection(result.connection);
    this.capabilities = capabilitiesOf(result.capabilities);
    const others = result.connections.map((info) => new Connection(info));
    for (const c of others) this.#connections.set(c.connectionId, c);
    this.#connections.set(this.connection.connectionId, this.connection);
    for (const s of result.streams) this.#streams.set(s.streamId, s);
    if (!this.#options.connectionEventsSuppressed) {
      for (const c of others) this.dispatchEvent(new ConnectionEvent('connectionCreated', this, c));
    }
    // Your own connection too, as OpenTok.js does.
    this.dispatchEvent(new ConnectionEvent('connectionCreated', this, this.connection));
    this.dispatchEvent(new SessionConnectEvent(this, [...others, this.connection], [...result.streams]));
  }

  #onServerEvent(event: ServerEvent): void {
    switch (event.type) {
      case 'connectionCreated': {
        const connection = new Connection(event.connection);
        this.#connections.set(connection.connectionId, connection);
        if (!this.#options.connectionEventsSuppressed) this.dispatchEvent(new ConnectionEvent('connectionCreated', this, connection));
        return;
      }
      case 'connectionDestroyed': {
        const connection = this.#connections.get(event.connectionId);
        if (!connection) return;
        this.#connections.delete(event.connectionId);
        if (!this.#options.connectionEventsSuppressed) this.dispatchEvent(new ConnectionEvent('connectionDestroyed', this, connection, event.reason));
        return;
      }
      case 'signal': {
        const from = event.from === null ? null : (this.#connections.get(event.from) ?? new Connection({ connectionId: event.from, creationTime: 0, data: '' }));
        const signal = new SignalEvent(event.signalType, this, event.data, from);
        // signal:TYPE handlers first, then the catch-all signal handlers, with the same event.
        this.dispatchEvent(signal, signal.type === 'signal' ? undefined : 'signal');
        return;
      }
      default:
        log.debug('ignoring server event', (event as { type: string }).type);
    }
  }

  #onClosed(reason: DisconnectReason): void {
    this.#channel = null;
    this.#state = 'disconnected';
    this.#connections.clear();
    this.#streams.clear();
    this.dispatchEvent(new SessionDisconnectEvent(this, reason));
    this.connection = undefined;
    this.capabilities = capabilitiesOf(NO_CAPABILITIES);
  }
}

function capabilitiesOf(wire: WireCapabilities): Capabilities {
  return {
    ...wire,
    permittedTo(action: string): boolean {
      const key = action as keyof WireCapabilities;
      return Object.hasOwn(wire, key) && wire[key] === 1;
    },
  };
}

/** A completion handler and a promise for the same outcome (see connect()). */
function completion(handler: CompletionHandler | undefined): (error: OTError | null) => Promise<void> {
  return (error) => {
    if (handler) {
      try {
        handler(error);
      } catch (err) {
        log.error('a completion handler threw:', err);
      }
      return Promise.resolve();
    }
    return error ? Promise.reject(error) : Promise.resolve();
  };
}

/** Connect failures also go to OT.on('exception'); set by ot.ts. */
let reportException: (error: OTError) => void = () => {};
export function setExceptionReporter(reporter: (error: OTError) => void): void {
  reportException = reporter;
}
