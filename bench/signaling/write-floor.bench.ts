// The floor under a signaling fan-out on this machine, without Colloquy or WebSocket: one process
// writes one small ready-made frame to each of N loopback TCP sockets (TCP_NODELAY, as ws sets it)
// whose peers are held by reader processes; repeated R times. Prints the writer's wall time and CPU
// per round and per write, the readers' CPU per delivery, and when the last reader saw each round
// (delivery p50/p99 as the signaling suite measures it). On loopback a write system call also runs
// the receiver's TCP processing, so this is what one core pays per recipient before any of our
// code runs, and what the bench's client processes pay per delivery.
//
//   npm run signaling:write-floor -w @colloquy/bench [-- --sockets 5000 --rounds 10 --readers 2]

import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fmt, percentile } from '../lib/stats.js';
import { machineMs } from '../load/frame-marker.js';

const FRAME_BYTES = 120;
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ReaderReply {
  latencies?: number[];
  cpuUs?: number;
  connected?: number;
}

async function reader(): Promise<void> {
  const sockets: Socket[] = [];
  let latencies: number[] = [];
  process.on('message', (m: { op: string; port?: number; count?: number }) => {
    if (m.op === 'connect') {
      let open = 0;
      for (let i = 0; i < m.count!; i++) {
        const s = connect(m.port!, '127.0.0.1', () => {
          if (++open === m.count) process.send!({ connected: open } satisfies ReaderReply);
        });
        s.setNoDelay(true);
        // Each frame carries its send time on the machine's monotonic clock (shared by all processes).
        s.on('data', (data: Buffer) => latencies.push(machineMs() - data.readDoubleLE(0)));
        sockets.push(s);
      }
    } else if (m.op === 'collect') {
      const u = process.cpuUsage();
      process.send!({ latencies, cpuUs: u.user + u.system } satisfies ReaderReply);
      latencies = [];
    }
  });
  process.on('disconnect', () => process.exit(0));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sockets: { type: 'string' }, rounds: { type: 'string' }, readers: { type: 'string' } } });
  const n = Number(values.sockets ?? 5000);
  const rounds = Number(values.rounds ?? 10);
  const readerCount = Number(values.readers ?? 2);
  if (!(n > 0 && n <= 50_000 && rounds > 0 && rounds <= 100 && readerCount > 0 && readerCount <= 8)) throw new Error('--sockets 1..50000, --rounds 1..100, --readers 1..8');
  const accepted: Socket[] = [];
  const server = createServer({ noDelay: true }, (s) => void accepted.push(s));
  server.listen({ port: 0, host: '127.0.0.1', backlog: 8192 });
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const children: ChildProcess[] = [];
  const ask = (c: ChildProcess, m: object): Promise<ReaderReply> =>
    new Promise((resolve) => {
      c.once('message', (r) => resolve(r as ReaderReply));
      c.send(m);
    });
  try {
    for (let i = 0; i < readerCount; i++) children.push(fork(fileURLToPath(import.meta.url), ['--reader'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const per = Math.ceil(n / readerCount);
    await Promise.all(children.map((c, i) => ask(c, { op: 'connect', port, count: Math.min(per, n - i * per) })));
    for (let waited = 0; accepted.length < n && waited < 60_000; waited += 50) await sleep(50);
    if (accepted.length < n) throw new Error(`only ${accepted.length}/${n} sockets accepted`);
    const before = await Promise.all(children.map((c) => ask(c, { op: 'collect' })));
    const wallMs: number[] = [];
    let writerCpuUs = 0;
    for (let r = 0; r < rounds; r++) {
      const frame = Buffer.alloc(FRAME_BYTES, 0x20);
      frame.writeDoubleLE(machineMs(), 0);
      const cpu = process.cpuUsage();
      const t = performance.now();
      for (const s of accepted) s.write(frame);
      wallMs.push(performance.now() - t);
      const used = process.cpuUsage(cpu);
      writerCpuUs += used.user + used.system;
      await sleep(Math.max(300, n / 10));
    }
    const after = await Promise.all(children.map((c) => ask(c, { op: 'collect' })));
    const latencies = after.flatMap((a) => a.latencies ?? []);
    const readerCpuMs = after.map((a, i) => ((a.cpuUs ?? 0) - (before[i]!.cpuUs ?? 0)) / 1000);
    log(
      `write floor, ${n} loopback sockets, ${rounds} rounds of one ${FRAME_BYTES}-byte write each: writer ${fmt(percentile(wallMs, 50), 1)} ms per round (p50; max ${fmt(Math.max(...wallMs), 1)}), ` +
        `CPU ${fmt(writerCpuUs / 1000 / rounds, 1)} ms per round = ${fmt(writerCpuUs / rounds / n, 1)} µs per write; readers ${readerCpuMs.map((c) => fmt(c / rounds, 1)).join(' + ')} ms per round ` +
        `(${fmt((readerCpuMs.reduce((a, b) => a + b, 0) * 1000) / Math.max(1, latencies.length), 1)} µs per delivery); delivery p50 ${fmt(percentile(latencies, 50), 1)} ms, p99 ${fmt(percentile(latencies, 99), 1)} ms ` +
        `(${latencies.length} deliveries); load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    );
  } finally {
    for (const c of children) c.kill();
    for (const s of accepted) s.destroy();
    server.close();
  }
}

if (process.argv.includes('--reader')) void reader();
else
  main().catch((err: unknown) => {
    log(String((err as Error).stack ?? err));
    process.exit(1);
  });
