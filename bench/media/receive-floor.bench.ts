// What receiving one UDP datagram costs a Node.js process on this machine, against the kernel's
// floor: a sender (this process) sends 1200-byte datagrams to 127.0.0.1 in bursts of B every GAP
// ms — a 1.5 Mbps video stream arrives as bursts of ~3 packets, 30 times a second plus audio — and
// a receiver counts them: a Node dgram socket (`socket.on('message')`, what werift's ICE sockets and
// the SFU's receive path sit on), or a C program doing what libuv does underneath (epoll_wait, then
// recvfrom until EAGAIN; receive-floor.c, built with the machine's cc). Each prints its CPU per
// datagram; from bursts of 1 and 10 the bench splits the cost into "per wake-up" and "per further
// datagram in the same wake-up". The SFU's "publisher alone" point (bench/run.ts) pays Node's
// figure on every packet of a publisher before any of our code runs.
//
//   npm run media:receive-floor -w @colloquy/bench [-- --frames 1000 --gap 13 --rounds 3]

import { execFileSync, fork, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { fmt, median } from '../lib/stats.js';

const PAYLOAD = Buffer.alloc(1200, 0x5a);
const END = Buffer.from([0]);
const BURSTS = [1, 3, 10];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Child role: a Node dgram receiver on `port`; sends {datagrams, cpuUs} to the parent at the end datagram. */
function nodeReceiver(port: number): void {
  const socket = createSocket('udp4');
  let count = 0;
  let start: NodeJS.CpuUsage | null = null;
  socket.on('message', (message) => {
    start ??= process.cpuUsage();
    if (message.length === 1) {
      const used = process.cpuUsage(start);
      process.send!({ datagrams: count, cpuUs: used.user + used.system }, () => process.exit(0));
      return;
    }
    count++;
  });
  socket.bind(port, '127.0.0.1', () => process.send!({ ready: true }));
}

async function send(port: number, burst: number, frames: number, gapMs: number): Promise<void> {
  const socket = createSocket('udp4');
  socket.on('error', () => {}); // the end markers after the receiver exited come back as ECONNREFUSED
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  for (let f = 0; f < frames; f++) {
    for (let i = 0; i < burst; i++) socket.send(PAYLOAD);
    await sleep(gapMs);
  }
  // The end marker, repeated in case one is dropped: the receiver stops at the first.
  for (let i = 0; i < 5; i++) {
    socket.send(END);
    await sleep(20);
  }
  socket.close();
}

async function runNode(port: number, burst: number, frames: number, gapMs: number): Promise<number> {
  const child = fork(fileURLToPath(import.meta.url), ['--role', 'node-receiver', '--port', String(port)], { stdio: 'inherit' });
  const [ready] = (await once(child, 'message')) as [{ ready?: boolean }];
  if (!ready.ready) throw new Error('node receiver did not start');
  const result = once(child, 'message') as Promise<[{ datagrams: number; cpuUs: number }]>;
  await send(port, burst, frames, gapMs);
  const [{ datagrams, cpuUs }] = await result;
  return cpuUs / datagrams;
}

async function runC(binary: string, port: number, burst: number, frames: number, gapMs: number): Promise<number> {
  const child = spawn(binary, [String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit');
  while (!out.includes('ready')) await sleep(10);
  await send(port, burst, frames, gapMs);
  await exited;
  const [datagrams, cpuUs] = out.trim().split('\n').pop()!.split(' ').map(Number);
  return cpuUs! / datagrams!;
}

function buildC(): string | null {
  const binary = join(mkdtempSync(join(tmpdir(), 'receive-floor-')), 'receive-floor');
  const source = fileURLToPath(new URL('../../media/receive-floor.c', import.meta.url));
  try {
    execFileSync('cc', ['-O2', '-o', binary, source], { stdio: 'inherit' });
    return binary;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { role: { type: 'string' }, port: { type: 'string' }, frames: { type: 'string' }, gap: { type: 'string' }, rounds: { type: 'string' } },
  });
  if (values.role === 'node-receiver') return nodeReceiver(Number(values.port));
  const frames = Number(values.frames ?? 1000);
  const gapMs = Number(values.gap ?? 13);
  const rounds = Number(values.rounds ?? 3);
  const binary = buildC();
  console.log(`receive floor: 1200-byte datagrams on 127.0.0.1, ${frames} bursts ${gapMs} ms apart, ${rounds} rounds alternated (median), load average ${loadavg()[0]!.toFixed(2)}`);
  if (binary === null) console.log('  (no cc: the C receiver is skipped)');
  const rows: { burst: number; node: number; c: number | null }[] = [];
  let port = 41_700 + Math.floor(Math.random() * 200);
  for (const burst of BURSTS) {
    const node: number[] = [];
    const c: number[] = [];
    for (let r = 0; r < rounds; r++) {
      if (binary !== null) c.push(await runC(binary, port++, burst, frames, gapMs));
      node.push(await runNode(port++, burst, frames, gapMs));
    }
    rows.push({ burst, node: median(node), c: binary === null ? null : median(c) });
    console.log(`  burst ${String(burst).padStart(2)}: node dgram ${fmt(median(node), 1)} µs CPU per datagram [${node.map((x) => fmt(x, 1)).join(', ')}]${binary === null ? '' : `, C epoll+recvfrom ${fmt(median(c), 1)} [${c.map((x) => fmt(x, 1)).join(', ')}], ratio ${fmt(median(node) / median(c), 1)}x`}`);
  }
  const split = (one: number, ten: number): { wake: number; more: number } => {
    const more = (ten * 10 - one) / 9;
    return { wake: one - more, more };
  };
  const first = rows.find((r) => r.burst === 1)!;
  const last = rows.find((r) => r.burst === 10)!;
  const n = split(first.node, last.node);
  console.log(`  node dgram: ~${fmt(n.wake, 1)} µs per wake-up, ~${fmt(n.more, 1)} µs per further datagram in the same wake-up`);
  if (first.c !== null && last.c !== null) {
    const k = split(first.c, last.c);
    console.log(`  C:          ~${fmt(k.wake, 1)} µs per wake-up, ~${fmt(k.more, 1)} µs per further datagram in the same wake-up`);
  }
}

await main();
