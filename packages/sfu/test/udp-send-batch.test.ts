// The send batch: datagrams queued while a received batch is handled leave with one sendmmsg() per
// socket, each socket's in its queued order; one that cannot leave goes back to its sender.

import type { Socket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { loopbackSockets, until } from './udp-sockets.js';
import { dgramState, nativePacket } from '../src/native.js';
import { SEND_BATCH_SLOTS, SEND_SLOT_BYTES, UdpSendBatch, type BatchedSender } from '../src/udp-send-batch.js';

const { bound, forget } = loopbackSockets();

const fdOf = (socket: Socket): number => dgramState(socket)!.handle!.fd!;

describe.skipIf(nativePacket === null)('UdpSendBatch', () => {
  const native = nativePacket!;

  it('sends what was queued when the outermost end() comes, each socket\'s datagrams in order, one flush', async () => {
    const [a, b, to1, to2] = await Promise.all([bound(), bound(), bound(), bound()]);
    const got1: string[] = [];
    const got2: string[] = [];
    to1.on('message', (m) => got1.push(m.toString()));
    to2.on('message', (m) => got2.push(m.toString()));
    const address1 = native.udpAddress('127.0.0.1', to1.address().port, false)!;
    const address2 = native.udpAddress('127.0.0.1', to2.address().port, false)!;
    const batch = new UdpSendBatch(native);
    const failed: string[] = [];
    const sender: BatchedSender = { sendFailed: (d) => failed.push(d.toString()) };
    const put = (socket: Socket, address: typeof address1, text: string): void => {
      const n = batch.nextSlot().write(text);
      batch.queue(fdOf(socket), address, n, sender);
    };
    batch.begin();
    batch.begin(); // nested: only the outermost end sends
    // Interleaved across two sockets and two destinations, as a fan-out queues them.
    for (let i = 0; i < 5; i++) {
      put(a, address1, `a${i}`);
      put(b, address2, `b${i}`);
    }
    batch.end();
    expect(batch.open).toBe(true);
    expect(batch.flushes).toBe(0);
    batch.end();
    expect(batch.open).toBe(false);
    expect(batch.flushes).toBe(1);
    expect(batch.datagrams).toBe(10);
    await until('ten datagrams', () => got1.length + got2.length === 10);
    expect(got1).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    expect(got2).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    expect(failed).toEqual([]);
    batch.end(); // unmatched: harmless
  });

  it(`flushes early at ${SEND_BATCH_SLOTS} datagrams, and keeps their order across flushes`, async () => {
    const [a, to] = await Promise.all([bound(), bound()]);
    const got: number[] = [];
    to.on('message', (m) => got.push(m.readUInt32BE(0)));
    const address = native.udpAddress('127.0.0.1', to.address().port, false)!;
    const batch = new UdpSendBatch(native);
    const sender: BatchedSender = { sendFailed: () => {} };
    const total = SEND_BATCH_SLOTS * 2 + 5;
    batch.begin();
    for (let i = 0; i < total; i++) {
      batch.nextSlot().writeUInt32BE(i, 0);
      batch.queue(fdOf(a), address, 4, sender);
    }
    expect(batch.flushes).toBe(2);
    batch.end();
    expect(batch.flushes).toBe(3);
    await until(`${total} datagrams`, () => got.length === total);
    expect(got).toEqual(Array.from({ length: total }, (_, i) => i));
  });

  it('hands each datagram of a socket that fails back to its sender, in order; the other socket\'s still leave', async () => {
    const [good, closing, to] = await Promise.all([bound(), bound(), bound()]);
    const got: string[] = [];
    to.on('message', (m) => got.push(m.toString()));
    const address = native.udpAddress('127.0.0.1', to.address().port, false)!;
    const badFd = fdOf(closing);
    await new Promise<void>((resolve) => closing.close(() => resolve()));
    forget(closing);
    const batch = new UdpSendBatch(native);
    const failed: Array<{ text: string; errno: number }> = [];
    const sender: BatchedSender = { sendFailed: (d, errno) => failed.push({ text: d.toString(), errno }) };
    batch.begin();
    for (const [fd, text] of [[fdOf(good), 'g0'], [badFd, 'x0'], [fdOf(good), 'g1'], [badFd, 'x1']] as const) {
      const n = batch.nextSlot().write(text);
      batch.queue(fd, address, n, sender);
    }
    batch.end();
    await until('the good socket\'s two', () => got.length === 2);
    expect(got).toEqual(['g0', 'g1']);
    // EBADF: the descriptor was closed (or another error, should the number have been reused meanwhile).
    expect(failed.map((f) => f.text)).toEqual(['x0', 'x1']);
    expect(failed[0]!.errno).toBeLessThan(0);
    expect(failed[1]!.errno).toBe(failed[0]!.errno);
  });

  it('refuses what does not fit its ring or is not an address', async () => {
    const a = await bound();
    const ring = new Uint8Array(2 * SEND_SLOT_BYTES);
    const meta = new Int32Array(6);
    meta.set([fdOf(a), 10, 0, fdOf(a), 10, 0]);
    const address = native.udpAddress('127.0.0.1', 9, false)!;
    expect(() => native.udpSendMany(ring, meta, 3, [address, address, address], SEND_SLOT_BYTES)).toThrow(/more datagrams/);
    expect(() => native.udpSendMany(ring, meta, 2, [address, {} as typeof address], SEND_SLOT_BYTES)).toThrow(/not a udpAddress/);
    meta[1] = SEND_SLOT_BYTES + 1;
    expect(() => native.udpSendMany(ring, meta, 2, [address, address], SEND_SLOT_BYTES)).toThrow(/length/);
  });
});
