// Session: OpenTok.js's Session for one session id — connect with a token, see connections and
// streams come and go, publish and subscribe, send and receive signals, moderate — over a
// SignalingChannel to the Colloquy server. It routes the server's media events to the Publisher
// or Subscriber they concern, and sends the Inspector a small getStats summary every few seconds.

import {
  checkSignal,
  type Capabilities as WireCapabilities,
  type ClientTrackStats,
  type ConnectResult,
  type DisconnectReason,
  type RequestMap,
  type ServerEvent,
  type StreamInfo,
} from '@colloquy/protocol';
import { Connection } from './connection.js';
import { ExceptionCodes, OTError, asOTError, invalidParameter, notConnected, type SignalError } from './errors.js';
import { OTEventEmitter } from './event-emitter.js';
import {
  ArchiveEvent,
  ConnectionEvent,
  EncryptionSecretEvent,
  MuteForcedEvent,
  OTEvent,
  SessionConnectEvent,
  SessionDisconnectEvent,
  SignalEvent,
  StreamEvent,
  StreamPropertyChangedEvent,
} from './events.js';
import { createFramePipeline, hasFrameTransformSupport, type FramePipeline } from './e2ee/encoded-transform.js';
import { FrameKeyring, secretProblem } from './e2ee/frame-crypto.js';
import { log } from './logger.js';
import type { MediaContext } from './media-context.js';
import { Publisher, type PublisherProperties } from './publisher.js';
import { SignalingChannel, type ReconnectPolicy, type RequestBody, type SessionRequestType } from './signaling-channel.js';
import { Stream } from './stream.js';
import { Subscriber, type SubscriberProperties } from './subscriber.js';

// The Session a Publisher or Subscriber belongs to (their `session`), declared here with the
// Session: media-context.ts, publisher.ts and subscriber.ts then import nothing from this module,
// and imports run one way, from the Session to what it creates.
declare module './media-context.js' {
  interface MediaContext {
    readonly session: Session;
  }
}

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
  /** Another client's stream (also each stream already there when you connect). */
  streamCreated: StreamEvent<Session>;
  /** Another client's stream ended (cancelable: preventDefault keeps its subscribers' elements). */
  streamDestroyed: StreamEvent<Session>;
  streamPropertyChanged: StreamPropertyChangedEvent<Session>;
  /** A moderator muted everyone (`active` true) or lifted it (false). */
  muteForced: MuteForcedEvent<Session>;
  archiveStarted: ArchiveEvent<Session>;
  archiveStopped: ArchiveEvent<Session>;
  /**
   * Colloquy: one of your subscribers cannot decrypt its stream (e2ee sessions: another secret, or
   * none). The Subscriber dispatches the same event, as in OpenTok.js.
   */
  encryptionSecretMismatch: EncryptionSecretEvent<Session>;
  /** Colloquy: a subscriber decrypts again after a mismatch (the Subscriber dispatches it too). */
  encryptionSecretMatch: EncryptionSecretEvent<Session>;
}

/** OpenTok.js iceConfig: which ICE (STUN/TURN) servers peer connections use. */
export interface IceConfig {
  /**
   * 'all' (default): the TURN servers the Colloquy server hands out (COLLOQUY_TURN_URLS), then
   * customServers; 'custom': customServers only.
   */
  includeServers?: 'all' | 'custom';
  /** 'relay' forces media through TURN (the server's or customServers). Default 'all'. */
  transportPolicy?: 'all' | 'relay';
  /** Your STUN/TURN servers, e.g. [{urls: 'turn:turn.example.com:3478', username, credential}]. */
  customServers?: RTCIceServer[];
}

export interface SessionOptions {
  /**
   * Do not dispatch connectionCreated/connectionDestroyed for other clients (large sessions,
   * webinars). The server then sends none either, so a join costs it O(1) messages, not O(N).
   * Streams still carry their connection (`stream.connection.data`). Default false.
   */
  connectionEventsSuppressed?: boolean;
  /**
   * Colloquy: the server to talk to, e.g. `https://video.example.com`. Default: the server that served
   * opentok.js, or the page's own origin when the SDK was bundled into the app.
   */
  serverUrl?: string;
  /** Colloquy: when to retry a dropped socket (default: backoff from 100 ms to 2 s, within the server's grace period). */
  reconnectPolicy?: ReconnectPolicy;
  /**
   * ICE servers for peer connections. Default: none — enough on loopback and a LAN, and for routed
   * sessions whose server announces a reachable address. Relayed sessions across the internet need
   * STUN, and TURN for clients behind restrictive NATs.
   */
  iceConfig?: IceConfig;
  /**
   * Colloquy: how often (ms) this client sends the server's Inspector a summary of its getStats
   * (bitrate, loss, frame rate per track; a few hundred bytes). Default 5000; 0 turns it off.
   */
  statsReportIntervalMs?: number;
  /**
   * The shared secret of an end-to-end encrypted session (created with e2ee=true): 8 to 256
   * characters, the same for everyone in the session. Media is encrypted in this browser with a
   * key derived from it and the session id; the server never sees it. Change it later with
   * session.setEncryptionSecret(). An invalid secret fails connect with OT_INVALID_ENCRYPTION_SECRET;
   * in a session that is not e2ee the secret is not used.
   */
  encryptionSecret?: string;
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

/** Sessions connected now (OT.reportIssue reports to each). */
export const connectedSessions = new Set<Session>();

/** Sessions connecting or connected: the page leaves them all when it goes away. */
const openSessions = new Set<Session>();

/**
 * A tab closing or reloading fires `pagehide` (also when the page enters the back/forward cache):
 * every open session leaves at once, as OpenTok.js does, so the others see connectionDestroyed and
 * streamDestroyed now instead of a frozen participant for the server's resume grace period.
 */
if (typeof addEventListener === 'function') {
  addEventListener('pagehide', () => {
    for (const session of [...openSessions]) session._leaveNow();
  });
}

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
  /** Every stream in the session (yours included), by id. */
  readonly #streams = new Map<string, Stream>();
  #mediaMode: 'routed' | 'relayed' = 'routed';
  #iceConfig: IceConfig;
  /** The server's TURN servers with this connection's credentials (from the connect reply). */
  #serverIceServers: RTCIceServer[] = [];
  /** Our publishers by stream id (once their publish reply came). */
  readonly #publishers = new Map<string, Publisher>();
  /** Our subscribers by subscriber id (once their subscribe reply came), and all of them. */
  readonly #subscribers = new Map<string, Subscriber>();
  readonly #allSubscribers = new Set<Subscriber>();
  #statsTimer: ReturnType<typeof setInterval> | undefined;
  /** The outcome of the connect in progress or done (a second connect() waits for it). */
  #connectOutcome: Promise<OTError | null> = Promise.resolve(null);
  /** Whether the server says this session is end-to-end encrypted (from the connect reply). */
  #e2ee = false;
  /** The media keys of the encryption secret(s) (e2ee sessions). */
  readonly #keyring = new FrameKeyring();
  /** The derivation of the latest secret, when one is under way or done. */
  #keyReady: Promise<void> | null = null;
  /** How frames get encrypted (a worker, or the page's thread); made on first use in an e2ee session. */
  #framePipeline: FramePipeline | null = null;

  /** @internal use OT.initSession */
  constructor(apiKey: string, sessionId: string, serverUrl: string, options: SessionOptions = {}) {
    super();
    this.apiKey = String(apiKey);
    this.sessionId = sessionId;
    this.#serverUrl = options.serverUrl ?? serverUrl;
    this.#options = options;
    this.#iceConfig = options.iceConfig ?? {};
  }

  /**
   * Sets or changes the end-to-end encryption secret (8 to 256 characters). From the moment the
   * returned promise resolves, what you publish is encrypted with the new secret's key; frames sent
   * with the previous one still decrypt for a few seconds, so everyone can change over. Rejects with
   * OT_INVALID_ENCRYPTION_SECRET (1011) for an invalid secret.
   */
  setEncryptionSecret(secret: string): Promise<void> {
    const problem = secretProblem(secret);
    if (problem) return Promise.reject(new OTError(ExceptionCodes.INVALID_PARAMETER, 'OT_INVALID_ENCRYPTION_SECRET', `setEncryptionSecret: ${problem}`));
    if (!hasFrameTransformSupport()) return Promise.reject(noEncryption());
    return this.#setSecret(secret);
  }

  #setSecret(secret: string): Promise<void> {
    const ready = this.#keyring.setSecret(secret, this.sessionId);
    this.#keyReady = ready;
    return ready.catch((err: unknown) => {
      throw asOTError(err);
    });
  }

  /** Replaces the ICE configuration for peer connections made from now on. */
  setIceConfig(iceConfig: IceConfig): void {
    this.#iceConfig = iceConfig ?? {};
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
    if (this.#state !== 'disconnected') {
      // OpenTok.js: a warning, not an error. The handler hears how the connect in progress ends;
      // the promise never rejects (the first call's promise carries a failure).
      log.warn(`session.connect: the session is already ${this.#state === 'connecting' ? 'connecting' : 'connected'}`);
      return this.#connectOutcome.then((error) => {
        if (completionHandler) void done(error);
      });
    }
    if (typeof token !== 'string' || token === '') return done(new OTError(ExceptionCodes.AUTHENTICATION_ERROR, 'OT_AUTHENTICATION_ERROR', 'a token is required'));
    if (typeof this.sessionId !== 'string' || this.sessionId === '') {
      return done(new OTError(ExceptionCodes.INVALID_SESSION_ID, 'OT_INVALID_SESSION_ID', 'the session ID is missing'));
    }
    const secret = this.#options.encryptionSecret;
    if (secret !== undefined && this.#keyReady === null) {
      const problem = secretProblem(secret);
      if (problem) {
        const error = new OTError(ExceptionCodes.CONNECT_FAILED, 'OT_INVALID_ENCRYPTION_SECRET', `encryptionSecret: ${problem}`);
        reportException(error);
        return done(error);
      }
      // Derived while connecting (PBKDF2 takes a moment), used only if the session is e2ee.
      if (hasFrameTransformSupport()) this.#setSecret(secret);
    }
    this.#state = 'connecting';
    openSessions.add(this);
    let settle: (error: OTError | null) => void = () => {};
    this.#connectOutcome = new Promise((resolve) => (settle = resolve));
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
        onRejoined: (result) => this.#onRejoined(result),
        onClosed: (reason) => this.#onClosed(reason),
      },
      this.#options.reconnectPolicy,
    );
    this.#channel = channel;
    return channel.connect({ sessionId: this.sessionId, token, apiKey: this.apiKey, connectionEventsSuppressed: this.#options.connectionEventsSuppressed === true }).then(
      (result) => {
        if (this.#channel !== channel) {
          const error = new OTError(ExceptionCodes.CONNECT_FAILED, 'OT_CONNECT_FAILED', 'disconnect was called while connecting');
          settle(error);
          return done(error);
        }
        if (result.session.e2ee && !hasFrameTransformSupport()) {
          // An end-to-end encrypted session this browser cannot encrypt for: leave at once.
          this.#channel = null;
          this.#state = 'disconnected';
          openSessions.delete(this);
          void channel.disconnect();
          const error = noEncryption();
          reportException(error);
          settle(error);
          return done(error);
        }
        this.#e2ee = result.session.e2ee;
        if (!this.#e2ee && secret !== undefined) log.warn('encryptionSecret: this session is not end-to-end encrypted (e2ee); the secret is not used');
        this.#onConnected(result);
        settle(null);
        return done(null);
      },
      (error: OTError) => {
        if (this.#channel === channel) {
          this.#channel = null;
          this.#state = 'disconnected';
          openSessions.delete(this);
        }
        reportException(error);
        settle(error);
        return done(error);
      },
    );
  }

  /** @internal OT.reportIssue: the issue goes into this connection's Inspector log. */
  _reportIssue(issueId: string): void {
    this.#channel?.report({ type: 'clientError', code: 'issue', name: 'OT_ISSUE_REPORTED', message: `The app reported an issue: ${issueId}` });
  }

  /** @internal The page is going away (pagehide): leave now, without waiting for the server's reply. */
  _leaveNow(): void {
    this.#leave(true);
  }

  /** Leaves the session; sessionDisconnected (reason clientDisconnected) follows. */
  disconnect(): void {
    this.#leave(false);
  }

  #leave(now: boolean): void {
    const channel = this.#channel;
    if (!channel) return;
    if (this.#state === 'connecting') {
      // The connect in progress fails (OT_CONNECT_FAILED); nothing was announced yet.
      this.#channel = null;
      this.#state = 'disconnected';
      openSessions.delete(this);
    }
    if (now) channel.leaveNow();
    else void channel.disconnect();
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

  /** @internal the connections known to this client. */
  getConnection(connectionId: string): Connection | undefined {
    return this.#connections.get(connectionId);
  }

  // ---------------------------------------------------------------------------------------------
  // Publishing and subscribing

  /**
   * Publishes a Publisher (or makes one: `publish(target, properties, handler)`). The handler runs
   * once the stream is live (others got streamCreated) or with an error: 1010 OT_NOT_CONNECTED,
   * 1500 OT_PERMISSION_DENIED (a subscriber token), 1500 OT_USER_MEDIA_ACCESS_DENIED, 1553
   * OT_ICE_WORKFLOW_FAILED. Returns the Publisher.
   */
  publish(publisher?: Publisher | string | HTMLElement | null, properties?: PublisherProperties | CompletionHandler, completionHandler?: CompletionHandler): Publisher {
    let handler = completionHandler;
    let target: Publisher;
    if (publisher instanceof Publisher) {
      target = publisher;
      if (typeof properties === 'function') handler = properties;
    } else {
      if (typeof properties === 'function') {
        handler = properties;
        properties = undefined;
      }
      target = new Publisher(publisher, (properties as PublisherProperties | undefined) ?? {});
    }
    const done = completion(handler);
    if (!this.#channel || !this.isConnected()) {
      void done(notConnected('publish'));
      return target;
    }
    void target._publish(this.#mediaContext, (error) => void done(error));
    return target;
  }

  /** Stops publishing; the Publisher dispatches streamDestroyed (and is destroyed unless prevented). */
  unpublish(publisher: Publisher): void {
    const streamId = publisher?.stream?.streamId ?? [...this.#publishers].find(([, p]) => p === publisher)?.[0];
    if (!streamId || !this.#channel) return;
    this.#channel.request('unpublish', { streamId }).catch((err: OTError) => log.warn('unpublish failed:', err.message));
  }

  /**
   * Subscribes to a stream; returns the Subscriber at once (its element is in the page). The handler
   * runs when media flows, or with an error: 1010 OT_NOT_CONNECTED, 1501 OT_PERMISSION_DENIED (a
   * publisheronly token), 1554 OT_ICE_WORKFLOW_FAILED, 1013 OT_P2P_CONNECTION_FAILED (relayed).
   */
  subscribe(stream: Stream, target?: string | HTMLElement | SubscriberProperties | CompletionHandler | null, properties?: SubscriberProperties | CompletionHandler, completionHandler?: CompletionHandler): Subscriber {
    let handler = completionHandler;
    let element: unknown = target;
    let props: SubscriberProperties = {};
    if (typeof target === 'function') {
      handler = target;
      element = undefined;
    } else if (target && typeof target === 'object' && !(typeof HTMLElement !== 'undefined' && target instanceof HTMLElement)) {
      props = target as SubscriberProperties;
      element = undefined;
      if (typeof properties === 'function') handler = properties;
    }
    if (typeof properties === 'function') handler = properties;
    else if (properties) props = properties;
    const done = completion(handler);
    const known = stream && this.#streams.get(stream.streamId);
    if (!known || !this.#channel || !this.isConnected()) {
      const error = !this.isConnected() ? notConnected('subscribe') : invalidParameter('subscribe needs a Stream of this session (from streamCreated)');
      void done(error);
      throw error;
    }
    const subscriber = new Subscriber(known, element, props, this.#mediaContext, (error) => void done(error));
    this.#allSubscribers.add(subscriber);
    subscriber.once('destroyed', () => this.#allSubscribers.delete(subscriber));
    return subscriber;
  }

  /** Stops a subscriber and removes its element. */
  unsubscribe(subscriber: Subscriber): void {
    subscriber?.destroy();
  }

  /** The Publisher of one of your own streams. */
  getPublisherForStream(stream: Stream): Publisher | undefined {
    return stream ? this.#publishers.get(stream.streamId) : undefined;
  }

  /** Your Subscribers of a stream. */
  getSubscribersForStream(stream: Stream): Subscriber[] {
    return [...this.#allSubscribers].filter((s) => s.stream.streamId === stream?.streamId);
  }

  /** Moderators: stops someone's stream (reason forceUnpublished); others get 1530 OT_PERMISSION_DENIED. */
  forceUnpublish(stream: Stream | string, completionHandler?: CompletionHandler): Promise<void> {
    const streamId = typeof stream === 'string' ? stream : stream?.streamId;
    return this.#moderate('forceUnpublish', { streamId: streamId ?? '' }, completionHandler, !streamId);
  }

  /** Moderators: mutes one stream's audio (its publisher gets muteForced); others get 1540. */
  forceMuteStream(stream: Stream | string, completionHandler?: CompletionHandler): Promise<void> {
    const streamId = typeof stream === 'string' ? stream : stream?.streamId;
    return this.#moderate('forceMuteStream', { streamId: streamId ?? '' }, completionHandler, !streamId);
  }

  /** Moderators: mutes every stream but the excluded ones, and streams published while active. */
  forceMuteAll(excludedStreams: Array<Stream | string> = [], completionHandler?: CompletionHandler): Promise<void> {
    const excludedStreamIds = (Array.isArray(excludedStreams) ? excludedStreams : []).map((s) => (typeof s === 'string' ? s : s.streamId));
    return this.#moderate('forceMuteAll', { excludedStreamIds }, completionHandler, false);
  }

  /** Moderators: ends "mute all" for streams published from now on. */
  disableForceMute(completionHandler?: CompletionHandler): Promise<void> {
    return this.#moderate('disableForceMute', {}, completionHandler, false);
  }

  #moderate<T extends 'forceUnpublish' | 'forceMuteStream' | 'forceMuteAll' | 'disableForceMute'>(type: T, body: RequestBody<T>, handler: CompletionHandler | undefined, bad: boolean): Promise<void> {
    const done = completion(handler);
    if (!this.#channel || !this.isConnected()) return done(notConnected(type));
    if (bad) return done(invalidParameter(`${type} needs a Stream`));
    return this.#channel.request(type, body).then(
      () => done(null),
      (error: OTError) => done(error),
    );
  }

  /** What publishers and subscribers use to talk to the server through this session. */
  readonly #mediaContext: MediaContext = {
    session: this,
    get mediaMode() {
      return (this.session as Session).#mediaMode;
    },
    rtcConfiguration: () => {
      const ice = this.#iceConfig;
      const own = ice.includeServers === 'custom' ? [] : this.#serverIceServers;
      const configuration: RTCConfiguration = { iceServers: [...own, ...(ice.customServers ?? [])], iceTransportPolicy: ice.transportPolicy === 'relay' ? 'relay' : 'all', bundlePolicy: 'max-bundle' };
      // e2ee: every sender and receiver of the peer connection goes through the frame transform.
      return this.#e2ee ? { ...configuration, ...this.#pipeline().configuration } : configuration;
    },
    get e2ee() {
      const session = this.session as Session;
      return session.#e2ee ? session.#pipeline() : null;
    },
    // A publish or subscribe right after connect waits for the secret's key (PBKDF2 takes a moment).
    keyReady: () => (this.#keyReady ?? Promise.resolve()).catch(() => {}),
    secretMatch: (subscriber: Subscriber, state: 'match' | 'mismatch') => {
      this.dispatchEvent(new EncryptionSecretEvent(state === 'match' ? 'encryptionSecretMatch' : 'encryptionSecretMismatch', this, subscriber));
    },
    request: <T extends SessionRequestType>(type: T, body: RequestBody<T>): Promise<RequestMap[T]['result']> => {
      if (!this.#channel) return Promise.reject(notConnected(type));
      return this.#channel.request(type, body);
    },
    reportError: (error: OTError, streamId?: string) => {
      reportException(error);
      this.#channel?.report({ type: 'clientError', code: error.code, name: error.name.slice(0, 64), message: error.message.slice(0, 1000), ...(streamId ? { streamId } : {}) });
    },
    registerPublisher: (publisher: object, streamId: string) => {
      this.#publishers.set(streamId, publisher as Publisher);
      // The stream may already be live (a replay after a reconnection delivered it first).
      const stream = this.#streams.get(streamId);
      if (stream) (publisher as Publisher)._streamCreated(stream);
    },
    unregisterPublisher: (publisher: object) => {
      for (const [id, p] of this.#publishers) if (p === publisher) this.#publishers.delete(id);
    },
    registerSubscriber: (subscriber: object, subscriberId: string) => {
      this.#subscribers.set(subscriberId, subscriber as Subscriber);
    },
    unregisterSubscriber: (subscriber: object) => {
      for (const [id, s] of this.#subscribers) if (s === subscriber) this.#subscribers.delete(id);
    },
  };

  #pipeline(): FramePipeline {
    this.#framePipeline ??= createFramePipeline(this.#keyring);
    return this.#framePipeline;
  }

  #isOwn(info: { connectionId: string }): boolean {
    return info.connectionId === this.connection?.connectionId;
  }

  #streamOf(info: StreamInfo): Stream {
    // With connectionEventsSuppressed the server sends no connections: the stream names its own.
    const connection = this.#connections.get(info.connectionId) ?? new Connection(info.connection ?? { connectionId: info.connectionId, creationTime: 0, data: '' });
    return new Stream(info, connection);
  }

  /** Sends the Inspector a getStats summary of our publishers and subscribers (every few seconds). */
  async #reportStats(): Promise<void> {
    const channel = this.#channel;
    if (!channel || this.#state !== 'connected' || (this.#publishers.size === 0 && this.#subscribers.size === 0)) return;
    const tracks: ClientTrackStats[] = [];
    const sources = [...new Set(this.#publishers.values()), ...this.#subscribers.values()];
    for (const source of sources) {
      try {
        tracks.push(...(await source._statsSummary()));
      } catch {
        // a peer connection closing meanwhile: skip it this time
      }
    }
    if (tracks.length > 0 && this.#channel === channel) channel.report({ type: 'clientStats', tracks: tracks.slice(0, 32) });
  }

  #onConnected(result: ConnectResult): void {
    connectedSessions.add(this);
    this.#state = 'connected';
    this.connection = new Connection(result.connection);
    this.capabilities = capabilitiesOf(result.capabilities);
    const others = result.connections.map((info) => new Connection(info));
    for (const c of others) this.#connections.set(c.connectionId, c);
    this.#connections.set(this.connection.connectionId, this.connection);
    this.#mediaMode = result.session.mediaMode;
    this.#serverIceServers = (result.iceServers ?? []).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
    const streams = result.streams.map((info) => this.#streamOf(info));
    for (const stream of streams) this.#streams.set(stream.streamId, stream);
    if (!this.#options.connectionEventsSuppressed) {
      for (const c of others) this.dispatchEvent(new ConnectionEvent('connectionCreated', this, c));
    }
    // Your own connection too, as OpenTok.js does.
    this.dispatchEvent(new ConnectionEvent('connectionCreated', this, this.connection));
    this.dispatchEvent(new SessionConnectEvent(this, [...others, this.connection], streams));
    // Then a streamCreated for each stream already there, so one handler subscribes to all.
    for (const stream of streams) this.dispatchEvent(new StreamEvent('streamCreated', this, stream));
    const interval = this.#options.statsReportIntervalMs ?? STATS_INTERVAL_MS;
    if (interval > 0) this.#statsTimer = setInterval(() => void this.#reportStats(), Math.max(1000, interval));
  }

  #onServerEvent(event: ServerEvent): void {
    switch (event.type) {
      case 'connectionCreated': {
        // A v2 batch may name this client, or a connection the connect reply already listed.
        if (event.connection.connectionId === this.connection?.connectionId || this.#connections.has(event.connection.connectionId)) return;
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
      case 'streamCreated': {
        const stream = this.#streamOf(event.stream);
        this.#streams.set(stream.streamId, stream);
        if (this.#isOwn(event.stream)) this.#publishers.get(stream.streamId)?._streamCreated(stream);
        else this.dispatchEvent(new StreamEvent('streamCreated', this, stream));
        return;
      }
      case 'streamDestroyed': {
        const stream = this.#streams.get(event.streamId);
        this.#streams.delete(event.streamId);
        const publisher = this.#publishers.get(event.streamId);
        if (publisher) {
          publisher._streamDestroyed(event.reason);
          return;
        }
        if (!stream || this.#isOwn({ connectionId: stream.connection.connectionId })) return;
        const destroyed = new StreamEvent('streamDestroyed', this, stream, event.reason);
        this.dispatchEvent(destroyed);
        // Default action: the stream's subscribers leave the page.
        for (const subscriber of this.getSubscribersForStream(stream)) subscriber._end(event.reason, destroyed.isDefaultPrevented());
        return;
      }
      case 'streamPropertyChanged': {
        const stream = this.#streams.get(event.streamId);
        if (!stream) return;
        if (event.changedProperty === 'hasAudio') stream.hasAudio = event.newValue as boolean;
        else if (event.changedProperty === 'hasVideo') stream.hasVideo = event.newValue as boolean;
        else if (event.changedProperty === 'hasCaptions') stream.hasCaptions = event.newValue as boolean;
        else if (event.newValue && typeof event.newValue === 'object') stream.videoDimensions = { ...event.newValue };
        this.dispatchEvent(new StreamPropertyChangedEvent(this, stream, event.changedProperty, event.oldValue, event.newValue));
        if (event.changedProperty === 'hasVideo') {
          for (const subscriber of this.getSubscribersForStream(stream)) subscriber._streamHasVideo(event.newValue as boolean);
        } else if (event.changedProperty === 'videoDimensions' && event.oldValue && event.newValue && typeof event.oldValue === 'object' && typeof event.newValue === 'object') {
          for (const subscriber of this.getSubscribersForStream(stream)) subscriber._videoDimensionsChanged(event.oldValue, event.newValue);
        }
        return;
      }
      case 'muteForced':
        this.dispatchEvent(new MuteForcedEvent(this, event.active));
        return;
      case 'streamMuteForced':
        this.#publishers.get(event.streamId)?._muteForced();
        return;
      case 'videoLayers':
        this.#publishers.get(event.streamId)?._videoLayers(event.layers);
        return;
      case 'videoQuality':
        this.#subscribers.get(event.subscriberId)?._videoQuality(event.event);
        return;
      case 'relayStart':
        void this.#publishers.get(event.streamId)?._relayStart(event.subscriberId, event.connectionId);
        return;
      case 'relay': {
        const description = event.description ? { type: event.description.type, sdp: event.description.sdp } : undefined;
        const subscriber = this.#subscribers.get(event.subscriberId);
        if (subscriber) void subscriber._relay(description, event.candidate);
        else void this.#publishers.get(event.streamId)?._relay(event.subscriberId, description, event.candidate);
        return;
      }
      case 'subscriberDestroyed': {
        const subscriber = this.#subscribers.get(event.subscriberId);
        // Its media was lost while the stream goes on: the subscriber subscribes again (Subscriber._reconnect).
        if (subscriber && event.reason === 'networkDisconnected' && this.#streams.has(event.streamId)) subscriber._reconnect();
        else if (subscriber) subscriber._end(event.reason);
        else this.#publishers.get(event.streamId)?._relayEnd(event.subscriberId);
        return;
      }
      case 'caption':
        this.#subscribers.get(event.subscriberId)?._caption(event.caption, event.isFinal);
        return;
      case 'archiveStarted':
      case 'archiveStopped':
        this.dispatchEvent(new ArchiveEvent(event.type, this, event.archiveId, event.name));
        return;
      default:
        log.debug('ignoring server event', (event as { type: string }).type);
    }
  }

  /**
   * Cluster mode: the node that held our connection died and the channel joined again on another
   * (a new connection). What the session lost with that node ends as a network drop
   * (streamDestroyed / connectionDestroyed, reason networkDisconnected), what it holds now is
   * created, our publishers publish again (new streams), and the app hears sessionReconnected.
   */
  #onRejoined(result: ConnectResult): void {
    const previous = this.connection?.connectionId;
    this.connection = new Connection(result.connection);
    this.capabilities = capabilitiesOf(result.capabilities);
    this.#serverIceServers = (result.iceServers ?? []).map((s) => ({ urls: s.urls, username: s.username, credential: s.credential }));
    const liveStreams = new Set(result.streams.map((s) => s.streamId));
    const liveConnections = new Set(result.connections.map((c) => c.connectionId));
    const publishers = [...new Set(this.#publishers.values())];
    for (const streamId of [...this.#streams.keys()]) {
      if (liveStreams.has(streamId)) continue;
      if (this.#publishers.has(streamId)) this.#streams.delete(streamId);
      else this.#onServerEvent({ type: 'streamDestroyed', streamId, reason: 'networkDisconnected' } as ServerEvent);
    }
    if (previous) this.#connections.delete(previous);
    for (const connectionId of [...this.#connections.keys()]) {
      if (!liveConnections.has(connectionId)) this.#onServerEvent({ type: 'connectionDestroyed', connectionId, reason: 'networkDisconnected' } as ServerEvent);
    }
    this.#connections.set(this.connection.connectionId, this.connection);
    for (const connection of result.connections) this.#onServerEvent({ type: 'connectionCreated', connection } as ServerEvent);
    for (const stream of result.streams) if (!this.#streams.has(stream.streamId)) this.#onServerEvent({ type: 'streamCreated', stream } as ServerEvent);
    this.#publishers.clear();
    this.#state = 'connected';
    for (const publisher of publishers) publisher._republish(this.#mediaContext);
    this.dispatchEvent(new OTEvent('sessionReconnected', this));
  }

  #onClosed(reason: DisconnectReason): void {
    connectedSessions.delete(this);
    openSessions.delete(this);
    this.#channel = null;
    this.#state = 'disconnected';
    clearInterval(this.#statsTimer);
    this.#statsTimer = undefined;
    // Our streams end with the connection's reason (their Publishers dispatch streamDestroyed).
    for (const publisher of [...new Set(this.#publishers.values())]) publisher._streamDestroyed(reason);
    this.#publishers.clear();
    this.#connections.clear();
    this.#streams.clear();
    const event = new SessionDisconnectEvent(this, reason);
    this.dispatchEvent(event);
    // Default action: every subscriber leaves the page.
    for (const subscriber of [...this.#allSubscribers]) subscriber._end(reason, event.isDefaultPrevented());
    this.#subscribers.clear();
    this.connection = undefined;
    this.capabilities = capabilitiesOf(NO_CAPABILITIES);
    // After the subscribers and publishers above let go of their peer connections.
    this.#framePipeline?.close();
    this.#framePipeline = null;
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

/** How often the Inspector gets a getStats summary (the server keeps at most one per second per track). */
const STATS_INTERVAL_MS = 5000;

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

/** This browser cannot encrypt frames (no encoded insertable streams, or not a secure context). */
function noEncryption(): OTError {
  return new OTError(ExceptionCodes.CONNECT_FAILED, 'OT_UNSUPPORTED_BROWSER', 'End-to-end encryption is not supported in this browser (OT.hasEndToEndEncryptionSupport() is false): an encrypted session cannot be joined');
}

/** Connect failures also go to OT.on('exception'); set by ot.ts. */
let reportException: (error: OTError) => void = () => {};
export function setExceptionReporter(reporter: (error: OTError) => void): void {
  reportException = reporter;
}
