// A raw WebSocket client for signaling tests: sends protocol messages (or any bytes), records
// everything the server sends, and waits for particular messages with a deadline.

import type { ConnectResult, ServerMessage } from '@colloquy/protocol';
import { PROTOCOL_VERSION, PROTOCOL_VERSIONS, SIGNALING_PATH } from '@colloquy/protocol';
import { WebSocket } from 'ws';

export type AnyMessage = ServerMessage & Record<string, unknown>;

export class WsClient {
  readonly ws: WebSocket;
  readonly received: AnyMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  #nextId = 1;
  #waiters: Array<{ test: (m: AnyMessage) => boolean; resolve: (m: AnyMessage) => void }> = [];
  #closeWaiters: Array<(c: { code: number; reason: string }) => void> = [];
  /** Answer server pings automatically (turn off to play a frozen client). */
  autoPong = true;
  connectResult: ConnectResult | null = null;
  lastSeq = 0;
  /** v2: the highest broadcast number received. */
  lastBseq = 0;
  /** The text of every message, as it came (to compare bytes across recipients). */
  readonly raw: string[] = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const text = data.toString();
      const message = JSON.parse(text) as AnyMessage;
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
      for (const resolve of this.#closeWaiters) resolve(this.closed);
    });
    ws.on('error', () => {});
  }

  static async open(baseUrl: string, path = SIGNALING_PATH, headers: Record<string, string> = {}): Promise<WsClient> {
    const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + path, { headers });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new WsClient(ws);
  }

  /** Opens a socket and joins with `token`; throws unless the server accepts. */
  static async join(baseUrl: string, sessionId: string, token: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): Promise<WsClient> {
    const client = await WsClient.open(baseUrl, SIGNALING_PATH, headers);
    const reply = await client.request({ type: 'connect', version: PROTOCOL_VERSION, sessionId, token, ...extra });
    if (reply.type !== 'response') throw new Error(`connect failed: ${JSON.stringify(reply)}`);
    client.connectResult = reply.result as ConnectResult;
    client.lastBseq = client.connectResult.bseq ?? 0;
    return client;
  }

  /** Joins speaking protocol v2 (session-wide events numbered by `bseq`, connection events batched). */
  static joinV2(baseUrl: string, sessionId: string, token: string, extra: Record<string, unknown> = {}): Promise<WsClient> {
    return WsClient.join(baseUrl, sessionId, token, {}, { versions: PROTOCOL_VERSIONS, ...extra });
  }

  get connectionId(): string {
    return this.connectResult!.connection.connectionId;
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

  /** Sends a request (an id is added unless given) and waits for its response or error. */
  async request(message: Record<string, unknown>, timeoutMs = 5000): Promise<AnyMessage> {
    const id = (message['id'] as number | undefined) ?? this.nextId();
    const reply = this.next((m) => (m.type === 'response' || m.type === 'error') && m['re'] === id, timeoutMs);
    this.send({ ...message, id });
    return reply;
  }

  waitFor(test: (m: AnyMessage) => boolean, timeoutMs = 5000): Promise<AnyMessage> {
    const found = this.received.find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = { test, resolve: (m: AnyMessage) => (clearTimeout(timer), resolve(m)) };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for a message; got ${JSON.stringify(this.received.slice(-5))}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Waits for the next message matching `test` that arrives after this call. */
  next(test: (m: AnyMessage) => boolean, timeoutMs = 5000): Promise<AnyMessage> {
    const seen = this.received.length;
    return this.waitFor((m) => this.received.indexOf(m) >= seen && test(m), timeoutMs);
  }

  waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    if (this.closed) return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for close')), timeoutMs);
      this.#closeWaiters.push((c) => (clearTimeout(timer), resolve(c)));
    });
  }

  of<T extends string>(type: T): AnyMessage[] {
    return this.received.filter((m) => m.type === type);
  }

  close(): void {
    this.ws.close();
  }

  /** Drops the TCP connection without a close frame, as a network failure would. */
  kill(): void {
    this.ws.terminate();
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
