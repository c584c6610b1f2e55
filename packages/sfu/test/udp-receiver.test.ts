import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { loopbackSockets, until } from './udp-sockets.js';
import { dgramState, nativePacket } from '../src/native.js';
import { BatchedReceiver, datagramArrival, ipv6, RECEIVE_SLOT_BYTES } from '../src/udp-receiver.js';

const { bound } = loopbackSockets();

describe('ipv6 text', () => {
  const text = (hex: string): string => ipv6(Buffer.from(hex.replace(/:/g, ''), 'hex'), 0);
  it('writes addresses as Node does (RFC 5952)', () => {
    expect(text('0000:0000:0000:0000:0000:0000:0000:0001')).toBe('::1');
    expect(text('0000:0000:0000:0000:0000:0000:0000:0000')).toBe('::');
    expect(text('fe80:0000:0000:0000:0202:b3ff:fe1e:8329')).toBe('fe80::202:b3ff:fe1e:8329');
    expect(text('2001:0db8:0000:0001:0000:0000:0000:0001')).toBe('2001:db8:0:1::1');
    expect(text('2001:0db8:0001:0002:0003:0004:0005:0006')).toBe('2001:db8:1:2:3:4:5:6');
    expect(text('2001:0db8:0000:0001:0001:0001:0001:0001')).toBe('2001:db8:0:1:1:1:1:1');
    expect(text('0000:0000:0000:0000:0000:ffff:0a00:0001')).toBe('::ffff:10.0.0.1');
  });
});

describe.skipIf(nativePacket === null)('BatchedReceiver', () => {
  it('reads every datagram with its source, in order, and gives the socket back to its message events on stop', async () => {
    const receiver = await bound();
    const sender = await bound();
    const got: { text: string; address: string; port: number; family: string }[] = [];
    const batched = BatchedReceiver.start(receiver, (data, source) => {
      got.push({ text: data.toString(), address: source.address, port: source.port, family: source.family });
    });
    expect(batched).not.toBeNull();
    const events: string[] = [];
    receiver.on('message', (m) => events.push(m.toString()));
    const to = receiver.address().port;
    for (let i = 0; i < 100; i++) sender.send(`datagram ${i}`, to, '127.0.0.1');
    await until('100 datagrams', () => got.length === 100);
    expect(got.map((g) => g.text)).toEqual(Array.from({ length: 100 }, (_, i) => `datagram ${i}`));
    expect(new Set(got.map((g) => `${g.family} ${g.address}:${g.port}`))).toEqual(new Set([`IPv4 127.0.0.1:${sender.address().port}`]));
    expect(events).toEqual([]);
    expect(batched!.datagrams).toBe(100);

    batched!.stop();
    batched!.stop(); // idempotent
    expect(batched!.running).toBe(false);
    sender.send('after stop', to, '127.0.0.1');
    await until('the message event', () => events.length === 1);
    expect(events).toEqual(['after stop']);
    expect(got).toHaveLength(100);
  });

  it('gives each datagram the time it reached the host, not the time a busy event loop read it', async () => {
    const receiver = await bound();
    // Read during the handler's call: when the datagram arrived, and when it was read.
    const got: { sentAt: number; arrival: number; readAt: number }[] = [];
    const batched = BatchedReceiver.start(receiver, (data) => {
      got.push({ sentAt: Number(data.toString()), arrival: performance.timeOrigin + datagramArrival(), readAt: performance.timeOrigin + performance.now() });
    });
    expect(batched).not.toBeNull();
    // A sender on a thread of its own, so that it keeps sending while this thread is blocked: ten
    // datagrams 20 ms apart, each carrying its send time (epoch ms).
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const socket = require('node:dgram').createSocket('udp4');
       parentPort.once('message', () => {
         let sent = 0;
         const next = () => socket.send(String(performance.timeOrigin + performance.now()), workerData, '127.0.0.1', () => {
           if (++sent < 10) setTimeout(next, 20);
           else parentPort.postMessage('sent');
         });
         next();
       });`,
      { eval: true, workerData: receiver.address().port },
    );
    let blockedUntil = 0;
    try {
      await once(worker, 'online');
      const sent = once(worker, 'message');
      worker.postMessage('go');
      // This thread's event loop is busy (blocked) while the datagrams arrive: none is read before
      // the block ends, whatever the machine's load.
      blockedUntil = performance.timeOrigin + performance.now() + 400;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400);
      await sent;
      await until('ten datagrams', () => got.length === 10);
    } finally {
      await worker.terminate();
    }
    expect(got.filter((g) => g.readAt < blockedUntil)).toEqual([]);
    // Datagrams sent during the block were read after it, yet keep their own arrival times:
    // each within a few ms of its send time, and spread as they were sent, not clumped at the read.
    const late = got.filter((g) => g.sentAt < blockedUntil - 50);
    expect(late.length).toBeGreaterThanOrEqual(3);
    for (const g of got) {
      expect(g.arrival).toBeGreaterThanOrEqual(g.sentAt - 2); // two threads' epoch origins agree within ~1 ms
      expect(g.arrival - g.sentAt).toBeLessThan(50); // loopback: the kernel has it at once (50: a loaded machine's preemption)
      expect(g.arrival).toBeLessThanOrEqual(g.readAt + 0.01);
    }
    const lateArrivals = late.map((g) => g.arrival);
    const lateSends = late.map((g) => g.sentAt);
    expect(Math.max(...lateArrivals) - Math.min(...lateArrivals)).toBeGreaterThan(0.5 * (Math.max(...lateSends) - Math.min(...lateSends)));
    expect(Math.min(...late.map((g) => g.readAt - g.arrival))).toBeGreaterThan(10); // they were read late
    batched!.stop();
    // Outside a batched delivery: now.
    const before = performance.now();
    const arrival = datagramArrival();
    expect(arrival).toBeGreaterThanOrEqual(before);
    expect(arrival).toBeLessThanOrEqual(performance.now());
  });

  it('reads IPv6 sources, drops and counts datagrams larger than a slot', async () => {
    const receiver = await bound('udp6');
    const sender = await bound('udp6');
    const got: string[] = [];
    const batched = BatchedReceiver.start(receiver, (data, source) => got.push(`${source.family} ${source.address} ${data.length}`));
    sender.send(Buffer.alloc(RECEIVE_SLOT_BYTES + 1), receiver.address().port, '::1');
    sender.send(Buffer.alloc(RECEIVE_SLOT_BYTES), receiver.address().port, '::1');
    await until('the second datagram', () => got.length === 1);
    expect(got).toEqual([`IPv6 ::1 ${RECEIVE_SLOT_BYTES}`]);
    expect(batched!.truncated).toBe(1);
    batched!.stop();
  });

  it('stops when its socket closes, and a handler may stop it mid-batch', async () => {
    const receiver = await bound();
    const sender = await bound();
    let seen = 0;
    const batched = BatchedReceiver.start(receiver, () => {
      seen++;
      batched!.stop();
    });
    for (let i = 0; i < 10; i++) sender.send(`x${i}`, receiver.address().port, '127.0.0.1');
    await until('the first datagram', () => seen > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toBe(1);

    const second = await bound();
    const other = BatchedReceiver.start(second, () => {});
    await new Promise<void>((resolve) => second.close(() => resolve()));
    expect(other!.running).toBe(false);
  });

  it('a worker thread that ends with a receiver running ends cleanly (its poll handle is closed at teardown)', async () => {
    // The native module straight from the worker (it cannot import this package's TypeScript):
    // before the teardown hook, Node aborted the whole process here ("uv_loop_close() while having open handles").
    const addon = new URL('../build/Release/colloquy_packet.node', import.meta.url).pathname;
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const native = require(${JSON.stringify(addon)});
       const socket = require('node:dgram').createSocket('udp4');
       socket.bind(0, '127.0.0.1', () => {
         const state = socket[Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol')];
         state.handle.recvStop();
         native.udpRecvStart(state.handle.fd, new Uint8Array(4 * 2048), new Int32Array(4 * native.recvMeta), 2048, () => {});
         parentPort.postMessage('receiving');
       });`,
      { eval: true },
    );
    const [message] = (await once(worker, 'message')) as [string];
    expect(message).toBe('receiving');
    const exited = once(worker, 'exit');
    await worker.terminate();
    expect((await exited)[0]).toBe(1); // terminated, and this process is still here to see it
  });

  it('a handler that throws loses no other datagram of its batch, and its error surfaces after the batch', async () => {
    const receiver = await bound();
    const sender = await bound();
    const got: string[] = [];
    const errors: unknown[] = [];
    const onUncaught = (err: unknown): void => {
      errors.push(err);
    };
    // vitest's own listener would fail the test: this one takes the surfaced error instead.
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    try {
      const batched = BatchedReceiver.start(receiver, (data) => {
        const text = data.toString();
        if (text === 'bad') throw new Error('bad datagram');
        got.push(text);
      });
      for (const text of ['one', 'bad', 'two', 'three']) sender.send(text, receiver.address().port, '127.0.0.1');
      await until('the three good datagrams', () => got.length === 3 && errors.length === 1);
      expect(got).toEqual(['one', 'two', 'three']);
      expect((errors[0] as Error).message).toBe('bad datagram');
      batched!.stop();
    } finally {
      process.off('uncaughtException', onUncaught);
      for (const l of listeners) process.on('uncaughtException', l);
    }
  });

  it('leaves the socket to its message events when the native start fails (e.g. out of descriptors)', async () => {
    const receiver = await bound();
    const sender = await bound();
    const handle = dgramState(receiver)!.handle as object;
    // A descriptor that is not open: the native dup() fails as it would with EMFILE.
    Object.defineProperty(handle, 'fd', { value: 1_000_000, configurable: true });
    const got: string[] = [];
    expect(BatchedReceiver.start(receiver, (data) => got.push(data.toString()))).toBeNull();
    delete (handle as { fd?: number }).fd;
    const events: string[] = [];
    receiver.on('message', (m) => events.push(m.toString()));
    sender.send('still heard', receiver.address().port, '127.0.0.1');
    await until('the message event', () => events.length === 1);
    expect(events).toEqual(['still heard']);
    expect(got).toEqual([]);
  });

  it('refuses a socket that is not bound', () => {
    const socket = createSocket('udp4');
    expect(BatchedReceiver.start(socket, () => {})).toBeNull();
    socket.close();
  });
});
