// The native module (native/packet.c) against Node's own crypto and real sockets: AES-128-GCM seal
// and open, HMAC-SHA1 for every key length class, the socket addresses it builds, sendto() on a
// dgram socket's descriptor, and its refusal of bad arguments. srtp.test.ts runs the RFC vectors
// through it; srtp-js.test.ts the same vectors without it.

import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { dgramState, nativePacket, type NativePacket } from '../src/native.js';

const native = (): NativePacket => {
  if (nativePacket === null) throw new Error('native module not built: run `npm run build -w @colloquy/sfu`');
  return nativePacket;
};

describe('AES-128-GCM', () => {
  for (const length of [0, 1, 15, 16, 17, 1200, 1500]) {
    it(`seals as Node's GCM does and opens its own output (${length} bytes)`, () => {
      const key = randomBytes(16);
      const iv = randomBytes(12);
      const aad = randomBytes(12);
      const aad2 = randomBytes(4);
      const plaintext = randomBytes(length);
      const cipher = createCipheriv('aes-128-gcm', key, iv);
      cipher.setAAD(Buffer.concat([aad, aad2]));
      const expected = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);

      const ctx = native().gcmNew(key);
      const out = Buffer.alloc(length + 16 + 3);
      native().gcmSeal(ctx, iv, aad, aad2, plaintext, out, 3);
      expect(out.subarray(3)).toEqual(expected);

      const opened = Buffer.alloc(length + 5);
      const whole = Buffer.concat([aad, aad2]);
      expect(native().gcmOpen(ctx, iv, whole, expected.subarray(0, length), expected.subarray(length), opened, 5)).toBe(true);
      expect(opened.subarray(5)).toEqual(plaintext);
    });
  }

  it('opens in place, and writes nothing when the tag or the associated data is wrong', () => {
    const key = randomBytes(16);
    const iv = randomBytes(12);
    const ctx = native().gcmNew(key);
    const header = randomBytes(12);
    const payload = randomBytes(300);
    const packet = Buffer.alloc(12 + 300 + 16);
    header.copy(packet);
    native().gcmSeal(ctx, iv, header, null, payload, packet, 12);

    const forged = Buffer.from(packet);
    forged[forged.length - 1]! ^= 1;
    const before = Buffer.from(forged);
    expect(native().gcmOpen(ctx, iv, forged.subarray(0, 12), forged.subarray(12, 312), forged.subarray(312), forged, 12)).toBe(false);
    expect(forged).toEqual(before);
    const otherHeader = Buffer.from(header);
    otherHeader[0]! ^= 0x80;
    expect(native().gcmOpen(ctx, iv, otherHeader, packet.subarray(12, 312), packet.subarray(312), Buffer.alloc(300), 0)).toBe(false);

    expect(native().gcmOpen(ctx, iv, packet.subarray(0, 12), packet.subarray(12, 312), packet.subarray(312), packet, 12)).toBe(true);
    expect(packet.subarray(12, 312)).toEqual(payload);
  });

  it('opens an SRTP packet in place by offsets as gcmOpen does, and writes nothing when the tag or the header is wrong', () => {
    const key = randomBytes(16);
    const iv = randomBytes(12);
    const ctx = native().gcmNew(key);
    for (const [headerLength, payloadLength] of [
      [12, 0],
      [12, 1],
      [24, 1200],
    ] as const) {
      const header = randomBytes(headerLength);
      const payload = randomBytes(payloadLength);
      const sealed = Buffer.alloc(headerLength + payloadLength + 16 + 7); // room after the tag is not read
      header.copy(sealed);
      native().gcmSeal(ctx, iv, header, null, payload, sealed, headerLength);
      const end = headerLength + payloadLength;

      const forged = Buffer.from(sealed);
      forged[end + 15]! ^= 1;
      const before = Buffer.from(forged);
      expect(native().gcmOpenPacket(ctx, iv, forged, headerLength, end, end + 16)).toBe(false);
      expect(forged).toEqual(before);
      const otherHeader = Buffer.from(sealed);
      otherHeader[1]! ^= 1;
      expect(native().gcmOpenPacket(ctx, iv, otherHeader, headerLength, end, end + 16)).toBe(false);

      const packet = Buffer.from(sealed);
      expect(native().gcmOpenPacket(ctx, iv, packet, headerLength, end, end + 16)).toBe(true);
      expect(packet.subarray(0, headerLength)).toEqual(header);
      expect(packet.subarray(headerLength, end)).toEqual(payload);
    }
    const packet = Buffer.alloc(40);
    expect(() => native().gcmOpenPacket(ctx, iv, packet, 12, 30, 46)).toThrow(/bad arguments/); // tag past the end
    expect(() => native().gcmOpenPacket(ctx, iv, packet, 12, 20, 30)).toThrow(/bad arguments/); // tag not 16 bytes
    expect(() => native().gcmOpenPacket(ctx, iv, packet, 14, 12, 28)).toThrow(/bad arguments/); // header past the ciphertext
  });

  it('refuses a wrong key, IV or output size', () => {
    expect(() => native().gcmNew(randomBytes(32))).toThrow(/16-byte key/);
    const ctx = native().gcmNew(randomBytes(16));
    expect(() => native().gcmSeal(ctx, randomBytes(16), Buffer.alloc(0), null, Buffer.alloc(10), Buffer.alloc(26), 0)).toThrow(/bad arguments/);
    expect(() => native().gcmSeal(ctx, randomBytes(12), Buffer.alloc(0), null, Buffer.alloc(10), Buffer.alloc(25), 0)).toThrow(/too small/);
    expect(() => native().gcmSeal({} as never, randomBytes(12), Buffer.alloc(0), null, Buffer.alloc(1), Buffer.alloc(17), 0)).toThrow(/bad arguments/);
  });
});

describe('HMAC-SHA1', () => {
  for (const keyLength of [1, 20, 64, 65, 200]) {
    it(`matches Node's HMAC with a ${keyLength}-byte key, for a range of the data`, () => {
      const key = randomBytes(keyLength);
      const data = randomBytes(1300);
      const expected = createHmac('sha1', key).update(data.subarray(7, 1223)).digest();
      const ctx = native().hmacNew(key);
      const digest = Buffer.alloc(20);
      native().hmacSign(ctx, data, 7, 1223, digest, 0, 20);
      expect(digest).toEqual(expected);
      const out = Buffer.alloc(16);
      native().hmacSign(ctx, data, 7, 1223, out, 6, 10);
      expect(out.subarray(6)).toEqual(expected.subarray(0, 10));
      // The same context again: the keyed states are copied, never consumed.
      native().hmacSign(ctx, data, 7, 1223, out, 0, 4);
      expect(out.subarray(0, 4)).toEqual(expected.subarray(0, 4));
      expect(native().hmacVerify(ctx, data, 7, 1223, expected.subarray(0, 10))).toBe(true);
      const wrong = Buffer.from(expected.subarray(0, 10));
      wrong[9]! ^= 1;
      expect(native().hmacVerify(ctx, data, 7, 1223, wrong)).toBe(false);
    });
  }

  it('refuses an empty key and ranges outside the data', () => {
    expect(() => native().hmacNew(Buffer.alloc(0))).toThrow(/non-empty key/);
    const ctx = native().hmacNew(randomBytes(20));
    expect(() => native().hmacSign(ctx, Buffer.alloc(10), 0, 11, Buffer.alloc(10), 0, 10)).toThrow(/out of bounds/);
    expect(() => native().hmacSign(ctx, Buffer.alloc(10), 5, 4, Buffer.alloc(10), 0, 10)).toThrow(/out of bounds/);
    expect(() => native().hmacSign(ctx, Buffer.alloc(10), 0, 10, Buffer.alloc(10), 1, 10)).toThrow(/out of bounds/);
    expect(() => native().hmacVerify(ctx, Buffer.alloc(10), 0, 10, Buffer.alloc(21))).toThrow(/out of bounds/);
  });
});

describe('udpSend', () => {
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  async function bound(type: 'udp4' | 'udp6', host: string): Promise<Socket> {
    const socket = createSocket(type);
    sockets.push(socket);
    socket.bind(0, host);
    await once(socket, 'listening');
    return socket;
  }

  const fdOf = (socket: Socket): number => dgramState(socket)!.handle!.fd!;

  const cases: Array<{ name: string; sender: ['udp4' | 'udp6', string]; receiver: ['udp4' | 'udp6', string] }> = [
    { name: 'IPv4', sender: ['udp4', '127.0.0.1'], receiver: ['udp4', '127.0.0.1'] },
    { name: 'IPv6', sender: ['udp6', '::1'], receiver: ['udp6', '::1'] },
    { name: 'IPv4 from an IPv6 socket (v4-mapped)', sender: ['udp6', '::'], receiver: ['udp4', '127.0.0.1'] },
  ];
  for (const c of cases) {
    it(`delivers a datagram, its first length bytes: ${c.name}`, async () => {
      const sender = await bound(...c.sender);
      const receiver = await bound(...c.receiver);
      const address = native().udpAddress(c.receiver[1], receiver.address().port, sender.address().family === 'IPv6');
      expect(address).not.toBeNull();
      const data = randomBytes(1200);
      const received = once(receiver, 'message');
      expect(native().udpSend(fdOf(sender), address!, data, 1000)).toBe(1000);
      const [message, rinfo] = (await received) as [Buffer, { port: number }];
      expect(message).toEqual(data.subarray(0, 1000));
      expect(rinfo.port).toBe(sender.address().port);
    });
  }

  it('gives null for what it cannot address, and refuses bad arguments', async () => {
    expect(native().udpAddress('::1', 9, false)).toBeNull();
    expect(native().udpAddress('localhost', 9, false)).toBeNull();
    expect(native().udpAddress('fe80::1%eth0', 9, true)).toBeNull();
    expect(() => native().udpAddress('127.0.0.1', 0, false)).toThrow(/bad arguments/);
    expect(() => native().udpAddress('127.0.0.1', 70000, false)).toThrow(/bad arguments/);
    const sender = await bound('udp4', '127.0.0.1');
    const fd = fdOf(sender);
    const address = native().udpAddress('127.0.0.1', 9, false)!;
    expect(() => native().udpSend(fd, address, Buffer.alloc(10), 11)).toThrow(/bad arguments/);
    expect(() => native().udpSend(-1, address, Buffer.alloc(10), 10)).toThrow(/bad arguments/);
    // A closed descriptor is never reached: the send path reads the socket's handle (null once
    // closed) before each send, since the number may already belong to another file.
  });
});
