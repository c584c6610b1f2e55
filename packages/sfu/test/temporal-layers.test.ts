// VP8 temporal layers (L1T3) on the SFU's packet path, without a network: a Producer fed synthetic
// VP8 streams in Chromium's layout (15-bit picture IDs, TL0PICIDX, TID/Y in every packet, TIDs in
// the pattern 0 2 1 2), Consumers with a recording sink. Checks which frames a consumer drops for
// its preferred frame rate, that what it forwards stays continuous (sequence numbers without gaps,
// picture IDs consecutive, TL0PICIDX consistent) across drops and spatial layer switches, that it
// switches up only at a layer-sync frame or a keyframe and down at the next frame, and that the
// producer's shared payloads are never mutated. (Chromium end to end: packages/client/test/temporal-layers.test.ts.)

import { RtpHeader, RtpPacket } from 'werift';
import type { RtpView } from '../src/rtp-view.js';
import { describe, expect, it } from 'vitest';
import { parseVp8Descriptor, Vp8Descriptor } from '../src/codecs/vp8.js';
import { temporalLayerForFrameRate, type OutgoingHeader } from '../src/consumer.js';
import type { Producer } from '../src/producer.js';
import { testConsumer, testVideoProducer, viewOf } from './helpers.js';
import { RtpRewriter } from '../src/rtp-rewriter.js';
import { MAX_TEMPORAL_LAYER } from '../src/vp8-temporal.js';

const PATTERN = [0, 2, 1, 2];

/** One simulcast layer's VP8 encoder as Chromium packetizes it: its own SSRC, sequence, timestamp, picture ID and TL0PICIDX series. */
class Encoder {
  seq: number;
  ts: number;
  pid: number;
  tl0: number;
  frame = 0;
  #started = false;
  constructor(
    readonly ssrc: number,
    start: { seq: number; ts: number; pid: number; tl0: number },
    readonly width = 1280,
    readonly height = 720,
  ) {
    this.seq = start.seq;
    this.ts = start.ts;
    this.pid = start.pid;
    this.tl0 = start.tl0;
  }

  /**
   * The packets of the next frame: `packets` of them, the first S=1, the last with the marker.
   * The TID follows PATTERN; `sync` sets Y (the layer-sync bit) on a T1/T2 frame.
   */
  next(opts: { keyFrame?: boolean; sync?: boolean; packets?: number } = {}): { packets: RtpView[]; tid: number; pid: number; tl0: number } {
    const keyFrame = opts.keyFrame ?? false;
    if (keyFrame) this.frame = 0;
    const tid = PATTERN[this.frame % PATTERN.length]!;
    if (tid === 0 && this.#started) this.tl0 = (this.tl0 + 1) & 0xff;
    this.#started = true;
    this.frame++;
    this.pid = (this.pid + 1) & 0x7fff;
    this.ts = (this.ts + 3000) >>> 0;
    const n = opts.packets ?? 2;
    const packets: RtpView[] = [];
    for (let i = 0; i < n; i++) {
      // X=1, S on the first packet; I, L, T; 15-bit picture ID; TL0PICIDX; TID|Y|KEYIDX.
      const descriptor = Buffer.from([0x80 | (i === 0 ? 0x10 : 0), 0xe0, 0x80 | (this.pid >> 8), this.pid & 0xff, this.tl0, (tid << 6) | (opts.sync ? 0x20 : 0)]);
      let body = Buffer.from([0x01, 0, 0, 7, 7, 7, 7, 7, 7, 7, 7, 7]);
      if (keyFrame && i === 0) {
        body = Buffer.alloc(12);
        body[3] = 0x9d;
        body[4] = 0x01;
        body[5] = 0x2a;
        body.writeUInt16LE(this.width, 6);
        body.writeUInt16LE(this.height, 8);
      }
      const header = new RtpHeader({ payloadType: 96, sequenceNumber: this.seq, timestamp: this.ts, ssrc: this.ssrc, marker: i === n - 1 });
      this.seq = (this.seq + 1) & 0xffff;
      packets.push(viewOf(new RtpPacket(header, Buffer.concat([descriptor, body]))));
    }
    return { packets, tid, pid: this.pid, tl0: this.tl0 };
  }
}

interface Out {
  seq: number;
  ts: number;
  marker: boolean;
  start: boolean;
  pid: number;
  tl0: number;
  tid: number;
  sync: boolean;
}

function setup(rids: string[] = []) {
  const producer = testVideoProducer({ rids, ssrc: rids.length ? 0 : 0x1000 });
  const consumer = (id: string) => {
    const sent: Out[] = [];
    const c = testConsumer({ id, producer, ssrc: 0xabc0 });
    c.setNegotiated({ payloadType: 98, mid: '1', extensionIds: new Map() });
    const d = new Vp8Descriptor();
    c.connect({
      sendRtp: (payload: Buffer, header: OutgoingHeader) => {
        const b = header.serialize();
        expect(parseVp8Descriptor(payload, d)).toBe(true);
        sent.push({ seq: b.readUInt16BE(2), ts: b.readUInt32BE(4), marker: (b[1]! & 0x80) !== 0, start: d.frameStart, pid: d.pictureId, tl0: d.tl0PicIdx, tid: d.temporalId, sync: d.layerSync });
      },
    });
    return { c, sent };
  };
  return { producer, consumer };
}

/** Frames (their first packet) of what a consumer sent. */
const frames = (sent: Out[]) => sent.filter((o) => o.start);

/** Everything a receiver needs to decode without waiting: no sequence gap, consecutive picture IDs, TL0PICIDX +1 per T0 frame and equal to the last T0's on T1/T2 frames. */
function expectContinuous(sent: Out[]): void {
  for (let i = 1; i < sent.length; i++) expect((sent[i]!.seq - sent[i - 1]!.seq) & 0xffff, `sequence after packet ${i - 1}`).toBe(1);
  const f = frames(sent);
  for (let i = 1; i < f.length; i++) {
    expect((f[i]!.pid - f[i - 1]!.pid) & 0x7fff, `picture ID of frame ${i}`).toBe(1);
    expect((f[i]!.tl0 - f[i - 1]!.tl0) & 0xff, `TL0PICIDX of frame ${i}`).toBe(f[i]!.tid === 0 ? 1 : 0);
  }
  // Every packet of a frame carries the frame's fields.
  for (let i = 1; i < sent.length; i++) if (!sent[i]!.start) expect([sent[i]!.pid, sent[i]!.tl0]).toEqual([sent[i - 1]!.pid, sent[i - 1]!.tl0]);
}

/** The producers' sample clocks: each sample window is made to last exactly what the test says. */
const clocks = new WeakMap<Producer, number>();
function sampleAfter(producer: Producer, ms: number): void {
  const t = (clocks.get(producer) ?? performance.now()) + ms;
  clocks.set(producer, t);
  producer.sample(t);
}

/**
 * The producer measures per-TID frame rates over sample windows, not counting the window a TID
 * first shows in: feed the rest of that window (3 frames after the keyframe: T2 T1 T2), then `n`
 * frames in one second (32: 8/16/32 fps up to T0/T1/T2). The next frame is a T0.
 */
function measure(producer: Producer, enc: Encoder, n: number, layer = 0): void {
  for (let i = 0; i < 3; i++) for (const p of enc.next().packets) producer.receive(p, layer);
  sampleAfter(producer, 100);
  for (let i = 0; i < n; i++) for (const p of enc.next().packets) producer.receive(p, layer);
  sampleAfter(producer, 1000);
}

/** A consumer of one L1T3 stream past its first keyframe and 35 more frames, the producer's rates measured (8/16/32 fps). */
function started(start: { seq: number; ts: number; pid: number; tl0: number }) {
  const { producer, consumer } = setup();
  const enc = new Encoder(0x1000, start);
  const c = consumer('c');
  for (const p of enc.next({ keyFrame: true }).packets) producer.receive(p, 0);
  measure(producer, enc, 32);
  return { producer, enc, c };
}

describe('temporal layer for a preferred frame rate', () => {
  it('takes the lowest TID whose measured rate covers the wish (10 % tolerance), all for none or above the top', () => {
    const rates = [7.4, 15.1, 29.8];
    expect(temporalLayerForFrameRate(7.5, rates)).toBe(0);
    expect(temporalLayerForFrameRate(9, rates)).toBe(1);
    expect(temporalLayerForFrameRate(15, rates)).toBe(1);
    expect(temporalLayerForFrameRate(20, rates)).toBe(MAX_TEMPORAL_LAYER);
    expect(temporalLayerForFrameRate(30, rates)).toBe(MAX_TEMPORAL_LAYER);
    expect(temporalLayerForFrameRate(null, rates)).toBe(MAX_TEMPORAL_LAYER);
    expect(temporalLayerForFrameRate(5, [])).toBe(MAX_TEMPORAL_LAYER); // no TIDs (not L1T3): everything
    // Near the line: T0 at 6.4 fps does not cover 7.5 when choosing, but a T0 already chosen is kept (no flapping).
    expect(temporalLayerForFrameRate(7.5, [6.4, 12.8, 25.6])).toBe(1);
    expect(temporalLayerForFrameRate(7.5, [6.4, 12.8, 25.6], 0)).toBe(0);
    expect(temporalLayerForFrameRate(7.5, [5.5, 11, 22], 0)).toBe(1);
  });

  it('the producer measures the frame rate up to each TID', () => {
    const { producer } = setup();
    const enc = new Encoder(0x1000, { seq: 100, ts: 0, pid: 500, tl0: 10 });
    for (const p of enc.next({ keyFrame: true }).packets) producer.receive(p, 0);
    measure(producer, enc, 32);
    const rates = producer.temporalFrameRates(0);
    expect(rates).toHaveLength(3);
    [8, 16, 32].forEach((r, t) => expect(rates[t]).toBeCloseTo(r, 0));
  });

  it('the producer measures the share of bytes up to each TID, its keyframes aside (what forwarding up to a TID costs)', () => {
    const { producer } = setup();
    const enc = new Encoder(0x1000, { seq: 100, ts: 0, pid: 500, tl0: 10 });
    // T0 frames of 4 packets, T1 and T2 of 2 (all packets the same size): over 32 frames T0 is
    // 8 × 4 = 32 packets, T1 8 × 2 = 16, T2 16 × 2 = 32: shares 0.4, 0.6, 1. The keyframe, a T0
    // of 20 packets, would make T0 over half.
    const frame = () => enc.next({ packets: PATTERN[enc.frame % PATTERN.length] === 0 ? 4 : 2 }).packets;
    for (const p of enc.next({ keyFrame: true, packets: 20 }).packets) producer.receive(p, 0);
    for (let i = 0; i < 3; i++) for (const p of frame()) producer.receive(p, 0);
    sampleAfter(producer, 100);
    // The window a TID's bytes first show in is not counted (T0's: this one, its keyframe aside).
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 32; i++) for (const p of frame()) producer.receive(p, 0);
      sampleAfter(producer, 1000);
    }
    const shares = producer.temporalByteShares(0);
    expect(shares).toHaveLength(3);
    [0.4, 0.6, 1].forEach((share, t) => expect(shares[t]).toBeCloseTo(share, 2));
    expect(producer.layers[0]!.byteShares).toEqual(shares);
  });
});

describe('VP8 temporal layers in a consumer', () => {
  it('at T0 forwards a quarter of the frames, every packet of them, continuous; the producer’s payloads stay untouched', () => {
    const { producer, consumer } = setup();
    const enc = new Encoder(0x1000, { seq: 65_500, ts: 1000, pid: 0x7ff0, tl0: 250 }); // sequence, picture ID and TL0PICIDX wrap on the way
    const full = consumer('full');
    const low = consumer('low');
    for (const p of enc.next({ keyFrame: true }).packets) producer.receive(p, 0);
    measure(producer, enc, 32);
    low.c.setPreferredFrameRate(7.5);
    expect(low.c.targetTemporalLayer).toBe(0);
    expect(full.c.targetTemporalLayer).toBe(MAX_TEMPORAL_LAYER);
    const fullBefore = full.sent.length;
    const lowBefore = low.sent.length;
    const kept: { packets: RtpView[]; copies: Buffer[] }[] = [];
    for (let i = 0; i < 40; i++) {
      const f = enc.next({ packets: 3, sync: true });
      kept.push({ packets: f.packets, copies: f.packets.map((p) => Buffer.from(p.payload)) });
      for (const p of f.packets) producer.receive(p, 0);
    }
    // The full-rate subscriber gets all 40 frames x 3 packets, the T0 one 10 frames x 3 packets.
    expect(full.sent.length - fullBefore).toBe(120);
    expect(low.sent.length - lowBefore).toBe(30);
    expect(frames(low.sent.slice(lowBefore)).every((f) => f.tid === 0)).toBe(true);
    expectContinuous(full.sent);
    expectContinuous(low.sent);
    expect(low.c.getStats()).toMatchObject({ currentTemporalLayer: 0, targetTemporalLayer: 0 });
    expect(low.c.getStats().temporalFramesDropped).toBeGreaterThanOrEqual(30);
    // Rewriting worked on copies: the producer's buffers (shared with the full subscriber) are as received.
    for (const k of kept) k.packets.forEach((p, i) => expect(p.payload.equals(k.copies[i]!)).toBe(true));
  });

  it('at T1 drops the T2 frames only; 15 fps asks for T1', () => {
    const { producer, consumer } = setup();
    const enc = new Encoder(0x1000, { seq: 1, ts: 1000, pid: 3, tl0: 0 });
    const half = consumer('half');
    for (const p of enc.next({ keyFrame: true }).packets) producer.receive(p, 0);
    measure(producer, enc, 60); // 15 / 30 / 60 fps measured: 15 fits T0
    half.c.setPreferredFrameRate(30);
    expect(half.c.targetTemporalLayer).toBe(1);
    const before = half.sent.length;
    for (let i = 0; i < 16; i++) for (const p of enc.next().packets) producer.receive(p, 0);
    const f = frames(half.sent.slice(before));
    expect(f.map((x) => x.tid)).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
    expectContinuous(half.sent);
  });

  it('switches down at the next frame (never inside one), up only at a layer-sync frame or a keyframe', () => {
    const { producer, enc, c } = started({ seq: 9000, ts: 1000, pid: 100, tl0: 7 });
    // A preference above every layer: the temporal filter runs (it starts with the first preference), all frames pass.
    c.c.setPreferredFrameRate(1000);
    // Down in the middle of a T2 frame: its second packet still goes, the next T2 frame does not.
    let f = enc.next();
    while (f.tid !== 2) {
      for (const p of f.packets) producer.receive(p, 0);
      f = enc.next();
    }
    producer.receive(f.packets[0]!, 0);
    c.c.setPreferredFrameRate(7.5);
    producer.receive(f.packets[1]!, 0);
    let last = c.sent.at(-1)!;
    expect(last.marker).toBe(true);
    expect(last.tid).toBe(2);
    for (let i = 0; i < 8; i++) for (const p of enc.next().packets) producer.receive(p, 0);
    expect(c.c.currentTemporalLayer).toBe(0);

    // Up (no preference): frames without Y keep being dropped…
    c.c.setPreferredFrameRate(null);
    const before = c.sent.length;
    for (let i = 0; i < 12; i++) for (const p of enc.next({ sync: false }).packets) producer.receive(p, 0);
    expect(frames(c.sent.slice(before)).every((x) => x.tid === 0)).toBe(true);
    expect(c.c.currentTemporalLayer).toBe(0);
    // …until a layer-sync frame: a T1 with Y goes up to T1, not yet to T2.
    for (;;) {
      f = enc.next({ sync: false });
      if (f.tid === 2 && PATTERN[enc.frame % 4] === 1) break; // the next frame is a T1
      for (const p of f.packets) producer.receive(p, 0);
    }
    for (const p of f.packets) producer.receive(p, 0); // T2 without Y: dropped
    f = enc.next({ sync: true });
    expect(f.tid).toBe(1);
    for (const p of f.packets) producer.receive(p, 0);
    last = c.sent.at(-1)!;
    expect([last.tid, last.sync]).toEqual([1, true]);
    expect(c.c.currentTemporalLayer).toBe(1);
    f = enc.next({ sync: false }); // T2 without Y: still dropped
    for (const p of f.packets) producer.receive(p, 0);
    expect(c.sent.at(-1)!.tid).toBe(1);
    // A keyframe takes it to the target at once.
    for (const p of enc.next({ keyFrame: true }).packets) producer.receive(p, 0);
    for (let i = 0; i < 4; i++) for (const p of enc.next().packets) producer.receive(p, 0);
    expect(c.c.currentTemporalLayer).toBe(MAX_TEMPORAL_LAYER);
    expect(frames(c.sent).slice(-5).map((x) => x.tid)).toEqual([0, 2, 1, 2, 0]);
    expectContinuous(c.sent);
  });

  it('keeps picture IDs and TL0PICIDX continuous across a spatial layer switch (each layer has its own series)', () => {
    const { producer, consumer } = setup(['q', 'f']);
    const encs = [new Encoder(0x1000, { seq: 100, ts: 0, pid: 20_000, tl0: 3 }, 320, 180), new Encoder(0x2000, { seq: 30_000, ts: 555_000, pid: 7, tl0: 200 }, 1280, 720)];
    const c = consumer('c');
    c.c.setPreferredFrameRate(1000); // the temporal filter on from the start, all frames passing
    const both = (opts: { keyFrame?: boolean; sync?: boolean }[] = [{}, {}]) => encs.forEach((e, layer) => e.next(opts[layer]).packets.forEach((p) => producer.receive(p, layer)));
    both([{ keyFrame: true }, { keyFrame: true }]);
    for (let i = 0; i < 3; i++) both();
    sampleAfter(producer, 100);
    for (let i = 0; i < 32; i++) both();
    sampleAfter(producer, 1000);
    c.c.setPreferredFrameRate(7.5);
    for (let i = 0; i < 12; i++) both();
    expect(c.c.currentLayer).toBe(1);
    const atTop = frames(c.sent).length;
    // Down to the small layer: it switches at that layer's keyframe, still at T0.
    c.c.setPreferredResolution({ width: 320, height: 180 });
    both();
    both([{ keyFrame: true }, {}]);
    for (let i = 0; i < 12; i++) both();
    expect(c.c.currentLayer).toBe(0);
    // A T0 frame of the top layer before the switch, the small layer's keyframe, three more T0 frames.
    expect(frames(c.sent).length - atTop).toBe(1 + 1 + 3);
    expect(frames(c.sent).slice(atTop).every((f) => f.tid === 0)).toBe(true);
    expectContinuous(c.sent);
  });

  it('maps a late packet (a retransmission from the publisher) into its place after later drops', () => {
    const { producer, enc, c } = started({ seq: 500, ts: 1000, pid: 50, tl0: 1 });
    c.c.setPreferredFrameRate(7.5);
    let f = enc.next();
    while (f.tid !== 0) f = enc.next();
    // A T0 frame's second packet is lost and comes back after the T2/T1/T2 frames were dropped.
    producer.receive(f.packets[0]!, 0);
    const lost = f.packets[1]!;
    for (let i = 0; i < 3; i++) for (const p of enc.next().packets) producer.receive(p, 0);
    for (const p of enc.next().packets) producer.receive(p, 0); // the next T0
    producer.receive(lost, 0);
    const tail = c.sent.slice(-5);
    // Sent in arrival order: T0 first packet (n), next T0 (n+2, n+3), then the late one (n+1).
    expect(tail.slice(-4).map((o) => (o.seq - tail[1]!.seq) & 0xffff)).toEqual([0, 2, 3, 1]);
    expect(tail.at(-1)!.pid).toBe(tail[1]!.pid);
  });
});

describe('VP8 temporal layers: a picture ID jump without a keyframe', () => {
  it('continues the output series when the publisher’s picture IDs and TL0PICIDX jump mid-stream', () => {
    const { producer, enc, c } = started({ seq: 700, ts: 1000, pid: 10, tl0: 40 });
    c.c.setPreferredFrameRate(15);
    for (let i = 0; i < 8; i++) for (const p of enc.next().packets) producer.receive(p, 0);
    // The encoder restarts its series (no keyframe): picture ID +5000, TL0PICIDX +100, on a T1 frame next.
    let f = enc.next();
    while (f.tid !== 2 || PATTERN[enc.frame % 4] !== 1) {
      for (const p of f.packets) producer.receive(p, 0);
      f = enc.next();
    }
    for (const p of f.packets) producer.receive(p, 0);
    enc.pid = (enc.pid + 5000) & 0x7fff;
    enc.tl0 = (enc.tl0 + 100) & 0xff;
    for (let i = 0; i < 8; i++) for (const p of enc.next().packets) producer.receive(p, 0);
    expect(frames(c.sent).slice(-6).map((x) => x.tid)).toEqual([1, 0, 1, 0, 1, 0]);
    // And backwards (a new series below the old one), on a T0 frame next.
    enc.pid = (enc.pid - 9000) & 0x7fff;
    enc.tl0 = (enc.tl0 - 30) & 0xff;
    const before = frames(c.sent).length;
    for (let i = 0; i < 8; i++) for (const p of enc.next().packets) producer.receive(p, 0);
    expect(frames(c.sent).length - before).toBe(4);
    expectContinuous(c.sent);
  });
});

describe('RtpRewriter drops', () => {
  it('closes the sequence numbers of dropped packets and maps late packets with the offset of their place', () => {
    const r = new RtpRewriter({ ssrc: 1, clockRate: 90000, waitForKeyFrame: true, initialSequence: 999, initialTimestamp: 0 });
    expect(r.map(10, 0, 100, true, 0)).toBe(1000);
    // 11 is lost; 12 and 13 dropped; 14 follows 10's output at +2 (11 keeps its number).
    r.drop(12);
    r.drop(13);
    expect(r.map(14, 0, 100, false, 0)).toBe(1002);
    expect(r.map(11, 0, 100, false, 0)).toBe(1001);
    r.drop(15);
    expect(r.map(16, 0, 100, false, 0)).toBe(1003);
    // A late packet after several separate drop runs still lands in its place.
    expect(r.map(14, 0, 100, false, 0)).toBe(1002);
    // Padding-only packets close up the same way.
    expect(r.map(17, 0, 0, false, 0)).toBe(-1);
    expect(r.map(18, 0, 100, false, 0)).toBe(1004);
  });
});

describe('layer bitrates', () => {
  it('the steady bitrate (what the downlink allocator sizes a layer by) moves a fifth of the way per sample and leaves keyframes out; a stopped layer reads 0', () => {
    const { producer } = setup();
    const enc = new Encoder(0x1000, { seq: 100, ts: 1000, pid: 10, tl0: 1 });
    for (const p of enc.next({ keyFrame: true }).packets) producer.receive(p, 0);
    sampleAfter(producer, 500);
    const window = (packetsPerFrame: number, keyFrame = false): void => {
      for (let f = 0; f < 15; f++) for (const p of enc.next({ keyFrame: keyFrame && f === 0, packets: f === 0 ? packetsPerFrame : 2 }).packets) producer.receive(p, 0);
      sampleAfter(producer, 500);
    };
    for (let i = 0; i < 15; i++) window(2);
    const base = producer.layers[0]!;
    expect(base.bitrate).toBeGreaterThan(0);
    // Settled on the stream's rate (it started from the first, nearly empty, sample).
    expect(Math.abs(base.steadyBitrate - base.bitrate)).toBeLessThan(base.bitrate * 0.05);
    window(60, true); // a keyframe of 60 packets: the window's rate triples, the steady rate stays
    const burst = producer.layers[0]!;
    expect(burst.bitrate).toBeGreaterThan(base.bitrate * 2.5);
    expect(Math.abs(burst.steadyBitrate - base.steadyBitrate)).toBeLessThan(base.steadyBitrate * 0.1);
    // Delta frames three times the size (more motion): a fifth of the way there.
    for (let f = 0; f < 15; f++) for (const p of enc.next({ packets: 6 }).packets) producer.receive(p, 0);
    sampleAfter(producer, 500);
    const busier = producer.layers[0]!;
    expect(Math.abs(busier.steadyBitrate - (burst.steadyBitrate + 0.2 * (busier.bitrate - burst.steadyBitrate)))).toBeLessThanOrEqual(busier.bitrate * 0.02);
    sampleAfter(producer, 500); // nothing arrived
    expect(producer.layers[0]).toMatchObject({ bitrate: 0, steadyBitrate: 0 });
  });
});
