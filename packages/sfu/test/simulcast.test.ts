// Simulcast on the SFU's packet path, without a network: a Producer with three layers (rids q/h/f)
// fed synthetic VP8 packets, Consumers with a recording sink. Checks the layer choice from a
// preferred resolution, switching only on a keyframe of the target layer with one output SSRC and
// continuous sequence numbers and timestamps, PLIs to the right layer's SSRC, and the layer demand
// that pauses unwatched layers at the publisher. (Chromium end to end: packages/client/test/simulcast.test.ts.)

import { RtpHeader, RtpPacket } from 'werift';
import type { RtpView } from '../src/rtp-view.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OutgoingHeader } from '../src/consumer.js';
import { LAYER_PAUSE_DELAY_MS, LAYER_START_GRACE_MS } from '../src/producer.js';
import { testConsumer, testVideoProducer, vp8Payload, viewOf } from './helpers.js';

const SSRC = [0x1000, 0x2000, 0x3000];
const SIZE = [
  [320, 180],
  [640, 360],
  [1280, 720],
] as const;

/** Per layer: its own sequence and timestamp base, as Chromium's simulcast streams have. */
const seq = [100, 20_000, 40_000];
const ts = [1_000, 500_000, 900_000];

function packet(layer: number, keyFrame: boolean): RtpView {
  const [w, h] = SIZE[layer]!;
  const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq[layer]!++ & 0xffff, timestamp: (ts[layer]! += 3000) >>> 0, ssrc: SSRC[layer]!, marker: true });
  return viewOf(new RtpPacket(header, vp8Payload(keyFrame, w, h)));
}

interface Sent {
  ssrc: number;
  seq: number;
  ts: number;
  length: number;
}

function setup() {
  const plis: number[] = [];
  const producer = testVideoProducer({ rids: ['q', 'h', 'f'], plis });
  const consumer = (id: string) => {
    const sent: Sent[] = [];
    const c = testConsumer({ id, producer, ssrc: 0xabc0 + sent.length });
    c.setNegotiated({ payloadType: 98, mid: '1', extensionIds: new Map() });
    c.connect({
      sendRtp: (payload: Buffer, header: OutgoingHeader) => {
        const b = header.serialize();
        sent.push({ ssrc: b.readUInt32BE(8), seq: b.readUInt16BE(2), ts: b.readUInt32BE(4), length: payload.length });
      },
    });
    return { c, sent };
  };
  /** One frame on every layer (keyframes where asked). */
  const frame = (keyFrames: boolean[] = [false, false, false]) => {
    for (let layer = 0; layer < 3; layer++) producer.receive(packet(layer, keyFrames[layer]!), layer);
  };
  return { producer, consumer, frame, plis };
}

describe('simulcast layers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('each consumer forwards the layer its preferred resolution covers, switching only at that layer’s keyframe', () => {
    const { producer, consumer, frame, plis } = setup();
    const small = consumer('small');
    const large = consumer('large');
    // Sizes are known once keyframes of each layer were seen.
    frame([true, true, true]);
    expect(producer.layers.map((l) => [l.rid, l.ssrc, l.width, l.height])).toEqual([
      ['q', SSRC[0], 320, 180],
      ['h', SSRC[1], 640, 360],
      ['f', SSRC[2], 1280, 720],
    ]);
    expect(producer.getStats()).toMatchObject({ width: 1280, height: 720 });
    expect(producer.layerForResolution(null)).toBe(2);
    expect(producer.layerForResolution({ width: 320, height: 180 })).toBe(0);
    expect(producer.layerForResolution({ width: 321, height: 180 })).toBe(1);
    expect(producer.layerForResolution({ width: 4000, height: 3000 })).toBe(2);

    // Both started at once on q's keyframe (nothing was flowing yet), then moved to their target
    // 'auto' (f) at f's keyframe in the same frame.
    expect(small.c.currentLayer).toBe(2);
    expect(large.c.currentLayer).toBe(2);
    small.c.setPreferredResolution({ width: 320, height: 180 });
    expect(small.c.targetLayer).toBe(0);
    expect(plis).toContain(SSRC[0]); // asked the q layer for a keyframe
    // Delta frames on q do not switch; the small consumer keeps forwarding f meanwhile.
    frame();
    frame();
    expect(small.c.currentLayer).toBe(2);
    frame([true, false, false]);
    expect(small.c.currentLayer).toBe(0);
    frame();
    expect(small.c.getStats()).toMatchObject({ currentLayer: 0, targetLayer: 0, layerSwitches: 2 });

    // One output SSRC each; sequence numbers without a gap or repeat; timestamps never go back.
    for (const { sent } of [small, large]) {
      expect(new Set(sent.map((s) => s.ssrc)).size).toBe(1);
      for (let i = 1; i < sent.length; i++) {
        expect((sent[i]!.seq - sent[i - 1]!.seq) & 0xffff).toBe(1);
        expect(((sent[i]!.ts - sent[i - 1]!.ts) >>> 0) < 0x80000000).toBe(true);
      }
    }
    expect(small.sent.map((s) => s.length)).toEqual([12, 12, 7, 7, 12, 7]); // q kf, f kf, f, f, q kf, q
    expect(large.sent).toHaveLength(6);

    // Back up: the top layer again at its next keyframe.
    small.c.setPreferredResolution(null);
    frame();
    expect(small.c.currentLayer).toBe(0);
    frame([false, false, true]);
    expect(small.c.currentLayer).toBe(2);
  });

  it('stepping down for bandwidth to a layer that flows: the old layer stops at once (its frames would only queue ahead of the keyframe); to a layer not flowing, it goes on until the switch', () => {
    const { producer, consumer, frame } = setup();
    const c = consumer('c');
    frame([true, true, true]);
    frame();
    producer.sample(performance.now() + 500); // every layer measured as flowing
    expect(c.c.currentLayer).toBe(2);
    const before = c.sent.length;
    c.c.setBandwidthLayer(0);
    expect(c.c.targetLayer).toBe(0);
    frame();
    frame();
    expect(c.sent).toHaveLength(before); // f's next frames not sent
    frame([true, false, false]);
    expect(c.c.currentLayer).toBe(0);
    expect(c.sent).toHaveLength(before + 1);
    for (let i = 1; i < c.sent.length; i++) expect((c.sent[i]!.seq - c.sent[i - 1]!.seq) & 0xffff).toBe(1);

    // The layer stepped down to is not flowing (paused at the publisher): the current one goes on.
    const d = setup();
    const e = d.consumer('e');
    d.frame([true, true, true]);
    d.producer.sample(performance.now() + 500);
    for (let layer = 1; layer < 3; layer++) d.producer.receive(packet(layer, false), layer); // q stops
    d.producer.sample(performance.now() + 1000);
    expect(d.producer.layerFlowing(0)).toBe(false);
    e.c.setBandwidthLayer(0);
    const sent = e.sent.length;
    for (let layer = 1; layer < 3; layer++) d.producer.receive(packet(layer, false), layer);
    expect(e.sent).toHaveLength(sent + 1);
  });

  it('a new consumer starts on the first keyframe of any layer when its target is not flowing, then moves to it', () => {
    const { consumer, frame } = setup();
    const a = consumer('a');
    frame([false, true, false]);
    expect(a.c.currentLayer).toBe(1); // nothing sampled as flowing yet: start at once
    frame([false, false, true]);
    expect(a.c.currentLayer).toBe(2);
    expect(a.sent.length).toBe(3); // h's keyframe, h's delta, f's keyframe
  });

  it('layers no one needs are paused after a delay, needed ones resumed at once; layer 0 always runs', () => {
    const { producer, consumer, frame } = setup();
    const events: boolean[][] = [];
    producer.on('layers', (active) => events.push([...active]));
    const a = consumer('a');
    frame([true, true, true]);
    a.c.setPreferredResolution({ width: 320, height: 180 });
    frame([true, false, false]);
    expect(a.c.currentLayer).toBe(0);
    // Whole milliseconds: (t + 2000) - t of a fractional t may come out a hair under 2000.
    let now = Math.ceil(performance.now()) + 1;
    producer.sample(now);
    expect(events).toEqual([]); // unneeded since now: not yet paused
    now += LAYER_PAUSE_DELAY_MS;
    producer.sample(now);
    expect(events).toEqual([[true, false, false]]);
    expect(producer.layers.map((l) => l.active)).toEqual([true, false, false]);

    // Wanting the middle layer turns it on at once.
    a.c.setPreferredResolution({ width: 640, height: 360 });
    expect(events.at(-1)).toEqual([true, true, false]);
    // A recorder listening takes the top layer only, and keeps it on.
    const got: number[] = [];
    const stop = producer.addRtpListener((p) => got.push(p.header.ssrc));
    expect(events.at(-1)).toEqual([true, true, true]);
    frame();
    expect(got).toEqual([SSRC[2]]);
    stop();
    // Pausing the consumer leaves only layer 0 wanted.
    a.c.pause();
    producer.sample((now += 1));
    producer.sample((now += LAYER_PAUSE_DELAY_MS));
    expect(events.at(-1)).toEqual([true, false, false]);
    producer.close();
  });

  it('when the publisher stops sending the layer forwarded (and the target), falls back to the best layer that flows, then back up on the target\'s keyframe', () => {
    const { producer, consumer, frame, plis } = setup();
    const a = consumer('a');
    frame([true, true, true]);
    expect(a.c.currentLayer).toBe(2); // no preference: the top layer
    let now = Math.ceil(performance.now()) + 1;
    producer.sample(now);
    // Chromium's CPU or bandwidth adaptation turns the top encoding off: only q and h flow.
    for (let i = 0; i < 3; i++) {
      producer.receive(packet(0, false), 0);
      producer.receive(packet(1, false), 1);
    }
    producer.sample((now += 1000));
    expect(producer.layerFlowing(2)).toBe(false);
    plis.length = 0;
    a.c.sample(now);
    expect(plis).toContain(SSRC[1]); // a keyframe of h, the best layer still flowing
    const before = a.sent.length;
    producer.receive(packet(0, true), 0); // q's keyframe: not the fallback layer
    expect(a.c.currentLayer).toBe(2);
    producer.receive(packet(1, true), 1);
    expect(a.c.currentLayer).toBe(1);
    expect(a.sent.length).toBe(before + 1);
    expect(new Set(a.sent.map((p) => p.ssrc)).size).toBe(1);
    for (let i = 1; i < a.sent.length; i++) expect(a.sent[i]!.seq).toBe((a.sent[i - 1]!.seq + 1) & 0xffff);
    // The top layer comes back (with a keyframe, as a re-enabled encoding starts): the target again.
    producer.receive(packet(2, true), 2);
    expect(a.c.currentLayer).toBe(2);
    expect(a.c.targetLayer).toBe(2);
  });

  it('a top layer the publisher does not send: the middle layer is asked for in its place and the consumer climbs to it from the lowest; back to the top when it returns, and the middle layer paused again', () => {
    // setTimeout too: the producer's keyframe-request throttle sends what it held on a timer.
    vi.useFakeTimers({ toFake: ['performance', 'setTimeout', 'clearTimeout'] });
    const { producer, consumer, plis } = setup();
    const events: boolean[][] = [];
    producer.on('layers', (active) => events.push([...active]));
    const a = consumer('a'); // no preference: the top layer
    const small = consumer('small');
    /** A second passes with three frames on `layers` (a keyframe first where asked); then the timers' samples. */
    const second = (layers: number[], keyFrames: number[] = []) => {
      for (let i = 0; i < 3; i++) for (const layer of layers) producer.receive(packet(layer, i === 0 && keyFrames.includes(layer)), layer);
      vi.advanceTimersByTime(1000);
      const now = performance.now();
      producer.sample(now);
      a.c.sample(now);
      small.c.sample(now);
    };
    second([0, 1, 2], [0, 1, 2]);
    small.c.setPreferredResolution({ width: 320, height: 180 }); // the layers' sizes are known now
    second([0, 1, 2], [0]);
    expect([a.c.currentLayer, small.c.currentLayer]).toEqual([2, 0]);
    // Nobody forwards the middle layer: paused at the publisher after LAYER_PAUSE_DELAY_MS.
    for (let t = 0; t <= LAYER_PAUSE_DELAY_MS; t += 1000) second([0, 2]);
    expect(producer.layerActive(1)).toBe(false);
    expect(events.at(-1)).toEqual([true, false, true]);
    // The publisher's own estimate falls: it stops sending the top layer, and the consumer falls
    // back to the lowest (the only layer that flows), as before.
    second([0]);
    expect(producer.layerUnavailable(2)).toBe(true); // asked for since the start, and nothing came
    // The middle layer is asked for in the top's place at once.
    expect(producer.layerActive(1)).toBe(true);
    expect(events.at(-1)).toEqual([true, true, true]);
    producer.receive(packet(0, true), 0);
    expect(a.c.currentLayer).toBe(0);
    expect(a.c.targetLayer).toBe(2);
    // Still waiting for the top layer, the consumer climbs to the middle one once it flows.
    plis.length = 0;
    second([0, 1], [1]);
    expect(plis).toContain(SSRC[1]);
    producer.receive(packet(0, true), 0);
    expect(a.c.currentLayer).toBe(0); // the lowest layer's keyframe changes nothing
    producer.receive(packet(1, true), 1);
    expect(a.c.currentLayer).toBe(1);
    const sent = a.sent.slice(-3);
    expect(new Set(a.sent.map((p) => p.ssrc)).size).toBe(1);
    for (let i = 1; i < sent.length; i++) expect(sent[i]!.seq).toBe((sent[i - 1]!.seq + 1) & 0xffff);
    // No ask for another layer while the one forwarded is the best that flows.
    plis.length = 0;
    second([0, 1]);
    expect(plis).not.toContain(SSRC[0]);
    // A consumer whose target becomes the top layer while the publisher does not send it asks for
    // its keyframe once, then climbs to the middle layer in its place; no ask for the top layer
    // each second after that (a PLI for an encoding that is off; it comes back with a keyframe).
    small.c.setPreferredResolution(null);
    expect(small.c.targetLayer).toBe(2);
    expect(plis).toContain(SSRC[2]);
    second([0, 1], [1]);
    expect(small.c.currentLayer).toBe(1);
    plis.length = 0;
    second([0, 1]);
    second([0, 1]);
    expect(plis).not.toContain(SSRC[2]);
    // The top layer comes back (with a keyframe): the target again; the middle one is let go.
    producer.receive(packet(2, true), 2);
    expect(a.c.currentLayer).toBe(2);
    for (let t = 0; t <= LAYER_PAUSE_DELAY_MS; t += 1000) second([0, 1, 2]);
    expect(producer.layerActive(1)).toBe(false);
    expect(small.c.currentLayer).toBe(2);
  });

  it('a layer just asked for is not unavailable before LAYER_START_GRACE_MS: the consumer waits for it on the layer it has', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const { producer, consumer } = setup();
    const a = consumer('a');
    a.c.setPreferredResolution({ width: 320, height: 180 });
    const second = (layers: number[], keyFrames: number[] = []) => {
      for (let i = 0; i < 3; i++) for (const layer of layers) producer.receive(packet(layer, i === 0 && keyFrames.includes(layer)), layer);
      vi.advanceTimersByTime(1000);
      producer.sample(performance.now());
      a.c.sample(performance.now());
    };
    second([0, 1, 2], [0]);
    for (let t = 0; t <= LAYER_PAUSE_DELAY_MS + 1000; t += 1000) second([0]);
    expect([producer.layerActive(1), producer.layerActive(2)]).toEqual([false, false]);
    a.c.setPreferredResolution(null); // the top layer: asked for again
    expect(producer.layerActive(2)).toBe(true);
    vi.advanceTimersByTime(LAYER_START_GRACE_MS - 500);
    expect(producer.layerUnavailable(2)).toBe(false);
    expect(producer.layerActive(1)).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(producer.layerUnavailable(2)).toBe(true);
    expect(a.c.currentLayer).toBe(0);
  });

  it('a single-encoding producer behaves as before: one layer, no layer events', () => {
    const producer = testVideoProducer({ id: 'p1', ssrc: 0x5555 });
    const events: unknown[] = [];
    producer.on('layers', (a) => events.push(a));
    const sent: number[] = [];
    const c = testConsumer({ id: 'c', producer, ssrc: 9 });
    c.setNegotiated({ payloadType: 96, mid: '1', extensionIds: new Map() });
    c.connect({ sendRtp: (_p: Buffer, h: OutgoingHeader) => sent.push(h.sequenceNumber) });
    c.setPreferredResolution({ width: 10, height: 10 });
    producer.receive(viewOf(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: 1, timestamp: 1, ssrc: 0x5555, marker: true }), vp8Payload(false, 0, 0))));
    producer.receive(viewOf(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: 2, timestamp: 2, ssrc: 0x5555, marker: true }), vp8Payload(true, 640, 480))));
    expect(sent).toHaveLength(1); // waits for the keyframe, as before
    expect(producer.layerCount).toBe(1);
    expect(producer.getStats().layers).toBeUndefined();
    expect(events).toEqual([]);
  });
});
