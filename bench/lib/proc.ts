// CPU time and memory of another process, from /proc: what the benchmarks charge to a server
// (all its threads' run time) and to the load generator's own processes.

import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (sysconf(_SC_CLK_TCK), 100 on Linux). */
const CLK_TCK = 100;

export interface ProcSample {
  /** CPU time used so far, user + system, all threads, in microseconds. */
  cpuUs: number;
  /** Resident set size in bytes. */
  rssBytes: number;
  /** When sampled (performance.now(), ms). */
  at: number;
}

export function sampleProcess(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssPages = Number(fields[21]);
  const cpuUs = threadsRunTimeUs(pid) ?? ((utime + stime) * 1e6) / CLK_TCK;
  return { cpuUs, rssBytes: rssPages * 4096, at: performance.now() };
}

/**
 * The process's CPU time in µs at nanosecond precision: the sum of its live threads' run time
 * (/proc/<pid>/task/<tid>/schedstat, first field, ns). /proc/<pid>/stat counts in 10 ms ticks,
 * which at 1→1 (a server at 4 % of a core over a 3 s window: 12 ticks) is ±8 % by itself. A thread
 * that ended takes its time with it, so a window over which threads end reads a little low (the
 * servers' threads here live as long as the process). Null when schedstat is not there.
 */
function threadsRunTimeUs(pid: number): number | null {
  let ns = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ', 1)[0]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
  } catch {
    return null;
  }
  return Number.isFinite(ns) && ns > 0 ? ns / 1000 : null;
}

/** CPU used between two samples as a fraction of one core (1.0 = one core busy). */
export function coreShare(a: ProcSample, b: ProcSample): number {
  const wallUs = (b.at - a.at) * 1000;
  return wallUs > 0 ? (b.cpuUs - a.cpuUs) / wallUs : 0;
}

/** CPU of this process so far (user + system, µs), for workers reporting their own load. */
export function ownCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export interface MachineSample {
  /** CPU time of the whole machine (all cores) that was not idle, µs. */
  busyUs: number;
  at: number;
}

/** The machine's busy CPU time so far, from /proc/stat (user+nice+system+irq+softirq+steal). */
export function sampleMachine(): MachineSample {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return { busyUs: ((user + nice + system + irq + softirq + steal) * 1e6) / CLK_TCK, at: performance.now() };
}

/**
 * CPU time so far (µs, user + system) of each process in a tree, by pid: a browser and its
 * renderer, GPU and network processes; the root is the first process whose command line contains
 * `marker` (an otherwise unused flag given at launch). Empty when none does. Compare two samples
 * with cpuDeltaUs: a process that ended between them takes its CPU time with it.
 */
export function processTreeCpu(marker: string): Map<number, number> {
  const parents = new Map<number, number>();
  const cpu = new Map<number, number>();
  let root: number | null = null;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(pid, Number(fields[1]));
      cpu.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK);
      if (root === null && readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(marker)) root = pid;
    } catch {
      // the process ended meanwhile
    }
  }
  const tree = new Map<number, number>();
  if (root === null) return tree;
  for (const [pid, us] of cpu) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parents.get(p)) {
      if (p === root) {
        tree.set(pid, us);
        break;
      }
    }
  }
  return tree;
}

/** CPU used (µs) between two processTreeCpu samples by the processes alive at both. */
export function cpuDeltaUs(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, us] of after) {
    const was = before.get(pid);
    if (was !== undefined) total += Math.max(0, us - was);
  }
  return total;
}
