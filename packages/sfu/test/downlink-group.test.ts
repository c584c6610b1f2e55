// DownlinkGroup on numbers: the subscriber connections of one client probe their shared link one
// at a time (not while another's probe runs or is read, nor while a failed one's queue drains), a
// saturation a member sees meanwhile is that probe's (held, and the probe is asked to stop), and a
// member leaving mid-probe frees the link.

import { describe, expect, it } from 'vitest';
import { DownlinkGroup, PROBE_GRACE_MS } from '../src/downlink-group.js';

/** A group of two connections of one client. */
function twoMembers(): { g: DownlinkGroup; a: object; b: object } {
  const g = new DownlinkGroup('conn-1');
  const a = {};
  const b = {};
  g.join(a);
  g.join(b);
  return { g, a, b };
}

describe('DownlinkGroup', () => {
  it('one probe at a time: none while another member probes or its probe is read, nor within the grace after one fell short', () => {
    const { g, a, b } = twoMembers();
    expect(g.size).toBe(2);
    expect(g.mayProbe(a, 0)).toBe(true);
    g.probeStarted(a);
    expect(g.mayProbe(b, 100)).toBe(false);
    expect(g.mayProbe(a, 100)).toBe(false); // its own probe is still running
    g.probeEnded(a, 900, true); // read: it succeeded, the link is free at once
    expect(g.mayProbe(b, 900)).toBe(true);
    g.probeStarted(b);
    g.probeEnded(b, 2000, false); // fell short: its queue drains first
    expect(g.mayProbe(a, 2000 + PROBE_GRACE_MS - 1)).toBe(false);
    expect(g.mayProbe(b, 2100)).toBe(true); // its own scheduler decides when it goes again
    expect(g.mayProbe(a, 2000 + PROBE_GRACE_MS)).toBe(true);
  });

  it("what a member sees while another's probe runs, is read, or drains after falling short is that probe's; a member's own probe is its own", () => {
    const { g, a, b } = twoMembers();
    expect(g.mateProbing(b, 0)).toBe(false);
    g.probeStarted(a);
    expect(g.mateProbing(b, 100)).toBe(true);
    expect(g.mateProbing(a, 100)).toBe(false);
    expect(g.stopRequested(a)).toBe(false);
    g.mateSaturated();
    expect(g.stopRequested(a)).toBe(true);
    expect(g.stopRequested(b)).toBe(false);
    g.probeEnded(a, 900, false);
    expect(g.stopRequested(a)).toBe(false);
    expect(g.mateProbing(b, 900 + PROBE_GRACE_MS - 1)).toBe(true);
    expect(g.mateProbing(b, 900 + PROBE_GRACE_MS)).toBe(false);
    expect(g.mateProbing(a, 1000)).toBe(false);
    // A probe that succeeded leaves nothing to drain.
    g.probeStarted(b);
    g.probeEnded(b, 5000, true);
    expect(g.mateProbing(a, 5000)).toBe(false);
  });

  it('a member that leaves mid-probe frees the link at once; the group says when it is empty', () => {
    const { g, a, b } = twoMembers();
    g.probeStarted(a);
    expect(g.leave(a)).toBe(false);
    expect(g.mateProbing(b, 0)).toBe(false);
    expect(g.mayProbe(b, 0)).toBe(true);
    expect(g.leave(b)).toBe(true);
  });
});
