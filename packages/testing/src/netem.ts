// The impaired-network harness for tests and benchmarks: a network namespace joined to this machine
// by a veth pair on a private /30 (10.213.0.0/16, never the machine's real interfaces), with `tc`
// impairments on either direction — a tbf rate limit, random loss (an nftables `numgen` rule inside
// the namespace, the same on every kernel), and delay/jitter (tc netem where the kernel has
// sch_netem; where it has not, as on some VM kernels, a userspace delay line: delay-line.ts) —
// that a test changes while media flows. A Chromium (chromiumInNamespace, for launchChromium's executablePath)
// or any process (`ip netns exec`) inside reaches servers that listen on hostAddress.
//
// Names are unique per process and per namespace, so parallel runs never collide; every namespace
// is removed by remove() (call it in afterAll), by a process-exit hook if a test forgot or crashed,
// and namespaces left by a process that died (SIGKILL) are removed by the next run. Needs root and
// iproute2: without them createVethNamespace throws (a test must fail, never skip: CI runs as root).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertDelayLineAvailable, DelayLine } from './delay-line.js';
import { runCommandSync, runSteps, runStepsAsync, type CommandStep, type HarnessSteps } from './harness-steps.js';

/** Impairment of one direction; each field absent = none. */
export interface Impairment {
  /** One-way delay added (tc netem, or the delay line where the kernel has no netem: see delayMechanism). */
  delayMs?: number;
  /** Random variation of that delay, ± (normal; needs delayMs). netem may reorder packets, the delay line keeps their order. */
  jitterMs?: number;
  /** Random loss, percent of packets (nftables numgen, in steps of 0.01 %). */
  lossPercent?: number;
  /** Rate limit in kilobits per second (tbf: a token bucket; the queue beyond it is queueMs deep, then drops). */
  rateKbps?: number;
  /** How long packets may wait in the rate limiter's queue before being dropped (default 300 ms, a typical home router). */
  queueMs?: number;
}

/** Which way an impairment acts: `down` = towards the namespace (what its processes receive), `up` = from it. */
export type Direction = 'down' | 'up';

export interface VethNamespace {
  name: string;
  /** This machine's end of the veth pair (servers listen here). */
  hostAddress: string;
  /** The namespace's end (its processes' source address). */
  nsAddress: string;
  /** The veth interface on this machine's side (its egress is the `down` direction). */
  hostInterface: string;
  /** The veth interface inside the namespace (its egress is the `up` direction). */
  nsInterface: string;
  /** Runs a command inside the namespace, e.g. ['nft', '-f', '-'] with `input` on stdin. */
  exec(command: string[], input?: string): string;
  /**
   * Sets (replaces) the impairment of one direction; an empty object removes it. Takes effect at
   * once for packets queued after it, so a test can tighten or lift a limit while media flows.
   */
  impair(direction: Direction, impairment: Impairment): void;
  /**
   * The same, without holding this process's event loop while the commands run (a server in the
   * same process goes on forwarding): resolves once the impairment is in place. One change at a
   * time per namespace: await it before the next (two at once would interleave their commands).
   */
  impairAsync(direction: Direction, impairment: Impairment): Promise<void>;
  /** The `tc qdisc show` lines of one direction (for logs and to check what is in place). */
  qdiscs(direction: Direction): string;
  /** Deletes the namespace (killing what still runs in it) and the veth pair. Idempotent. */
  remove(): void;
}

const NAME_PREFIX = 'colloquy-';
const live = new Map<string, () => void>();
let exitHookInstalled = false;
let counter = 0;

const run = runCommandSync;

function tryRun(command: string, args: string[]): void {
  try {
    run(command, args);
  } catch {
    // not there any more
  }
}

/** Throws a clear error when namespaces cannot be made here (not root, no iproute2 or tc). */
export function assertNetnsAvailable(): void {
  if (process.getuid?.() !== 0) throw new Error('the impaired-network harness needs root to create network namespaces (CI runs the tests as root)');
  for (const [tool, args] of [['ip', ['-V']], ['tc', ['-V']], ['nft', ['-v']]] as const) {
    try {
      run(tool, [...args]);
    } catch {
      throw new Error(`the impaired-network harness needs \`${tool}\` (Debian packages iproute2 and nftables: scripts/setup-system.sh installs them)`);
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills the processes inside a namespace and deletes it; its veth pair goes with it. */
function teardown(name: string, hostInterface?: string): void {
  let pids: string[] = [];
  try {
    pids = run('ip', ['netns', 'pids', name]).split(/\s+/).filter(Boolean);
  } catch {
    // no such namespace
  }
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
  if (hostInterface) tryRun('ip', ['link', 'del', hostInterface]);
  tryRun('ip', ['netns', 'del', name]);
  tryRun('nft', ['delete', 'table', 'inet', isolationTable(name)]);
}

/**
 * The host's nftables table that keeps this machine's own processes from reaching loopback from
 * the namespace's host end (see createVethNamespace): named after the namespace, one per namespace.
 */
function isolationTable(name: string): string {
  return `colloquy_iso_${name.slice(NAME_PREFIX.length).replace(/[^a-z0-9]/gi, '_')}`;
}

/** Namespaces `colloquy-<tag>-p<pid>-…` whose process is gone (killed runs) are removed. */
function removeStale(): void {
  let names: string[] = [];
  try {
    names = run('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(NAME_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = /-p(\d+)-\d+$/.exec(name)?.[1];
    if (pid !== undefined && !live.has(name) && !pidAlive(Number(pid))) teardown(name);
  }
  // Isolation tables whose namespace is gone (a run killed between the two).
  let tables: string[] = [];
  try {
    tables = run('nft', ['list', 'tables', 'inet']).split('\n').map((l) => l.trim().split(' ')[2] ?? '').filter((t) => t.startsWith('colloquy_iso_'));
  } catch {
    return;
  }
  for (const table of tables) {
    const pid = /_p(\d+)_\d+$/.exec(table)?.[1];
    if (pid !== undefined && !pidAlive(Number(pid))) tryRun('nft', ['delete', 'table', 'inet', table]);
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous: 'exit' listeners may not wait. Also reached on an uncaught exception.
  process.on('exit', () => {
    for (const remove of [...live.values()]) remove();
  });
}

/** A /30 of 10.213.0.0/16 that no interface of this machine uses: [host end, namespace end]. */
function freeSubnet(): [string, string] {
  const used = run('ip', ['-4', '-o', 'addr', 'show']);
  for (let attempt = 0; attempt < 64; attempt++) {
    const third = Math.floor(Math.random() * 256);
    const base = 4 * Math.floor(Math.random() * 63);
    const prefix = `10.213.${third}.`;
    const taken = [0, 1, 2, 3].some((i) => used.includes(` ${prefix}${base + i}/`));
    if (!taken) return [`${prefix}${base + 1}`, `${prefix}${base + 2}`];
  }
  throw new Error('no free /30 left in 10.213.0.0/16');
}

/** Checks an impairment's numbers; throws on nonsense. */
function checkImpairment(impairment: Impairment): void {
  for (const [key, value] of Object.entries(impairment)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new Error(`impairment ${key} must be a number ≥ 0; got ${value}`);
  }
  if ((impairment.lossPercent ?? 0) > 100) throw new Error(`impairment lossPercent must be at most 100; got ${impairment.lossPercent}`);
  if (impairment.rateKbps !== undefined && impairment.rateKbps <= 0) throw new Error(`impairment rateKbps must be above 0; got ${impairment.rateKbps}`);
}

/** The tc qdisc stages (root first, then its child) for the delay and rate of an impairment; null for none. */
export function qdiscArgs(impairment: Impairment): string[][] | null {
  checkImpairment(impairment);
  const { delayMs = 0, jitterMs = 0, rateKbps, queueMs = 300 } = impairment;
  // tbf: the bucket holds 20 ms of the rate (at least two full-size packets), so short bursts pass
  // as on a real bottleneck; beyond it packets queue up to queueMs, then drop.
  const tbf = rateKbps === undefined ? null : ['tbf', 'rate', `${rateKbps}kbit`, 'burst', String(Math.max(3200, Math.round((rateKbps * 1000) / 8 / 50))), 'latency', `${queueMs}ms`];
  if (delayMs === 0) return tbf ? [tbf] : null;
  const netem = ['netem', 'limit', '10000', 'delay', `${delayMs}ms`, ...(jitterMs > 0 ? [`${jitterMs}ms`, 'distribution', 'normal'] : [])];
  // netem is classful with one child: the rate limit hangs behind the delay.
  return tbf ? [netem, tbf] : [netem];
}

/** The nftables rule body dropping `lossPercent` % of packets at random, or null for none. */
export function lossRule(lossPercent: number | undefined): string | null {
  if (!lossPercent) return null;
  // Everything (an outage): numgen's "< 10000" does not parse (10000 is outside its 0–9999 range).
  if (lossPercent >= 100) return 'drop';
  return `numgen random mod 10000 < ${Math.round(lossPercent * 100)} drop`;
}

let netem: boolean | undefined;

/** Whether this kernel has tc netem (sch_netem); without it delays go through the delay line. Probed once, in a scratch namespace. */
export function netemAvailable(): boolean {
  if (netem !== undefined) return netem;
  assertNetnsAvailable();
  const name = `${NAME_PREFIX}probe-p${process.pid}-${counter++}`;
  try {
    run('ip', ['netns', 'add', name]);
    run('tc', ['-n', name, 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']);
    netem = true;
  } catch {
    netem = false;
  } finally {
    teardown(name);
  }
  return netem;
}

/**
 * How a delay is added: `netem` (tc netem in the qdisc chain, before the rate limit), or
 * `delay-line` (nfqueue-delay in userspace, after the rate limit on the way in and before it on the
 * way out; adds under 1 ms of its own, measured 0.5 ms on a ping, and keeps packet order).
 */
export type DelayMechanism = 'netem' | 'delay-line';

/** The delay this machine can add: netem where the kernel has it, else the delay line (throws if neither can run). */
export function delayMechanism(): DelayMechanism {
  if (netemAvailable()) return 'netem';
  assertDelayLineAvailable();
  return 'delay-line';
}

/**
 * A network namespace joined to this machine by a veth pair on a free /30 of 10.213.0.0/16, both
 * ends up, the namespace's default route through the host end: a process started inside (`ip
 * netns exec NAME …`) reaches servers on hostAddress (and on the host end of any other such pair).
 * `tag` only makes the name readable (letters and digits). This machine's own processes cannot
 * reach loopback from the host end (an nftables drop, removed with the namespace), so no other
 * test's call to a server on 127.0.0.1 runs over an interface that will vanish;
 * `loopbackReachable: true` leaves that path open. `delayVia` picks how delays are added (default:
 * delayMechanism()).
 */
export function createVethNamespace(tag: string, options: { loopbackReachable?: boolean; delayVia?: DelayMechanism } = {}): VethNamespace {
  assertNetnsAvailable();
  removeStale();
  installExitHook();
  const n = counter++;
  const clean = tag.replace(/[^a-z0-9]/gi, '').slice(0, 12) || 'ns';
  const name = `${NAME_PREFIX}${clean}-p${process.pid}-${n}`;
  // Interface names: at most 15 bytes, unique per process and namespace.
  const unique = `${process.pid.toString(36)}${n.toString(36)}`;
  const hostInterface = `cqh${unique}`.slice(0, 15);
  const nsInterface = `cqn${unique}`.slice(0, 15);
  const [hostAddress, nsAddress] = freeSubnet();
  const delayVia = options.delayVia ?? (netemAvailable() ? 'netem' : 'delay-line');
  if (delayVia === 'netem' && !netemAvailable()) throw new Error('this kernel has no tc netem (sch_netem): use the delay line (delayVia: "delay-line")');
  // Checked (and the delayer compiled) now, at setup, not at the first delay: that may come while media is measured.
  if (delayVia === 'delay-line') assertDelayLineAvailable();
  // The delay lines of the two directions (queue numbers are per namespace), made on first use.
  const delayLines: Record<Direction, DelayLine> = { down: new DelayLine(name, 'INPUT', 1), up: new DelayLine(name, 'OUTPUT', 2) };
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    live.delete(name);
    teardown(name, hostInterface);
  };
  live.set(name, remove);
  const ip = (args: string[]): void => void run('ip', args);
  try {
    ip(['netns', 'add', name]);
    ip(['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', nsInterface]);
    ip(['link', 'set', nsInterface, 'netns', name]);
    ip(['addr', 'add', `${hostAddress}/30`, 'dev', hostInterface]);
    ip(['link', 'set', hostInterface, 'up']);
    ip(['-n', name, 'addr', 'add', `${nsAddress}/30`, 'dev', nsInterface]);
    ip(['-n', name, 'link', 'set', nsInterface, 'up']);
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
    ip(['-n', name, 'route', 'add', 'default', 'via', hostAddress]);
    // This machine's own processes (the Chromium of every other test running now) gather a host
    // candidate on the host end and prefer it to loopback, so their calls to servers on 127.0.0.1
    // ran on it and had to move when it vanished (a loss burst; before the SFU followed ICE
    // renomination, a frozen video). Packets from the host end to loopback are dropped, so no call
    // ever starts there; the namespace's own traffic (host end <-> namespace end) is untouched.
    // `loopbackReachable` keeps the old behaviour, for the test of exactly that move.
    if (options.loopbackReachable !== true) {
      run('nft', ['-f', '-'], `table inet ${isolationTable(name)} {\n  chain out { type filter hook output priority 0; policy accept; ip saddr ${hostAddress} ip daddr 127.0.0.0/8 drop; }\n}\n`);
    }
    // Loss lives in the namespace: `down` drops on arrival, `up` on the way out.
    run('ip', ['netns', 'exec', name, 'nft', '-f', '-'], 'table inet colloquy_impair {\n  chain down { type filter hook input priority 0; policy accept; }\n  chain up { type filter hook output priority 0; policy accept; }\n}\n');
  } catch (err) {
    remove();
    throw err;
  }
  /** `tc [-n NS] qdisc VERB dev IF …` on the egress interface of that direction, as a harness step. */
  const tc = (direction: Direction, verb: string, rest: string[] = [], options: string[] = []): CommandStep => ({
    run: 'tc',
    args: [...options, ...(direction === 'up' ? ['-n', name] : []), 'qdisc', verb, 'dev', direction === 'up' ? nsInterface : hostInterface, ...rest],
  });
  /** Removes the direction's qdisc (nothing in place is no error). */
  function* clear(direction: Direction): HarnessSteps {
    yield { ...tc(direction, 'del', ['root']), optional: true };
  }
  /**
   * A rate limit alone (tbf) that changes rate, or is lifted, changes in place: what it has queued
   * stays queued and goes out at the new rate, as on a real link whose capacity changes. Deleting
   * the qdisc dropped its whole queue (up to `queueMs` of packets, 20–30 at 500 kbps) at every
   * lift: a loss burst that no real recovering link shows, which cut the downlink estimate of the
   * impairment bench's limited subscriber by half and switched its video off just as the link came
   * back. A lift first opens the bucket (10 Gbit/s), waits for the queue to be empty (bounded), then
   * removes it. Returns false when the change is not of that kind (netem involved, or nothing in place).
   */
  function* changeRate(direction: Direction, stages: string[][] | null): HarnessSteps<boolean> {
    const current = yield tc(direction, 'show');
    if (!/^qdisc tbf 1: root/m.test(current) || /qdisc netem/.test(current)) return false;
    if (stages !== null && (stages.length !== 1 || stages[0]![0] !== 'tbf')) return false;
    if (stages !== null) {
      yield tc(direction, 'change', ['root', 'handle', '1:', ...stages[0]!]);
      return true;
    }
    yield tc(direction, 'change', ['root', 'handle', '1:', 'tbf', 'rate', '10gbit', 'burst', '1mb', 'latency', '300ms']);
    // `tc -s` shows the queue's backlog; each read takes a few ms.
    for (let i = 0; i < 50 && !/backlog 0b 0p/.test(yield tc(direction, 'show', [], ['-s'])); i++);
    yield* clear(direction);
    return true;
  }
  /**
   * What impair() and impairAsync() do, as steps: the qdiscs (the rate limit) first, then the
   * loss, then the userspace delay line. On a loaded machine each command takes a while (the
   * impairment bench's limit took 1.7 s to put in place at a load of 7 when the delay line's start
   * and rule came first, its rate limit with the fifth command); the rate limit, the impairment
   * that matters most, now comes in force with the third.
   */
  function* impairSteps(direction: Direction, impairment: Impairment): HarnessSteps {
    if (removed) throw new Error(`namespace ${name} was removed`);
    checkImpairment(impairment);
    const { delayMs = 0, jitterMs = 0 } = impairment;
    const stages = qdiscArgs(delayVia === 'netem' ? impairment : { ...impairment, delayMs: 0, jitterMs: 0 });
    if (!(yield* changeRate(direction, stages))) {
      yield* clear(direction);
      if (stages !== null) {
        yield tc(direction, 'add', ['root', 'handle', '1:', ...stages[0]!]);
        if (stages[1]) yield tc(direction, 'add', ['parent', '1:1', 'handle', '10:', ...stages[1]]);
      }
    }
    const loss = lossRule(impairment.lossPercent);
    yield { run: 'ip', args: ['netns', 'exec', name, 'nft', '-f', '-'], input: `flush chain inet colloquy_impair ${direction}\n${loss ? `add rule inet colloquy_impair ${direction} ${loss}\n` : ''}` };
    if (delayVia === 'delay-line') yield* delayLines[direction].steps(delayMs, delayMs > 0 ? jitterMs : 0);
  }
  return {
    name,
    hostAddress,
    nsAddress,
    hostInterface,
    nsInterface,
    exec: (command, input) => run('ip', ['netns', 'exec', name, ...command], input),
    impair: (direction, impairment) => runSteps(impairSteps(direction, impairment)),
    impairAsync: (direction, impairment) => runStepsAsync(impairSteps(direction, impairment)),
    qdiscs: (direction) => {
      const show = tc(direction, 'show');
      return run(show.run, show.args).trim();
    },
    remove,
  };
}

/** An executable that runs Chromium inside the namespace (for launchChromium's executablePath). */
export function chromiumInNamespace(ns: VethNamespace, chromium = '/usr/bin/chromium'): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-nschromium-'));
  const path = join(dir, 'chromium');
  // exec keeps Playwright's pipe file descriptors (3 and 4) open across `ip netns exec`.
  writeFileSync(path, `#!/bin/sh\nexec ip netns exec ${ns.name} ${chromium} "$@"\n`, { mode: 0o755 });
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
