// Small parts of the recording path with hand-made inputs: the jitter buffer's ordering and loss
// reports, H.264 and VP8 depacketization (STAP-A, FU-A, torn frames, keyframe gating), SPS
// parsing, EBML sizes, and ZIP64 records checked by Info-ZIP.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { h264SpsSize } from '@colloquy/sfu';
import { H264Depacketizer, Vp8Depacketizer, type CodedFrame } from '../../src/archiving/depacketizer.js';
import { encodeSize, readSize } from '../../src/archiving/ebml.js';
import { JitterBuffer, type RtpInput } from '../../src/archiving/jitter-buffer.js';
import { writeZip } from '../../src/archiving/zip.js';

const run = promisify(execFile);
const pkt = (sequenceNumber: number, payload: number[] | Buffer, marker = false, timestamp = 1000): RtpInput => ({
  sequenceNumber: sequenceNumber & 0xffff,
  timestamp,
  marker,
  payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
});

describe('JitterBuffer', () => {
  function harness(latencyMs = 100) {
    const out: number[] = [];
    const losses: number[] = [];
    const jb = new JitterBuffer({ latencyMs, onPacket: (p) => out.push(p.sequenceNumber), onLoss: (n) => losses.push(n) });
    return { jb, out, losses };
  }

  it('reorders, drops duplicates and late packets, and wraps at 65535', () => {
    const { jb, out, losses } = harness();
    for (const seq of [65533, 65535, 65534, 65535, 0, 2, 1, 65532]) jb.push(pkt(seq, [0]), 0);
    expect(out).toEqual([65533, 65534, 65535, 0, 1, 2]);
    expect(losses).toEqual([]);
    expect(jb.packetsDropped).toBe(2);
  });

  it('waits the latency for a missing packet, then reports it lost', () => {
    const { jb, out, losses } = harness(100);
    jb.push(pkt(10, [0]), 0);
    jb.push(pkt(12, [0]), 10);
    jb.push(pkt(13, [0]), 20);
    expect(out).toEqual([10]);
    jb.tick(50);
    expect(out).toEqual([10]);
    jb.tick(111);
    expect(losses).toEqual([1]);
    expect(out).toEqual([10, 12, 13]);
    jb.push(pkt(11, [0]), 120); // too late now
    expect(out).toEqual([10, 12, 13]);
  });

  it('treats a big jump as a new sequence space, and drains in order at the end', () => {
    const { jb, out } = harness();
    jb.push(pkt(100, [0]), 0);
    jb.push(pkt(40000, [0]), 1);
    expect(out).toEqual([100, 40000]);
    jb.push(pkt(40002, [0]), 2);
    jb.drain();
    expect(out).toEqual([100, 40000, 40002]);
  });
});

describe('H264Depacketizer', () => {
  const sps = Buffer.from('6742c01e95a0280f6c0440000003004000000ca3c58ba8', 'hex'); // 640x480 baseline
  const pps = Buffer.from([0x68, 0xce, 0x3c, 0x80]);
  const stapA = (...nals: Buffer[]) => Buffer.concat([Buffer.from([24]), ...nals.flatMap((n) => [Buffer.from([n.length >> 8, n.length & 0xff]), n])]);
  const idr = Buffer.concat([Buffer.from([0x65]), Buffer.alloc(3000, 7)]);
  const fu = (nal: Buffer, start: number, end: number, first: boolean, last: boolean) =>
    Buffer.concat([Buffer.from([(nal[0]! & 0xe0) | 28, (first ? 0x80 : 0) | (last ? 0x40 : 0) | (nal[0]! & 0x1f)]), nal.subarray(start, end)]);

  it('reads the picture size from an SPS', () => {
    expect(h264SpsSize(sps)).toEqual({ width: 640, height: 480 });
  });

  it('assembles STAP-A + FU-A into one keyframe, gates inter frames before it, drops torn ones after a loss', () => {
    const d = new H264Depacketizer();
    const frames: CodedFrame[] = [];
    const push = (p: RtpInput) => {
      const f = d.push(p);
      if (f) frames.push(f);
    };
    push(pkt(1, [0x41, 1, 2, 3], true, 100)); // P frame before any keyframe: held back
    push(pkt(2, stapA(sps, pps), false, 200));
    push(pkt(3, fu(idr, 1, 1500, true, false), false, 200));
    push(pkt(4, fu(idr, 1500, idr.length, false, true), true, 200));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.keyframe).toBe(true);
    expect(frames[0]!.nalUnits!.map((n) => n[0]! & 0x1f)).toEqual([7, 8, 5]);
    expect(frames[0]!.nalUnits![2]).toEqual(idr);
    push(pkt(5, [0x41, 9], true, 300));
    expect(frames).toHaveLength(2);
    // A fragment goes missing: that frame is dropped, and P frames wait for the next keyframe.
    push(pkt(6, fu(Buffer.concat([Buffer.from([0x41]), Buffer.alloc(2000, 1)]), 1, 1000, true, false), false, 400));
    d.loss();
    push(pkt(8, [0x41, 1], true, 500));
    expect(frames).toHaveLength(2);
    expect(d.waitingForKeyframe).toBe(true);
    push(pkt(9, stapA(sps, pps, Buffer.from([0x65, 1, 2])), true, 600));
    expect(frames).toHaveLength(3);
    expect(frames[2]!.keyframe).toBe(true);
  });
});

describe('Vp8Depacketizer', () => {
  // Descriptor: X=1, S=1, PID=0; I=1 with a 15-bit picture id.
  const desc = (start: boolean) => [start ? 0x90 : 0x80, 0x80, 0x80, 0x01];
  const key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]; // keyframe, 640x480
  it('joins partitions of a frame and gates on keyframes', () => {
    const d = new Vp8Depacketizer();
    expect(d.push(pkt(1, [...desc(true), 0x01, 5], true, 100))).toBeNull(); // inter frame first
    expect(d.push(pkt(2, [...desc(true), ...key], false, 200))).toBeNull();
    const frame = d.push(pkt(3, [...desc(false), 7, 7], true, 200));
    expect(frame?.keyframe).toBe(true);
    expect([...frame!.data]).toEqual([...key, 7, 7]);
    expect(d.push(pkt(5, [...desc(false), 1], true, 300))).toBeNull(); // start lost
  });
});

describe('EBML and ZIP', () => {
  it('round-trips EBML sizes, avoiding the reserved all-ones patterns', () => {
    for (const v of [0, 1, 126, 127, 128, 16382, 16383, 2 ** 21, 2 ** 35, 2 ** 48]) {
      const enc = encodeSize(v);
      expect(readSize(enc, 0)).toEqual({ value: v, length: enc.length });
    }
    expect(encodeSize(127).length).toBe(2);
  });

  it('writes ZIP64 records that Info-ZIP accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'colloquy-zip-'));
    try {
      writeFileSync(join(dir, 'a.bin'), Buffer.alloc(70_000, 3));
      for (const forceZip64 of [false, true]) {
        const zip = join(dir, `t${forceZip64}.zip`);
        await writeZip(zip, [{ name: 'a.bin', path: join(dir, 'a.bin') }, { name: 'manifest.json', data: Buffer.from('{"ok":true}') }], { forceZip64 });
        await run('unzip', ['-tq', zip]);
        const { stdout } = await run('unzip', ['-p', zip, 'manifest.json']);
        expect(stdout).toBe('{"ok":true}');
        const { stdout: listing } = await run('unzip', ['-Zv', zip]);
        expect(listing.includes('PKWARE 64-bit sizes')).toBe(forceZip64);
      }
      // A stream file that vanished is an error, not a ZIP with a hole or a promise that never ends.
      await expect(writeZip(join(dir, 'missing.zip'), [{ name: 'gone.webm', path: join(dir, 'gone.webm') }])).rejects.toThrow(/ENOENT/);
      expect(existsSync(join(dir, 'missing.zip'))).toBe(false); // no partial ZIP left, and closed before the rejection
      // An existing file is never overwritten, nor removed by the failure.
      await expect(writeZip(join(dir, 'a.bin'), [{ name: 'm', data: Buffer.from('x') }])).rejects.toThrow(/EEXIST/);
      expect(existsSync(join(dir, 'a.bin'))).toBe(true);
      await expect(writeZip(join(dir, 'bad.zip'), [{ name: '../x', data: Buffer.from('x') }])).rejects.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
