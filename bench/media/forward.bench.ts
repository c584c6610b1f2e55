// CPU per forwarded RTP packet on the SFU's packet path, before and after our own SRTP, measured in
// the same run. Every variant ends in a real UDP send to a discard socket in a child process, going
// through werift's own StunProtocol and UdpTransport (the layers a subscriber's ICE pair uses):
//   werift            — clone the packet, then RTCRtpSender.sendRtp (rewrites fields in the object,
//                       rebuilds the extension list, serializes via RtpHeader/BitWriter), then
//                       werift's RTCDtlsTransport.sendRtp (cipher per packet, Buffer.concat, three
//                       chained promises down to the socket)
//   colloquy+werift   — Consumer.forward (header written into the NACK-history slot, extensions
//                       remapped through a table, payload shared), then werift's RTCDtlsTransport.sendRtp
//                       (the packet path before media/srtp)
//   colloquy+ours     — Consumer.forward, then SrtpSendPath: media/srtp into a send slot and the
//                       pair's UDP socket directly (the packet path now)
// Also shown: the rewrite alone (no encryption, no send) and SRTP+send alone for both.
// The profile is the one subscribers negotiate with Chromium (werift is their DTLS server and picks
// AEAD_AES_128_GCM); PROFILES=1 measures AES_CM_128_HMAC_SHA1_80 instead (or PROFILES=7,1 both).
//   PACKETS=3000 CONSUMERS=8 ROUNDS=7 npm run media:forward -w @colloquy/bench

import { spawn } from 'node:child_process';
import { RTP_HEADER_EXTENSIONS } from '@colloquy/protocol';
import { Consumer, ForwardingTable, Producer, RtpView, SrtpSendPath } from '@colloquy/sfu';
import {
  RTCDtlsTransport,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  RTCRtpSender,
  RtpHeader,
  RtpPacket,
  SrtpSession,
  StunProtocol,
  UdpTransport,
} from 'werift';
import { envInt, median, table } from '../lib/stats.js';

const PACKETS = envInt('PACKETS', 3000);
const CONSUMERS = envInt('CONSUMERS', 8);
const ROUNDS = envInt('ROUNDS', 7);
const PROFILES = (process.env['PROFILES'] ?? '7')
  .split(',')
  .map(Number)
  .filter((p) => p === 1 || p === 7);
const PROFILE_NAMES: Record<number, string> = { 1: 'AES_CM_128_HMAC_SHA1_80', 7: 'AEAD_AES_128_GCM' };

// A discard server in another process, so receiving costs nothing here.
const child = spawn(process.execPath, [
  '-e',
  "const s=require('dgram').createSocket('udp4');s.on('message',()=>{});s.bind(0,'127.0.0.1',()=>process.stdout.write(String(s.address().port)+'\\n'));",
]);
const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));

// werift's own ICE socket layers: a StunProtocol over a UdpTransport bound on loopback.
const protocol = new StunProtocol();
protocol.transport = await UdpTransport.init('udp4', { interfaceAddresses: { udp4: '127.0.0.1' } });
const pair = { protocol, remoteAddr: ['127.0.0.1', port] as [string, number], packetsSent: 0, bytesSent: 0 };
/** werift's Connection.send, same shape: an async function awaiting the protocol's async sendData. */
const connection = {
  state: 'connected',
  nominated: pair,
  send: async (data: Buffer) => {
    await pair.protocol.sendData(data, pair.remoteAddr);
    pair.packetsSent++;
    pair.bytesSent += data.length;
  },
};

function keys(profile: number) {
  const salt = profile === 7 ? 12 : 14;
  return { localMasterKey: Buffer.alloc(16, 7), localMasterSalt: Buffer.alloc(salt, 9), remoteMasterKey: Buffer.alloc(16, 5), remoteMasterSalt: Buffer.alloc(salt, 3) };
}

/** A DTLS transport as werift leaves it after the handshake: SRTP session set, ICE connection under it. */
function dtlsTransport(profile: number): RTCDtlsTransport {
  const dtls = Object.create(RTCDtlsTransport.prototype) as RTCDtlsTransport;
  Object.assign(dtls, {
    config: {},
    state: 'connected',
    srtp: new SrtpSession({ profile: profile as 1, keys: keys(profile) }),
    iceTransport: { connection },
    bytesSent: 0,
    packetsSent: 0,
    transportSequenceNumber: 0,
  });
  return dtls;
}

type Sink = { sendRtp(payload: Buffer, header: never): unknown };
function sink(profile: number, srtp: 'werift' | 'ours'): Sink {
  const dtls = dtlsTransport(profile);
  if (srtp === 'ours') return new SrtpSendPath(dtls, { profile, ...keys(profile) }) as unknown as Sink;
  return { sendRtp: (payload, header) => dtls.sendRtp(payload, header as unknown as RtpHeader) };
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

// werift path: a real RTCRtpSender per consumer over werift's DTLS transport.
function weriftSenders(profile: number): RTCRtpSender[] {
  return Array.from({ length: CONSUMERS }, () => {
    const sender = new RTCRtpSender('video');
    (sender as unknown as { dtlsTransport: unknown }).dtlsTransport = dtlsTransport(profile);
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

/** The producer's consumers, in a forwarding table as a router holds them (its fan-out is what is measured). */
function colloquyConsumers(p: Producer, makeSink: () => Sink): Consumer[] {
  const forwarding = new ForwardingTable();
  forwarding.addProducer(p);
  return Array.from({ length: CONSUMERS }, (_, i) => {
    const c = new Consumer({ id: `c${i}`, producer: p, ssrc: 1000 + i });
    forwarding.addConsumer(p, c);
    c.setNegotiated({ payloadType: 96, mid: '1', extensionIds: new Map([[EXT.mid, 5], [EXT.absSendTime, 6], [EXT.videoOrientation, 7]]) });
    c.connect(makeSink() as never);
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

let seq = 0;
const fresh = (packet: RtpPacket): RtpPacket => {
  // Consumers need increasing sequence numbers; give every round its own.
  packet.header.sequenceNumber = seq++ & 0xffff;
  return packet;
};
/** The same packets as the receive path hands them to producers: our RtpView over their bytes. */
const views = packets.map((p) => {
  const view = new RtpView();
  view.parse(p.serialize());
  return view;
});
const freshView = (i: number): RtpView => {
  const view = views[i % views.length]!;
  const s = seq++ & 0xffff;
  view.sequenceNumber = s;
  view.buffer[2] = s >>> 8;
  view.buffer[3] = s & 0xff;
  return view;
};

for (const profile of PROFILES) {
  const results: Record<string, number[]> = {
    werift: [],
    'colloquy+werift': [],
    'colloquy+ours': [],
    rewriteOnly: [],
    'srtpSendOnly werift': [],
    'srtpSendOnly ours': [],
  };
  const senders = weriftSenders(profile);
  const pWerift = producer();
  colloquyConsumers(pWerift, () => sink(profile, 'werift'));
  const pOurs = producer();
  colloquyConsumers(pOurs, () => sink(profile, 'ours'));
  const pNone = producer();
  colloquyConsumers(pNone, () => ({ sendRtp: () => {} }));
  const weriftSinks = Array.from({ length: CONSUMERS }, () => sink(profile, 'werift'));
  const ourSinks = Array.from({ length: CONSUMERS }, () => sink(profile, 'ours'));
  // SRTP+send alone: the publisher's header bytes as they are, per consumer its own SSRC.
  const headers = packets.map((p) => {
    const bytes = p.header.serialize(p.header.serializeSize);
    return { ssrc: 0x11223344, sequenceNumber: p.header.sequenceNumber, bytes, serializeSize: bytes.length, serialize: () => bytes };
  });
  for (let round = 0; round < ROUNDS + 1; round++) {
    const w = await measure((packet) => {
      fresh(packet);
      for (const s of senders) void s.sendRtp(packet.clone());
    });
    const cw = await measure((_packet, i) => pWerift.receive(freshView(i)));
    const co = await measure((_packet, i) => pOurs.receive(freshView(i)));
    const r = await measure((_packet, i) => pNone.receive(freshView(i)));
    const ew = await measure((packet, i) => {
      const h = headers[i % headers.length]!;
      h.sequenceNumber = seq++ & 0xffff;
      h.bytes.writeUInt16BE(h.sequenceNumber, 2);
      for (const s of weriftSinks) void s.sendRtp(packet.payload, h as never);
    });
    const eo = await measure((packet, i) => {
      const h = headers[i % headers.length]!;
      h.sequenceNumber = seq++ & 0xffff;
      h.bytes.writeUInt16BE(h.sequenceNumber, 2);
      for (const s of ourSinks) s.sendRtp(packet.payload, h as never);
    });
    if (round === 0) continue; // warm-up
    results['werift']!.push(w);
    results['colloquy+werift']!.push(cw);
    results['colloquy+ours']!.push(co);
    results['rewriteOnly']!.push(r);
    results['srtpSendOnly werift']!.push(ew);
    results['srtpSendOnly ours']!.push(eo);
  }
  for (const s of senders) s.stop();
  for (const p of [pWerift, pOurs, pNone]) p.close();

  const base = median(results['werift']!);
  const before = median(results['colloquy+werift']!);
  console.log(
    `\n${PROFILE_NAMES[profile]}: ${PACKETS} packets x ${CONSUMERS} consumers, 1200-byte VP8 payload, ${ROUNDS} rounds (median), CPU µs per forwarded packet\n`,
  );
  console.log(
    table([
      ['path', 'µs/packet', 'vs werift', 'vs colloquy+werift'],
      ...Object.entries(results).map(([name, v]) => [
        name,
        median(v).toFixed(2),
        `${(median(v) / base).toFixed(2)}x`,
        `${(median(v) / before).toFixed(2)}x`,
      ]),
    ]),
  );
}
await protocol.close();
child.kill();
