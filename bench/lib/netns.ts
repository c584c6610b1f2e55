// A private network namespace for the media benchmarks: loopback up plus one interface carrying a
// test address (a `dummy` interface, or a veth pair where the kernel has no dummy driver). Janus
// ignores loopback for ICE, so both servers and all load-generator clients use that address; every
// packet stays inside the namespace and the machine's own addresses are never involved.

import { execFileSync } from 'node:child_process';

export interface NetNamespace {
  name: string;
  /** The test address media flows on (the servers announce it, clients bind it). */
  address: string;
  /** The interface that carries it (Janus's ice_enforce_list). */
  interfaceName: string;
  /** Removes the namespace (and kills what still runs in it). Idempotent. */
  remove(): void;
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Whether this process can create namespaces (root and iproute2). */
export function canUseNetns(): { ok: true } | { ok: false; why: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'creating a network namespace needs root' };
  try {
    ip(['-V']);
  } catch {
    return { ok: false, why: 'iproute2 (`ip`) is not installed: run scripts/setup-bench.sh' };
  }
  return { ok: true };
}

/** The namespace this process runs in, by name, or null (the machine's own). */
export function currentNetns(): string | null {
  try {
    const out = ip(['netns', 'identify', String(process.pid)]).trim();
    return out || null;
  } catch {
    return null;
  }
}

export function createNetns(name: string, address = '10.99.0.1'): NetNamespace {
  removeNetns(name); // a leftover from a killed run
  ip(['netns', 'add', name]);
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    removeNetns(name);
  };
  try {
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
    let interfaceName = 'bench0';
    try {
      ip(['-n', name, 'link', 'add', interfaceName, 'type', 'dummy']);
    } catch {
      // No dummy driver in this kernel (e.g. a Firecracker VM): a veth pair with both ends inside.
      ip(['-n', name, 'link', 'add', interfaceName, 'type', 'veth', 'peer', 'name', 'bench1']);
      ip(['-n', name, 'link', 'set', 'bench1', 'up']);
    }
    ip(['-n', name, 'addr', 'add', `${address}/24`, 'dev', interfaceName]);
    ip(['-n', name, 'link', 'set', interfaceName, 'up']);
    return { name, address, interfaceName, remove };
  } catch (err) {
    remove();
    throw err;
  }
}

/** Kills the processes still inside `name` (ours: the benchmark started them) and deletes it. */
export function removeNetns(name: string): void {
  let pids: number[] = [];
  try {
    pids = ip(['netns', 'pids', name]).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return; // no such namespace
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  try {
    ip(['netns', 'del', name]);
  } catch {
    /* already gone */
  }
}
