// The downlink loop on numbers: the estimator, the allocator and the probe scheduler/pacer as the
// subscriber transport wires them, driven by simulated transport feedback from a bottleneck link
// (a rate, 20 ms one way, a 300 ms drop-tail queue, as tbf in the Chromium test). A subscriber
// takes a 3-layer camera and audio; its link goes from 5 Mbps to 100 kbps (the video must go off
// within a second, a warning first, with probes every 2.5 s while it is off) and back (the video
// must come back within seconds, then climb a layer at a time to the top); or to 500 kbps (layer 0)
// and back to a link with little room over the top layer (the top layer within 10 s). No network,
// no timers.

import { describe, expect, it } from 'vitest';
import { DownlinkAllocator, type VideoSlot } from '../src/allocator.js';
import { BandwidthEstimator, type PacketResult } from '../src/bandwidth-estimator.js';
import { PADDING_PACKET_BYTES } from '../src/consumer.js';
import { PROBE_OFF_INTERVAL_MS, probeRate, ProbePacer, ProbeScheduler } from '../src/probe-pacer.js';
import { PROBE_DURATION_MS, PROBE_OFF_DURATION_MS, probeDuration } from '../src/downlink.js';
import { BucketLink } from './bottleneck.js';

class Link {
  #free = 0;
  constructor(public rate: number) {}
  send(t: number, size: number): number | null {
    const start = Math.max(t, this.#free);
    if (start - t > 300) return null; // tail drop
    this.#free = start + (size * 8 * 1000) / this.rate;
    return this.#free + 20;
  }
}

const camera: VideoSlot = { rates: [150_000, 500_000, 1_700_000], preferred: 2, screen: false, fallback: true };
const AUDIO = 50_000;

interface Run {
  timeline: { t: number; layer: number; warning: boolean }[];
  probeStarts: number[];
  audioLostAt: number[];
}

/**
 * 40 s of the loop as the subscriber transport wires it: the link at 5 Mbps, `limit` from 10 s,
 * `lifted` from 20 s. A probe that succeeds raises the estimate to what its step needs.
 */
function simulate(limit: number, lifted: number, link: Link | BucketLink = new Link(5_000_000)): Run {
  const est = new BandwidthEstimator({ initial: 3_000_000 });
  const alloc = new DownlinkAllocator();
  const sched = new ProbeScheduler();
  const sent: (PacketResult & { audio: boolean })[] = [];
  let seq = 0;
  // What the active probe's cluster has sent (media and padding), as the sequencer counts it.
  let clusterBytes = 0;
  const send = (t: number, size: number, probe: number, audio = false): void => {
    if (probe !== 0) clusterBytes += size;
    sent.push({ sentAt: t, size, receivedAt: link.send(t, size), probe, seq: seq++, audio });
  };
  let layer = 2;
  let warning = false;
  const timeline: { t: number; layer: number; warning: boolean }[] = [];
  let probe: { id: number; pacer: ProbePacer; rate: number; wanted: number; readAt: number; off: boolean } | null = null;
  let probeIds = 0;
  const probeStarts: number[] = [];
  let probed = false;
  let reported = 0;
  const audioLostAt: number[] = [];
  for (let t = 0; t <= 40_000; t++) {
    if (t === 10_000) link.rate = limit;
    if (t === 20_000) link.rate = lifted;
    const active = probe !== null && t < probe.pacer.startedAt + probe.pacer.durationMs ? probe.id : 0;
    if (t % 20 === 0) send(t, 120, active, true); // Opus, 50 packets a second
    if (t % 33 === 0 && layer >= 0) {
      for (let left = camera.rates[layer]! / 8 / 30; left > 0; left -= 1200) send(t, Math.min(1200, Math.max(100, left)), active);
    }
    if (probe !== null) {
      // Padding stops once a saturation shows during the probe (as the downlink's pacing does).
      const due = t < probe.pacer.startedAt + probe.pacer.durationMs && est.lastSaturationAt <= probe.pacer.startedAt ? probe.pacer.packetsDue(t, clusterBytes) : 0;
      for (let i = 0; i < due; i++) send(t, PADDING_PACKET_BYTES, probe.id);
      probe.pacer.sent(due * PADDING_PACKET_BYTES);
      if (t >= probe.readAt) {
        // As the transport reads it: a saturation cut during it is a failure; most of its padding must have arrived.
        const saturated = est.lastSaturationAt > probe.pacer.startedAt;
        const padding = Math.round(probe.pacer.sentBytes / PADDING_PACKET_BYTES);
        const measured = saturated ? null : est.finishProbe(probe.id, t, { minPackets: Math.round(padding * 0.5), minSendSpanMs: probe.pacer.durationMs * 0.3 });
        const ok = measured !== null && (measured >= probe.rate * 0.85 || measured >= probe.wanted);
        if (ok) est.raiseTo(probe.wanted, t);
        sched.finished(t, probe.pacer.startedAt, ok, probe.off);
        probed = ok;
        probe = null;
      }
    }
    if (t % 100 === 0) {
      // Feedback: what arrived by now, and losses once a later packet arrived (as a browser reports them).
      let last = reported;
      for (let i = reported; i < sent.length; i++) if (sent[i]!.receivedAt !== null && sent[i]!.receivedAt! <= t) last = i + 1;
      const batch = sent.slice(reported, last).filter((p) => p.receivedAt === null || p.receivedAt <= t);
      for (const p of batch) if (p.audio && p.receivedAt === null) audioLostAt.push(p.sentAt);
      reported = last;
      if (batch.length > 0) est.onFeedback(batch, t);
    }
    if (t % 250 === 0) {
      const [d] = alloc.update(t, est.estimate, AUDIO, [camera], probed);
      probed = false;
      layer = d!.layer;
      warning = d!.warning;
      timeline.push({ t, layer, warning });
      const wanted = DownlinkAllocator.nextStep(AUDIO, [camera], [d!]);
      if (probe === null && sched.due(t, wanted, est.estimate, est.usage === 'overusing', est.lastDecreaseAt)) {
        const off = layer < 0;
        const rate = probeRate(wanted!);
        const duration = probeDuration(rate, est.estimate, off ? PROBE_OFF_DURATION_MS : PROBE_DURATION_MS);
        clusterBytes = 0;
        probe = { id: ++probeIds, pacer: new ProbePacer(rate, duration, t, PADDING_PACKET_BYTES), rate, wanted: wanted!, readAt: t + duration + 500, off };
        probeStarts.push(t);
      }
    }
  }
  return { timeline, probeStarts, audioLostAt };
}

const at = (timeline: Run['timeline'], from: number, test: (e: { layer: number; warning: boolean }) => boolean): number => timeline.find((e) => e.t >= from && test(e))!.t - from;

describe('downlink loop', () => {
  it('100 kbps: video off within a second (warning first), probes every 2.5 s; lifted: back on within seconds, then the top layer', () => {
    const { timeline, probeStarts, audioLostAt } = simulate(100_000, 5_000_000);
    const offAfter = at(timeline, 10_000, (e) => e.layer < 0);
    const warnedAfter = at(timeline, 10_000, (e) => e.warning);
    const onAfter = at(timeline, 20_000, (e) => e.layer >= 0);
    const topAfter = at(timeline, 20_000, (e) => e.layer === 2);
    const offProbes = probeStarts.filter((t) => t > 10_000 + offAfter && t < 20_000);
    console.log(`downlink loop: off ${offAfter} ms after the 100 kbps limit (warning ${warnedAfter} ms); probes while off at ${offProbes.map((t) => t - 10_000).join(', ')} ms; back on ${onAfter} ms after the lift, top layer ${topAfter} ms; audio packets lost while limited: ${audioLostAt.filter((t) => t >= 10_000 && t < 20_000).length}`);
    expect(offAfter).toBeLessThanOrEqual(1000);
    // Once the queue the video built has drained, the probes while off cost the audio nothing (no drop).
    expect(audioLostAt.filter((t) => t >= 10_000 + offAfter + 1000 && t < 20_000)).toEqual([]);
    expect(warnedAfter).toBeLessThanOrEqual(offAfter);
    expect(offProbes.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < offProbes.length; i++) expect(offProbes[i]! - offProbes[i - 1]!).toBeLessThanOrEqual(PROBE_OFF_INTERVAL_MS + 250);
    // Not back on while limited; back within one probe interval (and its read) of the lift, then the top layer.
    expect(timeline.filter((e) => e.t > 10_000 + offAfter && e.t < 20_000).every((e) => e.layer < 0)).toBe(true);
    expect(onAfter).toBeLessThanOrEqual(PROBE_OFF_INTERVAL_MS + 1500);
    expect(topAfter).toBeLessThanOrEqual(10_000);
    expect(timeline.filter((e) => e.t > 20_000 + topAfter).every((e) => e.layer === 2)).toBe(true);
  });

  it("100 kbps through a token bucket (tbf, 3.2 kB): the bucket's bursts neither clear the measured capacity nor bring the video back on while limited", () => {
    const { timeline, probeStarts } = simulate(100_000, 5_000_000, new BucketLink(5_000_000));
    const offAfter = at(timeline, 10_000, (e) => e.layer < 0);
    const limited = timeline.filter((e) => e.t > 10_000 + offAfter && e.t < 20_000);
    const backOn = limited.filter((e) => e.layer >= 0).map((e) => e.t - 10_000);
    console.log(`downlink loop, 3.2 kB bucket: off ${offAfter} ms after the 100 kbps limit; probes while off at ${probeStarts.filter((t) => t > 10_000 + offAfter && t < 20_000).map((t) => t - 10_000).join(', ')} ms; on while limited at ${backOn.join(', ') || 'never'} ms; back on ${at(timeline, 20_000, (e) => e.layer >= 0)} ms after the lift`);
    expect(offAfter).toBeLessThanOrEqual(1000);
    expect(backOn).toEqual([]);
    expect(at(timeline, 20_000, (e) => e.layer >= 0)).toBeLessThanOrEqual(PROBE_OFF_INTERVAL_MS + 1500);
  });

  it('500 kbps, then a link with little room over the top layer: a probe that shows 85 % of its rate takes the step, and the top layer is back within 10 s', () => {
    // The top layer and audio need (1.7 Mbps + 50 kbps) with headroom ~2 Mbps; a probe tests 1.1 × that, and a
    // 2.05 Mbps link reads it at ~2.04 Mbps: a success, but 0.95 × the measured rate is under the need, and the
    // estimate's own growth stops at 1.5 × what layer 1 carries. Without raising the estimate to the step's need,
    // six probes in a row "succeeded" and the top layer took 16.5 s; the probes that failed while limited had
    // also pushed the next one up to 16 s away before the wait was capped at 5 s.
    const { timeline } = simulate(500_000, 2_050_000);
    const limitedLayer = timeline.filter((e) => e.t >= 15_000 && e.t < 20_000).map((e) => e.layer);
    const topAfter = at(timeline, 20_000, (e) => e.layer === 2);
    console.log(`downlink loop, 500 kbps then 2.05 Mbps: layers while limited ${[...new Set(limitedLayer)].join(',')}; top layer ${topAfter} ms after the lift`);
    expect(Math.max(...limitedLayer)).toBeLessThanOrEqual(1);
    expect(topAfter).toBeLessThanOrEqual(10_000);
    expect(timeline.filter((e) => e.t > 20_000 + topAfter + 1000).every((e) => e.layer === 2)).toBe(true);
  });
});
