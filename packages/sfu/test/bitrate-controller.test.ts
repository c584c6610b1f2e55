// The REMB-only uplink controller (media/bitrate-controller.ts), step by step: the cap without loss,
// a back-off on loss above 10 % to what arrived less half the loss, a hold between 2 and 10 %, an
// 8 % climb below 2 %, and the cap and the floor. The Chromium measurement behind a rate limit is the
// media:uplink bench (bench/media/uplink.bench.ts).

import { describe, expect, it } from 'vitest';
import { BitrateController, DELAY_START_BITRATE, MIN_BITRATE } from '../src/bitrate-controller.js';

const CAP = 2_500_000;

/** Runs `steps` intervals of a link that carries `link` bits/s: what arrives is min(estimate, link), loss is the excess share. */
function run(c: BitrateController, link: number, steps: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const sent = c.estimate;
    const arrived = Math.min(sent, link);
    out.push(c.update(arrived, sent > link ? (sent - link) / sent : 0, i * 500));
  }
  return out;
}

describe('BitrateController (REMB only)', () => {
  it('starts at the cap and stays there without loss', () => {
    expect(run(new BitrateController(CAP), 10_000_000, 10).every((e) => e === CAP)).toBe(true);
  });

  it('loss above 10 %: back to what arrived less half the loss; 2-10 %: hold; below 2 %: 8 % (+1 kbps) a step', () => {
    const c = new BitrateController(CAP);
    expect(c.update(800_000, 0.68, 0)).toBe(528_000);
    expect(c.update(528_000, 0.05, 500)).toBe(528_000);
    expect(c.update(528_000, 0.01, 1000)).toBe(Math.round(528_000 * 1.08) + 1000);
    // A back-off never raises the estimate (what arrived may exceed it: a burst catching up).
    expect(c.update(2_000_000, 0.2, 1500)).toBe(Math.round(528_000 * 1.08) + 1000);
  });

  it('behind an 800 kbps link: from the third second on it stays between 500 kbps and 8 % past the link', () => {
    const estimates = run(new BitrateController(CAP), 800_000, 60);
    for (const e of estimates.slice(6)) {
      expect(e).toBeGreaterThanOrEqual(500_000);
      expect(e).toBeLessThanOrEqual(Math.round(800_000 * 1.08) + 1000);
    }
  });

  it('never above the cap (also when it is lowered) nor below the floor', () => {
    const c = new BitrateController(CAP);
    c.max = 1_000_000;
    expect(c.estimate).toBe(1_000_000);
    expect(c.update(50_000, 0.9, 0)).toBe(MIN_BITRATE);
    run(c, 10_000_000, 100);
    expect(c.estimate).toBe(1_000_000);
    c.max = 10;
    expect(c.max).toBe(MIN_BITRATE);
  });
});

/** abs-send-time (24-bit 6.18 fixed-point seconds) of a send time in ms. */
const abs = (ms: number): number => Math.round((ms / 1000) * (1 << 18)) % (1 << 24);

/**
 * A publisher behind a rate-limited link with a drop-tail queue, 5 ms steps: it sends `ratio` ×
 * the REMB (a browser's encoder target sits below it) in 1200-byte packets, the queue drains at
 * `link` bits/s and holds `queueMs` at most (more is lost), arrivals come `baseMs` after leaving
 * the queue. REMB intervals every 500 ms as the transport runs them. Returns per-second figures.
 */
function simulate(
  c: BitrateController,
  o: { link: number; seconds: number; ratio?: number; queueMs?: number; baseMs?: number; startMs?: number; contentLimit?: number; layerWaiting?: boolean },
) {
  const ratio = o.ratio ?? 0.8;
  const maxQueueBits = (o.link * (o.queueMs ?? 300)) / 1000;
  const start = o.startMs ?? 0;
  let queueBits = 0;
  let credit = 0;
  let sentBits = 0;
  let lostBits = 0;
  let arrivedBits = 0;
  let cuts = 0;
  let maxQueueMs = 0;
  const perSecond: { sent: number; lost: number; queueMs: number; estimate: number }[] = [];
  for (let t = 0; t < o.seconds * 1000; t += 5) {
    const now = start + t;
    queueBits = Math.max(0, queueBits - (o.link * 5) / 1000);
    // The encoder sends its share of the REMB, or less when the picture needs less (contentLimit).
    credit += (Math.min(ratio * c.estimate, o.contentLimit ?? Infinity) * 5) / 1000;
    while (credit >= 9600) {
      credit -= 9600;
      sentBits += 9600;
      if (queueBits + 9600 > maxQueueBits) {
        lostBits += 9600;
        continue;
      }
      queueBits += 9600;
      const queueMs = (queueBits / o.link) * 1000;
      maxQueueMs = Math.max(maxQueueMs, queueMs);
      arrivedBits += 9600;
      if (c.onPacket(abs(now), now + (o.baseMs ?? 20) + queueMs, 1200)) cuts++;
    }
    if (t % 500 === 495) c.update((arrivedBits * 1000) / 500, sentBits > 0 ? lostBits / sentBits : 0, now, o.layerWaiting);
    if (t % 500 === 495) arrivedBits = 0;
    if (t % 1000 === 995) {
      perSecond.push({ sent: sentBits, lost: lostBits, queueMs: (queueBits / o.link) * 1000, estimate: c.estimate });
      sentBits = 0;
      lostBits = 0;
    }
  }
  return { perSecond, cuts, maxQueueMs };
}

describe('BitrateController (delay-based REMB, abs-send-time)', () => {
  it('starts at 1 Mbps (or the cap if lower) on the first packet, and says so (REMB now)', () => {
    const c = new BitrateController(CAP);
    expect(c.onPacket(abs(0), 100, 1200)).toBe(true);
    expect(c.estimate).toBe(DELAY_START_BITRATE);
    const low = new BitrateController(500_000);
    expect(low.onPacket(abs(0), 100, 1200)).toBe(false);
    expect(low.estimate).toBe(500_000);
  });

  it('behind an 800 kbps link with a 300 ms queue: from the 5th second the rate sent stays within 600-840 kbps and nothing is lost', () => {
    const c = new BitrateController(CAP);
    const { perSecond, cuts, maxQueueMs } = simulate(c, { link: 800_000, seconds: 30 });
    expect(cuts).toBeGreaterThan(0);
    for (const s of perSecond.slice(4)) {
      expect(s.sent).toBeGreaterThanOrEqual(600_000);
      expect(s.sent).toBeLessThanOrEqual(840_000);
      expect(s.lost).toBe(0);
    }
    expect(maxQueueMs).toBeLessThan(300);
  });

  it('finds the link whatever share of the REMB the browser encodes at (0.95 or 0.7)', () => {
    for (const ratio of [0.95, 0.7]) {
      const { perSecond } = simulate(new BitrateController(CAP), { link: 800_000, seconds: 30, ratio });
      const late = perSecond.slice(10);
      const mean = late.reduce((n, s) => n + s.sent, 0) / late.length;
      expect(mean).toBeGreaterThan(600_000);
      expect(mean).toBeLessThanOrEqual(800_000);
      expect(late.every((s) => s.lost === 0)).toBe(true);
    }
  });

  it('on a fast link it grows to the cap', () => {
    const c = new BitrateController(CAP);
    simulate(c, { link: 20_000_000, seconds: 20 });
    expect(c.estimate).toBe(CAP);
    expect(c.delayCuts).toBe(0);
  });

  it('an encoder that sends less than it may (a still picture) holds the estimate under 1.5 x what arrives, unless a simulcast layer waits to turn on', () => {
    // 10 s of a picture that needs 400 kbps, on a fast link: no queue ever stands.
    const held = new BitrateController(CAP);
    simulate(held, { link: 20_000_000, seconds: 10, contentLimit: 400_000 });
    // It started at 1 Mbps (above 1.5 x 400 kbps) and did not grow: the next busy picture starts
    // from there, not from the cap.
    expect(held.estimate).toBe(DELAY_START_BITRATE);
    // A layer waiting to turn on: growth goes on (the browser sends the layer only once the estimate covers it).
    const waiting = new BitrateController(CAP);
    simulate(waiting, { link: 20_000_000, seconds: 10, contentLimit: 400_000, layerWaiting: true });
    expect(waiting.estimate).toBe(CAP);
    // The picture gets busy: the estimate grows with what arrives, up to the cap on a fast link.
    simulate(held, { link: 20_000_000, seconds: 20, startMs: 10_000 });
    expect(held.estimate).toBe(CAP);
  });

  it('across the 64 s wrap of abs-send-time no queue is seen', () => {
    const c = new BitrateController(CAP);
    simulate(c, { link: 20_000_000, seconds: 10, startMs: 60_000 });
    expect(c.queueMs).toBeLessThan(1);
    expect(c.delayCuts).toBe(0);
  });

  it('a big frame queued for a moment, or a 300 ms event-loop stall, is no standing queue: no cut', () => {
    const c = new BitrateController(CAP);
    let now = 0;
    const send = (at: number, arrival: number): boolean => c.onPacket(abs(at), arrival, 1200);
    // 2 s of a calm link: a packet every 10 ms, 20 ms on the way.
    for (; now < 2000; now += 10) send(now, now + 20);
    c.update(1_000_000, 0, now);
    // A keyframe: 40 packets at once, the last 120 ms behind the first, then calm again.
    for (let i = 0; i < 40; i++) expect(send(now, now + 20 + i * 3)).toBe(false);
    for (now += 10; now < 2400; now += 10) expect(send(now, now + 20)).toBe(false);
    // A stall: nothing read for 300 ms, then the backlog at once.
    const stalledAt = now;
    for (; now < stalledAt + 300; now += 10) expect(send(now, stalledAt + 320)).toBe(false);
    for (; now < 3200; now += 10) expect(send(now, now + 20)).toBe(false);
    expect(c.delayCuts).toBe(0);
    expect(c.estimate).toBeGreaterThanOrEqual(DELAY_START_BITRATE);
  });

  it('a standing queue past 30 ms: cut at once to the lower of 0.9 x the estimate and 1.05 x what arrives; again only when it grows', () => {
    const c = new BitrateController(CAP);
    let now = 0;
    for (; now < 1000; now += 10) c.onPacket(abs(now), now + 20, 1200); // 960 kbps arriving, no queue
    let cutAt: number | null = null;
    // The queue grows 1 ms per packet from here on.
    for (let q = 0; cutAt === null && q < 200; q++, now += 10) if (c.onPacket(abs(now), now + 20 + q, 1200)) cutAt = q;
    expect(cutAt).not.toBeNull();
    expect(cutAt!).toBeGreaterThanOrEqual(30);
    expect(cutAt!).toBeLessThan(80);
    expect(c.estimate).toBe(900_000); // 0.9 x 1 Mbps (1.05 x ~960 kbps is more)
    // The queue stands where it is: no second cut before 1.5 s.
    const standing = now;
    for (; now < standing + 1000; now += 10) expect(c.onPacket(abs(now), now + 20 + cutAt!, 1200)).toBe(false);
    expect(c.estimate).toBe(900_000);
    // Loss right after a delay-based cut is its overflow: no loss back-off on top.
    expect(c.update(700_000, 0.3, now)).toBe(900_000);
  });

  it('loss above 10 % with a delay signal at most halves the estimate per interval', () => {
    const c = new BitrateController(CAP);
    for (let now = 0; now < 1000; now += 10) c.onPacket(abs(now), now + 20, 1200);
    expect(c.update(20_000, 0.5, 5000)).toBe(DELAY_START_BITRATE / 2);
    expect(c.update(20_000, 0.5, 5500)).toBe(DELAY_START_BITRATE / 4);
  });
});

describe('BitrateController (wire loss from sequence gaps)', () => {
  it('loss the producers no longer see (repaired by retransmission) still backs it off: sequence numbers skipped on the wire count', () => {
    const c = new BitrateController(CAP);
    let seq = 0;
    // 1 s with a quarter of the packets skipped (every fourth number never arrives first time round).
    for (let now = 0; now < 1000; now += 10) {
      seq += now % 40 === 0 ? 2 : 1;
      c.onPacket(abs(now), now + 20, 1200, 1111, seq & 0xffff);
    }
    // The producers report 1 % (after repairs): the wire's ~20 % counts, over 10 %, so it backs off.
    expect(c.update(800_000, 0.01, 5000)).toBeLessThan(DELAY_START_BITRATE);
  });

  it('duplicates, older packets and the wrap of the sequence number are no loss', () => {
    const c = new BitrateController(CAP);
    let now = 0;
    for (let i = 0; i < 100; i++, now += 10) {
      const seq = (65500 + i) & 0xffff; // wraps at i = 36
      c.onPacket(abs(now), now + 20, 1200, 2222, seq);
      if (i % 5 === 0) c.onPacket(abs(now), now + 20, 1200, 2222, seq); // a duplicate
      if (i % 7 === 0 && i > 0) c.onPacket(abs(now), now + 20, 1200, 2222, (seq - 3) & 0xffff); // an old one, late
    }
    expect(c.update(800_000, 0, 5000)).toBeGreaterThanOrEqual(DELAY_START_BITRATE);
  });
});
