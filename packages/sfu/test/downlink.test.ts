// Downlink on numbers: one client's subscriber connections share one estimate (fed by each
// connection's feedback) and one allocator (one budget for all their videos); a connection that
// leaves hands its share to the others; a downlink of one connection is what a lone transport has.

import { describe, expect, it, vi } from 'vitest';
import { UP_HOLD_MS } from '../src/allocator.js';
import type { PacketResult } from '../src/bandwidth-estimator.js';
import { ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback } from 'werift';
import { AudioRateHold, Downlink, INITIAL_DOWNLINK_ESTIMATE, STARTUP_HOLD_MAX_MS, STARTUP_HOLD_MS, STARTUP_PROBE_MAX, videoSteps, type DownlinkFeedback, type DownlinkMember } from '../src/downlink.js';
import { MAX_TEMPORAL_LAYER } from '../src/vp8-temporal.js';
import { TransportWideSequencer } from '../src/transport-feedback.js';
import { testConsumer, testVideoProducer } from './helpers.js';

/** A connection carrying one 3-layer camera (180/360/720 lines: 150 / 500 / 1,700 kbps by the nominal table). */
function cameraConnection(name: string, feedback: DownlinkFeedback = 'transport-cc'): DownlinkMember & { layer: () => number; remb: (bitrate: number) => void } {
  const producer = testVideoProducer({ id: `p-${name}`, rids: ['q', 'h', 'f'], streamId: `s-${name}` });
  const consumer = testConsumer({ id: `c-${name}`, producer, ssrc: 1000 + name.charCodeAt(0) });
  const remb = (bitrate: number): void =>
    consumer.handleRtcp(new RtcpPayloadSpecificFeedback({ feedback: new ReceiverEstimatedMaxBitrate({ bitrate: BigInt(bitrate), ssrcFeedbacks: [consumer.ssrc] }) }));
  return { consumers: [consumer], connected: true, sequencer: new TransportWideSequencer(), feedback, layer: () => consumer.bandwidthLayer, remb };
}

/** One client's downlink with two camera connections. */
function twoCameras() {
  const downlink = new Downlink();
  const a = cameraConnection('a');
  const b = cameraConnection('b');
  downlink.join(a);
  downlink.join(b);
  return { downlink, a, b };
}

/** `seconds` of two flows on one link of `linkKbps`: each connection's packets reported in its own feedback, 50 ms apart. */
function feed(downlink: Downlink, members: DownlinkMember[], kbpsEach: number, linkKbps: number, from: number, seconds: number): void {
  let free = from;
  const pending = members.map(() => [] as PacketResult[]);
  const seqs = members.map(() => 0);
  for (let t = from; t < from + seconds * 1000; t++) {
    members.forEach((member, i) => {
      if ((t + i * 11) % 20 === 0) {
        const size = Math.round((kbpsEach * 1000 * 0.02) / 8);
        const start = Math.max(t, free);
        free = start + (size * 8) / linkKbps;
        pending[i]!.push({ sentAt: t, size, receivedAt: free + 20, probe: 0, seq: seqs[i]++ });
      }
      if ((t - i * 50) % 100 === 0) {
        const ready = pending[i]!.filter((p) => p.receivedAt! <= t);
        pending[i] = pending[i]!.filter((p) => p.receivedAt! > t);
        if (ready.length > 0) downlink.onFeedback(member, ready, t);
      }
    });
  }
}

describe('Downlink', () => {
  it("feeds one estimate from every connection's feedback: what arrives is the client's whole downlink", () => {
    const { downlink, a, b } = twoCameras();
    expect(downlink.stats.sharedWith).toBe(1);
    feed(downlink, [a, b], 400, 5000, 0, 3);
    // Both connections' 400 kbps: one estimate sees 800 (each alone saw ~400).
    expect(downlink.stats.ackedBitrate!).toBeGreaterThan(720_000);
    expect(downlink.stats.ackedBitrate!).toBeLessThan(880_000);
    expect(downlink.stats.saturations).toBe(0);
  });

  it('shares one budget across the connections: the second camera gets what the first leaves; alone again, it gets the top layer', () => {
    const { downlink: shared, a, b } = twoCameras();
    // Before any feedback the estimate is 3 Mbps: the first camera's top layer (1.7 Mbps with
    // headroom: 1.96) fits, what is left (1.04) carries the second's 360-line layer (0.58).
    expect(INITIAL_DOWNLINK_ESTIMATE).toBe(3_000_000);
    shared.allocate(0);
    expect([a.layer(), b.layer()]).toEqual([2, 1]);
    // Each on a downlink of its own would take the top layer, twice over the link.
    const alone = [cameraConnection('c'), cameraConnection('d')];
    for (const member of alone) {
      const own = new Downlink();
      own.join(member);
      own.allocate(0);
    }
    expect(alone.map((m) => m.layer())).toEqual([2, 2]);
    // The first connection closes: the second has the budget, and steps up once it has held.
    expect(shared.leave(a)).toBe(false);
    expect(shared.stats.sharedWith).toBe(0);
    shared.allocate(250);
    shared.allocate(2500);
    expect(b.layer()).toBe(2);
    expect(shared.leave(b)).toBe(true);
  });

  it('holds a new client at the start-up cap: a weak link is cut meanwhile; with nothing to probe with, the hold lifts at its longest and the layers step up at once', () => {
    // The hold's clock is performance.now() (allocation rounds are given their time), held still
    // here: read before the joins, the hold began later on a loaded machine (the joins took over
    // 10 ms), and the round at its longest + 10 ms found it still held.
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      holdsANewClient();
    } finally {
      vi.useRealTimers();
    }
  });

  function holdsANewClient(): void {
    const t0 = performance.now();
    // Three cameras behind a good link: capped at first (the 180-line layers at their nominal
    // 150 kbps, and audio), no probe while held.
    const good = new Downlink();
    const cams = ['a', 'b', 'c'].map((name) => cameraConnection(name));
    for (const member of cams) good.join(member);
    good.connected();
    expect(cams.map((m) => m.layer())).toEqual([0, 0, 0]);
    expect(good.stats.estimate).toBe(INITIAL_DOWNLINK_ESTIMATE);
    good.allocate(t0 + STARTUP_HOLD_MS - 1);
    expect(good.stats.startupHeldMs).toBeNull();
    // Past the hold's length, but no video can pad yet (nothing sent, or no RTX): no probe to
    // show the link with, still held...
    good.allocate(t0 + STARTUP_HOLD_MS + 250);
    expect(good.stats.startupHeldMs).toBeNull();
    expect(cams.map((m) => m.layer())).toEqual([0, 0, 0]);
    // ...until its longest: lifted without a probe, as without the hold: 3 Mbps shared at once (no
    // up-hold), the first camera's top layer and what is left.
    good.allocate(t0 + STARTUP_HOLD_MAX_MS - 1);
    expect(good.stats.startupHeldMs).toBeNull();
    good.allocate(t0 + STARTUP_HOLD_MAX_MS + 10);
    expect(good.stats.startupHeldMs).toBeGreaterThanOrEqual(STARTUP_HOLD_MAX_MS);
    expect(cams.map((m) => m.layer())).toEqual([2, 1, 0]);
    expect(good.stats.probes).toBe(0);
    for (const member of cams) good.leave(member);
    // Two cameras behind 300 kbps: the media under the cap overfills it, and the overuse cuts the
    // estimate during the hold (halved at most per detection: little was sent) until it is the
    // link's; the allocation follows it under the cap.
    const { downlink: weak, a, b } = twoCameras();
    const t1 = Math.ceil(performance.now() / 100) * 100; // whole ms: feed's packets and reports fall on them
    weak.connected();
    feed(weak, [a, b], 300, 300, t1, 1.2);
    expect(weak.stats.cuts.length).toBeGreaterThan(0);
    expect(weak.stats.estimate).toBeLessThan(INITIAL_DOWNLINK_ESTIMATE);
    weak.allocate(t1 + STARTUP_HOLD_MS + 250);
    expect([a.layer(), b.layer()]).toEqual([0, 0]);
    feed(weak, [a, b], 300, 300, t1 + 1300, 2);
    weak.allocate(t1 + 3500);
    expect(weak.stats.estimate).toBeLessThan(400_000);
    expect(Math.max(a.layer(), b.layer())).toBe(0); // the second may be off: two 180-line layers and audio overfill 300 kbps
    // The hold's allocation rounds run on a timer: gone with the last member.
    weak.leave(a);
    expect(weak.leave(b)).toBe(true);
  }

  it('probes the link before lifting the start-up hold: a probe that reads nothing is sent again, then the hold lifts without stepping up at once', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'setTimeout', 'clearInterval', 'clearTimeout', 'performance'] });
    try {
      const downlink = new Downlink();
      const cams = ['a', 'b', 'c'].map((name) => cameraConnection(name));
      const padded: number[] = [];
      for (const member of cams) {
        downlink.join(member);
        const consumer = member.consumers[0]!;
        Object.defineProperty(consumer, 'canPad', { value: true });
        Object.defineProperty(consumer, 'sendPadding', { value: (count: number) => (padded.push(count), count * 255) });
      }
      downlink.connected();
      // The hold's length (its allocation rounds run on the media clock's timer meanwhile).
      await vi.advanceTimersByTimeAsync(STARTUP_HOLD_MS - 100);
      expect(downlink.stats.probes).toBe(0);
      await vi.advanceTimersByTimeAsync(260);
      // A probe at 1.4 Mbps at most (media and padding), not the 3.3 Mbps the estimate would share: held meanwhile.
      expect(downlink.stats.probes).toBe(1);
      expect(padded.length).toBeGreaterThan(0);
      expect(cams.map((m) => m.layer())).toEqual([0, 0, 0]);
      // No feedback came (a receiver that reports nothing): read as nothing, sent again.
      await vi.advanceTimersByTimeAsync(1000);
      expect(downlink.stats.lastProbe).toMatchObject({ target: STARTUP_PROBE_MAX, measured: null });
      expect(downlink.stats.startupHeldMs).toBeNull();
      downlink.allocate(performance.now());
      expect(downlink.stats.probes).toBe(2);
      await vi.advanceTimersByTimeAsync(1000);
      // Two read nothing: lifted, the allocator steps up only once the estimate has held.
      expect(downlink.stats.startupHeldMs).not.toBeNull();
      expect(cams.map((m) => m.layer())).toEqual([0, 0, 0]);
      downlink.allocate(performance.now() + UP_HOLD_MS + 250);
      expect(cams.map((m) => m.layer())[0]).toBe(2);
      for (const member of cams) downlink.leave(member);
    } finally {
      vi.useRealTimers();
    }
  });

  it("does not hold a client that sends no transport feedback at the initial estimate: its REMBs if it sends them, else no limit, and never a probe", () => {
    const downlink = new Downlink();
    const members = ['a', 'b', 'c'].map((name) => cameraConnection(name, 'remb-only'));
    for (const member of members) downlink.join(member);
    // Three top layers (~5.9 Mbps with headroom) where the initial 3 Mbps would carry one.
    downlink.allocate(0);
    expect(members.map((m) => m.layer())).toEqual([2, 2, 2]);
    expect(downlink.stats.feedback).toBe('none');
    // Its browser's REMBs, one per connection, add up to the client's link: 600 kbps in all
    // carries the three 180-line layers (0.17 each with headroom), not a 360-line one besides.
    for (const member of members) member.remb(200_000);
    downlink.allocate(250);
    expect(downlink.stats.feedback).toBe('remb');
    expect(members.map((m) => m.layer())).toEqual([0, 0, 0]);
    for (const member of members) member.remb(2_500_000);
    for (let t = 500; t <= 10_000; t += 250) downlink.allocate(t);
    expect(members.map((m) => m.layer())).toEqual([2, 2, 2]);
    expect(downlink.stats.probes).toBe(0);
    // A connection that takes transport-cc: the client's downlink is our estimate again.
    const estimated = cameraConnection('d');
    downlink.join(estimated);
    expect(downlink.stats.feedback).toBe('transport-cc');
    expect(downlink.stats.estimate).toBe(INITIAL_DOWNLINK_ESTIMATE);
  });
});

describe('videoSteps', () => {
  const layer = (index: number, height: number, steadyBitrate: number, byteShares: number[]) => ({ index, rid: '', ssrc: index + 1, width: (height * 16) / 9, height, bitrate: steadyBitrate, steadyBitrate, active: true, frameRates: [], byteShares });
  const producer = (byteShares: number[][]) => ({
    layers: [layer(0, 180, 250_000, byteShares[0]!), layer(1, 360, 600_000, byteShares[1]!), layer(2, 720, 1_800_000, byteShares[2]!)],
    layerFlowing: () => true,
  });

  it('puts the lowest layer at fewer temporal layers below it at its full frame rate, and the preferred layer above them', () => {
    const steps = videoSteps({ producer: producer([[0.4, 0.6, 1], [0.4, 0.6, 1], [0.4, 0.6, 1]]) as never, temporalFiltering: true, preferredLayer: 1 });
    expect(steps.rates.map((r) => Math.round(r / 1000))).toEqual([100, 150, 250, 600, 1800]);
    expect(steps.layers).toEqual([
      { spatial: 0, temporal: 0 },
      { spatial: 0, temporal: 1 },
      { spatial: 0, temporal: MAX_TEMPORAL_LAYER },
      { spatial: 1, temporal: MAX_TEMPORAL_LAYER },
      { spatial: 2, temporal: MAX_TEMPORAL_LAYER },
    ]);
    expect(steps.preferred).toBe(3);
    expect(steps.onStep).toBe(2);
  });

  it("takes another layer's shares while the lowest is not measured, floors a share near 0, and has spatial steps only without temporal filtering", () => {
    const borrowed = videoSteps({ producer: producer([[], [0.01, 0.5, 1], [0.4, 0.6, 1]]) as never, temporalFiltering: true, preferredLayer: 2 });
    expect(borrowed.rates.map((r) => Math.round(r / 1000))).toEqual([50, 125, 250, 600, 1800]);
    expect(borrowed.preferred).toBe(4);
    const spatialOnly = videoSteps({ producer: producer([[0.4, 0.6, 1], [0.4, 0.6, 1], [0.4, 0.6, 1]]) as never, temporalFiltering: false, preferredLayer: 2 });
    expect(spatialOnly.layers.map((l) => l.spatial)).toEqual([0, 1, 2]);
    expect(spatialOnly.preferred).toBe(2);
    expect(spatialOnly.onStep).toBe(0);
  });
});

describe('AudioRateHold', () => {
  it('counts an audio stream at 40 kbps until measured, then at the most it sent over ~10 s: a pause does not free its room at once, more is counted at once', () => {
    const hold = new AudioRateHold();
    expect(hold.rate(0, 0)).toBe(40_000); // the first second: not measured yet
    expect(hold.rate(25_000, 1000)).toBe(25_000); // Chromium's Opus in the impairment bench (was counted at 40 kbps)
    expect(hold.rate(2_000, 2000)).toBe(25_000); // a pause (DTX): held
    expect(hold.rate(2_000, 11_000)).toBe(25_000);
    expect(hold.rate(2_000, 11_500)).toBe(2_000); // held 10 s, then what it sends
    expect(hold.rate(38_000, 12_000)).toBe(38_000); // speech again: at once
    expect(hold.rate(30_000, 13_000)).toBe(38_000);
  });
});
