// Colloquy as a load target, through its real front door: sessions made with the REST API
// (@colloquy/sdk-node, as an app server does), tokens generated like an app server does, and one
// signaling WebSocket per participant (connect with the token).
//
// Media negotiation goes through a MediaPath. SignalingMediaPath sends publish / subscribe /
// answer / unsubscribe on the participant's own WebSocket, as the browser SDK does; servers whose
// protocol does not have them yet (main before the `wiring` branch) answer "unknown type", and the
// tool says so. BenchEndpointMediaPath is the bench server's test-only endpoint, which hands SDP
// straight to the server's SFU; it is labelled as bypassing signaling wherever results are printed.

import { Colloquy } from '@colloquy/sdk-node';
import { SignalingClient, SignalingError } from './signaling-client.js';
import type { Participant, Subscription, Target, TargetSpec } from './target.js';

type ColloquySpec = Extract<TargetSpec, { kind: 'colloquy' }>;

/** Where SDP goes to reach the SFU for one participant. */
interface MediaPath {
  publish(sessionId: string, client: SignalingClient, offer: string): Promise<{ streamId: string; answer: string }>;
  subscribe(sessionId: string, client: SignalingClient, streamId: string): Promise<Subscription>;
  close(id: string): Promise<void>;
}

async function post<T>(base: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(new URL(path, base), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Test-only: the bench server's endpoint, bypassing signaling for SDP (see the file comment). */
class BenchEndpointMediaPath implements MediaPath {
  constructor(readonly endpoint: string) {}

  publish(sessionId: string, client: SignalingClient, offer: string): Promise<{ streamId: string; answer: string }> {
    return post(this.endpoint, '/media/publish', { sessionId, connectionId: client.connection?.connectionId, sdp: offer });
  }

  async subscribe(sessionId: string, client: SignalingClient, streamId: string): Promise<Subscription> {
    const r = await post<{ subscriptionId: string; offer: string }>(this.endpoint, '/media/subscribe', {
      sessionId,
      connectionId: client.connection?.connectionId,
      streamId,
    });
    return {
      offer: r.offer,
      answer: async (sdp) => {
        await post(this.endpoint, '/media/answer', { subscriptionId: r.subscriptionId, sdp });
      },
      close: () => this.close(r.subscriptionId),
    };
  }

  async close(id: string): Promise<void> {
    await post(this.endpoint, '/media/close', { id });
  }
}

/** Unknown message type: the protocol of this server has no publish/subscribe yet. */
const UNKNOWN_TYPE = 4001;

function explain(err: unknown): never {
  if (err instanceof SignalingError && err.code === UNKNOWN_TYPE) {
    throw new Error(
      'this server\'s signaling protocol has no publish/subscribe yet: run the bench server (bench/servers/colloquy-bench-server.ts) and pass its --media-endpoint',
    );
  }
  throw err;
}

/** The real path: protocol requests on the participant's signaling connection (packages/protocol). */
class SignalingMediaPath implements MediaPath {
  async publish(_sessionId: string, client: SignalingClient, offer: string): Promise<{ streamId: string; answer: string }> {
    const r = (await client
      .call('publish', { name: 'colloquy-load', videoType: 'camera', hasAudio: true, hasVideo: true, sdp: offer })
      .catch(explain)) as { streamId: string; sdp?: string };
    if (!r.sdp) throw new Error('publish: the server answered without SDP (is the session relayed?)');
    return { streamId: r.streamId, answer: r.sdp };
  }

  async subscribe(_sessionId: string, client: SignalingClient, streamId: string): Promise<Subscription> {
    const r = (await client.call('subscribe', { streamId }).catch(explain)) as { subscriberId: string; sdp?: string };
    if (!r.sdp) throw new Error('subscribe: the server answered without SDP (is the session relayed?)');
    return {
      offer: r.sdp,
      answer: async (sdp) => {
        await client.call('answer', { subscriberId: r.subscriberId, sdp });
      },
      close: async () => {
        await client.call('unsubscribe', { subscriberId: r.subscriberId }).catch(() => {});
      },
    };
  }

  async close(): Promise<void> {
    // Streams end with the connection (disconnect), as OpenTok's do.
  }
}

export class ColloquyTarget implements Target {
  readonly name = 'colloquy';
  readonly #spec: ColloquySpec;
  readonly #sdk: Colloquy;
  readonly #media: MediaPath;

  constructor(spec: ColloquySpec) {
    this.#spec = spec;
    this.#sdk = new Colloquy(spec.apiKey, spec.apiSecret, spec.url);
    this.#media = spec.mediaEndpoint ? new BenchEndpointMediaPath(spec.mediaEndpoint) : new SignalingMediaPath();
  }

  /**
   * Whether the server takes publish/subscribe over signaling: an `unsubscribe` of a subscriber
   * that does not exist is refused as unknown (4001) by a protocol without media, and as not found
   * by one with it. No side effects.
   */
  static async hasSignalingMedia(spec: ColloquySpec): Promise<boolean> {
    const [sessionId] = await ColloquyTarget.createSessions(spec, 1);
    const client = new SignalingClient();
    const sdk = new Colloquy(spec.apiKey, spec.apiSecret, spec.url);
    await client.connect({ url: spec.url, sessionId: sessionId!, token: sdk.generateToken(sessionId!) });
    try {
      await client.call('unsubscribe', { subscriberId: 'colloquy-load-probe' });
      return true;
    } catch (err) {
      return !(err instanceof SignalingError && err.code === UNKNOWN_TYPE);
    } finally {
      await client.disconnect();
    }
  }

  /** Routed sessions made through the REST API, as an app server would. */
  static async createSessions(spec: ColloquySpec, count: number): Promise<string[]> {
    const sdk = new Colloquy(spec.apiKey, spec.apiSecret, spec.url);
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push((await sdk.createSession({ mediaMode: 'routed' })).sessionId);
    return ids;
  }

  async join(sessionId: string, displayName: string): Promise<Participant> {
    const token = this.#sdk.generateToken(sessionId, { role: 'publisher', data: `name=${displayName}` });
    const client = new SignalingClient();
    await client.connect({ url: this.#spec.url, sessionId, token });
    const media = this.#media;
    const published: string[] = [];
    const subscriptions: Subscription[] = [];
    return {
      async publish(offer) {
        const r = await media.publish(sessionId, client, offer);
        published.push(r.streamId);
        return r;
      },
      async subscribe(streamId) {
        const s = await media.subscribe(sessionId, client, streamId);
        subscriptions.push(s);
        return s;
      },
      async leave() {
        // Through signaling, leaving ends the connection's streams and subscriptions on the server;
        // the bench endpoint does not know connections, so it is told what to close.
        await Promise.all(subscriptions.map((s) => s.close().catch(() => {})));
        await Promise.all(published.map((id) => media.close(id).catch(() => {})));
        await client.disconnect();
      },
    };
  }

  async close(): Promise<void> {}
}
