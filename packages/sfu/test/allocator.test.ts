// The downlink allocator on numbers: a subscriber connection's estimate shared across audio and
// its videos (screen share before cameras), each video's layer capped by its preference, down at
// once, up only after the estimate held (or at once after a probe showed the step fits), off
// (audio fallback) only after the lowest layer has not fitted for a while, or at once when the
// link is clearly gone or was just seen full (a saturation cut), and only where allowed, with the warning before and its lifting after.

import { describe, expect, it } from 'vitest';
import { DownlinkAllocator, HEADROOM, OFF_HOLD_MS, OFF_NOW_FACTOR, ON_HOLD_MS, UP_HOLD_MS, type VideoSlot } from '../src/allocator.js';

const camera: VideoSlot = { rates: [150_000, 500_000, 1_700_000], preferred: 2, screen: false, fallback: true };
const AUDIO = 50_000;

describe('DownlinkAllocator', () => {
  it('takes the best layer that fits, drops at once, climbs only after the estimate held', () => {
    const a = new DownlinkAllocator();
    expect(a.update(0, 3_000_000, AUDIO, [camera])).toEqual([{ layer: 2, warning: false }]);
    // 400 kbps: only the lowest layer fits (h needs 500k × 1.15).
    expect(a.update(250, 400_000, AUDIO, [camera])[0]!.layer).toBe(0);
    // Back to 3 Mbps: not before UP_HOLD_MS.
    expect(a.update(500, 3_000_000, AUDIO, [camera])[0]!.layer).toBe(0);
    expect(a.update(500 + UP_HOLD_MS - 1, 3_000_000, AUDIO, [camera])[0]!.layer).toBe(0);
    expect(a.update(500 + UP_HOLD_MS, 3_000_000, AUDIO, [camera])[0]!.layer).toBe(2);
    // A dip resets the hold.
    a.update(5000, 700_000, AUDIO, [camera]);
    a.update(5100, 3_000_000, AUDIO, [camera]);
    a.update(5200, 700_000, AUDIO, [camera]);
    expect(a.update(5300 + UP_HOLD_MS - 200, 3_000_000, AUDIO, [camera])[0]!.layer).toBe(1);
  });

  it('a layer taken is kept while its own rate fits (a rate grown inside the headroom is no step down); a real drop goes down at once', () => {
    const a = new DownlinkAllocator();
    expect(a.update(0, 3_000_000, AUDIO, [camera])[0]!.layer).toBe(2);
    // Layer 2 grows to 1.9 Mbps: 2.185 Mbps with headroom does not fit 2.1 Mbps, 1.9 Mbps does: kept.
    const grown: VideoSlot = { ...camera, rates: [150_000, 500_000, 1_900_000] };
    expect(a.update(250, 2_100_000, AUDIO, [grown])[0]!.layer).toBe(2);
    // Not even its own rate fits: down at once, to the best layer that fits with headroom.
    expect(a.update(500, 1_800_000, AUDIO, [grown])[0]!.layer).toBe(1);
    // Up again needs the headroom (and the hold).
    expect(a.update(750, 2_100_000, AUDIO, [grown])[0]!.layer).toBe(1);
    expect(a.update(750 + UP_HOLD_MS, 2_100_000, AUDIO, [grown])[0]!.layer).toBe(1);
    expect(a.update(1000 + UP_HOLD_MS, 2_300_000, AUDIO, [grown])[0]!.layer).toBe(1);
    expect(a.update(1000 + 2 * UP_HOLD_MS, 2_300_000, AUDIO, [grown])[0]!.layer).toBe(2);
  });

  it('the preference is the upper bound', () => {
    const a = new DownlinkAllocator();
    expect(a.update(0, 10_000_000, AUDIO, [{ ...camera, preferred: 1 }])[0]!.layer).toBe(1);
    expect(a.update(100, 10_000_000, AUDIO, [{ ...camera, preferred: 0 }])[0]!.layer).toBe(0);
    // Raised again: at once, the estimate already carried it (no hold for a preference change).
    expect(a.update(200, 10_000_000, AUDIO, [camera])[0]!.layer).toBe(2);
  });

  it('below the lowest layer: a warning, then video off after OFF_HOLD_MS; back on after ON_HOLD_MS, warning lifted with room', () => {
    const a = new DownlinkAllocator();
    a.update(0, 3_000_000, AUDIO, [camera]);
    // 180 kbps: 130k left, short of the lowest layer's 172.5k but not far below it (a hold).
    expect(a.update(100, 180_000, AUDIO, [camera])).toEqual([{ layer: 0, warning: true }]);
    expect(a.update(100 + OFF_HOLD_MS - 1, 180_000, AUDIO, [camera])).toEqual([{ layer: 0, warning: true }]);
    expect(a.update(100 + OFF_HOLD_MS, 180_000, AUDIO, [camera])).toEqual([{ layer: -1, warning: true }]);
    // Enough for the lowest layer, not yet for long enough.
    const t = 10_000;
    const lowNeed = 150_000 * HEADROOM;
    expect(a.update(t, AUDIO + lowNeed * 2.1, AUDIO, [camera])[0]!.layer).toBe(-1);
    expect(a.update(t + ON_HOLD_MS, AUDIO + lowNeed * 2.1, AUDIO, [camera])).toEqual([{ layer: 0, warning: false }]);
    // Back on with little room: the warning is lifted with the video (OpenTok: videoEnabled and videoDisableWarningLifted).
    const b = new DownlinkAllocator();
    b.update(0, 180_000, AUDIO, [camera]);
    b.update(OFF_HOLD_MS, 180_000, AUDIO, [camera]);
    expect(b.update(OFF_HOLD_MS + 1, AUDIO + lowNeed * 1.2, AUDIO, [camera])).toEqual([{ layer: -1, warning: true }]);
    expect(b.update(OFF_HOLD_MS + 1 + ON_HOLD_MS, AUDIO + lowNeed * 1.2, AUDIO, [camera])).toEqual([{ layer: 0, warning: false }]);
  });

  it('far below the lowest layer (the link is gone): the warning and video off in the same round, no hold', () => {
    const a = new DownlinkAllocator();
    a.update(0, 3_000_000, AUDIO, [camera]);
    expect(a.update(250, 400_000, AUDIO, [camera])[0]!.layer).toBe(0);
    // A saturation cut to 85 kbps at a 100 kbps link: 35 kbps left for a layer that needs 172.5k.
    expect(a.update(500, 85_000, AUDIO, [camera])).toEqual([{ layer: -1, warning: true }]);
    // Just above the line: the hold applies again.
    const b = new DownlinkAllocator();
    b.update(0, 3_000_000, AUDIO, [camera]);
    const edge = AUDIO + 150_000 * HEADROOM * OFF_NOW_FACTOR + 1000;
    expect(b.update(250, edge, AUDIO, [camera])).toEqual([{ layer: 0, warning: true }]);
    expect(b.update(250 + OFF_HOLD_MS, edge, AUDIO, [camera])).toEqual([{ layer: -1, warning: true }]);
  });

  it('after a saturation cut (the link seen full): the lowest layer not fitting means video off in that round, the warning with it', () => {
    const a = new DownlinkAllocator();
    a.update(0, 3_000_000, AUDIO, [camera]);
    expect(a.update(250, 400_000, AUDIO, [camera])[0]!.layer).toBe(0);
    // Cut to 120 kbps: 70k left, short of 172.5k but above the OFF_NOW line (51.75k): without the cut, a hold.
    const b = new DownlinkAllocator();
    b.update(0, 3_000_000, AUDIO, [camera]);
    b.update(250, 400_000, AUDIO, [camera]);
    expect(b.update(500, 120_000, AUDIO, [camera])).toEqual([{ layer: 0, warning: true }]);
    expect(a.update(500, 120_000, AUDIO, [camera], false, true)).toEqual([{ layer: -1, warning: true }]);
    // A cut the lowest layer still fits: nothing goes off.
    const c = new DownlinkAllocator();
    c.update(0, 3_000_000, AUDIO, [camera]);
    expect(c.update(500, 255_000, AUDIO, [camera], false, true)).toEqual([{ layer: 0, warning: true }]);
  });

  it('after a probe showed the step fits: back on, and each step up, at once (no hold)', () => {
    const a = new DownlinkAllocator();
    a.update(0, 3_000_000, AUDIO, [camera]);
    expect(a.update(100, 85_000, AUDIO, [camera])[0]!.layer).toBe(-1);
    const on = AUDIO + 150_000 * HEADROOM * 1.05;
    // Without a probe the estimate must hold ON_HOLD_MS; the probed round takes it at once.
    expect(a.update(5000, on, AUDIO, [camera])[0]!.layer).toBe(-1);
    expect(a.update(5250, on, AUDIO, [camera], true)).toEqual([{ layer: 0, warning: false }]);
    const mid = AUDIO + 500_000 * HEADROOM * 1.05;
    expect(a.update(6000, mid, AUDIO, [camera])[0]!.layer).toBe(0);
    expect(a.update(6250, mid, AUDIO, [camera], true)[0]!.layer).toBe(1);
    const top = AUDIO + 1_700_000 * HEADROOM * 1.05;
    expect(a.update(7500, top, AUDIO, [camera], true)[0]!.layer).toBe(2);
  });

  it('never off where audio fallback is not allowed (audioFallbackEnabled false or the publisher said so)', () => {
    const a = new DownlinkAllocator();
    const noFallback = { ...camera, fallback: false };
    a.update(0, 80_000, AUDIO, [noFallback]);
    expect(a.update(OFF_HOLD_MS * 3, 80_000, AUDIO, [noFallback])).toEqual([{ layer: 0, warning: false }]);
  });

  it('audio first, then the screen share, then cameras; nextStep is what one more step would need', () => {
    const a = new DownlinkAllocator();
    const screen: VideoSlot = { rates: [600_000], preferred: 0, screen: true, fallback: true };
    const budget = AUDIO + 600_000 * HEADROOM + 150_000 * HEADROOM + 1000;
    const decisions = a.update(0, budget, AUDIO, [camera, screen]);
    // The screen share is served first, then the camera its lowest layer; both with little room to spare (warned).
    expect(decisions).toEqual([
      { layer: 0, warning: true },
      { layer: 0, warning: true },
    ]);
    // 100 kbps less: the camera goes (after the hold), the screen share stays.
    a.update(100, budget - 100_000, AUDIO, [camera, screen]);
    expect(a.update(100 + OFF_HOLD_MS, budget - 100_000, AUDIO, [camera, screen]).map((d) => d.layer)).toEqual([-1, 0]);
    const step = DownlinkAllocator.nextStep(AUDIO, [camera, screen], decisions)!;
    expect(step).toBeCloseTo(AUDIO + 600_000 * HEADROOM + 500_000 * HEADROOM, 0);
    expect(DownlinkAllocator.nextStep(AUDIO, [{ ...camera, preferred: 0 }], [{ layer: 0, warning: false }])).toBeNull();
  });

  it("every video's lowest step before any video's better one: the first does not take what the next one's lowest needs", () => {
    // A camera with frame-rate steps below its lowest layer (T0, T1, then 150 kbps at full rate).
    const stepped: VideoSlot = { rates: [60_000, 90_000, 150_000, 500_000, 1_700_000], preferred: 4, screen: false, fallback: true };
    // 200 kbps after audio. Greedy, the first would take its 150 kbps layer at full rate (172.5
    // with headroom) and leave the second 27.5: off. With the second's lowest step (69) kept
    // aside, the first may use 131: its T1 step (103.5); the second its T0 step. Both on.
    const a = new DownlinkAllocator();
    expect(a.update(0, AUDIO + 200_000, AUDIO, [stepped, { ...stepped }], false, true).map((d) => d.layer)).toEqual([1, 0]);
    // More room: each climbs once the estimate has held, the first as far as the second's lowest step allows.
    a.update(100, AUDIO + 800_000, AUDIO, [stepped, { ...stepped }]);
    const later = a.update(100 + UP_HOLD_MS, AUDIO + 800_000, AUDIO, [stepped, { ...stepped }]);
    // 800 − 69 = 731: the first's 500 kbps layer (575); the second what is left (225): its 150 kbps layer at full rate (172.5).
    expect(later.map((d) => d.layer)).toEqual([3, 2]);
    // Too little for every lowest step: the last in order goes, the first keeps its best fit.
    const b = new DownlinkAllocator();
    expect(b.update(0, AUDIO + 100_000, AUDIO, [stepped, { ...stepped }], false, true).map((d) => d.layer)).toEqual([0, -1]);
  });

  it("a layer kept on its own rate (inside the headroom) leaves the next video its reserved lowest step", () => {
    const stepped: VideoSlot = { rates: [60_000, 90_000, 150_000, 500_000, 1_700_000], preferred: 4, screen: false, fallback: true };
    const a = new DownlinkAllocator();
    // Both at their 150 kbps layer at full frame rate (2 × 172.5 with headroom).
    expect(a.update(0, AUDIO + 400_000, AUDIO, [stepped, { ...stepped }]).map((d) => d.layer)).toEqual([2, 2]);
    // A cut to 225 after audio (a saturation round): the second's lowest step (69) is kept aside, so
    // the first has 156: its 150 kbps layer is kept on its own rate. It takes those 156, not 172.5,
    // and the second has its 69 for T0: on, not off.
    expect(a.update(100, AUDIO + 225_000, AUDIO, [stepped, { ...stepped }], false, true).map((d) => d.layer)).toEqual([2, 0]);
  });

  it('a video that is off comes back on with room to spare (its onStep, or twice its lowest step), not as soon as a frame-rate step fits', () => {
    const stepped: VideoSlot = { rates: [60_000, 90_000, 150_000, 500_000], preferred: 3, onStep: 2, screen: false, fallback: true };
    const a = new DownlinkAllocator();
    // The link is gone: off at once after a saturation cut.
    expect(a.update(0, AUDIO + 30_000, AUDIO, [stepped], false, true)[0]!.layer).toBe(-1);
    // Its T0 and T1 steps fit (not twice T0), held far past ON_HOLD_MS: it stays off (on at T0, it flapped).
    a.update(100, AUDIO + 120_000, AUDIO, [stepped]);
    expect(a.update(100 + 3 * ON_HOLD_MS, AUDIO + 120_000, AUDIO, [stepped])[0]!.layer).toBe(-1);
    // What a probe should test: turning it on at its onStep (not the smaller room it may come back
    // with: a smaller probe passed inside a limiter's token bucket).
    expect(DownlinkAllocator.nextStep(AUDIO, [stepped], [{ layer: -1, warning: true }])).toBeCloseTo(AUDIO + 150_000 * HEADROOM, 0);
    // Its full frame rate fits: back on once that has held.
    a.update(10_000, AUDIO + 200_000, AUDIO, [stepped]);
    expect(a.update(10_000 + ON_HOLD_MS, AUDIO + 200_000, AUDIO, [stepped])[0]!.layer).toBe(2);
    // A drop now keeps it on at a lower frame rate.
    expect(a.update(10_000 + ON_HOLD_MS + 250, AUDIO + 120_000, AUDIO, [stepped])[0]!.layer).toBe(1);
  });

  it('a video whose frame-rate steps appear below its layers (onStep 0 → 2) keeps the layer it has', () => {
    const a = new DownlinkAllocator();
    const plain: VideoSlot = { rates: [150_000, 500_000, 1_700_000], preferred: 2, screen: false, fallback: true, key: 'v' };
    expect(a.update(0, 3_000_000, AUDIO, [plain])[0]!.layer).toBe(2);
    // Two steps below (T0, T1): the top layer is step 4 now, taken at once.
    const stepped: VideoSlot = { ...plain, rates: [60_000, 90_000, ...plain.rates], preferred: 4, onStep: 2 };
    expect(a.update(250, 3_000_000, AUDIO, [stepped])[0]!.layer).toBe(4);
  });

  it('a video with a tiny lowest step (a flat picture) is not back on with twice that: room to spare is BACK_ON_MARGIN at least', () => {
    const flat: VideoSlot = { rates: [9_000, 14_000, 40_000, 300_000], preferred: 3, onStep: 2, screen: false, fallback: true };
    const a = new DownlinkAllocator();
    expect(a.update(0, 70_000, 67_000, [flat], false, true)[0]!.layer).toBe(-1);
    // A 100 kbps link: 18–33 kbps after the audio. Twice T0 (20.7) fits, its full frame rate (46) does not: off.
    for (let t = 250; t <= 10_000; t += 250) expect(a.update(t, 67_000 + 33_000, 67_000, [flat])[0]!.layer).toBe(-1);
  });

  it('videos that are off come back at a lower frame rate when the others step down for them (three streams at a 500 kbps limit)', () => {
    const stepped: VideoSlot = { rates: [54_000, 81_000, 135_000, 500_000], preferred: 3, onStep: 2, screen: false, fallback: true };
    const three = [stepped, { ...stepped }, { ...stepped }];
    const a = new DownlinkAllocator();
    const audio = 200_000;
    // The limit's onset: a cut to 300 kbps, the first at T1, the others off at once.
    expect(a.update(0, 300_000, audio, three, false, true).map((d) => d.layer)).toEqual([1, -1, -1]);
    // The estimate settles at 454 (254 after audio): the first may climb, but room is kept for the
    // second to come back (2 × its T0 step); once that held, it is back on; then the third.
    let layers: number[] = [];
    for (let t = 250; t <= 10_000; t += 250) layers = a.update(t, 454_000, audio, three).map((d) => d.layer);
    console.log(`three streams, 254 kbps after audio: steps ${layers.join(', ')}`);
    expect(layers.every((l) => l >= 0)).toBe(true);
    // What they take fits.
    expect(layers.reduce((sum, l) => sum + stepped.rates[l]! * HEADROOM, 0)).toBeLessThanOrEqual(254_000);
  });

  it('room is kept for a video that is off only to come back on with: the one on climbs, and the probe nextStep asks for is above the estimate', () => {
    const stepped: VideoSlot = { rates: [60_000, 90_000, 150_000, 500_000], preferred: 3, onStep: 2, screen: false, fallback: true };
    const a = new DownlinkAllocator();
    // Both off after the link was seen gone; then 242 kbps (192 after audio): the first back on
    // at its full frame rate (172.5) once that held, the second stays off (19.5 left).
    a.update(0, AUDIO + 20_000, AUDIO, [stepped, { ...stepped }], false, true);
    a.update(100, AUDIO + 192_000, AUDIO, [stepped, { ...stepped }]);
    const on = a.update(100 + ON_HOLD_MS, AUDIO + 192_000, AUDIO, [stepped, { ...stepped }]);
    expect(on.map((d) => d.layer)).toEqual([2, -1]);
    // Its T1 step (103.5) would have fitted anyway; what matters: no room for the second's T0
    // (69) held back the first, and the next step asked is over the estimate, so a probe is due.
    const next = DownlinkAllocator.nextStep(AUDIO, [stepped, { ...stepped }], on)!;
    expect(next).toBeGreaterThan(AUDIO + 192_000);
  });
});

