// Mouth-to-ear through the SIP bridge with real parts end to end. Page A (Chromium, the browser SDK)
// publishes a WebAudio tone switched on in bursts; the session dials Debian's baresip with its echo
// module (it answers and plays back what it hears, through its own jitter buffer, decoder and
// encoder: a real phone's audio path with a mouth at its ear). Page B subscribes to both page A's
// stream and the phone's stream and notes, per stream, when each burst starts to sound
// (AnalyserNode, polled every 2 ms). Both pages run in one Chromium on one machine: burst onsets
// are compared on Date.now().
//   - browser -> SFU -> browser: the session's own mouth-to-ear, the baseline;
//   - browser -> bridge -> phone -> bridge -> browser: the same plus the SIP leg there and back;
//   - the SIP leg's share: the difference, and half of it one way.
// CPU per call: this process (the server runs in it) during the call minus before it, and baresip's.
//   BURSTS=20 npm run sip:mouth-to-ear -w @colloquy/bench        (SECURE=1: over TLS with SRTP)

import { launchChromium } from '@colloquy/testing/browser';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSdkApp } from '../lib/sdk-app.js';
import { coreShare, ownCpuUs, sampleProcess } from '../lib/proc.js';
import { envInt, median, percentile, table } from '../lib/stats.js';

const BURSTS = envInt('BURSTS', 20);
const CPU_SECONDS = envInt('CPU_SECONDS', 8);
/** Bursts played before measuring: the jitter buffers settle after the start-up's load. */
const WARMUP = envInt('WARMUP', 10);

/** A free TCP port; `pair`: its next port is free too (baresip always listens for TLS on SIP port + 1). */
async function freePort(pair = false): Promise<number> {
  for (;;) {
    const port = await listenFree(0);
    if (!pair || (port < 65535 && (await listenFree(port + 1)) > 0)) return port;
  }
}

function listenFree(port: number): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(0));
    s.listen(port, '127.0.0.1', () => {
      const bound = (s.address() as { port: number }).port;
      s.close(() => resolve(bound));
    });
  });
}

const page = (server: string): string => `<!doctype html><html><head><meta charset="utf-8">
<script src="${server}/v2/js/opentok.js"></script>
<script>
window.onsets = {};
window.join = (apiKey, sessionId, token, subscribe) => new Promise((resolve) => {
  const session = OT.initSession(apiKey, sessionId);
  window.session = session;
  if (subscribe) session.on('streamCreated', (e) => {
    const sub = session.subscribe(e.stream, document.body, { insertMode: 'append' });
    sub.on('videoElementCreated', (ev) => watch(e.stream.name || 'sip', ev.element));
  });
  session.connect(token, (err) => resolve(err ? err.message : null));
});
// Burst onsets of one subscriber's audio: the first loud 5 ms window after 150 ms of quiet.
function watch(name, el) {
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 256;
  const buf = new Float32Array(analyser.fftSize);
  let connected = false;
  let quietSince = Date.now();
  let loud = false;
  window.onsets[name] = [];
  setInterval(() => {
    if (!connected) {
      if (!el.srcObject || el.srcObject.getAudioTracks().length === 0) return;
      ctx.createMediaStreamSource(el.srcObject).connect(analyser);
      connected = true;
    }
    analyser.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const x of buf) sum += x * x;
    const rms = Math.sqrt(sum / buf.length);
    const now = Date.now();
    if (rms > 0.03) {
      if (!loud && now - quietSince > 150) window.onsets[name].push(now);
      loud = true;
    } else {
      if (loud) quietSince = now;
      loud = false;
    }
  }, 2);
}
window.publishTone = (hz) => new Promise((resolve) => {
  const ctx = new AudioContext();
  const osc = ctx.createOscillator();
  osc.frequency.value = hz;
  const gain = ctx.createGain();
  // Between bursts the tone stays on, 34 dB down (under the onset threshold): the receivers' jitter
  // buffers keep adapting, as they do in a conversation, instead of idling on digital silence.
  const QUIET = 0.01;
  gain.gain.value = QUIET;
  window.burst = (ms) => { gain.gain.setValueAtTime(0.5, ctx.currentTime); gain.gain.setValueAtTime(QUIET, ctx.currentTime + ms / 1000); return Date.now(); };
  const dest = ctx.createMediaStreamDestination();
  osc.connect(gain).connect(dest);
  osc.start();
  const publisher = OT.initPublisher(document.body, { insertMode: 'append', videoSource: null, audioSource: dest.stream.getAudioTracks()[0], name: 'page' });
  publisher.on('streamCreated', (e) => resolve(e.stream.streamId));
  session.publish(publisher);
});
</script></head><body></body></html>`;

// The phone: baresip answering with its echo module (aubridge joins its player to its source).
const secure = process.env['SECURE'] === '1';
const dir = mkdtempSync(join(tmpdir(), 'colloquy-sip-m2e-'));
const sipPort = await freePort(true);
let tlsEnv: Record<string, string> = {};
let accountUri = `sip:echo@127.0.0.1:${sipPort}`;
if (secure) {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  writeFileSync(join(dir, 'both.pem'), readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  tlsEnv = { COLLOQUY_SIP_TLS_PORT: String(await freePort()), COLLOQUY_SIP_TLS_CERT: cert, COLLOQUY_SIP_TLS_KEY: key, COLLOQUY_SIP_TLS_CA: cert };
  accountUri = `sip:echo@127.0.0.1:${sipPort + 1};transport=tls`;
}
writeFileSync(
  join(dir, 'config'),
  [
    'poll_method epoll',
    `sip_listen 127.0.0.1:${sipPort}`,
    ...(secure ? [`sip_certificate ${join(dir, 'both.pem')}`, `sip_cafile ${join(dir, 'cert.pem')}`] : []),
    // A desk phone's buffering rather than baresip's roomy defaults (jitter buffer 5-10 frames,
    // player buffer 20-160 ms): JITTER=default keeps baresip's own.
    ...(process.env['JITTER'] === 'default' ? [] : ['jitter_buffer_delay 2-4', 'audio_buffer 20-60']),
    'audio_player aubridge,echo',
    'audio_source aubridge,echo',
    'module_path /usr/lib/baresip/modules',
    'module g711.so',
    'module aubridge.so',
    ...(secure ? ['module srtp.so'] : []),
    'module_app account.so',
    'module_app echo.so',
    '',
  ].join('\n'),
);
writeFileSync(join(dir, 'accounts'), `<${accountUri}>;regint=0;answermode=manual${secure ? ';mediaenc=srtp-mand' : ''}\n`);
writeFileSync(join(dir, 'contacts'), '');
const phone = spawn('baresip', ['-f', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
const phoneLog: string[] = [];
phone.stdout.on('data', (c: Buffer) => phoneLog.push(c.toString()));
phone.stderr.on('data', (c: Buffer) => phoneLog.push(c.toString()));
for (let i = 0; i < 300 && !phoneLog.join('').includes('baresip is ready'); i++) await new Promise((r) => setTimeout(r, 50));
if (!phoneLog.join('').includes('baresip is ready')) throw new Error(`baresip did not start: ${phoneLog.join('')}`);

const app = await startSdkApp(page, { COLLOQUY_SIP_PORT: String(await freePort()), ...tlsEnv });
const browser = await launchChromium();
try {
  const { t, sdk, url } = app;
  const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
  const a = (await browser.newPage()).page;
  const b = (await browser.newPage()).page;
  await a.goto(url);
  await b.goto(url);
  for (const [p, sub] of [[b, true], [a, false]] as const) {
    const err = await p.evaluate(([k, s, tk, subscribe]) => (window as any).join(k, s, tk, subscribe), [t.apiKey, sessionId, sdk.generateToken(sessionId), sub] as const);
    if (err) throw new Error(`join: ${err}`);
  }
  await a.evaluate(() => (window as any).publishTone(700));

  const cpuBefore = ownCpuUs();
  const baselineStart = performance.now();
  await new Promise((r) => setTimeout(r, CPU_SECONDS * 1000));
  const baselinePct = ((ownCpuUs() - cpuBefore) / 1000 / (performance.now() - baselineStart)) * 100;

  const call = await sdk.dial(sessionId, sdk.generateToken(sessionId), accountUri, secure ? { secure: true } : {});
  const onsets = () => b.evaluate(() => (window as any).onsets as Record<string, number[]>);
  for (let i = 0; i < 400; i++) {
    const o = await onsets();
    if (o['page'] && o['sip'] && t.server.sip.calls.find((c) => c.id === call.id)?.state === 'answered') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 1500)); // jitter buffers settle

  const cpuCall = ownCpuUs();
  const phoneCpu = sampleProcess(phone.pid!);
  const callStart = performance.now();
  const direct: number[] = [];
  const viaPhone: number[] = [];
  for (let i = -WARMUP; i < BURSTS; i++) {
    const sentAt = (await a.evaluate(() => (window as any).burst(300))) as number;
    let o: Record<string, number[]> = {};
    for (let w = 0; w < 60; w++) {
      await new Promise((r) => setTimeout(r, 50));
      o = await onsets();
      if (o['page']?.some((x) => x >= sentAt) && o['sip']?.some((x) => x >= sentAt)) break;
    }
    const first = (name: string) => o[name]?.find((x) => x >= sentAt);
    if (process.env['DEBUG_M2E']) console.log(sentAt, JSON.stringify(Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.slice(-3).map((x) => x - sentAt)]))));
    const d = first('page');
    const v = first('sip');
    if (i >= 0 && d !== undefined) direct.push(d - sentAt);
    if (i >= 0 && v !== undefined) viaPhone.push(v - sentAt);
    await new Promise((r) => setTimeout(r, 700 + Math.random() * 200));
  }
  if (viaPhone.length === 0) {
    const o = await onsets();
    throw new Error(`nothing came back through the phone: call ${JSON.stringify(t.server.sip.calls)}, media ${JSON.stringify(t.server.sip.mediaStats(call.id))}, onsets ${JSON.stringify(Object.keys(o))}\n${phoneLog.join('').slice(-1500)}`);
  }
  const elapsed = performance.now() - callStart;
  const duringPct = ((ownCpuUs() - cpuCall) / 1000 / elapsed) * 100;
  const phonePct = coreShare(phoneCpu, sampleProcess(phone.pid!)) * 100;
  const stats = t.server.sip.mediaStats(call.id);
  await sdk.forceDisconnect(sessionId, call.connectionId);

  const legRoundTrip = median(viaPhone) - median(direct);
  console.log(`SIP bridge mouth-to-ear, Chromium <-> baresip echo (${stats?.codec ?? '?'}${secure ? ', TLS + SRTP' : ''}) on loopback, ${BURSTS} bursts (${direct.length} heard directly, ${viaPhone.length} through the phone)\n`);
  console.log(
    table([
      ['figure', 'p50 ms', 'p90 ms'],
      ['page A -> SFU -> page B (session mouth-to-ear)', median(direct).toFixed(1), percentile(direct, 90).toFixed(1)],
      ['page A -> bridge -> phone echo -> bridge -> page B', median(viaPhone).toFixed(1), percentile(viaPhone, 90).toFixed(1)],
      ['SIP leg there and back (difference of the p50s)', legRoundTrip.toFixed(1), ''],
      ['browser mouth -> phone ear, estimate (session p50 + leg / 2)', (median(direct) + legRoundTrip / 2).toFixed(1), ''],
    ]),
  );
  console.log(
    '\n' +
      table([
        ['CPU', '% of one core'],
        ['server process without the call', baselinePct.toFixed(1)],
        ['server process with the call', duringPct.toFixed(1)],
        ['per call (server)', (duringPct - baselinePct).toFixed(1)],
        ['the phone (baresip echo)', phonePct.toFixed(1)],
      ]),
  );
} finally {
  await browser.close();
  await app.close();
  phone.kill('SIGTERM');
}
