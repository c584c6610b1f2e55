// Colloquy as a load target, through its real front door: sessions made with the REST API
// (@colloquy/sdk-node, as an app server does), tokens generated like an app server does, and one
// signaling WebSocket per participant (connect with the token).
//
// Media negotiation goes through a MediaPath. The protocol has no publish/subscribe messages yet
// (they are being added on the `wiring` branch); until then the only path is the bench server's
// test-only endpoint (BenchEndpointMediaPath), which hands SDP straight to the server's SFU and is
// labelled as bypassing signaling wherever results are printed. Once the protocol carries
// publish/subscribe, a SignalingMediaPath sends them on the participant's own WebSocket and the
// rest of the load tool does not change.

import { Colloquy } from '@colloquy/sdk-node';
import { SignalingClient } from './signaling-client.js';
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

export class ColloquyTarget implements Target {
  readonly name = 'colloquy';
  readonly #spec: ColloquySpec;
  readonly #sdk: Colloquy;
  readonly #media: MediaPath | null;

  constructor(spec: ColloquySpec) {
    this.#spec = spec;
    this.#sdk = new Colloquy(spec.apiKey, spec.apiSecret, spec.url);
    this.#media = spec.mediaEndpoint ? new BenchEndpointMediaPath(spec.mediaEndpoint) : null;
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
    const owned: string[] = [];
    const subscriptions: Subscription[] = [];
    const noMedia = (): never => {
      throw new Error(
        'this Colloquy signaling protocol has no publish/subscribe yet: start the bench server (bench/servers/colloquy-bench-server.ts) and pass its --media-endpoint',
      );
    };
    return {
      async publish(offer) {
        if (!media) return noMedia();
        const r = await media.publish(sessionId, client, offer);
        owned.push(r.streamId);
        return r;
      },
      async subscribe(streamId) {
        if (!media) return noMedia();
        const s = await media.subscribe(sessionId, client, streamId);
        subscriptions.push(s);
        return s;
      },
      async leave() {
        // With the protocol, leaving ends the connection's streams and subscriptions on the
        // server; the bench endpoint does not know connections, so close what we published.
        await Promise.all(subscriptions.map((s) => s.close().catch(() => {})));
        if (media) await Promise.all(owned.map((id) => media.close(id).catch(() => {})));
        await client.disconnect();
      },
    };
  }

  async close(): Promise<void> {}
}
