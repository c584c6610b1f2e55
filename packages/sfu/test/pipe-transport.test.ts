// PipeTransport (media/pipe-transport.ts): two routers linked by a pipe on loopback, as two nodes
// of a cluster are. Every layer of a producer crosses with its layer, the far end's producer feeds
// its own consumers, a keyframe request goes back to the publisher's producer for the right layer,
// sender reports cross, and closing either side ends the far producers. The edge consumers' layer
// needs cross back (RTCP APP 'CLAY'): a layer no one watches on either node pauses at the publisher.

import { RtpHeader, RtpPacket } from 'werift';
import type { RtpView } from '../src/rtp-view.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { OutgoingHeader } from '../src/consumer.js';
import type { MediaEngine, Producer } from '../src/index.js';
import { LAYER_PAUSE_DELAY_MS } from '../src/producer.js';
import { layerDemandPacket, parseLayerDemand } from '../src/pipe-transport.js';
import { waitUntil } from '@colloquy/testing/media';
import { newEngine, testConsumer, testVideoProducer, vp8Payload, viewOf } from './helpers.js';

const SSRC = [0x1000, 0x2000];

const seq = [100, 20_000];
function packet(layer: number, keyFrame: boolean): RtpView {
  const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq[layer]!++ & 0xffff, timestamp: 3000 * seq[layer]!, ssrc: SSRC[layer]!, marker: true });
  header.extension = true;
  header.extensions = [{ id: 4, payload: Buffer.from([0x55]) }];
  return viewOf(new RtpPacket(header, vp8Payload(keyFrame, 320, 180)));
}

describe('PipeTransport', () => {
  let engine: MediaEngine;
  afterEach(async () => {
    await engine?.close();
  });

  it('carries every layer once, feeds the far router, and brings keyframe requests and sender reports across', async () => {
    engine = newEngine();
    const home = engine.createRouter({ id: 'home' });
    const edge = engine.createRouter({ id: 'edge' });
    const plis: number[] = [];
    const producer = testVideoProducer({ id: 'video-1', rids: ['q', 'h'], streamId: 'stream-1', extensionUris: [undefined, undefined, undefined, undefined, 'urn:3gpp:video-orientation'], plis });
    const out = await home.createPipeTransport({ listenIp: '127.0.0.1' });
    const into = await edge.createPipeTransport({ listenIp: '127.0.0.1' });
    out.connect(into.localAddress);
    into.connect(out.localAddress);
    const params = out.consume(producer);
    expect(() => out.consume(producer)).toThrow(/already piped/);
    const far: Producer = into.produce(JSON.parse(JSON.stringify(params)));
    // The far producer is the edge router's own: its subscriber transports may consume it.
    expect(edge.getProducer('video-1')).toBe(far);
    expect(far.layerCount).toBe(2);
    expect(far.extensionUris[4]).toBe('urn:3gpp:video-orientation');

    // Two local consumers on the edge, one per layer: one pipe feeds both.
    const got: Array<{ consumer: string; ssrc: number; length: number }> = [];
    const consumers = ['low', 'high'].map((id, i) => {
      const c = testConsumer({ id, producer: far, ssrc: 0xabc0 + i }, edge.forwarding);
      c.setNegotiated({ payloadType: 98, mid: String(i), extensionIds: new Map() });
      c.connect({ sendRtp: (payload: Buffer, header: OutgoingHeader) => got.push({ consumer: id, ssrc: header.ssrc, length: payload.length }) });
      c.setPreferredResolution(i === 0 ? { width: 100, height: 100 } : null);
      return c;
    });
    // Both layers are on at the publisher while a pipe listens.
    expect(producer.layers.every((l) => l.active)).toBe(true);

    // Joining consumers asked the far producer for keyframes: the request crossed back to the home producer.
    await waitUntil(() => plis.length > 0 || out.getStats().pliReceived > 0, 5000, 'a keyframe request across the pipe');
    for (let i = 0; i < 5; i++) {
      producer.receive(packet(0, i === 0), 0);
      producer.receive(packet(1, i === 0), 1);
    }
    await waitUntil(() => into.getStats().packetsReceived === 10, 5000, 'ten packets across');
    expect(out.getStats()).toMatchObject({ packetsSent: 10, consumed: 1 });
    // Each far layer kept its own SSRC (base + layer), so layer switches on the edge work.
    const layers = far.layers;
    expect(layers[1]!.ssrc - layers[0]!.ssrc).toBe(1);
    expect(layers[0]!.ssrc).toBe(params.ssrcBase);
    await waitUntil(() => got.length >= 10, 5000, 'the edge consumers forwarding');
    expect(got.filter((g) => g.consumer === 'low').length).toBeGreaterThanOrEqual(5);
    expect(got.filter((g) => g.consumer === 'high').length).toBeGreaterThanOrEqual(5);

    // A keyframe request on the edge for layer 1 becomes one for layer 1 at home.
    plis.length = 0;
    await new Promise((r) => setTimeout(r, 600)); // past both producers' keyframe throttle
    far.requestKeyFrame(1);
    await waitUntil(() => plis.includes(SSRC[1]!), 5000, 'layer 1 keyframe request at home');

    // A sender report at home reaches the edge producer (mapped to now).
    producer.handleSenderReport(SSRC[0]!, 123_456);
    await waitUntil(() => far.senderReport(0) !== undefined, 5000, 'a sender report across');
    expect(far.senderReport(0)!.rtpTimestamp).toBeGreaterThanOrEqual(123_456);

    // Datagrams from another address are refused.
    const { createSocket } = await import('node:dgram');
    const stranger = createSocket('udp4');
    const bytes = Buffer.from(packet(0, false).bytes());
    bytes.writeUInt32BE(params.ssrcBase, 8);
    await new Promise<void>((resolve) => stranger.send(bytes, into.localAddress.port, '127.0.0.1', () => resolve()));
    await waitUntil(() => into.getStats().dropped === 1, 5000, 'the stranger dropped');
    stranger.close();
    expect(into.getStats().packetsReceived).toBe(10);

    // The home side closing its pipe stops the flow; the edge side closing ends its producers and their consumers.
    const closed: string[] = [];
    for (const c of consumers) c.on('producerClose', () => closed.push(c.id));
    into.close();
    expect(far.closed).toBe(true);
    expect(closed.sort()).toEqual(['high', 'low']);
    expect(edge.getProducer('video-1')).toBeUndefined();
    expect(edge.pipes).toHaveLength(0);
    out.close();
    producer.receive(packet(0, false), 0);
    expect(out.getStats().packetsSent).toBe(10);
    producer.close();
  });

  it('encodes a layer demand as RTCP APP and refuses other packets', () => {
    const packet = layerDemandPacket(0x1234_5678, [true, false, true]);
    expect(packet.length).toBe(16);
    expect(packet[1]).toBe(204);
    expect(parseLayerDemand(packet)).toEqual({ ssrcBase: 0x1234_5678, mask: 0b101 });
    const pli = Buffer.from(packet);
    pli[1] = 206;
    expect(parseLayerDemand(pli)).toBeNull();
    const other = Buffer.from(packet);
    other.write('XXXX', 8, 'ascii');
    expect(parseLayerDemand(other)).toBeNull();
    expect(parseLayerDemand(packet.subarray(0, 12))).toBeNull();
  });

  it("pauses at the publisher the layers no consumer on the far node needs, and turns one on at once when one does", async () => {
    engine = newEngine();
    const home = engine.createRouter({ id: 'home' });
    const edge = engine.createRouter({ id: 'edge' });
    const producer = testVideoProducer({ id: 'video-3', rids: ['q', 'h', 'f'], streamId: 'stream-3' });
    const changes: boolean[][] = [];
    producer.on('layers', (active) => changes.push(active));
    const out = await home.createPipeTransport({ listenIp: '127.0.0.1' });
    const into = await edge.createPipeTransport({ listenIp: '127.0.0.1' });
    out.connect(into.localAddress);
    into.connect(out.localAddress);
    const far = into.produce(JSON.parse(JSON.stringify(out.consume(producer))));
    // The home producer's own clock (a publisher transport samples it every 500 ms in the SFU).
    const clock = setInterval(() => producer.sample(performance.now()), 250);
    try {
      // A keyframe of each layer (320x180, 640x360, 1280x720) crosses: the edge knows the layer sizes.
      const sizes = [[320, 180], [640, 360], [1280, 720]] as const;
      sizes.forEach(([width, height], layer) => {
        const payload = vp8Payload(true, 320, 180);
        payload.writeUInt16LE(width, 7);
        payload.writeUInt16LE(height, 9);
        producer.receive(viewOf(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: 1, timestamp: 3000, ssrc: 0x3000 + layer, marker: true }), payload)), layer);
      });
      await waitUntil(() => far.layers.every((l, i) => l.width === sizes[i]![0]), 5000, 'the layer sizes on the edge');
      // One edge subscriber that wants the lowest layer only.
      const low = testConsumer({ id: 'low', producer: far, ssrc: 0xabc0 }, edge.forwarding);
      low.setNegotiated({ payloadType: 98, mid: '0', extensionIds: new Map() });
      low.connect({ sendRtp: () => {} });
      low.setPreferredResolution({ width: 100, height: 100 });
      // Until the edge says otherwise every layer stays on; then, after the edge's pause delay and
      // the home's, layers 1 and 2 pause at the publisher (no local consumer needs them either).
      expect(producer.layers.map((l) => l.active)).toEqual([true, true, true]);
      const started = performance.now();
      await waitUntil(() => !producer.layers[2]!.active && !producer.layers[1]!.active, 15_000, 'layers 1 and 2 paused at home');
      expect(performance.now() - started).toBeGreaterThanOrEqual(LAYER_PAUSE_DELAY_MS);
      expect(producer.layers[0]!.active).toBe(true);
      expect(out.getStats().layerDemandsReceived).toBeGreaterThan(0);
      expect(into.getStats().layerDemandsSent).toBeGreaterThan(0);

      // A second edge subscriber wants the best layer: it turns on at the publisher at once.
      const high = testConsumer({ id: 'high', producer: far, ssrc: 0xabc1 }, edge.forwarding);
      high.setNegotiated({ payloadType: 98, mid: '1', extensionIds: new Map() });
      high.connect({ sendRtp: () => {} });
      high.setPreferredResolution(null);
      const asked = performance.now();
      await waitUntil(() => producer.layers[2]!.active, 5000, 'layer 2 on at home');
      expect(performance.now() - asked).toBeLessThan(LAYER_PAUSE_DELAY_MS);
      expect(changes.at(-1)![2]).toBe(true);

      // The high subscriber leaves: layer 2 pauses again; the pipe closing brings every layer back
      // to the home's own needs (here: the lowest only stays on, as always).
      high.close();
      await waitUntil(() => !producer.layers[2]!.active, 15_000, 'layer 2 paused again');
      low.close();
    } finally {
      clearInterval(clock);
      out.close();
      into.close();
      producer.close();
    }
  }, 40_000);
});
