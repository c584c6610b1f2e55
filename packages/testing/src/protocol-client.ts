// A Node client of Colloquy's signaling protocol (packages/protocol/README.md) that publishes and
// subscribes with werift peers, as a browser would through the SDK: for server, Node SDK and
// load tests that need real published streams without a browser.
//
//   const alice = await ProtocolClient.join(server.url, sessionId, token);
//   const pub = await alice.publish({ media: makeTestMedia(), name: 'Alice' });   // routed: SFU
//   const bob = await ProtocolClient.join(server.url, sessionId, token2);
//   const sub = await bob.subscribe(pub.streamId);                                   // packets in sub.peer

import type { PublishResult, SubscribeResult } from '@colloquy/protocol';
import { WebSocket } from 'ws';
import { NodePublisher, NodeSubscriber, waitUntil, waitUntilQuiet, type NodePublisherOptions } from './media-clients.js';
import { ProtocolError, SignalingSocket, type Message } from './signaling-socket.js';

export { ProtocolError, SignalingSocket, type CloseInfo, type Message } from './signaling-socket.js';

export interface PublishOptions extends Omit<NodePublisherOptions, 'media'> {
  media: NodePublisherOptions['media'];
  name?: string;
  videoType?: 'camera' | 'screen' | 'custom';
  /** OT.initPublisher's audioFallback, sent as is. */
  audioFallback?: { publisher?: boolean; subscriber?: boolean };
  /** Start sending media at once (default true). */
  start?: boolean;
}

export class ProtocolClient extends SignalingSocket {
  readonly #peers: Array<{ close(): Promise<void> }> = [];

  /** Sends a request and resolves with its response; rejects with ProtocolError on an error reply. */
  async request(message: Record<string, unknown>, timeoutMs = this.timeoutMs): Promise<Message> {
    const reply = await this.tryRequest(message, timeoutMs);
    if (reply.type === 'error') throw new ProtocolError(reply);
    return reply;
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
        ...(options.audioFallback ? { audioFallback: options.audioFallback } : {}),
      });
      result = reply['result'] as PublishResult;
      return result.sdp!;
      // ICE and DTLS get the SDK's 20 s (NodePublisher's default) even where replies are awaited for
      // less: two suites at once on 2 cores took over 10 s to connect in full-disk.test.
    }, Math.max(this.timeoutMs, 20_000));
    if (options.start !== false) publisher.start();
    await this.waitFor((m) => m.type === 'streamCreated' && (m['stream'] as { streamId: string }).streamId === result!.streamId);
    return { streamId: result!.streamId, publisher, result: result! };
  }

  /** Routed: subscribes to a stream with a werift peer and waits until it is connected. */
  async subscribe(streamId: string, options: { subscribeToAudio?: boolean; subscribeToVideo?: boolean } = {}): Promise<{ subscriberId: string; peer: NodeSubscriber; result: SubscribeResult }> {
    const reply = await this.request({ type: 'subscribe', streamId, ...options });
    const result = reply['result'] as SubscribeResult;
    const peer = new NodeSubscriber();
    this.#peers.push(peer);
    const answer = await peer.answer(result.sdp!);
    await this.request({ type: 'answer', subscriberId: result.subscriberId, sdp: answer });
    await peer.connected();
    return { subscriberId: result.subscriberId, peer, result };
  }

  /** Leaves the session (disconnect request), closes the socket and every peer it made. */
  override async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) {
      await this.tryRequest({ type: 'disconnect' }, 2000).catch(() => {});
      this.ws.close();
    }
    await Promise.all(this.#peers.splice(0).map((p) => p.close().catch(() => {})));
  }
}

export { waitUntil, waitUntilQuiet };
