// What the fault tests count to prove nothing leaked: UDP sockets and all descriptors of a
// process (the server's: this one, or a child), SFU transports, and a seeded random source so a failing run can
// be replayed.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { RunningServer } from '../../src/server.js';

export interface Resources {
  udpSockets: number;
  fds: number;
  transports: number;
}

export function resources(server: RunningServer): Resources {
  const { fds, udp } = descriptors(process.pid);
  return { udpSockets: udp, fds, transports: server.media.routers.reduce((n, r) => n + r.transportCount, 0) };
}

/**
 * A process's open descriptors and how many are bound UDP sockets (matched by inode against
 * /proc/net/udp{,6}; werift unrefs its sockets, so Node's active-resource list misses them).
 */
export function descriptors(pid: number | 'self'): { fds: number; udp: number } {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(file, 'latin1').split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode) inodes.add(inode);
    }
  }
  let fds = 0;
  let udp = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    fds++;
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1]!)) udp++;
    } catch {
      // closed meanwhile
    }
  }
  return { fds, udp };
}

/** A fixed-seed generator (LCG) of integers in [0, n). */
export function seeded(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state % n;
  };
}

/** Polls `check` until it holds; the error says what was awaited and how things stood. */
export async function eventually(check: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
