// Downlink probes on numbers: a probe is sized by bytes (rate × duration, whatever the timer does;
// its padding tops up the media sent meanwhile), and the probe cadence: the next step soon after a success, backing off after a
// failure, except while a video is off for quality (a probe every PROBE_OFF_INTERVAL_MS).

import { describe, expect, it } from 'vitest';
import { PADDING_PACKET_BYTES } from '../src/consumer.js';
import {
  PROBE_AFTER_DECREASE_MS,
  PROBE_MAX_INTERVAL_MS,
  PROBE_MIN_INTERVAL_MS,
  PROBE_OFF_INTERVAL_MS,
  PROBE_STEP_INTERVAL_MS,
  PROBE_CLIMB_INTERVAL_MS,
  ProbePacer,
  ProbeScheduler,
} from '../src/probe-pacer.js';
import { PROBE_DURATION_MS, PROBE_EXCESS_MS, PROBE_MIN_BYTES, PROBE_MIN_DURATION_MS, PROBE_OFF_DURATION_MS, probeDuration, probeOutcome } from '../src/downlink.js';
import { TransportWideSequencer } from '../src/transport-feedback.js';

/** Drives a pacer with timer ticks at `ticks` (ms after its start); returns the bytes sent and when the last went. */
function run(pacer: ProbePacer, ticks: number[]): { bytes: number; lastAt: number; packets: number } {
  let lastAt = -1;
  let packets = 0;
  for (const t of ticks) {
    const now = pacer.startedAt + t;
    const due = pacer.packetsDue(now);
    if (due > 0) {
      pacer.sent(due * pacer.packetBytes);
      packets += due;
      lastAt = t;
    }
    if (pacer.done(now)) break;
  }
  return { bytes: pacer.sentBytes, lastAt, packets };
}

describe('probe padding sized by bytes', () => {
  it('sends rate × duration in bytes (within one packet), paced over the duration, at 150 kbps and at 2.2 Mbps', () => {
    for (const [rate, ms] of [
      [190_000, PROBE_OFF_DURATION_MS],
      [2_200_000, PROBE_DURATION_MS],
    ] as const) {
      const pacer = new ProbePacer(rate, ms, 1000, PADDING_PACKET_BYTES);
      expect(pacer.totalBytes).toBe(Math.round((rate * ms) / 8000));
      const ticks = Array.from({ length: 100 }, (_, i) => i * 20);
      const { bytes, lastAt } = run(pacer, ticks);
      expect(Math.abs(bytes - pacer.totalBytes)).toBeLessThanOrEqual(PADDING_PACKET_BYTES / 2);
      // Paced: the last padding goes out at the end of the probe (its last 20 ms slice), not at its start.
      expect(lastAt).toBeGreaterThanOrEqual(ms - 20);
      expect(lastAt).toBeLessThanOrEqual(ms + 20);
      // Halfway through, about half was sent.
      const half = new ProbePacer(rate, ms, 0, PADDING_PACKET_BYTES);
      half.sent(half.packetsDue(ms / 2) * PADDING_PACKET_BYTES);
      expect(half.sentBytes / half.totalBytes).toBeGreaterThan(0.45);
      expect(half.sentBytes / half.totalBytes).toBeLessThan(0.55);
    }
  });

  it('a late timer (a busy event loop) catches up, but never beyond the probe’s bytes; nothing after its time', () => {
    const pacer = new ProbePacer(400_000, 250, 0, PADDING_PACKET_BYTES);
    // Ticks at 0, then nothing until 600 ms (long after the probe's end).
    const { bytes, packets } = run(pacer, [0, 600, 700]);
    expect(Math.abs(bytes - pacer.totalBytes)).toBeLessThanOrEqual(PADDING_PACKET_BYTES / 2);
    expect(packets).toBe(Math.round(pacer.totalBytes / PADDING_PACKET_BYTES));
    expect(pacer.done(600)).toBe(true);
    expect(pacer.packetsDue(10_000)).toBe(0);
    // Not a packet count: twice the rate is twice the bytes.
    expect(new ProbePacer(800_000, 250, 0, PADDING_PACKET_BYTES).totalBytes).toBe(2 * pacer.totalBytes);
  });

  it('media sent in the cluster counts: the padding tops the cluster up to the probe rate (the sequencer counts both)', () => {
    const sequencer = new TransportWideSequencer();
    sequencer.next(1200, 0); // before the probe: not in its cluster
    const pacer = new ProbePacer(800_000, 400, 0, PADDING_PACKET_BYTES); // 40 kB in all
    sequencer.beginProbe(7);
    const pad = (now: number): void => {
      const due = pacer.packetsDue(now, sequencer.probeBytes);
      for (let i = 0; i < due; i++) sequencer.next(PADDING_PACKET_BYTES, now, 7);
      pacer.sent(due * PADDING_PACKET_BYTES);
    };
    // A keyframe of 15 kB at 100 ms: more than the 10 kB owed by then, so no padding.
    for (let i = 0; i < 12; i++) sequencer.next(1250, 100);
    pad(100);
    expect(pacer.sentBytes).toBe(0);
    expect(sequencer.probeBytes).toBe(15_000);
    // By 400 ms the padding has made up the rest of the 40 kB, within a packet.
    for (let t = 120; t <= 400; t += 20) {
      if (t % 40 === 0) sequencer.next(300, t); // audio and small frames keep flowing
      pad(t);
    }
    expect(Math.abs(sequencer.probeBytes - pacer.totalBytes)).toBeLessThanOrEqual(PADDING_PACKET_BYTES / 2);
    expect(pacer.done(400, sequencer.probeBytes)).toBe(true);
    // The next probe starts counting afresh.
    sequencer.beginProbe(8);
    expect(sequencer.probeBytes).toBe(0);
  });
});

describe('probe cadence', () => {
  it('while a video is off for quality: a probe every PROBE_OFF_INTERVAL_MS from the start of the last, however many fail', () => {
    const s = new ProbeScheduler();
    let start = 10_000;
    const starts: number[] = [];
    for (let t = start; t < 40_000; t += 50) {
      // The link carries 85 kbps; the lowest layer and audio want 245k; the last decrease long ago.
      if (s.due(t, 245_000, 85_000, false, 0)) {
        starts.push(t);
        start = t;
        s.finished(t + 750, start, false, true); // read 750 ms later: fell short
        t += 750;
      }
    }
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    expect(starts.length).toBeGreaterThanOrEqual(11);
    for (const gap of gaps) expect(gap).toBe(PROBE_OFF_INTERVAL_MS);
  });

  it('with video on: the wait doubles after each failure (up to 3 s); after a success the next step comes soon', () => {
    const s = new ProbeScheduler();
    expect(s.due(0, 1_000_000, 500_000, false, -Infinity)).toBe(true);
    s.finished(1000, 0, false, false);
    expect(s.nextAt).toBe(1000 + Math.min(2 * PROBE_MIN_INTERVAL_MS, PROBE_MAX_INTERVAL_MS));
    s.finished(6000, 5000, false, false);
    expect(s.nextAt).toBe(6000 + Math.min(4 * PROBE_MIN_INTERVAL_MS, PROBE_MAX_INTERVAL_MS));
    expect(PROBE_MAX_INTERVAL_MS).toBeLessThanOrEqual(3000);
    for (let i = 0; i < 5; i++) s.finished(20_000, 19_000, false, false);
    expect(s.nextAt).toBe(20_000 + PROBE_MAX_INTERVAL_MS);
    s.finished(30_000, 29_000, true, false);
    expect(s.nextAt).toBe(30_000 + PROBE_STEP_INTERVAL_MS);
    // One that showed far more than the estimate (a limit lifted): the climb's next one at once.
    s.finished(31_000, 30_500, true, false, true);
    expect(s.nextAt).toBe(31_000 + PROBE_CLIMB_INTERVAL_MS);
    expect(PROBE_CLIMB_INTERVAL_MS).toBeLessThan(PROBE_STEP_INTERVAL_MS);
    // Nothing wanted beyond the estimate, an overuse, or a recent decrease: no probe.
    expect(s.due(40_000, null, 500_000, false, 0)).toBe(false);
    expect(s.due(40_000, 400_000, 500_000, false, 0)).toBe(false);
    expect(s.due(40_000, 1_000_000, 500_000, true, 0)).toBe(false);
    expect(s.due(40_000, 1_000_000, 500_000, false, 40_000 - PROBE_AFTER_DECREASE_MS + 1)).toBe(false);
    expect(s.due(40_000, 1_000_000, 500_000, false, 40_000 - PROBE_AFTER_DECREASE_MS)).toBe(true);
  });
});

describe('probe outcome', () => {
  it('succeeds at 85 % of its rate or the step it tested; one that could not send its rate but got all it sent through is unsent, not failed', () => {
    // After a lift: a 1,858 kbps probe for a step needing 1,690 whose pacing stalled sent 1,303, all received, no queue.
    const sent = { sendRate: 1_303_000, recvRate: 1_301_000, queued: false };
    expect(probeOutcome(1_858_000, 1_690_000, 1_301_000, sent)).toBe('unsent');
    // The same sending through a link that queued it, or lost a share of it: the link fell short.
    expect(probeOutcome(1_858_000, 1_690_000, 1_100_000, { ...sent, recvRate: 1_100_000, queued: true })).toBe('failed');
    expect(probeOutcome(1_858_000, 1_690_000, 1_150_000, { ...sent, recvRate: 1_150_000 })).toBe('failed');
    // It sent its rate and the link carried 70 % of it: failed, whatever the pacing.
    expect(probeOutcome(1_858_000, 1_690_000, 1_300_000, { sendRate: 1_850_000, recvRate: 1_300_000, queued: true })).toBe('failed');
    expect(probeOutcome(1_858_000, 1_690_000, 1_600_000, { sendRate: 1_850_000, recvRate: 1_600_000, queued: true })).toBe('succeeded');
    expect(probeOutcome(1_858_000, 1_690_000, 1_700_000, null)).toBe('succeeded'); // the step's need
    expect(probeOutcome(1_858_000, 1_690_000, null, null)).toBe('failed');
  });
});

describe('probe duration', () => {
  it('is shortened far above the estimate so that what it sends over the estimate is PROBE_EXCESS_MS of the estimate, never under PROBE_MIN_DURATION_MS', () => {
    // Two 320 px streams under a 500 kbps link (estimate 350), probing for the next layer at 890 kbps.
    expect(probeDuration(890_000, 350_000, PROBE_DURATION_MS)).toBe(PROBE_MIN_DURATION_MS);
    // A video off for quality, probed at 743 kbps on an estimate of 400: 175 ms, its excess 60 kbit (150 ms of 400 kbps).
    const off = probeDuration(743_000, 400_000, PROBE_OFF_DURATION_MS);
    expect(off).toBe(175);
    expect(((743_000 - 400_000) * off) / 1000).toBeCloseTo((400_000 * PROBE_EXCESS_MS) / 1000, -3);
    // Close to the estimate (the climb back on a free link) or under it: full length.
    expect(probeDuration(1_650_000, 1_500_000, PROBE_DURATION_MS)).toBe(PROBE_DURATION_MS);
    expect(probeDuration(300_000, 400_000, PROBE_OFF_DURATION_MS)).toBe(PROBE_OFF_DURATION_MS);
    // A video off at a 100 kbps limit (estimate 78), probed at 253 kbps: not 100 ms (3.2 kB, a tbf
    // bucket's worth, passed at line rate), but PROBE_MIN_BYTES' worth (190 ms), within its 200;
    // never past its full length.
    const small = probeDuration(253_000, 78_000, PROBE_OFF_DURATION_MS);
    expect(small).toBe(Math.round((PROBE_MIN_BYTES * 8000) / 253_000));
    expect((253_000 * small) / 8000).toBeGreaterThanOrEqual(PROBE_MIN_BYTES - 10);
    expect(probeDuration(201_000, 78_000, PROBE_OFF_DURATION_MS)).toBe(PROBE_OFF_DURATION_MS);
  });
});
