// 1→N fan-out of one ~500 kbps stream over a Colloquy cluster (issue 17's "1→600 over three nodes"):
// redis-server and three `colloquy serve` processes on loopback (@colloquy/testing/cluster), one
// load-tool publisher (VP8 640x360 + Opus) on the session's home node, and N load-tool subscribers
// whose WebSockets are spread evenly over the three nodes, so each node serves a third of them
// from one RTP pipe per stream (docs/cluster.md). Then the same N against a cluster of ONE node
// (every subscriber on the home node): the single-node baseline.
//
// Printed per point: subscriptions made/failed, per-subscriber loss in the measured window
// (median, p99, share above 1 %), whole frames/s received, CPU of every node process and of every
// load-generator process (this machine has 2 cores: the generator shares them, so its own CPU and
// saturation flag say when it, not the cluster, is the limit), pipes and forwarded packets/s per
// node from /metrics, and the machine's busy cores.
//
// Usage: npm run cluster:fanout -w @colloquy/bench
//   SUBSCRIBERS=600  SECONDS=20 (measured)  WARMUP=5  WORKERS=4 (load processes)
//   BASELINE=same | off | <N>  (the single-node point: same N, none, or another N)
//   NODES=3  (nodes of the first point; NODES=1 BASELINE=off runs the single-node point alone)
//   SETUP_SECONDS=600  (bound on subscribing; what is not up by then counts as failed)

import { nodeMetric, startTestCluster, type ClusterNodeProcess, type TestCluster } from '@colloquy/testing/cluster';
import { ProtocolClient } from '@colloquy/testing/protocol';
import { Colloquy } from '@colloquy/sdk-node';
import { Redis } from 'ioredis';
import { availableParallelism, loadavg } from 'node:os';
import { sampleMachine, sampleProcess, coreShare, type ProcSample } from '../lib/proc.js';
import { envInt, fmt, percentile } from '../lib/stats.js';
import type { ClipSpec } from '../load/clip.js';
import { LoadRun, type ParticipantRef, type WindowResult } from '../load/load-run.js';

const SUBSCRIBERS = envInt('SUBSCRIBERS', 600);
const SECONDS = envInt('SECONDS', 20);
const WARMUP = envInt('WARMUP', 5);
const WORKERS = envInt('WORKERS', 4);
const SETUP_SECONDS = envInt('SETUP_SECONDS', 600);
const CONCURRENCY = envInt('CONCURRENCY', 8);
const NODES = envInt('NODES', 3);
const BASELINE = process.env['BASELINE'] ?? 'same';
if (BASELINE !== 'same' && BASELINE !== 'off' && !(Number.isInteger(Number(BASELINE)) && Number(BASELINE) > 0)) {
  throw new Error(`BASELINE must be same, off or a positive integer; got ${JSON.stringify(BASELINE)}`);
}
/** The stream: what bench/run.ts calls SD (VP8 at 500 kbps, 30 fps) plus Opus 32 kbps. */
const CLIP: ClipSpec = { width: 640, height: 360, bitrate: 500_000, fps: 30, seconds: 10 };

const log = (line: string): void => void process.stdout.write(`${line}\n`);

interface NodeFigures {
  id: string;
  home: boolean;
  subscribersJoined: number;
  cores: number;
  rssMb: number;
  pipesOut: number;
  pipesIn: number;
  forwardedPerSecond: number;
  /** Loss of the subscribers served here, % (see WindowResult.subscriptionLossPercent). */
  loss: number[];
}

interface PointResult {
  label: string;
  nodes: number;
  subscribers: number;
  made: number;
  failed: number;
  failures: Record<string, number>;
  setupSeconds: number;
  window: WindowResult;
  perNode: NodeFigures[];
  machineBusyCores: number;
  /** Every subscriber's loss in the window, %. */
  loss: number[];
  /** The load process that holds the publisher (index into generator.processCores). */
  publisherWorker: number;
}

async function runPoint(nodeCount: number, subscribers: number): Promise<PointResult> {
  const label = `1→${subscribers} over ${nodeCount} node${nodeCount > 1 ? 's' : ''}`;
  log(`\n== ${label}: starting redis-server and ${nodeCount} node(s)`);
  const cluster: TestCluster = await startTestCluster({
    nodes: nodeCount,
    // A UDP port per peer connection: each node's share of subscribers, its publisher, and spare.
    portsPerNode: Math.ceil(subscribers / nodeCount) + 64,
    env: { COLLOQUY_SIGNAL_RATE: '1000', COLLOQUY_SIGNAL_BURST: '1000', COLLOQUY_MAX_PENDING_CONNECTIONS_PER_IP: '100000' },
  });
  const redis = new Redis(cluster.redis.url);
  let run: LoadRun | null = null;
  try {
    const n1 = cluster.nodes[0]!;
    const sdk = new Colloquy(cluster.apiKey, cluster.apiSecret, n1.url);
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    // The first connect places the session on a node (its home); the publisher then joins there.
    const probe = await ProtocolClient.join(n1.url, sessionId, sdk.generateToken(sessionId, { role: 'publisher' }));
    const homeId = (await redis.get(`colloquy:session:${sessionId}:home`)) ?? n1.id;
    const home = cluster.node(homeId);
    run = await LoadRun.start({
      target: { kind: 'colloquy', url: home.url, apiKey: cluster.apiKey, apiSecret: cluster.apiSecret },
      workers: WORKERS,
      clips: { main: CLIP },
      concurrency: CONCURRENCY,
    });
    // The publisher's weight keeps its worker free of subscribers when there are enough workers.
    const publisher = await run.join(sessionId, 2 + subscribers);
    const streamId = await run.publish(publisher, 'main');
    probe.ws.close();
    log(`session home ${homeId}, stream ${streamId}; subscribing ${subscribers} (${CONCURRENCY} at a time, at most ${SETUP_SECONDS} s)`);

    // A window over setting up and the warm-up: what the server ended meanwhile, and who dropped.
    await run.startWindow();
    const started = performance.now();
    const deadline = started + SETUP_SECONDS * 1000;
    /** Subscription ids by the node whose WebSocket they came through. */
    const joined = new Map<string, string[]>(cluster.nodes.map((n) => [n.id, []]));
    const failures: Record<string, number> = {};
    const fail = (why: string): void => void (failures[why] = (failures[why] ?? 0) + 1);
    let made = 0;
    let lastReport = started;
    let lastCounts = run.progress();
    // CONCURRENCY loops take the next subscriber in turn and stop at the deadline, so setting up
    // ends at most one subscribe attempt (two 15 s timeouts) after SETUP_SECONDS.
    let next = 0;
    const addOne = async (i: number): Promise<void> => {
      const node = cluster.nodes[i % cluster.nodes.length]!;
      let p: ParticipantRef;
      try {
        p = await run!.join(sessionId, 1, node.url);
      } catch (err) {
        return fail(`join: ${(err as Error).message.slice(0, 80)}`);
      }
      try {
        const { subscription } = await run!.subscribe(p, streamId, 1);
        made++;
        joined.get(node.id)!.push(subscription);
      } catch (err) {
        fail(`subscribe: ${(err as Error).message.slice(0, 80)}`);
      }
      if (performance.now() - lastReport > 10_000) {
        // What flows while subscribers are added: a publisher that stops sending shows here.
        const now = performance.now();
        const counts = run!.progress();
        const per = (a: number, b: number): string => fmt((a - b) / ((now - lastReport) / 1000));
        log(`  ${made} subscribed after ${fmt((now - started) / 1000)} s; publisher sends ${per(counts.txPackets, lastCounts.txPackets)} pkt/s, subscribers receive ${per(counts.rxPackets, lastCounts.rxPackets)} pkt/s; load average ${loadavg()[0]!.toFixed(1)}`);
        lastReport = now;
        lastCounts = counts;
      }
    };
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < subscribers && performance.now() < deadline) await addOne(next++);
      }),
    );
    for (; next < subscribers; next++) fail('not tried: setup time over');
    const setupSeconds = (performance.now() - started) / 1000;
    const failed = subscribers - made;
    log(`${made} subscribed, ${failed} failed in ${fmt(setupSeconds, 1)} s; warm-up ${WARMUP} s, then ${SECONDS} s measured`);
    await new Promise((r) => setTimeout(r, WARMUP * 1000));
    const before = await run.endWindow();
    const endedBefore = Object.entries(before.failures.serverEnded);
    log(`during setup and warm-up: ${before.failures.publishersDown} publisher and ${before.failures.subscriptionsDown} subscriber peer connections down at the end; ended by the server: ${endedBefore.map(([k, n]) => `${n}× ${k}`).join(', ') || 'none'}`);

    const forwarded = async (n: ClusterNodeProcess): Promise<number> => nodeMetric(n, 'colloquy_forwarded_packets_total');
    const fwdBefore = await Promise.all(cluster.nodes.map(forwarded));
    const cpuBefore: ProcSample[] = cluster.nodes.map((n) => sampleProcess(n.child.pid!));
    const machineBefore = sampleMachine();
    const window = await run.measure(SECONDS);
    const cpuAfter: ProcSample[] = cluster.nodes.map((n) => sampleProcess(n.child.pid!));
    const machineAfter = sampleMachine();
    const fwdAfter = await Promise.all(cluster.nodes.map(forwarded));
    const perNode: NodeFigures[] = [];
    for (const [i, n] of cluster.nodes.entries()) {
      perNode.push({
        id: n.id,
        home: n.id === homeId,
        subscribersJoined: joined.get(n.id)!.length,
        cores: coreShare(cpuBefore[i]!, cpuAfter[i]!),
        rssMb: cpuAfter[i]!.rssBytes / 2 ** 20,
        pipesOut: await nodeMetric(n, 'colloquy_cluster_pipes', 'direction="out"'),
        pipesIn: await nodeMetric(n, 'colloquy_cluster_pipes', 'direction="in"'),
        forwardedPerSecond: (fwdAfter[i]! - fwdBefore[i]!) / ((cpuAfter[i]!.at - cpuBefore[i]!.at) / 1000),
        // A subscription the window did not see (it closed) counts as lost.
        loss: joined.get(n.id)!.map((id) => window.subscriptionLossPercent[id] ?? 100),
      });
    }
    const machineBusyCores = (machineAfter.busyUs - machineBefore.busyUs) / ((machineAfter.at - machineBefore.at) * 1000);
    if (window.failures.publishersDown > 0 || window.framesPerSecond === 0) {
      // Why the media stopped: what the nodes logged (warnings and errors; TEST_LOG_LEVEL=info for more).
      for (const n of cluster.nodes) {
        const lines = n.output().split('\n').filter((l) => l.trim());
        log(`${n.id} logged ${lines.length} lines; the last ones:\n${lines.slice(-8).map((l) => `    ${l.slice(0, 300)}`).join('\n')}`);
      }
    }
    return { label, nodes: nodeCount, subscribers, made, failed, failures, setupSeconds, window, perNode, machineBusyCores, loss: perNode.flatMap((n) => n.loss), publisherWorker: publisher.worker };
  } finally {
    log('closing the load processes and the nodes…');
    await run?.close();
    redis.disconnect();
    await cluster.close();
  }
}

function print(r: PointResult): void {
  const w = r.window;
  const loss = r.loss;
  const over = loss.filter((l) => l > 1).length;
  const verdict = loss.length > 0 && percentile(loss, 99) < 1 ? `under 1 % loss for 99 % of the subscriptions made${r.failed ? ` (but ${r.failed} failed)` : ''}` : 'NOT under 1 % loss';
  log(`\n### ${r.label} (${SECONDS} s measured; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')})`);
  log(`- subscriptions: ${r.made} made, ${r.failed} failed${r.failed ? ` (${Object.entries(r.failures).map(([k, n]) => `${n}× ${k}`).join('; ')})` : ''}; setup ${fmt(r.setupSeconds, 1)} s`);
  log(`- per-subscriber loss: median ${fmt(percentile(loss, 50), 2)} %, p99 ${fmt(percentile(loss, 99), 2)} %, max ${fmt(loss.length ? Math.max(...loss) : NaN, 2)} %; over 1 %: ${over} of ${loss.length} (${fmt((100 * over) / Math.max(1, loss.length), 1)} %) → ${verdict}`);
  log(`- all packets: ${fmt(w.lossPercent, 2)} % lost; received ${fmt(w.received.packetsPerSecond)} pkt/s, ${fmt(w.received.bitsPerSecond / 1e6, 1)} Mbit/s; sent ${fmt(w.sent.bitsPerSecond / 1000)} kbit/s (${w.sent.skipped} frames skipped by the publisher)`);
  log(`- whole frames received: ${fmt(w.framesPerSecond)} /s in all; per subscriber p50 ${fmt(w.fps.p50, 1)}, min ${fmt(w.fps.min, 1)} (the clip is ${CLIP.fps} fps); latency p50 ${fmt(w.latencyMs.p50, 1)} ms, p99 ${fmt(w.latencyMs.p99, 1)} ms`);
  const ended = Object.entries(w.failures.serverEnded);
  if (ended.length || w.failures.subscriptionsDown || w.failures.publishersDown) {
    log(`- in the window: ${w.failures.subscriptionsDown} subscriber and ${w.failures.publishersDown} publisher peer connections down; ended by the server: ${ended.map(([k, n]) => `${n}× ${k}`).join(', ') || 'none'}`);
  }
  log('\n| node | subscribers joined there | their loss median / p99 % | > 1 % | CPU (cores) | RSS MB | pipes out / in | forwarded pkt/s |');
  log('|---|---|---|---|---|---|---|---|');
  for (const n of r.perNode) {
    log(`| ${n.id}${n.home ? ' (home)' : ''} | ${n.subscribersJoined} | ${fmt(percentile(n.loss, 50), 2)} / ${fmt(percentile(n.loss, 99), 2)} | ${n.loss.filter((l) => l > 1).length} | ${fmt(n.cores, 2)} | ${fmt(n.rssMb)} | ${n.pipesOut} / ${n.pipesIn} | ${fmt(n.forwardedPerSecond)} |`);
  }
  const nodesCores = r.perNode.reduce((a, n) => a + n.cores, 0);
  log(`\n- load generator: ${w.generator.processes} processes, ${w.generator.processCores.map((c) => fmt(c, 2)).join(' / ')} cores (${fmt(w.generator.cores, 2)} in all; process ${r.publisherWorker + 1} holds the publisher, and no subscriber while the others have room); event-loop p99 ${fmt(w.generator.eventLoopP99Ms)} ms${w.generator.saturated ? ' → **SATURATED**: a generator process near a full core or skipping frames: loss is (also) the generator\'s' : ''}`);
  log(`- machine: ${fmt(r.machineBusyCores, 2)} of ${availableParallelism()} cores busy (nodes ${fmt(nodesCores, 2)}, generator ${fmt(w.generator.cores, 2)}, the rest: redis, kernel, other jobs ${fmt(Math.max(0, r.machineBusyCores - nodesCores - w.generator.cores), 2)})`);
}

async function main(): Promise<void> {
  const points: [number, number][] = [[NODES, SUBSCRIBERS]];
  if (BASELINE !== 'off') points.push([1, BASELINE === 'same' ? SUBSCRIBERS : Number(BASELINE)]);
  const results: PointResult[] = [];
  for (const [nodes, n] of points) {
    const r = await runPoint(nodes, n);
    print(r);
    results.push(r);
  }
  log('\n| point | made / failed | loss median / p99 % | subscribers > 1 % | frames/s | node CPU (cores) | generator CPU (cores) | gen. saturated |');
  log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const loss = r.loss;
    log(
      `| ${r.label} | ${r.made} / ${r.failed} | ${fmt(percentile(loss, 50), 2)} / ${fmt(percentile(loss, 99), 2)} | ${loss.filter((l) => l > 1).length} | ${fmt(r.window.framesPerSecond)} | ${r.perNode.map((n) => fmt(n.cores, 2)).join(' + ')} | ${fmt(r.window.generator.cores, 2)} | ${r.window.generator.saturated ? 'yes' : 'no'} |`,
    );
  }
}

await main();
