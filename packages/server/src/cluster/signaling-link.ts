// One signaling link per (edge node, home node): every client that reached the edge for a session
// homed elsewhere travels over it, instead of over a WebSocket of its own to the home.
//
// Why: with a proxied WebSocket per client, the home framed and wrote every delivery of a broadcast
// itself (15,000 writes a signal), and the edge relayed each one again. Over the link, the home
// writes each broadcast frame once per edge, with the list of that edge's clients it is for, and the
// edge writes the same bytes to each of its clients' TCP sockets: a session's fan-out writes are
// spread over its nodes (and so over a machine's cores when it runs several nodes).
//
// Order: everything for the clients of one edge goes down one ordered stream (a ws connection),
// records in the order the home's signaling server wrote them, so a client's own replies and the
// broadcasts it gets arrive as the home sent them. Up the link, a client's messages keep their order.
//
// On the home, each linked client is a LinkedClientSocket: the small part of a WebSocket the
// signaling server uses (signaling/socket.ts). Frames written to it are the ready-made WebSocket
// frames the client gets (the edge writes them unchanged); close and terminate travel as records.
// The edge cuts its own slow readers (as the home does with its direct sockets) and reports every
// close; a link that ends drops all of its clients on both sides, and they resume as from any drop.
//
// Records (big-endian), several per link message:
//   home → edge  FRAME     u8 1, u32 frame length, frame, u32 n, n × u32 client id
//                CLOSE     u8 2, u32 id, u16 code, u16 reason length, reason (UTF-8)
//                TERMINATE u8 3, u32 id
//   edge → home  OPEN      u8 10, u32 id, u16 address length, address, u16 user agent length, user agent
//                TEXT      u8 11, u32 id, u32 length, text (a client's message, UTF-8)
//                CLOSED    u8 12, u32 id, u16 code (the client's close code; 1006 for a drop)

import { CloseCodes } from '@colloquy/protocol';
import { EventEmitter } from 'node:events';
import { WebSocket, type RawData } from 'ws';
import { textFrame } from '../signaling/broadcast-log.js';
import type { ClientSocket, FrameSink } from '../signaling/socket.js';

export const LinkRecord = { FRAME: 1, CLOSE: 2, TERMINATE: 3, OPEN: 10, TEXT: 11, CLOSED: 12 } as const;

/** The close code of a dropped socket (no close frame). */
const DROPPED = 1006;
/** Most bytes one link message carries before the rest goes in the next one. */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Most ids one FRAME record lists (a record is written whole; 15,000 clients fit). */
const MAX_IDS_PER_FRAME = 65_536;

export type LinkRecordValue =
  | { type: typeof LinkRecord.FRAME; frame: Buffer; ids: number[] }
  | { type: typeof LinkRecord.CLOSE; id: number; code: number; reason: string }
  | { type: typeof LinkRecord.TERMINATE; id: number }
  | { type: typeof LinkRecord.OPEN; id: number; address: string; userAgent: string }
  | { type: typeof LinkRecord.TEXT; id: number; text: Buffer }
  | { type: typeof LinkRecord.CLOSED; id: number; code: number };

/** A link message that does not parse: the link is ended (the other node runs different code, or worse). */
export class LinkProtocolError extends Error {}

/** Reads every record of one link message, in order. Throws LinkProtocolError on anything malformed. */
export function decodeLinkMessage(data: Buffer): LinkRecordValue[] {
  const records: LinkRecordValue[] = [];
  let at = 0;
  const need = (n: number): void => {
    if (at + n > data.length) throw new LinkProtocolError(`truncated link record at byte ${at}`);
  };
  const u16 = (): number => {
    need(2);
    const v = data.readUInt16BE(at);
    at += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = data.readUInt32BE(at);
    at += 4;
    return v;
  };
  const bytes = (n: number): Buffer => {
    need(n);
    const v = data.subarray(at, at + n);
    at += n;
    return v;
  };
  while (at < data.length) {
    const type = data[at++];
    switch (type) {
      case LinkRecord.FRAME: {
        const frame = bytes(u32());
        const n = u32();
        if (n > MAX_IDS_PER_FRAME) throw new LinkProtocolError(`a frame for ${n} clients`);
        need(n * 4);
        const ids = new Array<number>(n);
        for (let i = 0; i < n; i++) ids[i] = u32();
        records.push({ type, frame, ids });
        break;
      }
      case LinkRecord.CLOSE: {
        const id = u32();
        const code = u16();
        records.push({ type, id, code, reason: bytes(u16()).toString('utf8') });
        break;
      }
      case LinkRecord.TERMINATE:
        records.push({ type, id: u32() });
        break;
      case LinkRecord.OPEN: {
        const id = u32();
        const address = bytes(u16()).toString('utf8');
        records.push({ type, id, address, userAgent: bytes(u16()).toString('utf8') });
        break;
      }
      case LinkRecord.TEXT: {
        const id = u32();
        records.push({ type, id, text: bytes(u32()) });
        break;
      }
      case LinkRecord.CLOSED: {
        const id = u32();
        records.push({ type, id, code: u16() });
        break;
      }
      default:
        throw new LinkProtocolError(`unknown link record type ${type}`);
    }
  }
  return records;
}

function header(type: number, id: number, extra = 0): Buffer {
  const b = Buffer.allocUnsafe(5 + extra);
  b[0] = type;
  b.writeUInt32BE(id, 1);
  return b;
}

function shortString(text: string, max = 65_535): Buffer {
  let b = Buffer.from(text, 'utf8');
  if (b.length > max) b = b.subarray(0, max);
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

/**
 * What one side writes to the link in one turn of the event loop, sent as one message when the
 * turn's I/O is done (setImmediate). Consecutive writes of the same frame (a broadcast written to
 * every member in turn) become one FRAME record listing the clients.
 */
export class LinkWriter {
  readonly #send: (message: Buffer) => void;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #frame: Buffer | null = null;
  #ids: number[] = [];
  #scheduled = false;
  /** FRAME records written and client deliveries they carried, since the start. */
  framesSent = 0;
  deliveriesSent = 0;

  constructor(send: (message: Buffer) => void) {
    this.#send = send;
  }

  frame(id: number, frame: Buffer): void {
    if (this.#frame !== frame || this.#ids.length >= MAX_IDS_PER_FRAME) {
      this.#endFrame();
      this.#frame = frame;
    }
    this.#ids.push(id);
    this.#schedule();
  }

  close(id: number, code: number, reason: string): void {
    const head = header(LinkRecord.CLOSE, id, 2);
    head.writeUInt16BE(code, 5);
    this.#record(head, shortString(reason, 123));
  }

  terminate(id: number): void {
    this.#record(header(LinkRecord.TERMINATE, id));
  }

  open(id: number, address: string, userAgent: string): void {
    this.#record(header(LinkRecord.OPEN, id), shortString(address), shortString(userAgent, 512));
  }

  text(id: number, data: Buffer): void {
    const head = header(LinkRecord.TEXT, id, 4);
    head.writeUInt32BE(data.length, 5);
    this.#record(head, data);
  }

  closed(id: number, code: number): void {
    const head = header(LinkRecord.CLOSED, id, 2);
    head.writeUInt16BE(code, 5);
    this.#record(head);
  }

  /** Sends what is waiting now. */
  flush(): void {
    this.#endFrame();
    if (this.#chunks.length === 0) return;
    const message = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#bytes);
    this.#chunks = [];
    this.#bytes = 0;
    this.#send(message);
  }

  #record(...parts: Buffer[]): void {
    this.#endFrame();
    for (const p of parts) this.#push(p);
    this.#schedule();
  }

  #push(part: Buffer): void {
    this.#chunks.push(part);
    this.#bytes += part.length;
  }

  #endFrame(): void {
    const frame = this.#frame;
    if (frame === null) return;
    const ids = this.#ids;
    const head = Buffer.allocUnsafe(5);
    head[0] = LinkRecord.FRAME;
    head.writeUInt32BE(frame.length, 1);
    const list = Buffer.allocUnsafe(4 + ids.length * 4);
    list.writeUInt32BE(ids.length, 0);
    for (let i = 0; i < ids.length; i++) list.writeUInt32BE(ids[i]!, 4 + i * 4);
    this.#push(head);
    this.#push(frame);
    this.#push(list);
    this.framesSent++;
    this.deliveriesSent += ids.length;
    this.#frame = null;
    this.#ids = [];
    if (this.#bytes >= MAX_MESSAGE_BYTES) this.flush();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.flush();
    });
  }
}

/** The frame sink of one linked client: its writes become FRAME records for it. */
class LinkedFrameSink implements FrameSink {
  readonly #owner: LinkedClientSocket;
  constructor(owner: LinkedClientSocket) {
    this.#owner = owner;
  }
  get destroyed(): boolean {
    return this.#owner.readyState === WebSocket.CLOSED;
  }
  get writableLength(): number {
    return 0;
  }
  cork(): void {}
  uncork(): void {}
  write(chunk: unknown): boolean {
    if (!Buffer.isBuffer(chunk)) throw new TypeError('a linked client socket takes prebuilt frames (Buffer) only');
    this.#owner.writeFrame(chunk);
    return true;
  }
}

/**
 * The home's stand-in for a client socket on another node (see the top of the file). Its
 * `bufferedAmount` is 0: the edge watches the client's real socket and drops a slow reader itself.
 */
export class LinkedClientSocket extends EventEmitter {
  readonly id: number;
  readonly frames: FrameSink;
  readonly #writer: LinkWriter;
  readyState: 0 | 1 | 2 | 3 = WebSocket.OPEN;
  #paused = false;

  constructor(id: number, writer: LinkWriter) {
    super();
    this.id = id;
    this.#writer = writer;
    this.frames = new LinkedFrameSink(this);
  }

  get bufferedAmount(): number {
    return 0;
  }

  writeFrame(frame: Buffer): void {
    if (this.readyState === WebSocket.OPEN) this.#writer.frame(this.id, frame);
  }

  send(data: unknown, _options?: unknown, cb?: (err?: Error) => void): void {
    const callback = typeof _options === 'function' ? (_options as (err?: Error) => void) : cb;
    if (this.readyState !== WebSocket.OPEN) {
      callback?.(new Error('WebSocket is not open'));
      return;
    }
    const text = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
    this.#writer.frame(this.id, textFrame(text));
    callback?.();
  }

  close(code?: number, reason?: string | Buffer): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.readyState = WebSocket.CLOSING;
    this.#writer.close(this.id, code ?? 1000, typeof reason === 'string' ? reason : (reason?.toString('utf8') ?? ''));
  }

  terminate(): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.#writer.terminate(this.id);
    this.closed(DROPPED);
  }

  /** Stops taking the client's messages (a cut-off client): the rest are dropped unread. */
  pause(): void {
    this.#paused = true;
  }

  /** A message of the client, from the edge. */
  received(text: Buffer): void {
    if (this.readyState === WebSocket.OPEN && !this.#paused) this.emit('message', text, false);
  }

  /** The client's socket is gone (the edge said so, terminate(), or the link ended). */
  closed(code: number): void {
    if (this.readyState === WebSocket.CLOSED) return;
    this.readyState = WebSocket.CLOSED;
    // As ws: 'close' comes after the call that ended the socket has returned.
    queueMicrotask(() => this.emit('close', code, Buffer.alloc(0)));
  }
}

/** The signaling server's entry for linked clients (SignalingServer.adoptLinked). */
export interface LinkedClientAcceptor {
  adoptLinked(ws: ClientSocket, frames: FrameSink, client: { ip: string; userAgent: string; mediaNode: string | null }): void;
}

/**
 * The home's end of one edge's link: a LinkedClientSocket per OPEN, fed by TEXT and CLOSED; the
 * link's end drops them all. `mediaNode` is the node that serves these clients' subscriptions.
 */
export class HomeLinkEnd {
  readonly #ws: WebSocket;
  readonly #writer: LinkWriter;
  readonly #clients = new Map<number, LinkedClientSocket>();
  readonly #acceptor: LinkedClientAcceptor;
  readonly #mediaNode: string | null;
  readonly #maxBufferedBytes: number;

  constructor(ws: WebSocket, acceptor: LinkedClientAcceptor, options: { mediaNode: string | null; maxBufferedBytes: number; onError: (err: Error) => void }) {
    this.#ws = ws;
    this.#acceptor = acceptor;
    this.#mediaNode = options.mediaNode;
    this.#maxBufferedBytes = options.maxBufferedBytes;
    this.#writer = new LinkWriter((message) => this.#sendDown(message));
    ws.on('message', (data, isBinary) => {
      try {
        if (!isBinary) throw new LinkProtocolError('a text frame on the link');
        this.#onRecords(decodeLinkMessage(asBuffer(data)));
      } catch (err) {
        options.onError(err as Error);
        ws.terminate();
      }
    });
    ws.on('error', () => {}); // 'close' follows
    ws.on('close', () => this.#dropAll());
  }

  get clients(): number {
    return this.#clients.size;
  }

  get writer(): LinkWriter {
    return this.#writer;
  }

  #sendDown(message: Buffer): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    // An edge that stops reading its link (its event loop stuck) would hold everything here:
    // past the limit the link is ended, and its clients resume as from any drop.
    if (this.#ws.bufferedAmount > this.#maxBufferedBytes) {
      this.#ws.terminate();
      return;
    }
    this.#ws.send(message, { binary: true });
  }

  #onRecords(records: LinkRecordValue[]): void {
    for (const r of records) {
      switch (r.type) {
        case LinkRecord.OPEN: {
          if (this.#clients.has(r.id)) throw new LinkProtocolError(`client ${r.id} opened twice`);
          const client = new LinkedClientSocket(r.id, this.#writer);
          this.#clients.set(r.id, client);
          client.once('close', () => this.#clients.delete(r.id));
          this.#acceptor.adoptLinked(client, client.frames, { ip: r.address, userAgent: r.userAgent, mediaNode: this.#mediaNode });
          break;
        }
        case LinkRecord.TEXT:
          // A client the home already let go of may still have messages on the way: dropped.
          this.#clients.get(r.id)?.received(r.text);
          break;
        case LinkRecord.CLOSED:
          this.#clients.get(r.id)?.closed(r.code);
          break;
        default:
          throw new LinkProtocolError(`record type ${r.type} does not go up a link`);
      }
    }
  }

  #dropAll(): void {
    for (const client of this.#clients.values()) client.closed(DROPPED);
    this.#clients.clear();
  }
}

export interface EdgeLinkOptions {
  /** The home's signaling URL (ws://…) and the node-auth headers of the link's upgrade. */
  url: string;
  headers: Record<string, string>;
  /** A client that has more than this waiting in its socket is dropped (as the home drops its own). */
  maxSocketBufferBytes: number;
  /** Writes a prebuilt frame to a client's socket (write-batching's sendFrameBatched). */
  writeFrame: (client: WebSocket, frame: Buffer) => void;
  /** The link is pinged this often (default 5 s). */
  pingIntervalMs?: number;
  /**
   * A home not heard from (pong or message) for this long is taken as hung and the link is ended:
   * its clients resume, through the cluster, wherever the session is then. The cluster passes its
   * stall limit (COLLOQUY_CLUSTER_STALL_MS, default 20 s): a home busy for less than that is not
   * dead to its own key either, and must not lose its linked clients for it.
   */
  hungAfterMs?: number;
}

/** Messages a client may send before its session is reached (the home found, the link open). */
const MAX_EARLY_MESSAGES = 256;

/**
 * A 'message' listener that keeps, in order in `kept`, what a client sends before its session is
 * reached; past MAX_EARLY_MESSAGES it closes the client.
 */
export function earlyMessageKeeper(client: WebSocket, kept: RawData[]): (data: RawData) => void {
  return (data) => {
    if (kept.length >= MAX_EARLY_MESSAGES) client.close(CloseCodes.PROTOCOL_VIOLATION, 'too many messages before the session was reached');
    else kept.push(data);
  };
}

/** A client waiting for the link to open: what it sent meanwhile goes up first, in order. */
interface PendingClient {
  client: WebSocket;
  address: string;
  userAgent: string;
  first: RawData;
  early: RawData[];
  /** Keeps what the client sends while the link opens (in `early`). */
  keep: (data: RawData) => void;
  /** The link did not open: the caller takes the client back, with everything it sent so far. */
  onFailed: (err: Error, early: RawData[]) => void;
}

/**
 * The edge's end of its link to one home: carries each client given to it (`add`) until either
 * side ends it. Emits 'open', 'failed' (the home did not answer; with the clients that were
 * waiting, which the caller routes again) and 'close' (after an open link ended: its clients
 * have been dropped, and resume).
 */
export class EdgeLink extends EventEmitter {
  readonly #ws: WebSocket;
  readonly #writer: LinkWriter;
  readonly #options: EdgeLinkOptions;
  readonly #clients = new Map<number, WebSocket>();
  #pending: PendingClient[] = [];
  #nextId = 1;
  #open = false;
  #ended = false;
  #ping: NodeJS.Timeout | undefined;
  #lastHeard = Date.now();

  constructor(options: EdgeLinkOptions) {
    super();
    this.#options = options;
    this.#ws = new WebSocket(options.url, { headers: options.headers, perMessageDeflate: false, handshakeTimeout: 5000, maxPayload: 256 * 1024 * 1024 });
    this.#writer = new LinkWriter((message) => {
      if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(message, { binary: true });
    });
    this.#ws.on('open', () => {
      this.#open = true;
      this.#lastHeard = Date.now();
      const hungAfterMs = options.hungAfterMs ?? 20_000;
      this.#ping = setInterval(() => {
        if (Date.now() - this.#lastHeard > hungAfterMs) {
          this.emit('hung');
          this.#ws.terminate();
          return;
        }
        this.#ws.ping();
      }, options.pingIntervalMs ?? 5000);
      this.#ping.unref?.();
      const pending = this.#pending;
      this.#pending = [];
      for (const p of pending) this.#start(p);
      this.emit('open');
    });
    this.#ws.on('pong', () => (this.#lastHeard = Date.now()));
    this.#ws.on('message', (data, isBinary) => {
      this.#lastHeard = Date.now();
      try {
        if (!isBinary) throw new LinkProtocolError('a text frame on the link');
        this.#onRecords(decodeLinkMessage(asBuffer(data)));
      } catch (err) {
        this.emit('protocolError', err);
        this.#ws.terminate();
      }
    });
    this.#ws.on('error', (err) => {
      if (this.#open) return; // 'close' follows
      this.#ended = true;
      const pending = this.#pending;
      this.#pending = [];
      this.emit('failed', err);
      for (const p of pending) {
        p.client.off('message', p.keep);
        if (p.client.readyState === WebSocket.OPEN) p.onFailed(err, p.early);
      }
    });
    this.#ws.on('close', () => {
      this.#ended = true;
      clearInterval(this.#ping);
      if (!this.#open) return;
      for (const client of this.#clients.values()) client.terminate();
      this.#clients.clear();
      this.emit('close');
    });
  }

  /** False once the link failed or ended: a new client needs a new link. */
  get usable(): boolean {
    return !this.#ended;
  }

  get clients(): number {
    return this.#clients.size + this.#pending.length;
  }

  /**
   * Carries `client` to the home: `first` and `early` are the messages it sent before (in order),
   * and from now on the link reads its messages. If the link fails to open, `onFailed` gets the
   * client back with all it sent since `first` (the link no longer reads it).
   */
  add(client: WebSocket, address: string, userAgent: string, first: RawData, early: RawData[], onFailed: (err: Error, early: RawData[]) => void): void {
    const kept = [...early];
    const p: PendingClient = { client, address, userAgent, first, early: kept, keep: earlyMessageKeeper(client, kept), onFailed };
    if (this.#open) {
      this.#start(p);
      return;
    }
    client.on('message', p.keep);
    this.#pending.push(p);
  }

  /** Ends the link (its clients are dropped; on the home too). */
  terminate(): void {
    this.#ws.terminate();
  }

  #start({ client, address, userAgent, first, early, keep }: PendingClient): void {
    client.off('message', keep);
    if (client.readyState !== WebSocket.OPEN) return;
    const id = this.#nextId++;
    this.#clients.set(id, client);
    this.#writer.open(id, address, userAgent);
    this.#writer.text(id, asBuffer(first));
    for (const message of early) this.#writer.text(id, asBuffer(message));
    client.on('message', (data) => {
      if (this.#clients.get(id) === client) this.#writer.text(id, asBuffer(data));
    });
    client.once('close', (code) => {
      if (this.#clients.get(id) !== client) return;
      this.#clients.delete(id);
      this.#writer.closed(id, sendableCloseCode(code) ? code : DROPPED);
    });
  }

  #onRecords(records: LinkRecordValue[]): void {
    const max = this.#options.maxSocketBufferBytes;
    for (const r of records) {
      switch (r.type) {
        case LinkRecord.FRAME:
          for (const id of r.ids) {
            const client = this.#clients.get(id);
            if (!client || client.readyState !== WebSocket.OPEN) continue;
            // A client that stopped reading is dropped, not buffered without bound (its close tells the home).
            if (client.bufferedAmount > max) client.terminate();
            else this.#options.writeFrame(client, r.frame);
          }
          break;
        case LinkRecord.CLOSE: {
          const client = this.#clients.get(r.id);
          if (client?.readyState === WebSocket.OPEN) client.close(r.code, r.reason);
          break;
        }
        case LinkRecord.TERMINATE: {
          const client = this.#clients.get(r.id);
          this.#clients.delete(r.id);
          client?.terminate();
          break;
        }
        default:
          throw new LinkProtocolError(`record type ${r.type} does not go down a link`);
      }
    }
  }
}

/** Whether a close code may be sent in a close frame (1005, 1006 and 1015 only describe a close). */
export function sendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

function asBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
