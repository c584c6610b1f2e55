// A Node client of Colloquy's signaling protocol (packages/protocol/README.md) that publishes and
// subscribes with werift peers, as a browser would through the SDK: for server, Node SDK and
// load tests that need real published streams without a browser.
//
//   const alice = await ProtocolClient.join(server.url, sessionId, token);
//   const pub = await alice.publish({ media: makeTestMedia(), name: 'Alice' });   // routed: SFU
//   const bob = await ProtocolClient.join(server.url, sessionId, token2);
//   const sub = await bob.subscribe(pub.streamId);                                   // packets in sub.peer

import { PROTOCOL_VERSION, SIGNALING_PATH, type ConnectResult, type PublishResult, type ServerMessage, type SubscribeResult } from '@colloquy/protocol';
import { WebSocket } from 'ws';
import { NodePublisher, NodeSubscriber, waitUntil, waitUntilQuiet, type NodePublisherOptions } from './media-clients.js';

export type Message = ServerMessage & Record<string, unknown>;

/** A request that failed: the server's error message. */
export class ProtocolError extends Error {
  constructor(readonly reply: Message) {
    super(`${String(reply['name'])} (${String(reply['code'])}): ${String(reply['message'])}`);
  }
}

export interface PublishOptions extends Omit<NodePublisherOptions, 'media'> {
  media: NodePublisherOptions['media'];
  name?: string;
  videoType?: 'camera' | 'screen' | 'custom';
  /** Start sending media at once (default true). */
  start?: boolean;
}

export class ProtocolClient {
  readonly ws: WebSocket;
  readonly received: Message[] = [];
  connectResult: ConnectResult | null = null;
  closed: { code: number; reason: string } | null = null;
  #nextId = 1;
  #lastSeq = 0;
  #waiters: Array<{ test: (m: Message) => boolean; resolve: (m: Message) => void }> = [];
  readonly #peers: Array<{ close(): Promise<void> }> = [];

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as Message;
      this.received.push(message);
      if (typeof message.seq === 'number') this.#lastSeq = Math.max(this.#lastSeq, message.seq);
      if (message.type === 'ping' && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'pong', ack: this.#lastSeq }));
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.test(message)) return true;
        w.resolve(message);
        return false;
      });
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
    });
    ws.on('error', () => {});
  }

  /** Opens a socket and joins the session; throws unless the server accepts the token. */
  static async join(baseUrl: string, sessionId: string, token: string): Promise<ProtocolClient> {
    const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + SIGNALING_PATH);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const client = new ProtocolClient(ws);
    const reply = await client.request({ type: 'connect', version: PROTOCOL_VERSION, sessionId, token });
    client.connectResult = reply['result'] as ConnectResult;
    return client;
  }

  get connectionId(): string {
    return this.connectResult!.connection.connectionId;
  }

  get mediaMode(): 'routed' | 'relayed' {
    return this.connectResult!.session.mediaMode;
  }

  send(message: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(message));
  }

  /** Sends a request and resolves with its response; rejects with ProtocolError on an error reply. */
  async request(message: Record<string, unknown>, timeoutMs = 10_000): Promise<Message> {
    const reply = await this.tryRequest(message, timeoutMs);
    if (reply.type === 'error') throw new ProtocolError(reply);
    return reply;
  }

  /** Sends a request and resolves with its response or error message. */
  tryRequest(message: Record<string, unknown>, timeoutMs = 10_000): Promise<Message> {
    const id = this.#nextId++;
    const reply = this.next((m) => (m.type === 'response' || m.type === 'error') && m['re'] === id, timeoutMs);
    this.send({ ...message, id });
    return reply;
  }

  waitFor(test: (m: Message) => boolean, timeoutMs = 10_000): Promise<Message> {
    const found = this.received.find(test);
    if (found) return Promise.resolve(found);
    return this.#wait(test, timeoutMs);
  }

  /** The next matching message that arrives after this call. */
  next(test: (m: Message) => boolean, timeoutMs = 10_000): Promise<Message> {
    return this.#wait(test, timeoutMs);
  }

  #wait(test: (m: Message) => boolean, timeoutMs: number): Promise<Message> {
    return new Promise((resolve, reject) => {
      const waiter = { test, resolve: (m: Message) => (clearTimeout(timer), resolve(m)) };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for a message; last received: ${JSON.stringify(this.received.slice(-4)).slice(0, 800)}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  of(type: string): Message[] {
    return this.received.filter((m) => m.type === type);
  }

  /**
   * Routed sessions: publishes real VP8 + Opus from a werift peer (offer through `publish`, the
   * SFU's answer back) and waits for the stream's streamCreated. Relayed media is peer to peer:
   * drive `publish` without SDP, `relayStart` and `relay` with `request` instead.
   */
  async publish(options: PublishOptions): Promise<{ streamId: string; publisher: NodePublisher; result: PublishResult }> {
    const publisher = new NodePublisher(options);
    this.#peers.push(publisher);
    let result: PublishResult | undefined;
    await publisher.connect(async (offer) => {
      const reply = await this.request({
        type: 'publish',
        name: options.name ?? '',
        videoType: options.video === false ? null : (options.videoType ?? 'camera'),
        hasAudio: options.audio !== false,
        hasVideo: options.video !== false,
        videoDimensions: options.video === false ? null : { width: 640, height: 480 },
        frameRate: options.video === false ? null : 30,
        sdp: offer,
      });
      result = reply['result'] as PublishResult;
      return result.sdp!;
    });
    if (options.start !== false) publisher.start();
    await this.waitFor((m) => m.type === 'streamCreated' && (m['stream'] as { streamId: string }).streamId === result!.streamId);
    return { streamId: result!.streamId, publisher, result: result! };
  }

  /** Routed: subscribes to a stream with a werift peer and waits until it is connected. */
  async subscribe(streamId: string, options: { subscribeToAudio?: boolean; subscribeToVideo?: boolean } = {}): Promise<{ subscriberId: string; peer: NodeSubscriber }> {
    const reply = await this.request({ type: 'subscribe', streamId, ...options });
    const result = reply['result'] as SubscribeResult;
    const peer = new NodeSubscriber();
    this.#peers.push(peer);
    const answer = await peer.answer(result.sdp!);
    await this.request({ type: 'answer', subscriberId: result.subscriberId, sdp: answer });
    await peer.connected();
    return { subscriberId: result.subscriberId, peer };
  }

  /** Leaves the session (disconnect request), closes the socket and every peer it made. */
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) {
      await this.tryRequest({ type: 'disconnect' }, 2000).catch(() => {});
      this.ws.close();
    }
    await Promise.all(this.#peers.splice(0).map((p) => p.close().catch(() => {})));
  }

  /** Drops the socket without a close frame (a network failure). */
  kill(): void {
    this.ws.terminate();
  }
}

export { waitUntil, waitUntilQuiet };
