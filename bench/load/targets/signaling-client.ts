// A lean client of Colloquy's signaling protocol (packages/protocol/README.md) for load: connect
// with a token, requests with increasing ids, heartbeat answers, acknowledgements every 32
// messages. Speaks protocol v2 unless told not to (then `bseq` numbers the session's broadcasts
// too, and both are acknowledged). Events are parsed lazily: the type is read from the frame's
// prefix and `seq`/`bseq` from its end, and only frames someone listens for are JSON-parsed, so thousands of clients in one process
// spend their CPU on the socket rather than on parsing connectionCreated storms.

import {
  PROTOCOL_VERSION,
  PROTOCOL_VERSIONS,
  SIGNALING_PATH,
  type ConnectResult,
  type ErrorMessage,
  type RequestMap,
  type RequestType,
  type ResponseMessage,
  type ServerMessage,
} from '@colloquy/protocol';
import { WebSocket } from 'ws';

export class SignalingError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
    this.name = 'SignalingError';
  }
}

interface Pending {
  resolve(result: unknown): void;
  reject(err: Error): void;
}

const ACK_EVERY = 32;
const TYPE_PREFIX = Buffer.from('{"type":"');
const QUOTE = 0x22;
const SEQ_KEY = Buffer.from('"seq":');
const BSEQ_KEY = Buffer.from('"bseq":');

/** The n of a frame ending in "seq":n} (positive) or, protocol v2's broadcasts, "bseq":n} (negative); 0 for neither. */
function seqAtEnd(data: Buffer): number {
  let i = data.length - 1;
  if (data[i] !== 0x7d) return 0; // '}'
  let n = 0;
  let scale = 1;
  for (i--; i >= 0 && data[i]! >= 0x30 && data[i]! <= 0x39; i--) {
    n += (data[i]! - 0x30) * scale;
    scale *= 10;
  }
  if (scale === 1 || i < SEQ_KEY.length - 1) return 0;
  if (data.subarray(i - SEQ_KEY.length + 1, i + 1).equals(SEQ_KEY)) return n;
  return i >= BSEQ_KEY.length - 1 && data.subarray(i - BSEQ_KEY.length + 1, i + 1).equals(BSEQ_KEY) ? -n : 0;
}

export interface SignalingClientOptions {
  /** http(s):// base URL of the server. */
  url: string;
  sessionId: string;
  token: string;
  /** Timeout of the connect request, ms. Default 15000. */
  timeoutMs?: number;
  /** OT.initSession's connectionEventsSuppressed: the server sends no connection events for others. */
  connectionEventsSuppressed?: boolean;
  /** Speak protocol v2 (broadcasts framed once, connection events batched) when the server does; default true. */
  v2?: boolean;
}

/** One Connection of one client: a WebSocket to /v2/signaling. */
export class SignalingClient {
  connection: ConnectResult['connection'] | null = null;
  /** Messages received (numbered and not, heartbeats aside), for load figures. */
  received = 0;
  #ws: WebSocket | null = null;
  #nextId = 1;
  #lastSeq = 0;
  #ackedSeq = 0;
  /** v2: last broadcast number seen and acknowledged. */
  #lastBseq = 0;
  #ackedBseq = 0;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<string, (message: ServerMessage, receivedAt: number) => void>();
  #closed: Promise<void> | null = null;

  /** Calls `listener` for every server message of `type` (JSON-parsed only for listened types). */
  on(type: ServerMessage['type'], listener: (message: ServerMessage, receivedAt: number) => void): void {
    this.#listeners.set(type, listener);
  }

  async connect(options: SignalingClientOptions): Promise<ConnectResult> {
    const wsUrl = new URL(SIGNALING_PATH, options.url.replace(/^http/, 'ws')).toString();
    const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
    this.#ws = ws;
    this.#closed = new Promise((resolve) => ws.once('close', () => resolve()));
    ws.on('message', (data) => this.#onMessage(data as Buffer));
    ws.on('close', (code, reason) => {
      for (const p of this.#pending.values()) p.reject(new SignalingError(`socket closed (${code} ${reason.toString()})`, code));
      this.#pending.clear();
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('close', (code) => reject(new SignalingError(`socket closed before open (${code})`, code)));
    });
    const result = await this.#send<'connect'>(
      {
        type: 'connect',
        version: PROTOCOL_VERSION,
        ...(options.v2 === false ? {} : { versions: PROTOCOL_VERSIONS }),
        sessionId: options.sessionId,
        token: options.token,
        sdk: { name: 'colloquy-load', version: '1' },
        ...(options.connectionEventsSuppressed ? { connectionEventsSuppressed: true } : {}),
      },
      options.timeoutMs ?? 15_000,
    );
    this.connection = result.connection;
    this.#lastBseq = this.#ackedBseq = result.bseq ?? 0;
    return result;
  }

  /** A request of the protocol; resolves with its typed result or rejects with its error. */
  request<T extends Exclude<RequestType, 'connect' | 'resume'>>(
    message: Omit<RequestMap[T]['request'], 'id'>,
    timeoutMs = 15_000,
  ): Promise<RequestMap[T]['result']> {
    return this.#send<T>(message as Omit<RequestMap[T]['request'], 'id'> & { type: T }, timeoutMs);
  }

  /** Leaves the session (`disconnect`) and waits for the socket to close. */
  async disconnect(): Promise<void> {
    const ws = this.#ws;
    if (!ws) return;
    if (ws.readyState === WebSocket.OPEN && this.connection) {
      await this.request<'disconnect'>({ type: 'disconnect' }, 5000).catch(() => {});
    }
    if (ws.readyState !== WebSocket.CLOSED) {
      const timer = setTimeout(() => ws.terminate(), 2000);
      ws.close();
      await this.#closed;
      clearTimeout(timer);
    }
  }

  /** Drops the socket without a goodbye (the server sees a network drop). */
  terminate(): void {
    this.#ws?.terminate();
  }

  #send<T extends RequestType>(message: Omit<RequestMap[T]['request'], 'id'> & { type: string }, timeoutMs: number): Promise<RequestMap[T]['result']> {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new SignalingError('not connected'));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new SignalingError(`${message.type} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as RequestMap[T]['result']);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      ws.send(JSON.stringify({ ...message, id }));
    });
  }

  #onMessage(data: Buffer): void {
    const at = performance.now();
    // Work on the bytes: a connectionCreated storm is millions of frames, most of them only counted.
    // Every server frame starts with {"type":"<type>" (JSON.stringify keeps insertion order) and a
    // numbered one ends with ,"seq":<n>}.
    const typeEnd = data.indexOf(QUOTE, TYPE_PREFIX.length);
    const type = typeEnd > 0 && data.subarray(0, TYPE_PREFIX.length).equals(TYPE_PREFIX) ? data.toString('latin1', TYPE_PREFIX.length, typeEnd) : '';
    const seq = seqAtEnd(data);
    if (seq > 0) {
      if (seq > this.#lastSeq) this.#lastSeq = seq;
    } else if (seq < 0) {
      if (-seq > this.#lastBseq) this.#lastBseq = -seq;
    }
    if (this.#lastSeq - this.#ackedSeq + this.#lastBseq - this.#ackedBseq >= ACK_EVERY) this.#ack();
    if (type === 'ping') {
      this.#ackedSeq = this.#lastSeq;
      this.#ackedBseq = this.#lastBseq;
      this.#ws?.send(JSON.stringify({ type: 'pong', ack: this.#lastSeq, ...(this.#lastBseq > 0 ? { bseqAck: this.#lastBseq } : {}) }));
      return;
    }
    // Heartbeats are not traffic: the signaling suite waits for `received` to stop moving, and the
    // server pings some socket every tenth of a heartbeat period.
    this.received++;
    if (type === 'response' || type === 'error') {
      const message = JSON.parse(data.toString('utf8')) as ResponseMessage | ErrorMessage;
      const pending = message.re === undefined ? undefined : this.#pending.get(message.re);
      if (pending) {
        this.#pending.delete(message.re!);
        if (message.type === 'response') pending.resolve(message.result);
        else pending.reject(new SignalingError(`${message.name} ${message.code}: ${message.message}`, message.code));
        return;
      }
    }
    const listener = this.#listeners.get(type);
    if (listener) listener(JSON.parse(data.toString('utf8')) as ServerMessage, at);
  }

  #ack(): void {
    this.#ackedSeq = this.#lastSeq;
    this.#ackedBseq = this.#lastBseq;
    this.#ws?.send(JSON.stringify({ type: 'ack', seq: this.#lastSeq, ...(this.#lastBseq > 0 ? { bseq: this.#lastBseq } : {}) }));
  }
}
