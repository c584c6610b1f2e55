// One UDP port for every peer connection (media/udp-mux.ts): werift publishers and subscribers on
// one engine reach the SFU through the same port, media flows both ways (SRTP included), strangers'
// datagrams are dropped, and closing transports releases the bindings.

import { createSocket } from 'node:dgram';
import { makeTestMedia, waitUntil } from '@colloquy/testing/media';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaEngine } from '../src/index.js';
import { UdpMux, stunBindingUsername } from '../src/udp-mux.js';
import { MediaFixture } from './helpers.js';

let engine: MediaEngine;
let fx: MediaFixture;

beforeAll(async () => {
  engine = await MediaEngine.open({ port: 0, logger: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }) });
  fx = new MediaFixture(engine, makeTestMedia({ seconds: 3, gop: 60 }));
});

afterAll(async () => {
  await fx.cleanup();
  await engine.close();
});

/** A STUN Binding request with a USERNAME (no integrity: enough for the demultiplexer to read). */
function bindingRequest(username: string): Buffer {
  const name = Buffer.from(username, 'utf8');
  const padded = (name.length + 3) & ~3;
  const msg = Buffer.alloc(20 + 4 + padded);
  msg.writeUInt16BE(0x0001, 0);
  msg.writeUInt16BE(4 + padded, 2);
  msg.writeUInt32BE(0x2112a442, 4);
  msg.fill(7, 8, 20);
  msg.writeUInt16BE(0x0006, 20);
  msg.writeUInt16BE(name.length, 22);
  name.copy(msg, 24);
  return msg;
}

function candidatePorts(lines: string[]): number[] {
  return lines.map((l) => /^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ host/i.exec(l)).filter((m) => m !== null).map((m) => Number(m[1]));
}

describe('one UDP port for every peer connection', () => {
  it('reads the USERNAME of a STUN Binding request, and nothing else', () => {
    expect(stunBindingUsername(bindingRequest('abcd:efgh'))).toBe('abcd:efgh');
    const response = bindingRequest('abcd:efgh');
    response.writeUInt16BE(0x0101, 0);
    expect(stunBindingUsername(response)).toBeNull();
    expect(stunBindingUsername(Buffer.from([0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeNull(); // RTP
    expect(stunBindingUsername(Buffer.from([22, 254, 253, 0, 0]))).toBeNull(); // DTLS
    const truncated = bindingRequest('abcd:efgh').subarray(0, 26);
    expect(stunBindingUsername(truncated)).toBeNull();
  });

  it("two agents with the same ufrag (werift's are 4 hex digits) are told apart by the far end's ufrag", async () => {
    const mux = await UdpMux.open({ port: 0, listenIp: '127.0.0.1' });
    try {
      const a = mux.attach({ localUsername: 'beef', remoteUsername: 'aaaa1111', userHistory: {}, options: {} });
      const b = mux.attach({ localUsername: 'beef', remoteUsername: 'bbbb2222', userHistory: {}, options: {} });
      const got = { a: [] as string[], b: [] as string[] };
      a.onData = (_d, addr) => got.a.push(addr.join(':'));
      b.onData = (_d, addr) => got.b.push(addr.join(':'));
      const fromB = createSocket('udp4');
      const fromA = createSocket('udp4');
      await Promise.all([fromA, fromB].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
      fromB.send(bindingRequest('beef:bbbb2222'), mux.port, '127.0.0.1');
      fromA.send(bindingRequest('beef:aaaa1111'), mux.port, '127.0.0.1');
      await waitUntil(() => got.a.length === 1 && got.b.length === 1, 5_000, 'one check each');
      // Then anything from those addresses follows the binding.
      fromB.send(Buffer.from([22, 254, 253, 0]), mux.port, '127.0.0.1');
      await waitUntil(() => got.b.length === 2, 5_000, 'DTLS-looking datagram to b');
      expect(got.a).toEqual([`127.0.0.1:${fromA.address().port}`]);
      expect(got.b).toEqual([`127.0.0.1:${fromB.address().port}`, `127.0.0.1:${fromB.address().port}`]);
      fromA.close();
      fromB.close();
    } finally {
      await mux.close();
    }
  });

  it('publishers and subscribers share the port; media flows and the bindings are released', async () => {
    const port = engine.udpMux!.port;
    expect(port).toBeGreaterThan(0);
    const router = fx.router();
    const a = await fx.publish(router);
    const b = await fx.publish(router);
    a.publisher.start();
    b.publisher.start();
    const subA = await fx.subscribe(router, a.producers);
    const subB = await fx.subscribe(router, b.producers);
    for (const t of [a.transport, b.transport, subA.transport, subB.transport]) {
      expect(new Set(candidatePorts(t.dump()['localCandidates'] as string[]))).toEqual(new Set([port]));
    }
    await waitUntil(() => subA.subscriber.of('video').length > 30 && subB.subscriber.of('video').length > 30, 15_000, 'video through the one port');
    await waitUntil(() => subA.subscriber.of('audio').length > 20 && subB.subscriber.of('audio').length > 20, 15_000, 'audio through the one port');
    // Each subscriber got its own publisher's stream, not the other's (the demultiplexing held).
    expect(new Set(subA.subscriber.of('video').map((p) => p.ssrc))).toEqual(new Set([subA.consumers.find((c) => c.kind === 'video')!.ssrc]));
    expect(new Set(subB.subscriber.of('video').map((p) => p.ssrc))).toEqual(new Set([subB.consumers.find((c) => c.kind === 'video')!.ssrc]));
    const during = engine.udpMux!.stats();
    expect(during.transports).toBe(4);
    expect(during.remotes).toBeGreaterThanOrEqual(4);

    // A stranger's datagrams (RTP-looking, and a Binding request naming nobody) reach no one.
    const stranger = createSocket('udp4');
    await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', () => r()));
    const droppedBefore = engine.udpMux!.stats().dropped;
    stranger.send(Buffer.from([0x80, 0x60, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]), port, '127.0.0.1');
    stranger.send(bindingRequest('nobody:x'), port, '127.0.0.1');
    await waitUntil(() => engine.udpMux!.stats().dropped >= droppedBefore + 2, 5_000, 'stranger datagrams dropped');
    stranger.close();
    expect(engine.udpMux!.stats().remotes).toBe(during.remotes);

    await fx.cleanup();
    await waitUntil(() => engine.udpMux!.stats().transports === 0, 10_000, 'transports detached');
    expect(engine.udpMux!.stats().remotes).toBe(0);
  }, 60_000);
});
