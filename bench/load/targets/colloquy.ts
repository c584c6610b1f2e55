// Colloquy as a load target, through its real front door, as an app and the browser SDK use it:
// sessions made with the REST API (@colloquy/sdk-node, as an app server does), a token per
// participant generated the same way, and one signaling WebSocket per participant (connect with
// the token), on which publish (our offer -> the SFU's answer), subscribe (-> the SFU's offer),
// answer and unsubscribe travel (packages/protocol).

import { Colloquy } from '@colloquy/sdk-node';
import { SignalingClient } from './signaling-client.js';
import type { Participant, PublishInfo, Subscription, Target, TargetSpec } from './target.js';

type ColloquySpec = Extract<TargetSpec, { kind: 'colloquy' }>;

export class ColloquyTarget implements Target {
  readonly name = 'colloquy';
  readonly #spec: ColloquySpec;
  readonly #sdk: Colloquy;

  constructor(spec: ColloquySpec) {
    this.#spec = spec;
    this.#sdk = new Colloquy(spec.apiKey, spec.apiSecret, spec.url);
  }

  /** Routed sessions made through the REST API, as an app server would. */
  static async createSessions(spec: ColloquySpec, count: number): Promise<string[]> {
    const sdk = new Colloquy(spec.apiKey, spec.apiSecret, spec.url);
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push((await sdk.createSession({ mediaMode: 'routed' })).sessionId);
    return ids;
  }

  async join(sessionId: string, displayName: string, url = this.#spec.url): Promise<Participant> {
    const token = this.#sdk.generateToken(sessionId, { role: 'publisher', data: `name=${displayName}` });
    const client = new SignalingClient();
    await client.connect({ url, sessionId, token });
    const mine = new Set<string>();
    let leaving = false;
    const participant: Participant = {
      async publish(offer: string, info: PublishInfo) {
        const r = await client.request<'publish'>({
          type: 'publish',
          name: displayName,
          videoType: 'camera',
          hasAudio: true,
          hasVideo: true,
          videoDimensions: { width: info.width, height: info.height },
          frameRate: info.frameRate,
          sdp: offer,
        });
        if (!r.sdp) throw new Error('publish: the server answered without SDP (is the session relayed?)');
        mine.add(r.streamId);
        return { streamId: r.streamId, answer: r.sdp };
      },
      async unpublish(streamId: string) {
        mine.delete(streamId);
        await client.request<'unpublish'>({ type: 'unpublish', streamId });
      },
      async subscribe(streamId: string): Promise<Subscription> {
        const r = await client.request<'subscribe'>({ type: 'subscribe', streamId });
        if (!r.sdp) throw new Error('subscribe: the server answered without SDP (is the session relayed?)');
        mine.add(r.subscriberId);
        return {
          offer: r.sdp,
          answer: async (sdp) => {
            await client.request<'answer'>({ type: 'answer', subscriberId: r.subscriberId, sdp });
          },
          close: async () => {
            mine.delete(r.subscriberId);
            await client.request<'unsubscribe'>({ type: 'unsubscribe', subscriberId: r.subscriberId }).catch(() => {});
          },
        };
      },
      async leave() {
        // Leaving ends the connection's streams and subscriptions on the server, as in OpenTok.
        leaving = true;
        await client.disconnect();
      },
    };
    // The server ending our own stream or subscription while we did not ask: worth knowing under load.
    client.on('streamDestroyed', (m) => {
      const e = m as { streamId: string; reason: string };
      if (!leaving && mine.delete(e.streamId)) participant.onServerEnded?.('stream', e.reason);
    });
    client.on('subscriberDestroyed', (m) => {
      const e = m as { subscriberId: string; reason: string };
      if (!leaving && e.reason !== 'unsubscribed' && mine.delete(e.subscriberId)) participant.onServerEnded?.('subscription', e.reason);
    });
    return participant;
  }

  async close(): Promise<void> {}
}
