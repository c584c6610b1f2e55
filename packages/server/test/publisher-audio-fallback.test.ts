// Publisher audio fallback through the real signaling protocol (werift peers sending VP8 and Opus
// through the SFU): a publisher that published with audioFallback.publisher says
// `updateStream {videoDisabledForQuality}`; every subscriber of the stream gets videoQuality
// videoDisabled / videoEnabled (the SDK's reason 'quality'), a subscriber that joins while the
// video is off hears it in its subscribe reply, hasVideo does not change, and the Inspector records
// it. Refused (1011, nothing applied) without audioFallback.publisher, in a relayed session, or
// with a payload that is not a boolean; another connection's stream is 404.

import { makeTestMedia, type TestMedia } from '@colloquy/testing/media';
import { ProtocolClient, waitUntil, type Message } from '@colloquy/testing/protocol';
import { Colloquy } from '@colloquy/sdk-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let sdk: Colloquy;
let media: TestMedia;
const clients: ProtocolClient[] = [];

beforeAll(async () => {
  t = await startTestServer({ COLLOQUY_HEARTBEAT_MS: '500' });
  sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
  media = makeTestMedia({ seconds: 2, gop: 30 });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => t.close());

async function join(sessionId: string): Promise<ProtocolClient> {
  const client = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { role: 'publisher' }));
  clients.push(client);
  return client;
}

const quality = (subscriberId: string, event: string) => (m: Message) => m.type === 'videoQuality' && m['subscriberId'] === subscriberId && m['event'] === event;
const qualityEvents = (c: ProtocolClient) => c.received.filter((m) => m.type === 'videoQuality').map((m) => `${String(m['subscriberId'])}:${String(m['event'])}`);

/** A round trip through the server: every message it sent before is in. */
async function sync(from: ProtocolClient, to: ProtocolClient[]): Promise<void> {
  const data = `sync-${Math.random()}`;
  await from.request({ type: 'signal', data });
  for (const c of to) await c.waitFor((m) => m.type === 'signal' && m['data'] === data);
}

describe('publisher audio fallback: updateStream videoDisabledForQuality', () => {
  it('is broadcast to every subscriber as videoDisabled / videoEnabled, once per change; a late subscriber hears it in its reply; hasVideo stays', async () => {
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    const alice = await join(sessionId);
    const bob = await join(sessionId);
    const carol = await join(sessionId);
    const { streamId } = await alice.publish({ media, audioFallback: { publisher: true } });
    const b = await bob.subscribe(streamId);
    expect(b.result.videoDisabledForQuality).toBeUndefined();
    await waitUntil(() => b.peer.of('audio').length > 10, 10_000, 'audio at bob');

    await alice.request({ type: 'updateStream', streamId, videoDisabledForQuality: true });
    expect(await bob.waitFor(quality(b.subscriberId, 'videoDisabled'))).toMatchObject({ streamId });
    const stream = t.server.sessions.live(sessionId)!.streams.get(streamId)!;
    expect(stream.videoDisabledForQuality).toBe(true);
    expect(stream.hasVideo).toBe(true);

    // Subscribing while the video is off: the reply says so (the SDK fires videoDisabled, reason quality).
    const c = await carol.subscribe(streamId);
    expect(c.result.videoDisabledForQuality).toBe(true);
    // The audio keeps flowing to the subscribers.
    const audioAtOff = b.peer.of('audio').length;
    await waitUntil(() => b.peer.of('audio').length > audioAtOff + 10, 10_000, 'audio at bob while the video is off');

    // The same word again changes nothing.
    await alice.request({ type: 'updateStream', streamId, videoDisabledForQuality: true });
    await alice.request({ type: 'updateStream', streamId, videoDisabledForQuality: false });
    await bob.waitFor(quality(b.subscriberId, 'videoEnabled'));
    await carol.waitFor(quality(c.subscriberId, 'videoEnabled'));
    await sync(alice, [bob, carol]);
    expect(qualityEvents(bob)).toEqual([`${b.subscriberId}:videoDisabled`, `${b.subscriberId}:videoEnabled`]);
    expect(qualityEvents(carol)).toEqual([`${c.subscriberId}:videoEnabled`]);
    // Not a stream property: nobody got streamPropertyChanged, and the publisher got no videoQuality.
    expect(bob.of('streamPropertyChanged')).toHaveLength(0);
    expect(qualityEvents(alice)).toEqual([]);

    const recorded = (await t.server.inspector.events(sessionId, { types: ['publisherVideoQuality'] })).items.map((e) => [e.streamId, e.connectionId, e.details['videoDisabled']]);
    expect(recorded).toEqual([
      [streamId, alice.connectionId, true],
      [streamId, alice.connectionId, false],
    ]);
  });

  it('is refused (1011) without audioFallback.publisher, for a non-boolean, and in a relayed session; nothing else in the request is applied', async () => {
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    const alice = await join(sessionId);
    const bob = await join(sessionId);
    const { streamId } = await alice.publish({ media, audioFallback: { subscriber: true } });
    const refused = await alice.tryRequest({ type: 'updateStream', streamId, hasVideo: false, videoDisabledForQuality: true });
    expect(refused).toMatchObject({ type: 'error', code: 1011 });
    expect(String(refused['message'])).toMatch(/audioFallback\.publisher/);
    const stream = t.server.sessions.live(sessionId)!.streams.get(streamId)!;
    expect(stream.hasVideo).toBe(true);
    expect(stream.videoDisabledForQuality).toBe(false);

    const { streamId: withFallback } = await bob.publish({ media, audioFallback: { publisher: true } });
    const bad = await bob.tryRequest({ type: 'updateStream', streamId: withFallback, videoDisabledForQuality: 'yes' });
    expect(bad).toMatchObject({ type: 'error', code: 1011 });
    expect(String(bad['message'])).toMatch(/videoDisabledForQuality/);
    // Someone else's stream.
    expect(await alice.tryRequest({ type: 'updateStream', streamId: withFallback, videoDisabledForQuality: true })).toMatchObject({ type: 'error', code: 404 });
    expect(t.server.sessions.live(sessionId)!.streams.get(withFallback)!.videoDisabledForQuality).toBe(false);

    // Relayed: no SFU between publisher and subscribers; the fallback is a routed-session feature.
    const relayed = await sdk.createSession({ mediaMode: 'relayed' });
    const dave = await join(relayed.sessionId);
    const publish = await dave.request({ type: 'publish', hasAudio: true, hasVideo: true, videoType: 'camera', audioFallback: { publisher: true } });
    const relayedStream = (publish['result'] as { streamId: string }).streamId;
    const refusedRelayed = await dave.tryRequest({ type: 'updateStream', streamId: relayedStream, videoDisabledForQuality: true });
    expect(refusedRelayed).toMatchObject({ type: 'error', code: 1011 });
    expect(String(refusedRelayed['message'])).toMatch(/routed/);
  });
});
