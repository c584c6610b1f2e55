// A raw client of Colloquy's signaling WebSocket (packages/protocol/README.md): sends protocol
// messages (or any bytes), records everything the server sends, answers pings, and waits for
// particular messages with a deadline. Signaling tests drive it directly, bad frames included;
// ProtocolClient (protocol-client.ts) builds publishing and subscribing on it.

import { PROTOCOL_VERSION, SIGNALING_PATH, type ConnectResult, type ServerMessage } from '@colloquy/protocol';
import { WebSocket } from 'ws';

export type Message = ServerMessage & Record<string, unknown>;

/** A request that failed: the server's error message. */
export class ProtocolError extends Error {
  constructor(readonly reply: Message) {
    super(`${String(reply['name'])} (${String(reply['code'])}): ${String(reply['message'])}`);
  }
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export class SignalingSocket {
  readonly ws: WebSocket;
  readonly received: Message[] = [];
  closed: CloseInfo | null = null;
  connectResult: ConnectResult | null = null;
  /** Answer server pings automatically (turn off to play a frozen client). */
  autoPong = true;
  /** Highest `seq` received (what a pong or a resume acknowledges). */
  lastSeq = 0;
  /** Protocol v2: the highest session-wide broadcast number (`bseq`) received. */
  lastBseq = 0;
  /** The text of every message as it came (to compare bytes across recipients). */
  readonly raw: string[] = [];
  /** How long waits last unless a call says otherwise. */
  timeoutMs = 10_000;
  #nextId = 1;
  #waiters: Array<{ test: (m: Message) => boolean; resolve: (m: Message) => void }> = [];
  #closeWaiters: Array<(c: CloseInfo) => void> = [];

  /** Wraps an open socket; `open` and `join` are the usual ways in. */
  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const text = data.toString();
      const message = JSON.parse(text) as Message;
      this.raw.push(text);
      this.received.push(message);
      if (typeof message.seq === 'number') this.lastSeq = Math.max(this.lastSeq, message.seq);
      if (typeof message['bseq'] === 'number') this.lastBseq = Math.max(this.lastBseq, message['bseq']);
      if (message.type === 'ping' && this.autoPong && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'pong', ack: this.lastSeq, bseqAck: this.lastBseq }));
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.test(message)) return true;
        w.resolve(message);
        return false;
      });
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      for (const resolve of this.#closeWaiters.splice(0)) resolve(this.closed);
    });
    ws.on('error', () => {});
  }

  /** Opens a socket to `path` on the server at `baseUrl` (http(s) or ws(s)). */
  static async open<T extends SignalingSocket>(this: new (ws: WebSocket) => T, baseUrl: string, path = SIGNALING_PATH, headers: Record<string, string> = {}): Promise<T> {
    const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + path, { headers });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new this(ws);
  }

  /** Opens a socket and joins with `token`; throws ProtocolError unless the server accepts. */
  static async join<T extends SignalingSocket>(
    this: new (ws: WebSocket) => T,
    baseUrl: string,
    sessionId: string,
    token: string,
    headers: Record<string, string> = {},
    extra: Record<string, unknown> = {},
  ): Promise<T> {
    const client = await (this as unknown as typeof SignalingSocket).open.call(this, baseUrl, SIGNALING_PATH, headers) as T;
    const reply = await client.tryRequest({ type: 'connect', version: PROTOCOL_VERSION, sessionId, token, ...extra });
    if (reply.type !== 'response') {
      client.ws.close();
      throw new ProtocolError(reply);
    }
    client.connectResult = reply['result'] as ConnectResult;
    client.lastBseq = client.connectResult.bseq ?? 0;
    return client;
  }

  get connectionId(): string {
    return this.connectResult!.connection.connectionId;
  }

  get mediaMode(): 'routed' | 'relayed' {
    return this.connectResult!.session.mediaMode;
  }

  nextId(): number {
    return this.#nextId++;
  }

  setNextId(id: number): void {
    this.#nextId = id;
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  send(message: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(message));
  }

  /** Sends a request (an id is added unless given) and resolves with its response or error message. */
  tryRequest(message: Record<string, unknown>, timeoutMs = this.timeoutMs): Promise<Message> {
    const id = (message['id'] as number | undefined) ?? this.nextId();
    const reply = this.next((m) => (m.type === 'response' || m.type === 'error') && m['re'] === id, timeoutMs);
    this.send({ ...message, id });
    return reply;
  }

  /** A message already received that matches, or the next one to. */
  waitFor(test: (m: Message) => boolean, timeoutMs = this.timeoutMs): Promise<Message> {
    const found = this.received.find(test);
    if (found) return Promise.resolve(found);
    return this.next(test, timeoutMs);
  }

  /** The next matching message that arrives after this call. */
  next(test: (m: Message) => boolean, timeoutMs = this.timeoutMs): Promise<Message> {
    return new Promise((resolve, reject) => {
      const waiter = { test, resolve: (m: Message) => (clearTimeout(timer), resolve(m)) };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for a message; last received: ${JSON.stringify(this.received.slice(-4)).slice(0, 800)}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  waitClosed(timeoutMs = this.timeoutMs): Promise<CloseInfo> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.#closeWaiters.push((c) => (clearTimeout(timer), resolve(c)));
    });
  }

  of(type: string): Message[] {
    return this.received.filter((m) => m.type === type);
  }

  /** Closes the socket with a close frame. */
  close(): void | Promise<void> {
    this.ws.close();
  }

  /** Drops the TCP connection without a close frame, as a network failure would. */
  kill(): void {
    this.ws.terminate();
  }
}
