// The REMB-only uplink controller (media/bitrate-controller.ts), step by step: the cap without loss,
// a back-off on loss above 10 % to what arrived less half the loss, a hold between 2 and 10 %, an
// 8 % climb below 2 %, and the cap and the floor. The Chromium measurement behind a rate limit is the
// media:uplink bench (bench/media/uplink.bench.ts).

import { describe, expect, it } from 'vitest';
import { BitrateController, MIN_BITRATE } from '../src/bitrate-controller.js';

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
