// CPU per forwarded RTP packet on the SFU's packet path, against werift's generic path measured in
// the same run. Both variants end in the same SRTP encryption (werift, AES-CM + HMAC-SHA1) and a
// real UDP send to a discard socket in a child process; they differ in what happens per consumer:
//   werift  — clone the packet, then RTCRtpSender.sendRtp (rewrites fields in the object, rebuilds
//             the extension list with map/filter/sort, serializes via RtpHeader/BitWriter)
//   colloquy — Consumer.forward: header written straight into the NACK-history slot, extensions
//             remapped through a lookup table, payload shared, no per-packet objects but one view
// Also shown: colloquy's rewrite alone (no encryption, no send) and SRTP+send alone.
//   PACKETS=3000 CONSUMERS=8 ROUNDS=7 npm run media:forward -w @colloquy/bench

import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { pino } from 'pino';
import { RTP_HEADER_EXTENSIONS } from '@colloquy/protocol';
import { Consumer, Producer } from '@colloquy/server';
import { RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters, RTCRtpSender, RtpHeader, RtpPacket, SrtpSession } from 'werift';
import { envInt, median, table } from '../lib/stats.js';

const PACKETS = envInt('PACKETS', 3000);
const CONSUMERS = envInt('CONSUMERS', 8);
const ROUNDS = envInt('ROUNDS', 7);
void pino;

// A discard server in another process, so receiving costs nothing here.
const child = spawn(process.execPath, [
  '-e',
  "const s=require('dgram').createSocket('udp4');s.on('message',()=>{});s.bind(0,'127.0.0.1',()=>process.stdout.write(String(s.address().port)+'\\n'));",
]);
const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
const socket = createSocket('udp4');
await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));

function srtp(): SrtpSession {
  const key = () => Buffer.alloc(16, 7);
  const salt = () => Buffer.alloc(14, 9);
  return new SrtpSession({
    profile: 1,
    keys: { localMasterKey: key(), localMasterSalt: salt(), remoteMasterKey: key(), remoteMasterSalt: salt() },
  });
}

function send(buf: Buffer): void {
  socket.send(buf, port, '127.0.0.1');
}

// The packet a publisher sends: 1200 bytes of VP8 payload, three header extensions.
function makePacket(seq: number): RtpPacket {
  const payload = Buffer.alloc(1200, 0xab);
  payload[0] = 0x10; // S bit, partition 0
  payload[1] = seq === 0 ? 0x00 : 0x01; // the first is a keyframe (P=0), so consumers start on it
  return new RtpPacket(
    new RtpHeader({
      payloadType: 96,
      sequenceNumber: seq & 0xffff,
      timestamp: seq * 3000,
      ssrc: 0x11223344,
      marker: seq % 4 === 3,
      extensions: [
        { id: 2, payload: Buffer.from([3]) }, // video-orientation
        { id: 3, payload: Buffer.from([1, 2, 3]) }, // abs-send-time
        { id: 4, payload: Buffer.from([0, 1]) }, // transport-cc (must be dropped)
      ],
    }),
    payload,
  );
}
const packets = Array.from({ length: 256 }, (_, i) => makePacket(i));

const EXT = RTP_HEADER_EXTENSIONS;

// werift path: a real RTCRtpSender per consumer over a minimal DTLS stand-in.
function weriftSenders(): RTCRtpSender[] {
  return Array.from({ length: CONSUMERS }, () => {
    const session = srtp();
    const sender = new RTCRtpSender('video');
    const dtls = {
      state: 'connected',
      transportSequenceNumber: 0,
      sendRtp: async (payload: Buffer, header: RtpHeader) => {
        send(session.encrypt(payload, header));
        return 0;
      },
      sendRtcp: async () => {},
    };
    (sender as unknown as { dtlsTransport: unknown }).dtlsTransport = dtls;
    sender.codec = new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96 });
    const internals = sender as unknown as { mid: string; headerExtensions: RTCRtpHeaderExtensionParameters[] };
    internals.mid = '1';
    internals.headerExtensions = [
      new RTCRtpHeaderExtensionParameters({ id: 5, uri: EXT.mid }),
      new RTCRtpHeaderExtensionParameters({ id: 6, uri: EXT.absSendTime }),
      new RTCRtpHeaderExtensionParameters({ id: 7, uri: EXT.videoOrientation }),
    ];
    return sender;
  });
}

function producer(): Producer {
  const uris: (string | undefined)[] = [];
  uris[2] = EXT.videoOrientation;
  uris[3] = EXT.absSendTime;
  uris[4] = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';
  return new Producer({
    id: 'p',
    kind: 'video',
    codec: { name: 'VP8', mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 },
    ssrc: 0x11223344,
    streamId: 's',
    extensionUris: uris,
    link: { sendPli: () => {}, receiveStats: () => undefined, nackCount: () => 0 },
  });
}

function colloquyConsumers(p: Producer, sink: 'srtp' | 'none'): Consumer[] {
  return Array.from({ length: CONSUMERS }, (_, i) => {
    const c = new Consumer({ id: `c${i}`, producer: p, ssrc: 1000 + i });
    c.setNegotiated({ payloadType: 96, mid: '1', extensionIds: new Map([[EXT.mid, 5], [EXT.absSendTime, 6], [EXT.videoOrientation, 7]]) });
    const session = srtp();
    c.connect(
      sink === 'srtp'
        ? { sendRtp: (payload, header) => send(session.encrypt(payload, header as unknown as RtpHeader)) }
        : { sendRtp: () => {} },
    );
    return c;
  });
}

/** CPU microseconds per forwarded packet (packets x consumers), sends flushed in batches. */
async function measure(forwardOne: (packet: RtpPacket, i: number) => void): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < PACKETS; i++) {
    forwardOne(packets[i % packets.length]!, i);
    if (i % 64 === 63) await new Promise((r) => setImmediate(r)); // let UDP sends complete
  }
  await new Promise((r) => setTimeout(r, 20));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / (PACKETS * CONSUMERS);
}

const results: Record<string, number[]> = { werift: [], colloquy: [], rewriteOnly: [], srtpSendOnly: [] };
const senders = weriftSenders();
const p1 = producer();
colloquyConsumers(p1, 'srtp');
const p2 = producer();
colloquyConsumers(p2, 'none');
const sessions = Array.from({ length: CONSUMERS }, () => srtp());
let seq = 0;
const fresh = (packet: RtpPacket): RtpPacket => {
  // Consumers need increasing sequence numbers; give every round its own.
  packet.header.sequenceNumber = seq++ & 0xffff;
  return packet;
};
for (let round = 0; round < ROUNDS + 1; round++) {
  const w = await measure((packet) => {
    fresh(packet);
    for (const s of senders) void s.sendRtp(packet.clone());
  });
  const c = await measure((packet) => p1.receive(fresh(packet)));
  const r = await measure((packet) => p2.receive(fresh(packet)));
  const e = await measure((packet) => {
    fresh(packet);
    for (const s of sessions) send(s.encrypt(packet.payload, packet.header));
  });
  if (round === 0) continue; // warm-up
  results['werift']!.push(w);
  results['colloquy']!.push(c);
  results['rewriteOnly']!.push(r);
  results['srtpSendOnly']!.push(e);
}
for (const s of senders) s.stop();

const base = median(results['werift']!);
console.log(`${PACKETS} packets x ${CONSUMERS} consumers, 1200-byte VP8 payload, ${ROUNDS} rounds (median), CPU µs per forwarded packet\n`);
console.log(
  table([
    ['path', 'µs/packet', 'vs werift'],
    ...Object.entries(results).map(([name, v]) => [name, median(v).toFixed(2), `${(median(v) / base).toFixed(2)}x`]),
  ]),
);
socket.close();
child.kill();
