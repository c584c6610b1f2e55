// The publisher audio fallback's state machine (src/audio-fallback.ts) fed with synthetic uplink
// samples, one a second as the Publisher feeds it, and the stats reading it is fed from.

import { describe, expect, it } from 'vitest';
import { AudioFallbackMachine, uplinkSample, type AudioFallbackEvent, type UplinkSample } from '../src/audio-fallback.js';

const GOOD = { availableOutgoingBitrate: 1_500_000, lossFraction: 0, videoSending: true };
const BAD = { availableOutgoingBitrate: 70_000, lossFraction: 0.02, videoSending: true };

/** Feeds one sample a second from `from` (ms) for `seconds`; returns each second's events. */
function run(machine: AudioFallbackMachine, from: number, seconds: number, sample: Omit<UplinkSample, 'at'>): Array<{ at: number; events: AudioFallbackEvent[]; video: string }> {
  const out = [];
  for (let i = 0; i < seconds; i++) {
    const at = from + i * 1000;
    const step = machine.feed({ ...sample, at });
    out.push({ at, ...step });
  }
  return out;
}

const eventsOf = (steps: Array<{ events: AudioFallbackEvent[] }>) => steps.flatMap((s) => s.events);

describe('AudioFallbackMachine', () => {
  it('stays on while the uplink carries the lowest layer', () => {
    const m = new AudioFallbackMachine();
    const steps = run(m, 0, 30, GOOD);
    expect(eventsOf(steps)).toEqual([]);
    expect(steps.every((s) => s.video === 'all')).toBe(true);
    expect(m.state).toBe('ok');
  });

  it('warns after 2 s of a bad uplink, disables after 3 s more, and the video goes off', () => {
    const m = new AudioFallbackMachine();
    run(m, 0, 5, GOOD);
    const steps = run(m, 5000, 10, BAD);
    const warning = steps.find((s) => s.events.includes('videoDisableWarning'));
    const disabled = steps.find((s) => s.events.includes('videoDisabled'));
    expect(warning?.at).toBe(7000);
    expect(disabled?.at).toBe(10000);
    expect(eventsOf(steps)).toEqual(['videoDisableWarning', 'videoDisabled']);
    expect(disabled?.video).toBe('none');
    expect(m.videoDisabled).toBe(true);
  });

  it('lifts the warning when the uplink recovers before the video goes off', () => {
    const m = new AudioFallbackMachine();
    const bad = run(m, 0, 3, BAD);
    expect(eventsOf(bad)).toEqual(['videoDisableWarning']);
    const good = run(m, 3000, 4, GOOD);
    expect(eventsOf(good)).toEqual(['videoDisableWarningLifted']);
    expect(good.every((s) => s.video === 'all')).toBe(true);
    expect(m.state).toBe('ok');
  });

  it('a short dip does not warn (the bad time must be continuous)', () => {
    const m = new AudioFallbackMachine();
    const steps = [...run(m, 0, 1, BAD), ...run(m, 1000, 1, GOOD), ...run(m, 2000, 1, BAD), ...run(m, 3000, 1, GOOD), ...run(m, 4000, 2, BAD)];
    expect(eventsOf(steps)).toEqual([]);
  });

  it('each signal alone makes the uplink bad: the estimate, loss, a bandwidth-limited encoder far below the lowest layer', () => {
    const m = new AudioFallbackMachine();
    expect(m.isBad({ at: 0, availableOutgoingBitrate: 100_000, videoSending: true })).toBe(true);
    expect(m.isBad({ at: 0, availableOutgoingBitrate: 2_000_000, lossFraction: 0.2, videoSending: true })).toBe(true);
    expect(m.isBad({ at: 0, bandwidthLimited: true, targetBitrate: 50_000, videoSending: true })).toBe(true);
    expect(m.isBad({ at: 0, bandwidthLimited: true, targetBitrate: 400_000, videoSending: true })).toBe(false);
    expect(m.isBad({ at: 0, availableOutgoingBitrate: 400_000, lossFraction: 0.05, videoSending: true })).toBe(false);
    // Without an estimate a probe cannot be judged good.
    expect(m.isGood({ at: 0, videoSending: true })).toBe(false);
  });

  it('does not judge while no video is sent (every layer paused by the SFU)', () => {
    const m = new AudioFallbackMachine();
    const steps = run(m, 0, 20, { ...BAD, videoSending: false });
    expect(eventsOf(steps)).toEqual([]);
    expect(m.state).toBe('ok');
  });

  it('while off, probes the lowest layer, and the video comes back when the probe shows a good uplink', () => {
    const m = new AudioFallbackMachine();
    run(m, 0, 6, BAD);
    expect(m.state).toBe('off');
    // The uplink recovered; while off, only audio flows and the estimate says nothing yet.
    const off = run(m, 6000, 3, { videoSending: false, availableOutgoingBitrate: 60_000 });
    expect(off.every((s) => s.video === 'none')).toBe(true);
    const probe = run(m, 9000, 1, { videoSending: false, availableOutgoingBitrate: 60_000 });
    expect(probe[0]?.video).toBe('lowest');
    const steps = run(m, 10000, 5, { ...GOOD, availableOutgoingBitrate: 400_000 });
    const enabled = steps.find((s) => s.events.includes('videoEnabled'));
    // Good from 1.5 s into the probe (11 s; the probe's first moments say nothing), for 3 s.
    expect(enabled?.at).toBe(14000);
    expect(enabled?.video).toBe('all');
    expect(eventsOf(steps)).toEqual(['videoEnabled']);
    expect(m.state).toBe('ok');
  });

  it('a failed probe goes off again and the next probe waits twice as long (capped)', () => {
    const m = new AudioFallbackMachine({ probeIntervalMs: 4000, probeMaxMs: 6000, probeIntervalMaxMs: 10_000 });
    run(m, 0, 6, BAD); // off at 5000: first probe at 9000
    // Probes that never show a good uplink (no estimate) nor a bad one last probeMaxMs.
    const steps = run(m, 6000, 60, { videoSending: true, lossFraction: 0 });
    const probeStarts = steps.filter((s, i) => s.video === 'lowest' && steps[i - 1]?.video === 'none').map((s) => s.at);
    // Probes at 9 s (lasts 6 s, off at 15 s), then 8 s later (23 s, off at 29 s), then capped at 10 s (39 s, 55 s).
    expect(probeStarts).toEqual([9000, 23000, 39000, 55000]);
    // Probes on a lossy uplink end 1.5 s in (at the 2 s sample): 9 s (off at 11 s), 19 s, then every 12 s (10 s capped + 2 s).
    const bad = new AudioFallbackMachine({ probeIntervalMs: 4000, probeMaxMs: 6000, probeIntervalMaxMs: 10_000 });
    run(bad, 0, 6, BAD);
    const badSteps = run(bad, 6000, 50, { ...BAD, lossFraction: 0.3 });
    expect(badSteps.filter((s, i) => s.video === 'lowest' && badSteps[i - 1]?.video === 'none').map((s) => s.at)).toEqual([9000, 19000, 31000, 43000, 55000]);
    expect(eventsOf(steps)).toEqual([]);
    expect(m.videoDisabled).toBe(true);
  });

  it('a probe that hears of heavy loss 1.5 s in ends at once (the audio must not be crowded out); a low estimate alone does not end it', () => {
    const lossy = new AudioFallbackMachine({ probeIntervalMs: 4000, probeMaxMs: 6000, probeAbortAfterMs: 1500 });
    run(lossy, 0, 6, BAD); // off at 5000: first probe at 9000
    const steps = run(lossy, 6000, 8, { ...BAD, lossFraction: 0.5 });
    // Probing from 9 s; at 11 s it is 2 s old (past 1.5 s) and still lossy: off again.
    expect(steps.filter((s) => s.video === 'lowest').map((s) => s.at)).toEqual([9000, 10000]);
    expect(steps.find((s) => s.at === 11000)?.video).toBe('none');

    const falling = new AudioFallbackMachine({ probeIntervalMs: 4000, probeMaxMs: 6000, probeAbortAfterMs: 1500 });
    run(falling, 0, 6, BAD);
    run(falling, 6000, 3, { videoSending: false, availableOutgoingBitrate: 80_000 });
    expect(falling.feed({ at: 9000, videoSending: false, availableOutgoingBitrate: 80_000 }).video).toBe('lowest');
    // The estimate starts low (after a failed probe) and climbs: the probe goes on, and brings the video back.
    expect(falling.feed({ at: 10000, videoSending: true, availableOutgoingBitrate: 70_000, lossFraction: 0 }).video).toBe('lowest');
    expect(falling.feed({ at: 11000, videoSending: true, availableOutgoingBitrate: 120_000, lossFraction: 0 }).video).toBe('lowest');
    expect(eventsOf(run(falling, 12000, 4, { videoSending: true, availableOutgoingBitrate: 400_000, lossFraction: 0 }))).toEqual(['videoEnabled']);

    // A recovered link: the estimate falls from where it drifted with audio alone (900 kbps) to what
    // the link carries (600 kbps), which is plenty: videoEnabled.
    const settling = new AudioFallbackMachine({ probeIntervalMs: 4000, probeAbortAfterMs: 1500 });
    run(settling, 0, 6, BAD);
    run(settling, 6000, 3, { videoSending: false, availableOutgoingBitrate: 900_000, lossFraction: 0 });
    settling.feed({ at: 9000, videoSending: false, availableOutgoingBitrate: 900_000, lossFraction: 0 });
    expect(eventsOf(run(settling, 10000, 5, { videoSending: true, availableOutgoingBitrate: 600_000, lossFraction: 0 }))).toEqual(['videoEnabled']);

    // A rising estimate on a recovered link goes on to videoEnabled.
    const rising = new AudioFallbackMachine({ probeIntervalMs: 4000, probeAbortAfterMs: 1500 });
    run(rising, 0, 6, BAD);
    run(rising, 6000, 3, { videoSending: false, availableOutgoingBitrate: 80_000 });
    rising.feed({ at: 9000, videoSending: false, availableOutgoingBitrate: 80_000 });
    const up = run(rising, 10000, 5, { videoSending: true, availableOutgoingBitrate: 600_000, lossFraction: 0 });
    expect(eventsOf(up)).toEqual(['videoEnabled']);

    // The probe's first second looks good (an estimate that drifted up with audio alone, a loss
    // report from before the probe), then the truth arrives: no videoEnabled.
    const stale = new AudioFallbackMachine({ probeIntervalMs: 4000, probeAbortAfterMs: 1500 });
    run(stale, 0, 6, BAD);
    run(stale, 6000, 3, { videoSending: false, availableOutgoingBitrate: 200_000, lossFraction: 0 });
    stale.feed({ at: 9000, videoSending: false, availableOutgoingBitrate: 230_000, lossFraction: 0 });
    const fooled = [stale.feed({ at: 10000, videoSending: true, availableOutgoingBitrate: 230_000, lossFraction: 0 })];
    fooled.push(stale.feed({ at: 11000, videoSending: true, availableOutgoingBitrate: 109_000, lossFraction: 0.6 }));
    expect(eventsOf(fooled)).toEqual([]);
    expect(stale.video).toBe('none');

    // Measured on a 90 kbps uplink after 10 s off: the audio-only estimate drifted to 473 kbps and
    // kept rising for 2 s of the probe with no loss reported, then fell, then the loss came. 3 s of good are needed: no videoEnabled.
    const drift = new AudioFallbackMachine();
    run(drift, 0, 6, BAD);
    run(drift, 6000, 3, { videoSending: false, availableOutgoingBitrate: 400_000, lossFraction: 0 });
    expect(drift.feed({ at: 9000, videoSending: false, availableOutgoingBitrate: 473_000, lossFraction: 0 }).video).toBe('lowest');
    const probe = [
      drift.feed({ at: 10000, videoSending: true, availableOutgoingBitrate: 554_000, lossFraction: 0 }),
      drift.feed({ at: 11000, videoSending: true, availableOutgoingBitrate: 648_000, lossFraction: 0 }),
      drift.feed({ at: 12000, videoSending: true, availableOutgoingBitrate: 109_000, lossFraction: 0.04 }),
      drift.feed({ at: 13000, videoSending: true, availableOutgoingBitrate: 109_000, lossFraction: 0.52 }),
    ];
    expect(eventsOf(probe)).toEqual([]);
    expect(drift.video).toBe('none');
  });

  it('reset() starts over', () => {
    const m = new AudioFallbackMachine();
    run(m, 0, 6, BAD);
    m.reset();
    expect(m.state).toBe('ok');
    expect(m.video).toBe('all');
  });
});

describe('uplinkSample', () => {
  it('reads the selected pair estimate, the worst receiver loss, the encoder limits and whether video flows', () => {
    const previous = { videoBytesSent: 0 };
    const report = [
      { type: 'transport', id: 'T', selectedCandidatePairId: 'CP1' },
      { type: 'candidate-pair', id: 'CP0', availableOutgoingBitrate: 9_000_000, nominated: false, state: 'failed' },
      { type: 'candidate-pair', id: 'CP1', availableOutgoingBitrate: 85_000, nominated: true, state: 'succeeded' },
      { type: 'outbound-rtp', kind: 'video', rid: 'q', active: true, bytesSent: 1000, qualityLimitationReason: 'bandwidth', targetBitrate: 30_000 },
      { type: 'outbound-rtp', kind: 'video', rid: 'h', active: false, bytesSent: 500, qualityLimitationReason: 'none', targetBitrate: 0 },
      { type: 'outbound-rtp', kind: 'audio', bytesSent: 4000 },
      { type: 'remote-inbound-rtp', kind: 'video', fractionLost: 0.08 },
      { type: 'remote-inbound-rtp', kind: 'audio', fractionLost: 0.2 },
    ];
    const s = uplinkSample(report, 1234, previous);
    expect(s).toEqual({ at: 1234, availableOutgoingBitrate: 85_000, lossFraction: 0.2, bandwidthLimited: true, targetBitrate: 30_000, videoSending: true });
    expect(previous.videoBytesSent).toBe(1500);
    // The same bytes again: no video flowed since.
    expect(uplinkSample(report, 2234, previous).videoSending).toBe(false);
  });

  it('no active encoding: not sending, whatever the counters say', () => {
    const s = uplinkSample([{ type: 'outbound-rtp', kind: 'video', active: false, bytesSent: 99 }], 0, { videoBytesSent: 0 });
    expect(s.videoSending).toBe(false);
    expect(s.availableOutgoingBitrate).toBeUndefined();
  });
});
