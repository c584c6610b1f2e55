// Signaling at webinar scale over a cluster (issue 17): redis-server and three `colloquy serve`
// processes on loopback (@colloquy/testing/cluster); N protocol-v2 connections with
// `connectionEventsSuppressed` (a webinar's viewers) join one session through every node evenly,
// from client worker processes (bench/signaling/signaling-worker.ts), each worker on one node. Then
// SIGNALS signals from one client to the whole session: fan-out latency p50/p99 over every
// delivery, per node the deliveries went through.
//
// Measured per node: CPU during the join and per fan-out signal, RSS growth per connection. A
// session lives on one home node (docs/cluster.md): a socket that reaches another node is carried
// to the home over that node's signaling link, the home writes each broadcast once per link and
// each node writes it to its own clients; this bench compares that with the same connections on
// one node (BASELINE=same).
//
// Usage: npm run cluster:signaling -w @colloquy/bench
//   CONNECTIONS=15000 SIGNALS=10 WORKERS=6 BASELINE=same|off

import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Colloquy } from '@colloquy/sdk-node';
import { startTestCluster, type ClusterNodeProcess, type TestCluster } from '@colloquy/testing/cluster';
import { Redis } from 'ioredis';
import { SignalingClient } from '../load/targets/signaling-client.js';
import { envInt, fmt, percentile } from '../lib/stats.js';
import { WorkerPool } from '../signaling/worker-pool.js';

const CONNECTIONS = envInt('CONNECTIONS', 15_000);
const SIGNALS = envInt('SIGNALS', 10);
const WORKERS = envInt('WORKERS', 6);
const BASELINE = process.env['BASELINE'] ?? 'same';
const log = (line: string): void => void process.stdout.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (CONNECTIONS < 2 || CONNECTIONS > 30_000) throw new Error(`CONNECTIONS must be 2..30000; got ${CONNECTIONS}`);
if (WORKERS < 1 || WORKERS > 32) throw new Error(`WORKERS must be 1..32; got ${WORKERS}`);
if (BASELINE !== 'same' && BASELINE !== 'off') throw new Error(`BASELINE must be same or off; got ${BASELINE}`);

/** CPU time (user + system) of a process so far, in seconds, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resident memory of a process, MB, from /proc. */
function rssMB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

interface Point {
  what: string;
  nodes: number;
  connected: number;
  joinSeconds: number;
  /** Per node: CPU s during the join, CPU ms per fan-out signal, RSS KB per connection it holds. */
  perNode: { id: string; home: boolean; sockets: number; joinCpuS: number; cpuMsPerSignal: number; rssKBPerConnection: number }[];
  fanout: { deliveries: number; p50: number; p99: number; max: number; byNode: Record<string, { p50: number; p99: number; deliveries: number }> };
  errors: string[];
  load: number[];
}

/** One run: CONNECTIONS suppressed v2 connections over `nodes` (worker i connects through node i mod n). */
async function run(cluster: TestCluster, nodes: ClusterNodeProcess[], what: string): Promise<Point> {
  const redis = new Redis(cluster.redis.url);
  const workers = new WorkerPool(WORKERS);
  try {
    const sdk = new Colloquy(cluster.apiKey, cluster.apiSecret, nodes[0]!.url);
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    // The first connect places the session (its home); it stays, as a host would.
    const first = new SignalingClient();
    await first.connect({ url: nodes[0]!.url, sessionId, token: sdk.generateToken(sessionId), v2: true });
    const homeId = (await redis.get(`colloquy:session:${sessionId}:home`)) ?? nodes[0]!.id;
    await sleep(300);
    const nodeOf = (i: number): ClusterNodeProcess => nodes[i % nodes.length]!;
    const cpu0 = nodes.map((n) => cpuSeconds(n.child.pid!));
    const rss0 = nodes.map((n) => rssMB(n.child.pid!));
    const per = Math.ceil((CONNECTIONS - 1) / workers.size);
    const started = performance.now();
    const replies = await workers.all<{ connected: number; errors: string[] }>((i) => ({
      op: 'connect',
      url: nodeOf(i).url,
      apiKey: cluster.apiKey,
      apiSecret: cluster.apiSecret,
      sessionId,
      count: Math.max(0, Math.min(per, CONNECTIONS - 1 - i * per)),
      concurrency: 50,
      suppressed: true,
      v2: true,
    }));
    const joinSeconds = (performance.now() - started) / 1000;
    const cpu1 = nodes.map((n) => cpuSeconds(n.child.pid!));
    const errors = replies.flatMap((r) => r.errors);
    const connectedBy = replies.map((r) => r.connected);
    const connected = 1 + connectedBy.reduce((a, b) => a + b, 0);
    // Quiet: nobody receives anything for a second.
    for (let last = -1; ; ) {
      const received = (await workers.all<{ received: number }>({ op: 'received' })).reduce((n, r) => n + r.received, 0);
      if (received === last) break;
      last = received;
      await sleep(1000);
    }
    const rss1 = nodes.map((n) => rssMB(n.child.pid!));
    const sockets = nodes.map((_, k) => connectedBy.reduce((n, c, i) => (i % nodes.length === k ? n + c : n), k === 0 ? 1 : 0));
    log(`  ${what}: ${connected}/${CONNECTIONS} connected in ${fmt(joinSeconds, 1)} s (${fmt((connected - 1) / joinSeconds, 0)}/s); home ${homeId}; node CPU during the join ${nodes.map((n, k) => `${n.id} ${fmt(cpu1[k]! - cpu0[k]!, 1)} s`).join(', ')}`);

    // Fan-out: signals from one client (worker 0, through the first node) to everyone, spaced apart.
    await workers.all({ op: 'latencies' });
    const cpu2 = nodes.map((n) => cpuSeconds(n.child.pid!));
    for (let i = 0; i < SIGNALS; i++) {
      await workers.call(0, { op: 'send', signalType: 'bench' });
      await sleep(Math.max(300, CONNECTIONS / 10));
    }
    await sleep(500);
    const cpu3 = nodes.map((n) => cpuSeconds(n.child.pid!));
    const perWorker = await workers.all<{ latencies: number[] }>({ op: 'latencies' });
    const all = perWorker.flatMap((r) => r.latencies);
    const byNode: Point['fanout']['byNode'] = {};
    nodes.forEach((n, k) => {
      const l = perWorker.flatMap((r, i) => (i % nodes.length === k ? r.latencies : []));
      byNode[n.id] = { p50: percentile(l, 50), p99: percentile(l, 99), deliveries: l.length };
    });
    const fanout = { deliveries: all.length, p50: percentile(all, 50), p99: percentile(all, 99), max: all.reduce((m, l) => Math.max(m, l), 0), byNode };
    const perNode = nodes.map((n, k) => ({
      id: n.id,
      home: n.id === homeId,
      sockets: sockets[k]!,
      joinCpuS: cpu1[k]! - cpu0[k]!,
      cpuMsPerSignal: ((cpu3[k]! - cpu2[k]!) * 1000) / SIGNALS,
      rssKBPerConnection: ((rss1[k]! - rss0[k]!) * 1024) / Math.max(1, n.id === homeId ? connected : sockets[k]!),
    }));
    const load = loadavg();
    log(
      `  fan-out of ${SIGNALS} signals to ${connected}: p50 ${fmt(fanout.p50, 1)} ms, p99 ${fmt(fanout.p99, 1)} ms, max ${fmt(fanout.max, 0)} ms (${fanout.deliveries} deliveries); ` +
        `by the node a client reached: ${Object.entries(byNode).map(([id, b]) => `${id} p50 ${fmt(b.p50, 1)} / p99 ${fmt(b.p99, 1)} ms`).join(', ')}; ` +
        `node CPU per signal ${perNode.map((p) => `${p.id} ${fmt(p.cpuMsPerSignal, 0)} ms`).join(', ')}; load ${load.map((l) => l.toFixed(2)).join(' ')}`,
    );
    if (errors.length) log(`  errors (first ${errors.length}): ${errors.join('; ')}`);
    await workers.all({ op: 'disconnect' }).catch(() => {});
    await first.disconnect().catch(() => {});
    return { what, nodes: nodes.length, connected, joinSeconds, perNode, fanout, errors, load };
  } finally {
    workers.close();
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  // One client signals ten times in a row (its message rate is raised); the join rate stays the
  // default (admission queues).
  // One load generator's address opens thousands of sockets at once: the per-address cap on sockets
  // that have not sent a request head yet (128, against floods) is raised, as for a proxy's address.
  const env = { COLLOQUY_SIGNAL_RATE: '1000', COLLOQUY_SIGNAL_BURST: '1000', COLLOQUY_MAX_PENDING_CONNECTIONS_PER_IP: '5000' };
  const points: Point[] = [];
  {
    const cluster = await startTestCluster({ env });
    try {
      log(`\nSignaling over a cluster: ${CONNECTIONS} suppressed v2 connections, ${WORKERS} client processes, ${SIGNALS} fan-out signals`);
      points.push(await run(cluster, cluster.nodes, `3 nodes`));
    } finally {
      await cluster.close();
    }
  }
  if (BASELINE === 'same') {
    const cluster = await startTestCluster({ env, nodes: 1 });
    try {
      points.push(await run(cluster, cluster.nodes, `1 node`));
    } finally {
      await cluster.close();
    }
  }
  log('\n| point | connected | join s | join/s | fan-out p50 ms | p99 ms | max ms | per node: sockets reached, join CPU s, CPU ms per signal, RSS KB per connection |');
  log('|---|---|---|---|---|---|---|---|');
  for (const p of points) {
    const nodes = p.perNode.map((n) => `${n.id}${n.home ? ' (home)' : ''}: ${n.sockets}, ${fmt(n.joinCpuS, 1)}, ${fmt(n.cpuMsPerSignal, 0)}, ${fmt(n.rssKBPerConnection, 1)}`).join('; ');
    log(`| ${p.what} | ${p.connected} | ${fmt(p.joinSeconds, 1)} | ${fmt((p.connected - 1) / p.joinSeconds, 0)} | ${fmt(p.fanout.p50, 1)} | ${fmt(p.fanout.p99, 1)} | ${fmt(p.fanout.max, 0)} | ${nodes} |`);
  }
  log(`\nJSON ${JSON.stringify(points)}`);
}

await main();
