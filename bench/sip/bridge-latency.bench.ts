/// <reference path="../../packages/server/src/sip/sip-lib.d.ts" />
// SIP bridge latency and CPU per call. A participant inside the server publishes Opus (silence, then
// 200 ms bursts of a 1 kHz tone) into a routed session; the session dials a "phone" that echoes
// every RTP packet straight back (a SIP UAS built on the `sip` package, PCMU). The burst goes
// session -> bridge (Opus decode, mix, G.711) -> phone -> bridge (G.711 decode, Opus encode) ->
// session, where the SIP stream's producer is tapped and decoded: onset to onset is the round trip
// through the bridge twice; half of it is the bridge's one-way mouth-to-ear share (no network, no
// endpoint jitter buffers). CPU per call: process CPU during the call minus before it.
//   BURSTS=20 npm run sip:latency -w @colloquy/bench

import { Colloquy } from '@colloquy/sdk-node';
import { SessionPublisher, verifyClientToken } from '@colloquy/server';
import { startTestServerWith } from '@colloquy/testing/server';
import { loadConfig, startServer } from '@colloquy/server';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import OpusScript from 'opusscript';
import sip from 'sip';
import { envInt, median, percentile, table } from '../lib/stats.js';

const BURSTS = envInt('BURSTS', 20);
const CPU_SECONDS = envInt('CPU_SECONDS', 10);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

// The echo phone: answers any INVITE with PCMU on a UDP socket that sends every packet back.
const rtp = createSocket('udp4');
await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', r));
rtp.on('message', (msg, from) => rtp.send(msg, from.port, from.address));
const phonePort = await freePort();
const phone = sip.create({ port: phonePort, address: '127.0.0.1', publicAddress: 'echo-phone.invalid', tcp: false }, (rq) => {
  if (rq.method === 'INVITE') {
    const rs = sip.makeResponse(rq, 200, 'OK');
    rs.headers.to.params['tag'] = 'echo';
    rs.headers.contact = [{ uri: `sip:echo@127.0.0.1:${phonePort}`, params: {} }];
    rs.headers['content-type'] = 'application/sdp';
    rs.content = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${rtp.address().port} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', ''].join('\r\n');
    phone.send(rs);
  } else if (rq.method !== 'ACK') {
    phone.send(sip.makeResponse(rq, 200, 'OK'));
  }
});

const t = await startTestServerWith({ loadConfig, startServer }, { COLLOQUY_SIP_PORT: String(await freePort()) });
try {
  const sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
  const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
  const sessions = t.server.sessions;
  const claims = verifyClientToken(sdk.generateToken(sessionId), { projects: t.server.store.projects, sessionId });
  const { connection } = sessions.join((await sessions.find(sessionId))!, claims, { userAgent: 'bench', ip: '127.0.0.1', sdk: null });
  const speaker = new SessionPublisher('127.0.0.1');
  const published = await sessions.publish(connection, { name: 'speaker', videoType: null, hasAudio: true, hasVideo: false, videoDimensions: null, frameRate: null, sdp: await speaker.createOffer() });
  await speaker.acceptAnswer(published.sdp!);
  if (!(await speaker.waitConnected(10_000))) throw new Error('the speaker did not connect');

  // 20 ms Opus frames: silence, or the tone while a burst lasts.
  const encoder = new OpusScript(48000, 1, OpusScript.Application.VOIP);
  let toneFramesLeft = 0;
  let phase = 0;
  let burstSentAt = 0;
  const frame = new Int16Array(960);
  const sendTimer = setInterval(() => {
    if (toneFramesLeft > 0) {
      if (toneFramesLeft === 10) burstSentAt = performance.now();
      for (let i = 0; i < 960; i++) frame[i] = Math.round(12000 * Math.sin((phase += (2 * Math.PI * 1000) / 48000)));
      toneFramesLeft--;
    } else frame.fill(0);
    speaker.sendOpus(encoder.encode(Buffer.from(frame.buffer), 960), 960);
  }, 20);

  const cpuBefore = process.cpuUsage();
  const baselineStart = performance.now();
  await new Promise((r) => setTimeout(r, CPU_SECONDS * 1000));
  const baseline = process.cpuUsage(cpuBefore);
  const baselineSeconds = (performance.now() - baselineStart) / 1000;

  const call = await sdk.dial(sessionId, sdk.generateToken(sessionId), `sip:echo@127.0.0.1:${phonePort}`);
  const stream = sessions.live(sessionId)!.streams.get(call.streamId)!;
  const decoder = new OpusScript(48000, 1, OpusScript.Application.VOIP);
  let onsetAt = 0;
  stream.producer('audio')!.addRtpListener((packet) => {
    const pcm = decoder.decode(packet.payload);
    const samples = new Int16Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.byteLength));
    let sum = 0;
    for (const s of samples) sum += s * s;
    if (onsetAt === 0 && burstSentAt > 0 && Math.sqrt(sum / samples.length) > 1500) onsetAt = performance.now();
  });
  await new Promise((r) => setTimeout(r, 1000));

  const cpuCall = process.cpuUsage();
  const callStart = performance.now();
  const rtts: number[] = [];
  for (let i = 0; i < BURSTS; i++) {
    onsetAt = 0;
    burstSentAt = 0;
    toneFramesLeft = 10;
    const deadline = performance.now() + 3000;
    while (onsetAt === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    if (onsetAt > 0) rtts.push(onsetAt - burstSentAt);
    await new Promise((r) => setTimeout(r, 500));
  }
  const during = process.cpuUsage(cpuCall);
  const elapsed = (performance.now() - callStart) / 1000;
  clearInterval(sendTimer);
  await sdk.forceDisconnect(sessionId, call.connectionId);

  const pct = (u: { user: number; system: number }, s: number) => ((u.user + u.system) / 1e6 / s) * 100;
  const baselinePct = pct(baseline, baselineSeconds);
  const duringPct = pct(during, elapsed);
  console.log(`SIP bridge, PCMU echo phone on loopback, ${BURSTS} tone bursts (${rtts.length} heard)\n`);
  console.log(
    table([
      ['figure', 'value'],
      ['round trip session -> phone -> session, p50 ms', median(rtts).toFixed(1)],
      ['round trip p90 ms', percentile(rtts, 90).toFixed(1)],
      ['bridge one way (round trip / 2), p50 ms', (median(rtts) / 2).toFixed(1)],
      ['process CPU without the call, % of one core', baselinePct.toFixed(1)],
      ['process CPU with the call, % of one core', duringPct.toFixed(1)],
      ['CPU per call, % of one core', (duringPct - baselinePct).toFixed(1)],
    ]),
  );
  await speaker.close();
} finally {
  await t.close();
  phone.destroy();
  rtp.close();
}
