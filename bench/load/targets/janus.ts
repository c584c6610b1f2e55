// Janus VideoRoom as a load target, over Janus's WebSocket API (subprotocol janus-protocol): one
// WebSocket and one Janus session per participant, like a browser with janus.js; a publisher
// handle joins the room as a publisher and publishes with our offer; each subscription is its own
// subscriber handle (and so its own peer connection, as each Colloquy subscription is), where
// Janus offers and we answer with `start`. Sessions here are VideoRoom rooms.

import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import type { Participant, PublishInfo, Subscription, Target, TargetSpec } from './target.js';

type JanusSpec = Extract<TargetSpec, { kind: 'janus' }>;

interface JanusMessage {
  janus: string;
  transaction?: string;
  session_id?: number;
  sender?: number;
  data?: { id: number };
  error?: { code: number; reason: string };
  plugindata?: { plugin: string; data: Record<string, unknown> & { error?: string; error_code?: number } };
  jsep?: { type: 'offer' | 'answer'; sdp: string };
}

const PLUGIN = 'janus.plugin.videoroom';

/** One WebSocket to Janus, with one Janus session on it. */
class JanusConnection {
  sessionId = 0;
  readonly #ws: WebSocket;
  readonly #waiting = new Map<string, { resolve(m: JanusMessage): void; reject(e: Error): void; acceptAck: boolean }>();
  #keepalive: NodeJS.Timeout | undefined;
  readonly #opened: Promise<void>;

  constructor(url: string) {
    this.#ws = new WebSocket(url, 'janus-protocol', { perMessageDeflate: false });
    this.#opened = new Promise((resolve, reject) => {
      this.#ws.once('open', () => resolve());
      this.#ws.once('error', reject);
    });
    this.#ws.on('message', (data) => this.#onMessage(JSON.parse(data.toString()) as JanusMessage));
    this.#ws.on('close', () => {
      for (const w of this.#waiting.values()) w.reject(new Error('Janus socket closed'));
      this.#waiting.clear();
    });
  }

  async open(): Promise<void> {
    await this.#opened;
    const r = await this.send({ janus: 'create' });
    this.sessionId = r.data!.id;
    // Janus ends sessions silent for session_timeout (60 s by default).
    this.#keepalive = setInterval(() => void this.send({ janus: 'keepalive', session_id: this.sessionId }, true).catch(() => {}), 20_000);
  }

  async attach(): Promise<number> {
    const r = await this.send({ janus: 'attach', session_id: this.sessionId, plugin: PLUGIN });
    return r.data!.id;
  }

  /**
   * A request; resolves with Janus's final answer for the transaction: `success` for synchronous
   * requests, the plugin `event` for asynchronous ones (after an `ack`), or `ack` when `ackIsFinal`.
   */
  send(message: Record<string, unknown>, ackIsFinal = false, timeoutMs = 20_000): Promise<JanusMessage> {
    const transaction = randomBytes(6).toString('hex');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(transaction);
        reject(new Error(`Janus ${String(message['janus'])} timed out`));
      }, timeoutMs);
      this.#waiting.set(transaction, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
        acceptAck: ackIsFinal,
      });
      this.#ws.send(JSON.stringify({ ...message, transaction }));
    });
  }

  /** A VideoRoom request on a handle; throws on a Janus or plugin error. */
  async message(handleId: number, body: Record<string, unknown>, jsep?: { type: string; sdp: string }): Promise<JanusMessage> {
    const r = await this.send({ janus: 'message', session_id: this.sessionId, handle_id: handleId, body, ...(jsep ? { jsep } : {}) });
    const data = r.plugindata?.data;
    if (data?.error) throw new Error(`VideoRoom ${String(body['request'])}: ${data.error_code} ${data.error}`);
    return r;
  }

  async close(): Promise<void> {
    clearInterval(this.#keepalive);
    if (this.#ws.readyState === WebSocket.OPEN) {
      await this.send({ janus: 'destroy', session_id: this.sessionId }, false, 5000).catch(() => {});
      this.#ws.close();
    }
  }

  /** Janus hung up a handle's peer connection on its own (ICE failed, DTLS alert…). */
  onHangup: ((handle: number, reason: string) => void) | null = null;

  #onMessage(m: JanusMessage): void {
    if (m.janus === 'hangup' && m.sender !== undefined) this.onHangup?.(m.sender, (m as { reason?: string }).reason ?? 'hangup');
    if (!m.transaction) return; // webrtcup, media, slowlink: not needed for load
    const w = this.#waiting.get(m.transaction);
    if (!w) return;
    if (m.janus === 'ack' && !w.acceptAck) return; // the event follows
    this.#waiting.delete(m.transaction);
    if (m.janus === 'error') w.reject(new Error(`Janus error ${m.error?.code}: ${m.error?.reason}`));
    else w.resolve(m);
  }
}

export class JanusTarget implements Target {
  readonly name = 'janus';
  readonly #spec: JanusSpec;

  constructor(spec: JanusSpec) {
    this.#spec = spec;
  }

  /** VideoRoom rooms for `count` sessions (VP8 + Opus, no bitrate cap, no periodic keyframe requests). */
  static async createSessions(spec: JanusSpec, count: number, options: { publishers?: number } = {}): Promise<string[]> {
    const conn = new JanusConnection(spec.url);
    await conn.open();
    try {
      const handle = await conn.attach();
      const rooms: string[] = [];
      for (let i = 0; i < count; i++) {
        const r = await conn.message(handle, {
          request: 'create',
          publishers: options.publishers ?? 100,
          bitrate: 0,
          fir_freq: 0,
          audiocodec: 'opus',
          videocodec: 'vp8',
          notify_joining: false,
        });
        rooms.push(String(r.plugindata!.data['room']));
      }
      return rooms;
    } finally {
      await conn.close();
    }
  }

  async join(room: string, displayName: string, url?: string): Promise<Participant> {
    if (url !== undefined && url !== this.#spec.url) throw new Error('Janus has one front door: join through another URL is not supported');
    const conn = new JanusConnection(this.#spec.url);
    await conn.open();
    const roomId = Number(room);
    let publisherHandle: number | undefined;
    let privateId: number | undefined;
    const subscriberHandles = new Set<number>();
    let leaving = false;
    const participant: Participant = {
      async publish(offer: string, _info: PublishInfo) {
        publisherHandle = await conn.attach();
        const joined = await conn.message(publisherHandle, { request: 'join', ptype: 'publisher', room: roomId, display: displayName });
        privateId = joined.plugindata!.data['private_id'] as number;
        const feed = joined.plugindata!.data['id'] as number;
        const r = await conn.message(publisherHandle, { request: 'publish', audio: true, video: true }, { type: 'offer', sdp: offer });
        if (!r.jsep) throw new Error('Janus publish: no answer');
        // Our offer carried every candidate (we gather before offering): tell Janus there are no more.
        await conn.send({ janus: 'trickle', session_id: conn.sessionId, handle_id: publisherHandle, candidate: { completed: true } }, true);
        return { streamId: String(feed), answer: r.jsep.sdp };
      },
      async unpublish() {
        if (publisherHandle === undefined) return;
        const handle = publisherHandle;
        publisherHandle = undefined; // its hangup is ours
        await conn.message(handle, { request: 'unpublish' });
      },
      async subscribe(feed): Promise<Subscription> {
        const handle = await conn.attach();
        subscriberHandles.add(handle);
        const r = await conn.message(handle, {
          request: 'join',
          ptype: 'subscriber',
          room: roomId,
          streams: [{ feed: Number(feed) }],
          ...(privateId !== undefined ? { private_id: privateId } : {}),
        });
        if (!r.jsep) throw new Error('Janus subscribe: no offer');
        return {
          offer: r.jsep.sdp,
          async answer(sdp) {
            await conn.message(handle, { request: 'start' }, { type: 'answer', sdp });
            await conn.send({ janus: 'trickle', session_id: conn.sessionId, handle_id: handle, candidate: { completed: true } }, true);
          },
          async close() {
            subscriberHandles.delete(handle);
            await conn.send({ janus: 'detach', session_id: conn.sessionId, handle_id: handle }).catch(() => {});
          },
        };
      },
      async leave() {
        leaving = true;
        await conn.close(); // destroying the session detaches every handle: unpublish and unsubscribe
      },
    };
    conn.onHangup = (handle, reason) => {
      if (leaving) return;
      if (handle === publisherHandle) participant.onServerEnded?.('stream', reason);
      else if (subscriberHandles.delete(handle)) participant.onServerEnded?.('subscription', reason);
    };
    return participant;
  }

  async close(): Promise<void> {}
}
