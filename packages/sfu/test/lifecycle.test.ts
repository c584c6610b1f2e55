// Closing cascades and is idempotent, bad input is refused with the right error kind, trickled
// candidates work, and join/leave cycles leave no socket or timer behind.

import { activeResources, joinLeaveCycle, makeTestMedia, NodeSubscriber, waitUntil } from '@colloquy/testing/media';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MediaError } from '../src/errors.js';
import { transportsClosing, type MediaEngine } from '../src/index.js';
import { MediaFixture, newEngine, sleep } from './helpers.js';

let engine: MediaEngine;
let fx: MediaFixture;

beforeAll(() => {
  engine = newEngine({ portRange: [43000, 43999] });
  fx = new MediaFixture(engine, makeTestMedia({ seconds: 1, gop: 30 }));
});
afterEach(() => fx.cleanup());
afterAll(() => engine.close());

async function kindOf(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    return err instanceof MediaError ? err.kind : `not a MediaError: ${String(err)}`;
  }
  return 'no error';
}

describe('closing', () => {
  it('cascades: producer -> its consumers; transport -> producers; router -> transports; twice is harmless', async () => {
    const router = fx.router();
    const { publisher, transport: pubT, producers } = await fx.publish(router);
    publisher.start();
    const { transport: subT, consumers } = await fx.subscribe(router, producers);
    const events: string[] = [];
    for (const c of consumers) {
      c.on('producerClose', () => events.push(`${c.kind}:producerClose`));
      c.on('close', () => events.push(`${c.kind}:close`));
    }
    const video = producers.find((p) => p.kind === 'video')!;
    video.close();
    video.close();
    expect(events).toEqual(['video:producerClose', 'video:close']);
    expect(router.producers.map((p) => p.kind)).toEqual(['audio']);
    expect(subT.consumers.map((c) => c.kind)).toEqual(['audio']);

    await pubT.close();
    await pubT.close();
    expect(events).toContain('audio:close');
    expect(router.producers).toEqual([]);
    expect(subT.consumers).toEqual([]);

    let closed = 0;
    subT.on('close', () => closed++);
    await router.close();
    await router.close();
    expect(closed).toBe(1);
    expect(subT.closed).toBe(true);
    expect(router.transportCount).toBe(0);
    expect(engine.getRouter(router.id)).toBeUndefined();
    expect(await kindOf(() => router.createPublisherTransport())).toBe('not-allowed');
  });

  it('leaves no UDP socket or timer behind after join/leave cycles (media flowing each time)', async () => {
    const router = fx.router();
    const media = makeTestMedia({ seconds: 1, gop: 30 });
    await joinLeaveCycle(router, media); // warm-up: lazy module state
    await sleep(500);
    const baseline = activeResources();
    for (let i = 0; i < 15; i++) await joinLeaveCycle(router, media);
    // Closing sockets and last timers finish asynchronously (later on a loaded machine): wait until
    // they are back to the baseline, which a leak never reaches.
    const settled = () => {
      const now = activeResources();
      return (now['UDPWRAP'] ?? 0) === (baseline['UDPWRAP'] ?? 0) && (now['Timeout'] ?? 0) <= (baseline['Timeout'] ?? 0);
    };
    await waitUntil(settled, 15_000, 'sockets and timers back to the baseline').catch(() => {});
    const after = activeResources();
    expect(after['UDPWRAP'] ?? 0).toBe(baseline['UDPWRAP'] ?? 0);
    expect(after['Timeout'] ?? 0).toBeLessThanOrEqual(baseline['Timeout'] ?? 0);
    expect(router.transportCount).toBe(0);
  });

  it('counts a transport closed mid-negotiation as closing until its sockets are freed (transportsClosing)', async () => {
    const router = fx.router();
    const { producers } = await fx.publish(router);
    const transport = router.createSubscriberTransport();
    transport.consume(producers);
    // Closed while createOffer is binding its sockets: it leaves the router at once, and is counted
    // as closing until close() has freed what that bind left.
    const offer = transport.createOffer();
    const closing = transport.close();
    expect(router.transportCount).toBe(1); // the publisher's only
    expect(transportsClosing()).toBeGreaterThan(0);
    expect(await kindOf(offer)).toBe('not-allowed');
    await closing;
    expect(transportsClosing()).toBe(0);
  });
});

describe('input at the boundary', () => {
  it('refuses bad offers, answers and candidates with the right error kinds', async () => {
    const router = fx.router();
    const t = router.createPublisherTransport();
    expect(await kindOf(t.acceptOffer(42))).toBe('invalid');
    expect(await kindOf(t.acceptOffer('hello'))).toBe('invalid');
    expect(await kindOf(t.acceptOffer('v=0\r\n'.padEnd(70_000, 'x')))).toBe('invalid');
    expect(await kindOf(t.addRemoteCandidate({ candidate: 5 } as never))).toBe('invalid');
    expect(await kindOf(t.addRemoteCandidate({ candidate: 'rubbish' }))).toBe('invalid');
    await t.addRemoteCandidate(null); // end of candidates: fine
    const simulcast = [
      'v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0',
      'm=video 9 UDP/TLS/RTP/SAVPF 96', 'c=IN IP4 0.0.0.0', 'a=mid:0', 'a=sendonly', 'a=rtpmap:96 VP8/90000',
      'a=rid:h send', 'a=rid:l send', 'a=simulcast:send h;l', '',
    ].join('\r\n');
    // Simulcast video is taken (2 to 3 rids, see the Chromium test); audio simulcast, too many
    // layers or malformed rids are not.
    const audioSimulcast = simulcast.replace('m=video 9 UDP/TLS/RTP/SAVPF 96', 'm=audio 9 UDP/TLS/RTP/SAVPF 111').replace('VP8/90000', 'opus/48000/2');
    expect(await kindOf(t.acceptOffer(audioSimulcast))).toBe('unsupported');
    const fourLayers = simulcast.replace('a=rid:l send', 'a=rid:l send\r\na=rid:m send\r\na=rid:x send');
    expect(await kindOf(t.acceptOffer(fourLayers))).toBe('unsupported');
    expect(await kindOf(t.acceptOffer(simulcast.replace('a=rid:l send', 'a=rid:h send')))).toBe('invalid');
    expect(await kindOf(t.acceptOffer(simulcast.replace('a=rid:l send', 'a=rid:l/x send')))).toBe('invalid');
    const noSsrc = simulcast.replace(/a=rid.*\r\n|a=simulcast.*\r\n/g, '');
    expect(await kindOf(t.acceptOffer(noSsrc))).toBe('invalid');
    await t.close();
    expect(await kindOf(t.acceptOffer(simulcast))).toBe('not-allowed');
  });

  it('refuses a second offer, a consume after the offer, and producers of another router', async () => {
    const router = fx.router();
    const other = fx.router();
    const { transport, producers } = await fx.publish(router);
    expect(await kindOf(transport.acceptOffer('v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n'))).toBe('conflict');
    const sub = other.createSubscriberTransport();
    expect(await kindOf(() => sub.consume(producers))).toBe('invalid');
    const sub2 = router.createSubscriberTransport();
    expect(await kindOf(() => sub2.consume([]))).toBe('invalid');
    sub2.consume(producers);
    expect(await kindOf(() => sub2.consume(producers))).toBe('conflict');
    await sub2.createOffer();
    expect(await kindOf(() => sub2.consume(producers))).toBe('not-allowed');
    expect(await kindOf(sub2.createOffer())).toBe('conflict');
    expect(await kindOf(sub2.acceptAnswer('nonsense'))).toBe('invalid');
    expect(await kindOf(() => engine.createRouter({ id: router.id }))).toBe('conflict');
    expect(await kindOf(() => engine.createRouter({ id: 'x', videoCodec: 'VP9' as never }))).toBe('invalid');
    await sub.close();
    await sub2.close();
  });

  it("groups a client's subscriber transports by downlinkGroup (they share its link), refuses an empty key, and forgets a group once its last transport closes", async () => {
    const router = fx.router();
    expect(await kindOf(() => router.createSubscriberTransport({ downlinkGroup: '' }))).toBe('invalid');
    const a = router.createSubscriberTransport({ downlinkGroup: 'connection-1' });
    const b = router.createSubscriberTransport({ downlinkGroup: 'connection-1' });
    const c = router.createSubscriberTransport({ downlinkGroup: 'connection-2' });
    const alone = router.createSubscriberTransport();
    expect([a, b, c, alone].map((t) => t.downlink.sharedWith)).toEqual([1, 1, 0, 0]);
    await a.close();
    expect(b.downlink.sharedWith).toBe(0);
    await b.close();
    // A new transport of that client starts a new group.
    const d = router.createSubscriberTransport({ downlinkGroup: 'connection-1' });
    const e = router.createSubscriberTransport({ downlinkGroup: 'connection-1' });
    expect([d.downlink.sharedWith, e.downlink.sharedWith]).toEqual([1, 1]);
    for (const t of [c, alone, d, e]) await t.close();
  });

  it('connects when the answer carries no candidates (ICE-lite) and accepts trickled ones', async () => {
    const router = fx.router();
    const { publisher, producers } = await fx.publish(router);
    publisher.start();
    const subscriber = new NodeSubscriber();
    fx.cleanups.push(() => subscriber.close());
    const transport = router.createSubscriberTransport();
    transport.consume(producers);
    const answer = await subscriber.answer(await transport.createOffer());
    const candidates = answer.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
    expect(candidates.length).toBeGreaterThan(0);
    await transport.acceptAnswer(answer.split('\r\n').filter((l) => !l.startsWith('a=candidate:')).join('\r\n'));
    for (const c of candidates) await transport.addRemoteCandidate({ candidate: c.slice(2), sdpMid: '0', sdpMLineIndex: 0 });
    await transport.addRemoteCandidate({ candidate: '', sdpMid: '0' });
    await waitUntil(() => subscriber.of('audio').length > 5, 10_000, 'audio after trickle');
    expect(transport.state).toBe('connected');
  });
});
