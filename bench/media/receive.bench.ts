// CPU per received RTP packet of the parse the receive path does: werift's RtpPacket.deSerialize
// (what werift runs on every packet it receives: an RtpHeader, an extension object per element, a
// payload subarray) against our RtpView (media/rtp-view.ts: one reusable object, fields read from
// the bytes), each followed by the lookups the SFU makes (the audio-level or video extension and
// the payload's first bytes). A VP8-like 1200-byte packet with three one-byte extensions, and a
// 100-byte Opus packet with two. RTX unwrapping: werift's unwrapRtx (a new packet) vs ours in place.
//   PACKETS=20000 ROUNDS=9 npm run media:receive -w @colloquy/bench

import { randomBytes } from 'node:crypto';
import { RtpView } from '@colloquy/sfu';
import { RtpHeader, RtpPacket, unwrapRtx, wrapRtx } from 'werift';
import { envInt, median, table } from '../lib/stats.js';

const PACKETS = envInt('PACKETS', 20000);
const ROUNDS = envInt('ROUNDS', 9);

function cpuPerCall(run: () => void, calls: number): number {
  const before = process.cpuUsage();
  run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / calls;
}

function packets(payloadBytes: number, extensions: { id: number; payload: Buffer }[]): Buffer[] {
  return Array.from({ length: 64 }, (_, i) =>
    new RtpPacket(
      new RtpHeader({ payloadType: 96, sequenceNumber: i, timestamp: i * 3000, ssrc: 0x11223344, marker: i % 8 === 7, extension: true, extensionProfile: 0xbede, extensions }),
      randomBytes(payloadBytes),
    ).serialize(),
  );
}

const kinds: [string, Buffer[], number][] = [
  ['video 1200 B, 3 extensions', packets(1200, [{ id: 1, payload: Buffer.from([0x12, 0x34, 0x56]) }, { id: 3, payload: Buffer.from([0, 1]) }, { id: 4, payload: Buffer.from([1]) }]), 4],
  ['audio 100 B, 2 extensions', packets(100, [{ id: 1, payload: Buffer.from([0x12, 0x34, 0x56]) }, { id: 2, payload: Buffer.from([0x85]) }]), 2],
];

const results = new Map<string, number[]>();
const record = (name: string, value: number) => {
  if (!results.has(name)) results.set(name, []);
  results.get(name)!.push(value);
};
let sink = 0; // keeps the JIT from dropping the work

const view = new RtpView();
for (let round = 0; round < ROUNDS + 1; round++) {
  for (const [label, list, extId] of kinds) {
    const werift = cpuPerCall(() => {
      for (let i = 0; i < PACKETS; i++) {
        const p = RtpPacket.deSerialize(list[i & 63]!);
        const ext = p.header.extensions.find((e) => e.id === extId);
        sink += p.header.sequenceNumber + p.payload[0]! + (ext?.payload[0] ?? 0);
      }
    }, PACKETS);
    const ours = cpuPerCall(() => {
      for (let i = 0; i < PACKETS; i++) {
        const b = list[i & 63]!;
        if (!view.parse(b)) throw new Error('RtpView refused a packet werift wrote');
        sink += view.sequenceNumber + b[view.payloadOffset]! + (view.extension(extId) ? b[view.extensionOffset]! : 0);
      }
    }, PACKETS);
    if (round === 0) continue; // warm-up
    record(`${label} werift`, werift);
    record(`${label} ours`, ours);
  }
  // RTX: werift builds a new packet from the parsed one; ours rewrites the datagram's header in place.
  const rtx = kinds[0]![1].map((b, i) => wrapRtx(RtpPacket.deSerialize(b), 97, i, 0x55667788).serialize());
  const scratch = Buffer.alloc(2048);
  const weriftRtx = cpuPerCall(() => {
    for (let i = 0; i < PACKETS; i++) {
      const p = unwrapRtx(RtpPacket.deSerialize(rtx[i & 63]!), 96, 0x11223344);
      sink += p.header.sequenceNumber;
    }
  }, PACKETS);
  const oursRtx = cpuPerCall(() => {
    for (let i = 0; i < PACKETS; i++) {
      const b = rtx[i & 63]!;
      b.copy(scratch); // in place: work on a copy, as a receive buffer would be
      view.parse(scratch, b.length);
      view.unwrapRtx(0x11223344, 96);
      sink += view.sequenceNumber;
    }
  }, PACKETS);
  if (round > 0) {
    record('RTX unwrap (video) werift', weriftRtx);
    record('RTX unwrap (video) ours', oursRtx);
  }
}

console.log(`Receive-path parse, ${PACKETS} packets x ${ROUNDS} rounds, median CPU µs per packet\n`);
const rows: (string | number)[][] = [['packet', 'ours µs', 'werift µs', 'ours/werift']];
for (const label of [...kinds.map(([l]) => l), 'RTX unwrap (video)']) {
  const o = median(results.get(`${label} ours`)!);
  const w = median(results.get(`${label} werift`)!);
  rows.push([label, o.toFixed(3), w.toFixed(3), `${(o / w).toFixed(2)}x`]);
}
console.log(table(rows));
if (sink === 0.5) console.log(sink);
