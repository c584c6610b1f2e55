// The browser's end of the signaling protocol (packages/protocol/README.md): one WebSocket to the
// server, requests matched to replies by id, numbered server messages processed once and in order,
// heartbeats both ways, and resume after a dropped socket (same connection, missed messages
// replayed, unanswered requests resent) until the server's grace period runs out. With protocol v2
// there are two numberings — this connection's own messages (`seq`) and the session-wide
// broadcasts of its audience (`bseq`) — each processed once and in order, both acknowledged and
// both given when resuming; a `connectionEvents` batch is handed on as one event per entry.

import {
  CloseCodes,
  ErrorCodes,
  FINAL_CLOSE_CODES,
  PROTOCOL_VERSION,
  PROTOCOL_VERSION_2,
  PROTOCOL_VERSIONS,
  SIGNALING_PATH,
  type ConnectResult,
  type DisconnectReason,
  type ErrorMessage,
  type RequestMap,
  type ResumeResult,
  type ServerEvent,
  type ServerMessage,
} from '@colloquy/protocol';
import { ExceptionCodes, OTError, notConnected } from './errors.js';
import { log } from './logger.js';
import { VERSION } from './version.js';

/** Requests made once connected (connect and resume are the channel's own). */
export type SessionRequestType = Exclude<keyof RequestMap, 'connect' | 'resume'>;
export type RequestBody<T extends SessionRequestType> = Omit<RequestMap[T]['request'], 'id' | 'type'>;

export interface ChannelListener {
  /** A numbered event from the server (connectionCreated, signal, …), in order, once. */
  onEvent(event: ServerEvent): void;
  /** The socket dropped; the channel is trying to resume. */
  onReconnecting(): void;
  onReconnected(): void;
  /**
   * Cluster mode: the resume was refused (the node that held our connection is gone) and the
   * channel joined again with the token: a new connection, and what the session holds now.
   */
  onRejoined(result: ConnectResult): void;
  /** The connection has ended for good. */
  onClosed(reason: DisconnectReason): void;
}

/** When to retry a dropped socket: a pluggable policy, as LiveKit does. */
export interface ReconnectPolicy {
  /** Delay before attempt `attempt` (0-based), in ms; null to stop trying. */
  nextDelay(attempt: number, elapsedMs: number, graceMs: number): number | null;
}

export const defaultReconnectPolicy: ReconnectPolicy = {
  nextDelay(attempt, elapsedMs, graceMs) {
    const delay = Math.min(2000, 100 * 2 ** attempt);
    // Stop once the server will have let the connection go.
    return elapsedMs + delay < graceMs ? delay : null;
  },
};

interface Pending {
  id: number;
  message: Record<string, unknown>;
  resolve: (result: unknown) => void;
  reject: (error: OTError) => void;
  /** Sent on the current socket (false while queued during a reconnect). */
  sent: boolean;
}

type State = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** How long connect may take before it fails with 1006. */
const CONNECT_TIMEOUT_MS = 15_000;
/** Acknowledge after this many numbered messages, besides every heartbeat. */
const ACK_EVERY = 32;

export class SignalingChannel {
  readonly #url: string;
  /** Cluster mode: the other nodes' signaling URLs (ConnectResult.nodes), tried in turn when the socket drops. */
  #fallbackUrls: string[] = [];
  /** The server is a cluster (its connect reply listed `nodes`): a refused resume joins again. */
  #cluster = false;
  /** The connect request, kept to join again when a resume is refused in cluster mode. */
  #connectOptions: { sessionId: string; token: string; apiKey: string; connectionEventsSuppressed?: boolean } | null = null;
  /** Set once a resume was refused in cluster mode: the next attempts join again instead. */
  #rejoin = false;
  readonly #listener: ChannelListener;
  readonly #policy: ReconnectPolicy;
  #state: State = 'idle';
  #ws: WebSocket | null = null;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #lastSeq = 0;
  /** v2: the last broadcast processed; null while speaking v1. */
  #lastBseq: number | null = null;
  #unacked = 0;
  #lastHeard = 0;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #connection: { sessionId: string; connectionId: string; resumeSecret: string } | null = null;
  #heartbeat = { intervalMs: 5000, timeoutMs: 15000 };
  #graceMs = 20_000;
  /** Set when the server said why this connection ends (e.g. forceDisconnected) before closing. */
  #endReason: DisconnectReason | null = null;
  /** Fails a connect still in progress (disconnect() called meanwhile). */
  #abortConnect: ((error: OTError) => void) | null = null;

  constructor(serverUrl: string, listener: ChannelListener, policy: ReconnectPolicy = defaultReconnectPolicy) {
    this.#url = signalingUrl(serverUrl);
    this.#listener = listener;
    this.#policy = policy;
  }

  get state(): State {
    return this.#state;
  }

  /** Opens the socket and joins; rejects with OpenTok's 1004, 1005 or 1006. */
  connect(options: { sessionId: string; token: string; apiKey: string; connectionEventsSuppressed?: boolean }): Promise<ConnectResult> {
    if (this.#state !== 'idle') return Promise.reject(new OTError(ExceptionCodes.CONNECT_FAILED, 'OT_CONNECT_FAILED', 'connect was already called'));
    this.#state = 'connecting';
    return new Promise<ConnectResult>((resolve, reject) => {
      let settled = false;
      const fail = (error: OTError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#state = 'closed';
        this.#dropSocket();
        reject(error);
      };
      const timer = setTimeout(() => fail(connectFailed('the server did not answer in time')), CONNECT_TIMEOUT_MS);
      this.#abortConnect = fail;
      let ws: WebSocket;
      try {
        ws = new WebSocket(this.#url);
      } catch (err) {
        fail(connectFailed(`cannot open ${this.#url}: ${(err as Error).message}`));
        return;
      }
      this.#ws = ws;
      const id = this.#nextId++;
      ws.onopen = () => ws.send(JSON.stringify(this.#connectMessage(id, options)));
      ws.onerror = () => {
        // Followed by onclose, which decides.
      };
      ws.onclose = (event) => fail(connectFailed(`the connection to the server closed (${event.code})`));
      ws.onmessage = (event) => {
        const message = parse(event.data);
        if (!message) return;
        if (message.type === 'error' && message.re === id) {
          fail(connectError(message));
          return;
        }
        if (message.type !== 'response' || message.re !== id) return;
        settled = true;
        clearTimeout(timer);
        this.#abortConnect = null;
        const result = message.result as ConnectResult;
        this.#connectOptions = options;
        this.#joined(ws, options.sessionId, result);
        resolve(result);
      };
    });
  }

  /**
   * Sends a request and resolves with its result. While reconnecting, the request waits and goes
   * out after the resume unless `queue` is false (then it fails with OT_NOT_CONNECTED).
   */
  request<T extends SessionRequestType>(type: T, body: RequestBody<T>, options: { queue?: boolean } = {}): Promise<RequestMap[T]['result']> {
    if (this.#state === 'reconnecting' && options.queue === false) return Promise.reject(notConnected(type));
    if (this.#state !== 'connected' && this.#state !== 'reconnecting') return Promise.reject(notConnected(type));
    const id = this.#nextId++;
    const message = { ...body, type, id } as Record<string, unknown>;
    return new Promise((resolve, reject) => {
      const pending: Pending = { id, message, resolve: resolve as (r: unknown) => void, reject, sent: false };
      this.#pending.set(id, pending);
      if (this.#state === 'connected') this.#sendPending(pending);
    });
  }

  /**
   * Sends a report (client stats or an error for the Inspector): not a request, no reply, not
   * queued — dropped while the socket is down.
   */
  report(message: { type: 'clientStats' | 'clientError' } & Record<string, unknown>): void {
    if (this.#state === 'connected') this.#send(message);
  }

  /** Leaves: asks the server to end the connection, and closes the socket when it has (or after 1 s). */
  async disconnect(): Promise<void> {
    if (this.#state === 'connected') {
      this.#endReason = 'clientDisconnected';
      await Promise.race([this.request('disconnect', {}).catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1000))]);
    }
    this.#finish('clientDisconnected');
  }

  /**
   * The page is going away (pagehide: the tab closes or reloads): tells the server we leave and
   * closes the socket with 1000 at once — no waiting for a reply the page will not live to see.
   * The server ends the connection (clientDisconnected) on either, so the others see us go now,
   * not after the resume grace period.
   */
  leaveNow(): void {
    if (this.#state === 'connected') {
      this.#endReason = 'clientDisconnected';
      this.#send({ type: 'disconnect', id: this.#nextId++ });
    }
    this.#finish('clientDisconnected');
  }

  // ------------------------------------------------------------------------------------------

  #connectMessage(id: number, options: { sessionId: string; token: string; apiKey: string; connectionEventsSuppressed?: boolean }): Record<string, unknown> {
    return {
      type: 'connect',
      id,
      version: PROTOCOL_VERSION,
      versions: PROTOCOL_VERSIONS,
      sessionId: options.sessionId,
      token: options.token,
      apiKey: options.apiKey,
      sdk: { name: 'colloquy-js', version: VERSION },
      ...(options.connectionEventsSuppressed ? { connectionEventsSuppressed: true } : {}),
    };
  }

  /** A connect (or, in cluster mode, a join again) was answered: this socket carries the connection. */
  #joined(ws: WebSocket, sessionId: string, result: ConnectResult): void {
    this.#connection = { sessionId, connectionId: result.connection.connectionId, resumeSecret: result.resumeSecret };
    this.#heartbeat = result.heartbeat;
    this.#graceMs = result.resumeGraceMs;
    this.#lastSeq = 0;
    this.#lastBseq = result.version === PROTOCOL_VERSION_2 ? (result.bseq ?? 0) : null;
    this.#unacked = 0;
    this.#cluster = result.nodes !== undefined;
    this.#learnNodes(result.nodes ?? []);
    this.#state = 'connected';
    this.#adopt(ws);
  }

  /** Cluster mode: the nodes to try when the socket drops are the server's newest list. */
  #learnNodes(nodes: string[]): void {
    this.#fallbackUrls = nodes.map(signalingUrl).filter((url) => url !== this.#url);
  }

  /** Where reconnection attempt `attempt` goes: where we were first, then the cluster's other nodes in turn. */
  #urlFor(attempt: number): string {
    const urls = [this.#url, ...this.#fallbackUrls];
    return urls[attempt % urls.length]!;
  }

  #adopt(ws: WebSocket): void {
    this.#ws = ws;
    this.#lastHeard = Date.now();
    ws.onmessage = (event) => this.#onMessage(ws, event.data);
    ws.onclose = (event) => this.#onSocketClosed(ws, event.code);
    ws.onerror = () => {};
    clearInterval(this.#heartbeatTimer);
    this.#heartbeatTimer = setInterval(() => this.#onHeartbeat(), this.#heartbeat.intervalMs);
  }

  #onHeartbeat(): void {
    const ws = this.#ws;
    if (!ws || this.#state !== 'connected') return;
    if (Date.now() - this.#lastHeard > this.#heartbeat.timeoutMs) {
      log.warn('no heartbeat from the server: reconnecting');
      this.#socketLost();
      return;
    }
    this.#send({ type: 'ping', ...this.#acks('ack') });
    this.#unacked = 0;
  }

  /** What this client has processed, as the fields of an ack (`ack`/`bseqAck` in ping and pong, `seq`/`bseq` in ack). */
  #acks(kind: 'ack' | 'seq'): Record<string, number> {
    const acks: Record<string, number> = { [kind]: this.#lastSeq };
    if (this.#lastBseq !== null) acks[kind === 'ack' ? 'bseqAck' : 'bseq'] = this.#lastBseq;
    return acks;
  }

  /** Whether a numbered message is next in its numbering (false: seen already, or a gap that makes us resume). */
  #inOrder(message: ServerMessage): boolean {
    const numbered = message as { seq?: number; bseq?: number };
    let last: number;
    let value: number;
    if (typeof numbered.bseq === 'number' && this.#lastBseq !== null) {
      last = this.#lastBseq;
      value = numbered.bseq;
    } else if (typeof numbered.seq === 'number') {
      last = this.#lastSeq;
      value = numbered.seq;
    } else {
      return true;
    }
    if (value <= last) return false; // already processed (a replay overlap)
    if (value !== last + 1) {
      // A gap means something was lost: resuming gets it back.
      log.warn(`message ${value} arrived after ${last}: resuming`);
      this.#socketLost();
      return false;
    }
    if (typeof numbered.bseq === 'number' && this.#lastBseq !== null) this.#lastBseq = value;
    else this.#lastSeq = value;
    if (++this.#unacked >= ACK_EVERY) {
      this.#send({ type: 'ack', ...this.#acks('seq') });
      this.#unacked = 0;
    }
    return true;
  }

  #onMessage(ws: WebSocket, data: unknown): void {
    if (ws !== this.#ws) return;
    this.#lastHeard = Date.now();
    const message = parse(data);
    if (!message) return;
    if (!this.#inOrder(message)) return;
    switch (message.type) {
      case 'ping':
        this.#send({ type: 'pong', ...this.#acks('ack') });
        return;
      case 'pong':
        return;
      case 'clusterNodes':
        if (this.#cluster && Array.isArray(message.nodes)) this.#learnNodes(message.nodes.filter((n): n is string => typeof n === 'string'));
        return;
      case 'response':
      case 'error': {
        const pending = message.re === undefined ? undefined : this.#pending.get(message.re);
        if (!pending) {
          if (message.type === 'error') log.warn('server reported a protocol error:', message.code, message.message);
          return;
        }
        this.#pending.delete(pending.id);
        if (message.type === 'response') pending.resolve(message.result);
        else pending.reject(new OTError(message.code, message.name, message.message));
        return;
      }
      case 'disconnected':
        this.#endReason = message.reason;
        return;
      case 'connectionEvents':
        // One event per connection, in order; the session skips ones about itself or already known.
        for (const event of message.events) {
          if (this.#state !== 'connected') return;
          this.#listener.onEvent(event as ServerEvent);
        }
        return;
      default:
        this.#listener.onEvent(message);
    }
  }

  #onSocketClosed(ws: WebSocket, code: number): void {
    if (ws !== this.#ws) return;
    if (this.#state === 'closed') return;
    if (this.#endReason !== null) {
      this.#finish(this.#endReason);
      return;
    }
    if (code === CloseCodes.FORCE_DISCONNECTED) {
      this.#finish('forceDisconnected');
      return;
    }
    if (FINAL_CLOSE_CODES.includes(code)) {
      this.#finish(code === CloseCodes.NORMAL ? 'clientDisconnected' : 'networkDisconnected');
      return;
    }
    this.#socketLost();
  }

  /** The socket is gone or dead: try to resume on a new one. */
  #socketLost(): void {
    if (this.#state !== 'connected') return;
    this.#dropSocket();
    this.#state = 'reconnecting';
    for (const p of this.#pending.values()) p.sent = false;
    this.#listener.onReconnecting();
    const started = Date.now();
    let attempt = 0;
    const next = (): void => {
      if (this.#state !== 'reconnecting') return;
      const tries = attempt++;
      const delay = this.#policy.nextDelay(tries, Date.now() - started, this.#graceMs);
      if (delay === null) {
        this.#finish('networkDisconnected');
        return;
      }
      this.#reconnectTimer = setTimeout(() => this.#tryResume(next, this.#urlFor(tries)), delay);
    };
    next();
  }

  #tryResume(retry: () => void, url: string): void {
    if (this.#state !== 'reconnecting' || !this.#connection) return;
    if (this.#rejoin && this.#connectOptions) {
      this.#tryRejoin(retry, url, this.#connectOptions);
      return;
    }
    const resume = (id: number): Record<string, unknown> => ({
      type: 'resume',
      id,
      version: this.#lastBseq === null ? PROTOCOL_VERSION : PROTOCOL_VERSION_2,
      ...this.#connection,
      lastSeq: this.#lastSeq,
      ...(this.#lastBseq === null ? {} : { lastBseq: this.#lastBseq }),
    });
    this.#attempt(url, retry, resume, (ws, message) => {
      if (message.type === 'error') {
        log.info('resume refused:', message.message);
        if (message.code === ErrorCodes.RESUME_FAILED && this.#cluster && this.#connectOptions) {
          // Cluster mode: the node that held the connection is gone with it; join again.
          // At once, on the node that just answered (it is alive); later attempts rotate as before.
          this.#rejoin = true;
          if (this.#ws === ws) this.#ws = null;
          this.#tryRejoin(retry, url, this.#connectOptions);
          return;
        }
        this.#finish('networkDisconnected');
        return;
      }
      const result = message.result as ResumeResult;
      if (this.#cluster && Array.isArray(result.nodes)) this.#learnNodes(result.nodes);
      this.#state = 'connected';
      this.#adopt(ws);
      // Replies to requests up to lastRequestId are in the replay that follows; resend the rest, in order.
      for (const p of [...this.#pending.values()].sort((a, b) => a.id - b.id)) {
        if (p.id > result.lastRequestId) this.#sendPending(p);
      }
      this.#listener.onReconnected();
    });
  }

  /** Cluster mode: a new connection with the same token, on whichever node answers `url`. */
  #tryRejoin(retry: () => void, url: string, options: { sessionId: string; token: string; apiKey: string; connectionEventsSuppressed?: boolean }): void {
    this.#attempt(url, retry, (id) => this.#connectMessage(id, options), (ws, message) => {
      if (message.type === 'error') {
        log.info('joining again refused:', message.message);
        this.#finish('networkDisconnected');
        return;
      }
      this.#rejoin = false;
      // Requests of the lost connection cannot be answered: they fail as while disconnected.
      for (const p of this.#pending.values()) p.reject(notConnected(String(p.message['type'])));
      this.#pending.clear();
      const result = message.result as ConnectResult;
      this.#joined(ws, options.sessionId, result);
      this.#listener.onRejoined(result);
    });
  }

  /**
   * One reconnection attempt: a socket to `url` that sends `request` once open and hands its reply
   * (response or error) to `onReply`; closed (or not opened) without a reply, `retry` decides.
   */
  #attempt(url: string, retry: () => void, request: (id: number) => Record<string, unknown>, onReply: (ws: WebSocket, reply: Extract<ServerMessage, { type: 'response' | 'error' }>) => void): void {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch {
      retry();
      return;
    }
    this.#ws = ws;
    const id = this.#nextId++;
    let answered = false;
    ws.onopen = () => ws.send(JSON.stringify(request(id)));
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this.#ws === ws) this.#ws = null;
      if (!answered) retry();
    };
    ws.onmessage = (event) => {
      const message = parse(event.data);
      if (!message || answered) return;
      if ((message.type !== 'response' && message.type !== 'error') || message.re !== id) return;
      answered = true;
      onReply(ws, message);
    };
  }

  #sendPending(pending: Pending): void {
    pending.sent = true;
    this.#send(pending.message);
  }

  #send(message: Record<string, unknown>): void {
    const ws = this.#ws;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  /** Closes the socket: with 1000 when we leave (the server then ends the connection at once), else without a code (a drop: it may resume). */
  #dropSocket(leaving = false): void {
    clearInterval(this.#heartbeatTimer);
    const ws = this.#ws;
    this.#ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
      if (leaving) ws.close(CloseCodes.NORMAL, 'leaving');
      else ws.close();
    }
  }

  #finish(reason: DisconnectReason): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'connecting') {
      this.#abortConnect?.(connectFailed('disconnect() was called while connecting'));
      this.#abortConnect = null;
      return;
    }
    const wasOpen = this.#state === 'connected' || this.#state === 'reconnecting';
    this.#state = 'closed';
    clearTimeout(this.#reconnectTimer);
    this.#dropSocket(reason === 'clientDisconnected');
    for (const p of this.#pending.values()) p.reject(notConnected(String(p.message['type'])));
    this.#pending.clear();
    if (wasOpen) this.#listener.onClosed(reason);
  }
}

/** The signaling WebSocket URL of a server URL (http(s) → ws(s), plus the signaling path). */
function signalingUrl(serverUrl: string): string {
  return serverUrl.replace(/^http/, 'ws').replace(/\/+$/, '') + SIGNALING_PATH;
}

function parse(data: unknown): ServerMessage | null {
  if (typeof data !== 'string') return null;
  try {
    const message = JSON.parse(data) as ServerMessage;
    return typeof message === 'object' && message !== null && typeof message.type === 'string' ? message : null;
  } catch {
    log.error('the server sent a message that is not JSON');
    return null;
  }
}

function connectFailed(detail: string): OTError {
  return new OTError(ExceptionCodes.CONNECT_FAILED, 'OT_CONNECT_FAILED', `Unable to connect to the session: ${detail}`);
}

function connectError(message: ErrorMessage): OTError {
  if (message.code === ErrorCodes.AUTHENTICATION_ERROR || message.code === ErrorCodes.INVALID_SESSION_ID || message.code === ErrorCodes.CONNECTION_LIMIT_EXCEEDED) {
    return new OTError(message.code, message.name, message.message);
  }
  return connectFailed(message.message);
}
