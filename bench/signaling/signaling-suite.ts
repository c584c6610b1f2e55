// Signaling at scale, against the real server in its own process: N WebSocket connections join one
// session (REST-made session, tokens, /v2/signaling connect), spread over client worker processes.
// Measured: the time until everyone joined and the connectionCreated storm settled, server CPU,
// server memory per connection (heap after a full GC, and RSS), and the fan-out latency of signals
// sent to the whole session (send time carried in the signal, arrival in each receiver; p50/p99
// over every delivery). Then memory growth over join/leave cycles.

import { loadavg } from 'node:os';
import { Colloquy } from '@colloquy/sdk-node';
import { summarizeProfile, type CpuProfile, type ProfileSummary } from '../lib/cpu-profile.js';
import type { HeapGrowth } from '../lib/heap-snapshot.js';
import { sampleProcess } from '../lib/proc.js';
import { fmt, percentile } from '../lib/stats.js';
import { SignalingClient } from '../load/targets/signaling-client.js';
import { serverCheckpoint, startColloquy, type ColloquyProcess, type ServerCheckpoint } from '../servers/colloquy-process.js';
import { WorkerPool } from './worker-pool.js';

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ScaleResult {
  connections: number;
  /** Every joining client asked for connectionEventsSuppressed (a webinar's viewers). */
  connectionEventsSuppressed?: boolean;
  /** Clients spoke protocol v2 (broadcasts framed once, connection events batched); false: v1. */
  protocolV2?: boolean;
  /** Client processes the connections were spread over. */
  workers?: number;
  connected: number;
  /** First connect to the last connect reply, s. */
  joinSeconds: number;
  /** Connections joined per second (connected / joinSeconds). */
  joinRate?: number;
  /** Server CPU from the first connect to the last connect reply (the join itself), s. */
  joinServerCpuSeconds?: number;
  /** Until no client received anything for a while (the connectionCreated storm is over), s. */
  settledSeconds: number;
  messagesReceived: number;
  serverCpuSeconds: number;
  clientCpuSeconds: number;
  heapPerConnectionKB: number;
  rssPerConnectionKB: number;
  fanout: { signals: number; deliveries: number; p50: number; p99: number; max: number };
  /** Everyone disconnecting gracefully, s (only for the smaller sizes: it is another O(N²) storm). */
  leaveSeconds: number | null;
  /** Where the server's time went during the join storm (when profiled). */
  joinProfile: ProfileSummary | null;
  /** Where the server's time went during the fan-out signals (with --signaling-profile). */
  fanoutProfile?: ProfileSummary | null;
  /** The client processes' CPU during the fan-out signals, s each (is the generator the limit?). */
  fanoutClientCpuSeconds?: number[];
  /** The server's CPU during the fan-out signals, s. */
  fanoutServerCpuSeconds?: number;
  /** The client processes' CPU during the join, s each. */
  joinClientCpuSeconds?: number[];
  errors: string[];
}

export interface JoinLeaveResult {
  cycles: number;
  /** At each checkpoint, after a full GC. */
  checkpoints: ServerCheckpoint[];
  /** Heap growth from the first checkpoint after warm-up to the last, per cycle, bytes. */
  heapGrowthPerCycleBytes: number;
  /** What grew most between heap snapshots after warm-up and at the end (when taken). */
  heapGrowthByKind?: HeapGrowth[];
  seconds: number;
  what: string;
}

interface Memory {
  memory: { heapUsed: number; rss: number };
}

async function gc(server: ColloquyProcess): Promise<Memory['memory']> {
  return (await server.controlPost<Memory>('/gc')).memory;
}

export async function runScale(
  connections: number,
  options: { workers: number; signals: number; measureLeave: boolean; profileJoin?: boolean; profileFanout?: boolean; suppressed?: boolean; v2?: boolean },
): Promise<ScaleResult> {
  const server = await startColloquy();
  const pool = new WorkerPool(options.workers);
  const errors: string[] = [];
  try {
    const sdk = new Colloquy(server.apiKey, server.apiSecret, server.url);
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    // One client joins first, so the session is live and the baseline holds its fixed costs.
    const first = new SignalingClient();
    await first.connect({ url: server.url, sessionId, token: sdk.generateToken(sessionId), v2: options.v2 !== false });
    await sleep(300);
    const before = await gc(server);
    const serverBefore = sampleProcess(server.pid);
    const clientBefore = await pool.all<{ cpuUs: number }>({ op: 'cpu' });
    if (options.profileJoin) await server.controlPost('/profile/start', { intervalUs: 1000 });
    const started = performance.now();
    const per = Math.ceil((connections - 1) / pool.size);
    const replies = await pool.all<{ connected: number; errors: string[] }>((i) => ({
      op: 'connect',
      url: server.url,
      apiKey: server.apiKey,
      apiSecret: server.apiSecret,
      sessionId,
      count: Math.max(0, Math.min(per, connections - 1 - i * per)),
      concurrency: 50,
      suppressed: options.suppressed === true,
      v2: options.v2 !== false,
    }));
    const joinSeconds = (performance.now() - started) / 1000;
    const serverJoined = sampleProcess(server.pid);
    const clientJoined = await pool.all<{ cpuUs: number }>({ op: 'cpu' });
    const joinClientCpuSeconds = clientJoined.map((c, i) => (c.cpuUs - clientBefore[i]!.cpuUs) / 1e6);
    for (const r of replies) errors.push(...r.errors);
    const connected = 1 + replies.reduce((n, r) => n + r.connected, 0);
    // Settled: nobody received anything for a second.
    let last = -1;
    let received = 0;
    for (;;) {
      received = (await pool.all<{ received: number }>({ op: 'received' })).reduce((n, r) => n + r.received, 0);
      if (received === last) break;
      last = received;
      await sleep(1000);
    }
    const settledSeconds = (performance.now() - started) / 1000 - 1;
    const serverAfter = sampleProcess(server.pid);
    const joinProfile = options.profileJoin ? summarizeProfile(await server.controlPost<CpuProfile>('/profile/stop'), 10) : null;
    if (joinProfile) logProfile('join', joinProfile);
    const clientAfter = await pool.all<{ cpuUs: number }>({ op: 'cpu' });
    const after = await gc(server);
    log(
      `  ${connected}/${connections} connected in ${fmt(joinSeconds, 1)} s (${fmt((connected - 1) / joinSeconds, 0)}/s, ${options.v2 === false ? 'v1' : 'v2'}), settled after ${fmt(settledSeconds, 1)} s (${received} messages); ` +
        `server CPU ${fmt((serverAfter.cpuUs - serverBefore.cpuUs) / 1e6, 1)} s (${fmt((serverJoined.cpuUs - serverBefore.cpuUs) / 1e6, 1)} s until the last join; clients ${joinClientCpuSeconds.map((c) => fmt(c, 1)).join(' + ')} s); heap ${fmt((after.heapUsed - before.heapUsed) / (connected - 1) / 1024, 1)} KB/connection`,
    );

    // Fan-out: signals to the whole session from one client, spaced so that they do not overlap.
    await pool.all({ op: 'latencies' });
    const fanoutClientBefore = await pool.all<{ cpuUs: number }>({ op: 'cpu' });
    const fanoutServerBefore = sampleProcess(server.pid);
    if (options.profileFanout) await server.controlPost('/profile/start', { intervalUs: 200 });
    for (let i = 0; i < options.signals; i++) {
      await pool.call(0, { op: 'send', signalType: 'bench' });
      await sleep(Math.max(300, connections / 10));
    }
    await sleep(500);
    const fanoutProfile = options.profileFanout ? summarizeProfile(await server.controlPost<CpuProfile>('/profile/stop'), 12) : null;
    const fanoutServerCpuSeconds = (sampleProcess(server.pid).cpuUs - fanoutServerBefore.cpuUs) / 1e6;
    const fanoutClientCpuSeconds = (await pool.all<{ cpuUs: number }>({ op: 'cpu' })).map((c, i) => (c.cpuUs - fanoutClientBefore[i]!.cpuUs) / 1e6);
    if (fanoutProfile) logProfile('fan-out', fanoutProfile);
    const latencies = (await pool.all<{ latencies: number[] }>({ op: 'latencies' })).flatMap((r) => r.latencies);
    const fanout = { signals: options.signals, deliveries: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.reduce((m, l) => Math.max(m, l), 0) };
    log(
      `  fan-out of ${options.signals} signals to ${connected}: p50 ${fmt(fanout.p50, 1)} ms, p99 ${fmt(fanout.p99, 1)} ms (${fanout.deliveries} deliveries); ` +
        `CPU per signal: server ${fmt((fanoutServerCpuSeconds * 1000) / options.signals, 0)} ms, client processes ${fanoutClientCpuSeconds.map((c) => fmt((c * 1000) / options.signals, 0)).join(' + ')} ms ` +
        `(${fmt((fanoutClientCpuSeconds.reduce((a, b) => a + b, 0) * 1e6) / Math.max(1, latencies.length), 1)} µs per delivery: a process holding K connections needs K times that to take one signal in); load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    );

    let leaveSeconds: number | null = null;
    if (options.measureLeave) {
      const t = performance.now();
      await pool.all({ op: 'disconnect' });
      leaveSeconds = (performance.now() - t) / 1000;
    }
    await first.disconnect().catch(() => {});
    return {
      connections,
      connectionEventsSuppressed: options.suppressed === true,
      protocolV2: options.v2 !== false,
      workers: options.workers,
      connected,
      joinSeconds,
      joinRate: (connected - 1) / joinSeconds,
      joinServerCpuSeconds: (serverJoined.cpuUs - serverBefore.cpuUs) / 1e6,
      settledSeconds,
      messagesReceived: received,
      serverCpuSeconds: (serverAfter.cpuUs - serverBefore.cpuUs) / 1e6,
      clientCpuSeconds: clientAfter.reduce((n, c, i) => n + c.cpuUs - clientBefore[i]!.cpuUs, 0) / 1e6,
      heapPerConnectionKB: (after.heapUsed - before.heapUsed) / (connected - 1) / 1024,
      rssPerConnectionKB: (after.rss - before.rss) / (connected - 1) / 1024,
      fanout,
      leaveSeconds,
      joinProfile,
      fanoutProfile,
      fanoutClientCpuSeconds,
      fanoutServerCpuSeconds,
      joinClientCpuSeconds,
      errors,
    };
  } finally {
    pool.close();
    await server.stop();
  }
}

/** The top functions of a server CPU profile, on stderr. */
function logProfile(what: string, p: ProfileSummary): void {
  log(`  server profile, ${what}: ${fmt(p.busyMs, 0)} ms busy of ${fmt(p.durationMs, 0)} ms`);
  for (const f of p.functions) log(`    ${fmt(f.percent, 1).padStart(5)} %  ${fmt(f.selfMs, 0).padStart(6)} ms  ${f.name}  (${f.where})`);
}

/** Memory over join/leave cycles of one connection beside two that stay, signaling only (with media: sfu/join-leave.ts). */
export async function runJoinLeave(cycles: number, checkpoints: number[]): Promise<JoinLeaveResult> {
  const server = await startColloquy();
  try {
    const sdk = new Colloquy(server.apiKey, server.apiSecret, server.url);
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    const residents: SignalingClient[] = [];
    for (let i = 0; i < 2; i++) {
      const c = new SignalingClient();
      await c.connect({ url: server.url, sessionId, token: sdk.generateToken(sessionId) });
      residents.push(c);
    }
    const points: JoinLeaveResult['checkpoints'] = [];
    const checkpoint = async (cycle: number): Promise<void> => {
      points.push(await serverCheckpoint(server, cycle, 200));
    };
    await checkpoint(0);
    const started = performance.now();
    const marks = new Set(checkpoints.filter((c) => c <= cycles));
    for (let i = 1; i <= cycles; i++) {
      const c = new SignalingClient();
      await c.connect({ url: server.url, sessionId, token: sdk.generateToken(sessionId, { data: `cycle=${i}` }) });
      await c.request<'signal'>({ type: 'signal', signalType: 'hello', data: 'x' });
      await c.disconnect();
      if (marks.has(i)) await checkpoint(i);
    }
    const seconds = (performance.now() - started) / 1000;
    for (const c of residents) await c.disconnect();
    const warm = points.find((p) => p.cycle >= Math.min(100, cycles / 10)) ?? points[0]!;
    const end = points[points.length - 1]!;
    const growth = end.cycle > warm.cycle ? ((end.heapMB - warm.heapMB) * 1048576) / (end.cycle - warm.cycle) : NaN;
    log(`  ${cycles} join/leave cycles in ${fmt(seconds, 1)} s; heap ${fmt(points[0]!.heapMB, 1)} -> ${fmt(end.heapMB, 1)} MB (${fmt(growth)} B/cycle after warm-up)`);
    return {
      cycles,
      checkpoints: points,
      heapGrowthPerCycleBytes: growth,
      seconds,
      what: 'signaling only: a participant connects with a token, sends one signal, disconnects; two other connections stay in the session',
    };
  } finally {
    await server.stop();
  }
}
