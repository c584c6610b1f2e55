// `npm run bench` (full, < 15 min on 2 cores) and `npm run bench:quick` (< 2 min): every benchmark
// of issue 8 in one run, results to bench/results/ as JSON plus a generated markdown summary and a
// plot. The media benchmarks run inside a network namespace this script creates (root needed):
// Janus ignores loopback for ICE, so both servers and all clients use a test address on an
// interface inside it, and every packet stays there. Without root, Janus is skipped and Colloquy
// is measured on loopback (said in the results).
//
//   node dist/run.js [--quick] [--only sfu,signaling,leak] [--no-janus] [--out DIR] [--priority NICE]

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { canUseNetns, createNetns } from './lib/netns.js';
import { envInt, fmt } from './lib/stats.js';
import { renderReport } from './report/report.js';
import { profileSfu, type ProfileResult } from './sfu/profile.js';
import { runMediaJoinLeave } from './sfu/join-leave.js';
import { runSfuSuite, type SfuPlan, type SfuSuiteResult } from './sfu/sfu-suite.js';
import type { ClipSpec } from './load/clip.js';
import type { TargetName } from './sfu/targets.js';
import { findJanus } from './servers/janus-process.js';
import { runJoinLeave, runScale, type JoinLeaveResult, type ScaleResult } from './signaling/signaling-suite.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCH_DIR = join(HERE, '..');

export interface BenchResults {
  kind: 'full' | 'quick';
  startedAt: string;
  seconds: number;
  environment: Record<string, string | number>;
  network: string;
  notes: string[];
  sfu: SfuSuiteResult | null;
  profile: ProfileResult | null;
  signaling: ScaleResult[];
  joinLeave: JoinLeaveResult[];
  suiteSeconds: Record<string, number>;
}

const SD = { width: 640, height: 360, bitrate: 500_000, fps: 30, seconds: 10 };
const HD = { width: 1280, height: 720, bitrate: 1_500_000, fps: 30, seconds: 10 };
/** The clips --bitrates may name (the 1 Mbps one is issue 14's 1→300 point). */
const CLIPS: Record<string, ClipSpec> = { '500k': SD, '1M': { width: 960, height: 540, bitrate: 1_000_000, fps: 30, seconds: 10 }, '1.5M': HD };

function plans(quick: boolean): {
  sfu: SfuPlan;
  profile: { bitrate: string; subscribers: number; seconds: number };
  signaling: number[];
  /** Sizes run again with every client suppressing connection events (a webinar's viewers). */
  signalingSuppressed: number[];
  cycles: number;
  mediaCycles: number;
} {
  if (quick) {
    return {
      sfu: { bitrates: [{ name: '500k', clip: SD }], fanout: [1, 10], mesh: [4], warmupSeconds: 1, serverWarmupSeconds: 15, windowSeconds: 3, windows: 1, minWindowPackets: 0, maxWindowSeconds: 3, pairedFanout: [], firstFrameJoins: 5, workers: 2 },
      // BENCH_PROFILE_SUBSCRIBERS=100 profiles the quick run at 1→100 as the full run does;
      // BENCH_PROFILE_SECONDS lengthens the profile (a small fan-out needs more seconds for samples).
      profile: { bitrate: '500k', subscribers: envInt('BENCH_PROFILE_SUBSCRIBERS', 10), seconds: envInt('BENCH_PROFILE_SECONDS', 3) },
      signaling: [200],
      signalingSuppressed: [200],
      cycles: 100,
      mediaCycles: 40,
    };
  }
  return {
    sfu: {
      bitrates: [
        { name: '500k', clip: SD },
        { name: '1.5M', clip: HD },
      ],
      fanout: [1, 10, 50, 150],
      mesh: [4, 8, 16],
      warmupSeconds: 1.5,
      serverWarmupSeconds: 20,
      // Windows of one point differ by up to ±30 % on this machine (VM scheduling): the median of 5.
      windowSeconds: 4,
      windows: 5,
      // Below 1,000 pkt/s (1→1, a publisher alone) a 4 s window is a few hundred packets, and one
      // GC or timer burst of either server decides it: such points get windows of 4,000 packets.
      minWindowPackets: 4000,
      maxWindowSeconds: 20,
      // 1→1 on Colloquy and Janus at the same moments (a server at 3 % of a core measured minutes
      // apart reads the machine's minutes as much as the server).
      pairedFanout: [1],
      firstFrameJoins: 20,
      workers: 2,
    },
    profile: { bitrate: '500k', subscribers: 100, seconds: 8 },
    signaling: [1000, 5000],
    signalingSuppressed: [5000, 15_000],
    cycles: 1000,
    mediaCycles: 1000,
  };
}

function environment(): Record<string, string | number> {
  const commit = (() => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: BENCH_DIR, encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  })();
  const werift = (() => {
    try {
      return (JSON.parse(readFileSync(join(BENCH_DIR, '..', 'node_modules', 'werift', 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  })();
  return {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    kernel: release(),
    werift,
    commit,
    loadAverageAtStart: Number(loadavg()[0]!.toFixed(2)),
  };
}

async function inside(args: {
  quick: boolean;
  only: Set<string>;
  janus: boolean;
  priority: number;
  out: string;
  network: { address: string; interfaceName: string; label: string };
  signaling?: number[] | undefined;
  signalingSuppressed?: number[] | undefined;
  signalingV2: boolean;
  signalingProfile: boolean;
  rtcOnePort: boolean;
  threads: boolean;
  fanout?: number[] | undefined;
  mesh?: number[] | undefined;
  paired?: number[] | undefined;
  bitrates?: string[] | undefined;
}): Promise<void> {
  const plan = plans(args.quick);
  if (args.fanout) plan.sfu.fanout = args.fanout;
  if (args.mesh) plan.sfu.mesh = args.mesh;
  if (args.paired) plan.sfu.pairedFanout = args.paired;
  if (args.bitrates) plan.sfu.bitrates = args.bitrates.map((name) => ({ name, clip: CLIPS[name]! }));
  // The profile runs on a clip the load generator has (the first chosen when 500k is not).
  if (!plan.sfu.bitrates.some((b) => b.name === plan.profile.bitrate)) plan.profile.bitrate = plan.sfu.bitrates[0]!.name;
  const started = performance.now();
  const results: BenchResults = {
    kind: args.quick ? 'quick' : 'full',
    startedAt: new Date().toISOString(),
    seconds: 0,
    environment: environment(),
    network: args.network.label,
    notes: [],
    sfu: null,
    profile: null,
    signaling: [],
    joinLeave: [],
    suiteSeconds: {},
  };
  const targets: TargetName[] = ['colloquy'];
  if (args.rtcOnePort) targets.push('colloquy-one-port');
  if (args.threads) targets.push('colloquy-1-thread');
  if (args.janus) targets.push('janus');
  else results.notes.push('Janus was not run (no network namespace, not installed, or --no-janus).');
  results.notes.push('Participants join as an app makes them: session by the REST API, a token each, one signaling WebSocket (Colloquy) or Janus session each.');
  if (args.priority !== 0) {
    results.notes.push(`Run at nice ${args.priority} (both servers and the generator alike), because other work shared this machine.`);
  }
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await fn();
    } finally {
      results.suiteSeconds[name] = Math.round((performance.now() - t) / 100) / 10;
    }
  };
  const save = (): void => {
    results.seconds = Math.round((performance.now() - started) / 1000);
    writeFileSync(join(args.out, `${results.kind}.json`), `${JSON.stringify(results, null, 2)}\n`);
  };
  if (args.only.has('sfu')) {
    results.sfu = await timed('sfu', () =>
      runSfuSuite(plan.sfu, args.network, targets, {
        afterTarget: async (target, run) => {
          if (target.name !== 'colloquy') return;
          results.profile = await timed('profile', () =>
            profileSfu(target, run, {
              ...plan.profile,
              save: (profile) => writeFileSync(join(args.out, `${results.kind}-colloquy-sfu.cpuprofile`), JSON.stringify(profile)),
            }),
          );
        },
      }),
    );
    save();
  }
  if (args.only.has('signaling')) {
    process.stderr.write('Signaling at scale\n');
    await timed('signaling', async () => {
      // About 4,000 connections per client process, at least two processes.
      const workers = (n: number): number => Math.max(2, Math.ceil(n / 4000));
      for (const n of args.signaling ?? plan.signaling) {
        results.signaling.push(await runScale(n, { workers: workers(n), signals: 10, measureLeave: n <= 1000, profileJoin: args.signalingProfile || n === plan.signaling[0], profileFanout: args.signalingProfile, v2: args.signalingV2 }));
        save();
      }
      for (const n of args.signalingSuppressed ?? plan.signalingSuppressed) {
        results.signaling.push(await runScale(n, { workers: workers(n), signals: 10, measureLeave: false, profileJoin: args.signalingProfile, profileFanout: args.signalingProfile, suppressed: true, v2: args.signalingV2 }));
        save();
      }
    });
  }
  if (args.only.has('leak')) {
    process.stderr.write('Memory over join/leave cycles\n');
    const checkpoints = [10, 100, 250, 500, 750, 1000].filter((c) => c <= plan.cycles);
    results.joinLeave.push(await timed('joinLeave', () => runJoinLeave(plan.cycles, checkpoints)));
    save();
    results.joinLeave.push(
      await timed('joinLeaveMedia', () =>
        runMediaJoinLeave(plan.mediaCycles, [10, 100, 250, 500, 750, 1000].filter((c) => c <= plan.mediaCycles), {
          bindIp: args.network.address,
          parallel: 12,
          workers: 2,
        }),
      ),
    );
  }
  save();
  process.stderr.write(`bench: ${results.kind} run done in ${fmt(results.seconds)} s\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      'no-janus': { type: 'boolean' },
      out: { type: 'string' },
      inside: { type: 'boolean' },
      address: { type: 'string' },
      interface: { type: 'string' },
      label: { type: 'string' },
      'report-only': { type: 'boolean' },
      priority: { type: 'string' },
      /** Signaling sizes instead of the plan's: with connection events, and suppressed (comma-separated; empty for none). */
      signaling: { type: 'string' },
      'signaling-suppressed': { type: 'string' },
      /** Signaling clients speak protocol v1 (per-connection numbering), for comparison. */
      'signaling-v1': { type: 'boolean' },
      /** Profile the server (V8 CPU profiler) during every signaling point's join and fan-out; print the top functions. */
      'signaling-profile': { type: 'boolean' },
      /** Also run Colloquy with one UDP port for every peer connection (the server's default), to compare with the range mode the bench's `colloquy` runs. */
      'rtc-one-port': { type: 'boolean' },
      /** Also run Colloquy with one media thread (COLLOQUY_WORKERS=1), to compare with a thread per core. */
      threads: { type: 'boolean' },
      /** SFU points instead of the plan's (comma-separated): fan-out sizes, mesh sizes, bitrates (500k, 1M, 1.5M). */
      fanout: { type: 'string' },
      mesh: { type: 'string' },
      bitrates: { type: 'string' },
      /** Fan-out sizes measured on every target at the same moments (the plan's: 1 in the full run; '' = none). */
      paired: { type: 'string' },
    },
  });
  const sizes = (v: string | undefined): number[] | undefined => (v === undefined ? undefined : v.split(',').filter(Boolean).map(Number));
  const priority = Number(values.priority ?? 0);
  if (!Number.isInteger(priority) || priority < -20 || priority > 19) throw new Error('--priority must be a nice level from -20 to 19');
  const quick = values.quick ?? false;
  const out = values.out ?? join(BENCH_DIR, 'results');
  mkdirSync(out, { recursive: true });
  const only = new Set((values.only ?? 'sfu,signaling,leak').split(',').map((s) => s.trim()));
  const kind = quick ? 'quick' : 'full';
  for (const b of values.bitrates?.split(',').filter(Boolean) ?? []) if (!CLIPS[b]) throw new Error(`--bitrates: ${b} is not one of ${Object.keys(CLIPS).join(', ')}`);
  if (values['report-only']) {
    await renderReport(out, kind);
    return;
  }
  if (values.inside) {
    await inside({
      quick,
      only,
      janus: !values['no-janus'],
      priority,
      out,
      network: { address: values.address!, interfaceName: values.interface!, label: values.label ?? '' },
      signaling: sizes(values.signaling),
      signalingSuppressed: sizes(values['signaling-suppressed']),
      signalingV2: !values['signaling-v1'],
      signalingProfile: values['signaling-profile'] === true,
      rtcOnePort: values['rtc-one-port'] === true,
      threads: values.threads === true,
      fanout: sizes(values.fanout),
      mesh: sizes(values.mesh),
      paired: sizes(values.paired),
      bitrates: values.bitrates?.split(',').filter(Boolean),
    });
    return;
  }
  const netns = canUseNetns();
  const wantJanus = !values['no-janus'] && only.has('sfu');
  if (wantJanus && findJanus() === null && process.getuid?.() === 0) {
    // The baseline is a Debian package: install it (and the other bench tools) when missing.
    try {
      execFileSync(join(BENCH_DIR, '..', 'scripts', 'setup-bench.sh'), { stdio: 'inherit' });
    } catch (err) {
      process.stderr.write(`bench: could not install Janus (${(err as Error).message}); running without it\n`);
    }
  }
  const janusFound = findJanus() !== null;
  const forward = process.argv.slice(2).filter((a) => a !== '--inside');
  const child = (cmd: string, args: string[]): Promise<number> =>
    new Promise((resolve) => spawn(cmd, args, { stdio: 'inherit' }).once('exit', (code) => resolve(code ?? 1)));
  let code: number;
  if (netns.ok) {
    const ns = createNetns(`colloquy-bench-${process.pid}`);
    const cleanup = (): void => ns.remove();
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        cleanup(); // kills what still runs in the namespace: the servers and clients this run started
        process.exit(130);
      });
    }
    try {
      const label = `network namespace ${ns.name}: lo + ${ns.interfaceName} ${ns.address}/24; servers and clients all use ${ns.address}`;
      const command = [
        'ip', 'netns', 'exec', ns.name, process.execPath, fileURLToPath(import.meta.url), ...forward, '--inside',
        '--address', ns.address, '--interface', ns.interfaceName, '--label', label,
        ...(wantJanus && janusFound ? [] : ['--no-janus']),
      ];
      // --priority: run servers and generator alike at this nice level (on a shared machine).
      code = priority === 0 ? await child(command[0]!, command.slice(1)) : await child('nice', ['-n', String(priority), ...command]);
    } finally {
      cleanup();
    }
  } else {
    process.stderr.write(`bench: ${netns.why}; running on loopback without Janus\n`);
    code = await child(process.execPath, [
      fileURLToPath(import.meta.url), ...forward, '--inside', '--address', '127.0.0.1', '--interface', 'lo',
      '--label', `loopback (${netns.why}); Janus not run`, '--no-janus',
    ]);
  }
  if (code !== 0) {
    process.stderr.write(`bench: the run failed (exit ${code})\n`);
    process.exit(code);
  }
  await renderReport(out, kind);
}

await main();
