// The cost of a cross-node media hop (docs/cluster.md, "Sessions that span nodes"): a publisher's
// packet reaching a subscriber's consumer on the home node (local forwarding) against the same
// packet going home producer → PipeTransport → UDP on loopback → the edge's pipe producer → the
// edge's consumer (media/pipe-transport.ts), as a spanning session does. Both routers run in this
// process, so the pipe figure holds BOTH nodes' share of the hop (send and receive).
// Measured per mode, at RATE packets/s of 1100-byte VP8 payloads for PACKETS packets:
//   - latency from Producer.receive() to the consumer's send (the subscriber transport's input), p50/p99;
//   - process CPU (user + system) per packet, over the whole run, less an idle run of the same length.
// The consumer's SRTP and UDP send to the browser are the same on either node and left out (a sink
// that records the time): media/forward.bench.ts measures them.
// Usage: npm run cluster:pipe-hop -w @colloquy/bench   (PACKETS=20000 RATE=2000 ROUNDS=3)

import { Consumer, ForwardingTable, MediaEngine, Producer, RtpView } from '@colloquy/sfu';
import { pino } from 'pino';
import { RtpHeader, RtpPacket } from 'werift';
import { envInt, fmt, median, percentile } from '../lib/stats.js';

const PACKETS = envInt('PACKETS', 20_000);
const RATE = envInt('RATE', 2000);
const ROUNDS = envInt('ROUNDS', 3);
const BATCH_MS = 2;
const log = (line: string): void => void process.stdout.write(`${line}\n`);

const payload = (keyFrame: boolean): Buffer => {
  const p = Buffer.alloc(1100, 7);
  p[0] = 0x10; // VP8 descriptor: S=1, partition 0
  p[1] = keyFrame ? 0x00 : 0x01;
  if (keyFrame) {
    p.set([0x9d, 0x01, 0x2a], 4);
    p.writeUInt16LE(640, 7);
    p.writeUInt16LE(480, 9);
  }
  return p;
};
const KEY = payload(true);
const DELTA = payload(false);

function homeProducer(): Producer {
  return new Producer({
    id: `video-${Math.random()}`,
    kind: 'video',
    codec: { name: 'VP8', mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 },
    ssrc: 0x1234,
    streamId: 'stream',
    extensionUris: [],
    link: { sendPli: () => {}, receiveStats: () => undefined, nackCount: () => 0 },
  });
}

/**
 * A consumer whose "send" records when each packet arrived (by its output sequence number), in
 * the forwarding table that holds `producer` (its router's, as a subscriber transport adds it).
 */
function timedConsumer(producer: Producer, arrivals: Float64Array, forwarding: ForwardingTable): Consumer {
  const consumer = new Consumer({ id: `c-${Math.random()}`, producer, ssrc: 0xabc });
  forwarding.addConsumer(producer, consumer);
  consumer.setNegotiated({ payloadType: 96, mid: '1', extensionIds: new Map() });
  let first = -1;
  consumer.connect({
    sendRtp: (_payload: Buffer, header: { sequenceNumber: number }) => {
      if (first < 0) first = header.sequenceNumber;
      const index = (header.sequenceNumber - first) & 0xffff;
      if (index < arrivals.length) arrivals[index] = performance.now();
    },
  } as never);
  return consumer;
}

interface Result {
  latencies: number[];
  cpuUs: number;
  delivered: number;
}

/** Sends PACKETS packets into `producer` at RATE, stamping each; waits for the last to arrive. */
async function drive(producer: Producer, arrivals: Float64Array): Promise<Result> {
  const sentAt = new Float64Array(PACKETS);
  const perBatch = Math.max(1, Math.round((RATE * BATCH_MS) / 1000));
  let seq = 1000;
  let sent = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  while (sent < PACKETS) {
    const due = start + (sent / perBatch) * BATCH_MS;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (let i = 0; i < perBatch && sent < PACKETS; i++, sent++) {
      const header = new RtpHeader({ payloadType: 96, sequenceNumber: seq++ & 0xffff, timestamp: Math.floor(sent / 3) * 3000, ssrc: 0x1234, marker: sent % 3 === 2 });
      sentAt[sent] = performance.now();
      const view = new RtpView();
      view.parse(new RtpPacket(header, sent === 0 ? KEY : DELTA).serialize());
      producer.receive(view, 0);
    }
  }
  const deadline = performance.now() + 5000;
  while (arrivals[PACKETS - 1] === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const cpu = process.cpuUsage(cpu0);
  const latencies: number[] = [];
  for (let i = 0; i < PACKETS; i++) if (arrivals[i]! > 0) latencies.push((arrivals[i]! - sentAt[i]!) * 1000);
  return { latencies, cpuUs: cpu.user + cpu.system, delivered: latencies.length };
}

/** CPU of this process while it only waits for as long as a run lasts (timers, GC). */
async function idleCpuUs(): Promise<number> {
  const cpu0 = process.cpuUsage();
  const batches = Math.ceil(PACKETS / Math.max(1, Math.round((RATE * BATCH_MS) / 1000)));
  for (let i = 0; i < batches; i++) await new Promise((r) => setTimeout(r, BATCH_MS));
  const cpu = process.cpuUsage(cpu0);
  return cpu.user + cpu.system;
}

async function main(): Promise<void> {
  const engine = new MediaEngine({ logger: pino({ level: 'silent' }) });
  const rows: Record<'local' | 'pipe', { p50: number[]; p99: number[]; cpu: number[]; lost: number[] }> = {
    local: { p50: [], p99: [], cpu: [], lost: [] },
    pipe: { p50: [], p99: [], cpu: [], lost: [] },
  };
  log(`cross-node hop: ${PACKETS} packets of 1100 B at ${RATE}/s, ${ROUNDS} rounds; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  for (let round = 0; round < ROUNDS; round++) {
    const idle = await idleCpuUs();
    /** Drives `producer` into a consumer of `consumed` (the producer itself, or its far end) and keeps the figures. */
    const measure = async (mode: 'local' | 'pipe', producer: Producer, consumed: Producer, forwarding: ForwardingTable): Promise<void> => {
      const arrivals = new Float64Array(PACKETS);
      const consumer = timedConsumer(consumed, arrivals, forwarding);
      const r = await drive(producer, arrivals);
      rows[mode].p50.push(percentile(r.latencies, 50));
      rows[mode].p99.push(percentile(r.latencies, 99));
      rows[mode].cpu.push(Math.max(0, r.cpuUs - idle) / PACKETS);
      rows[mode].lost.push(PACKETS - r.delivered);
      consumer.close();
      producer.close();
    };
    // Local: the consumer is on the producer's own router.
    const local = homeProducer();
    const forwarding = new ForwardingTable();
    forwarding.addProducer(local);
    await measure('local', local, local, forwarding);
    // Pipe: home router → UDP loopback → edge router's pipe producer → the consumer.
    {
      const home = engine.createRouter({ id: `home-${round}` });
      const edge = engine.createRouter({ id: `edge-${round}` });
      const out = await home.createPipeTransport({ listenIp: '127.0.0.1' });
      const into = await edge.createPipeTransport({ listenIp: '127.0.0.1' });
      out.connect(into.localAddress);
      into.connect(out.localAddress);
      const producer = homeProducer();
      await measure('pipe', producer, into.produce(out.consume(producer)), edge.forwarding);
      await Promise.all([home.close(), edge.close()]);
    }
  }
  log('| path | latency p50 µs | latency p99 µs | CPU µs per packet | packets lost |');
  log('|---|---|---|---|---|');
  for (const mode of ['local', 'pipe'] as const) {
    const r = rows[mode];
    log(`| ${mode === 'local' ? 'local forwarding (same router)' : 'pipe hop (home → UDP → edge)'} | ${fmt(median(r.p50), 1)} | ${fmt(median(r.p99), 1)} | ${fmt(median(r.cpu), 1)} | ${r.lost.join('/')} |`);
  }
  log(`per round: local CPU ${rows.local.cpu.map((c) => c.toFixed(1)).join(', ')} µs; pipe CPU ${rows.pipe.cpu.map((c) => c.toFixed(1)).join(', ')} µs; pipe p99 ${rows.pipe.p99.map((c) => c.toFixed(0)).join(', ')} µs`);
  log(`the hop adds ${fmt(median(rows.pipe.cpu) - median(rows.local.cpu), 1)} µs of CPU per packet (both nodes' share) and ${fmt(median(rows.pipe.p50) - median(rows.local.p50), 1)} µs at p50`);
  await engine.close();
}

await main();
