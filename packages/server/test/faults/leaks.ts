// What the fault tests count to prove nothing leaked: bound UDP sockets and all descriptors of
// this process (the server runs in it), SFU transports (live ones and those still closing: a
// transport leaves its router when its close begins, but a socket bind still under way in its
// negotiation is freed only when close() ends; a baseline taken in between counted sockets that
// were about to go); and a seeded random source so a failing run can be replayed.

import { transportsClosing } from '@colloquy/sfu';
import { descriptors } from '@colloquy/testing/media';
import type { RunningServer } from '../../src/server.js';

export interface Resources {
  udpSockets: number;
  fds: number;
  transports: number;
}

export { descriptors };

export function resources(server: RunningServer): Resources {
  const { fds, udp } = descriptors(process.pid);
  return { udpSockets: udp, fds, transports: server.media.routers.reduce((n, r) => n + r.transportCount, 0) + transportsClosing() };
}

/** A fixed-seed generator (LCG) of integers in [0, n). */
export function seeded(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    // The high bits: an LCG's low bits repeat with a short period.
    return (state >>> 12) % n;
  };
}

/** Polls `check` until it holds; the error says what was awaited and how things stood. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, describe: () => string): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
