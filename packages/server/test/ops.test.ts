// Operations endpoints and settings on a real server: /healthz and /readyz, overload refusal of new
// routed publishes (threshold forced low, the event loop blocked on purpose), /metrics with and
// without its bearer token, TURN credentials in the connect reply (checked against coturn's
// REST scheme), HTTPS + WSS with a self-signed certificate and its reload.

import { selfSignedCertificate } from '@colloquy/testing/deploy';
import { ProtocolClient, ProtocolError } from '@colloquy/testing/protocol';
import { createHmac, X509Certificate } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import OpenTok from 'opentok';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig } from '../src/config.js';
import { checkTurnUrl, turnCredentials } from '../src/ops/turn-credentials.js';
import { startTestServer, type TestServer } from './helpers.js';

const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

async function server(env: Record<string, string> = {}): Promise<TestServer> {
  const t = await startTestServer(env);
  servers.push(t);
  return t;
}

function createSession(t: TestServer, mediaMode: 'routed' | 'relayed' = 'routed'): Promise<{ sessionId: string; token: (role?: 'publisher' | 'moderator') => string }> {
  const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
  return new Promise((resolve, reject) =>
    ot.createSession({ mediaMode }, (err, s) => (err ? reject(err) : resolve({ sessionId: s!.sessionId, token: (role = 'publisher') => ot.generateToken(s!.sessionId, { role }) }))),
  );
}

describe('settings', () => {
  it('validates the TURN, TLS, metrics and overload variables', () => {
    expect(loadConfig({}).turn).toBeNull();
    expect(loadConfig({ COLLOQUY_TURN_URLS: 'turn:turn.example.com:3478?transport=udp, turns:turn.example.com:5349', COLLOQUY_TURN_SECRET: 's3cret' }).turn).toEqual({
      urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349'],
      secret: 's3cret',
      ttlSeconds: 86_400,
    });
    expect(() => loadConfig({ COLLOQUY_TURN_URLS: 'turn:a.example' })).toThrow(/must be set together/);
    expect(() => loadConfig({ COLLOQUY_TURN_URLS: 'stun:a.example', COLLOQUY_TURN_SECRET: 'x' })).toThrow(/not a turn:\/turns: URL/);
    expect(() => loadConfig({ COLLOQUY_TURN_URLS: 'turn:a.example', COLLOQUY_TURN_SECRET: 'x', COLLOQUY_TURN_TTL: '5' })).toThrow(/COLLOQUY_TURN_TTL/);
    expect(checkTurnUrl('turns:a.example:5349?transport=udp')).toMatch(/TLS/);
    expect(checkTurnUrl('turn:[::1]:3478?transport=tcp')).toBeNull();
    expect(() => loadConfig({ COLLOQUY_TLS_CERT: '/x.pem' })).toThrow(/COLLOQUY_TLS_CERT and COLLOQUY_TLS_KEY/);
    expect(() => loadConfig({ COLLOQUY_METRICS_TOKEN: 'short' })).toThrow(/COLLOQUY_METRICS_TOKEN/);
    expect(() => loadConfig({ COLLOQUY_OVERLOAD_LAG_MS: '-1' })).toThrow(/COLLOQUY_OVERLOAD_LAG_MS/);
    expect(() => loadConfig({ COLLOQUY_RTC_TCP: 'yes' })).toThrow(/COLLOQUY_RTC_TCP/);
    expect(loadConfig({}).overload).toEqual({ maxEventLoopLagMs: 250, maxCpuPercent: 95 });
  });

  it("makes coturn's REST credentials: expiry:user, base64 HMAC-SHA1 of it with the secret", () => {
    const now = Date.UTC(2026, 0, 1);
    const c = turnCredentials({ urls: ['turn:t.example'], secret: 'abc', ttlSeconds: 600 }, 'conn-1/../x', now);
    expect(c.username).toBe(`${now / 1000 + 600}:conn-1..x`);
    expect(c.credential).toBe(createHmac('sha1', 'abc').update(c.username).digest('base64'));
  });

  it('hands every connecting client TURN servers with fresh credentials', async () => {
    const t = await server({ COLLOQUY_TURN_URLS: 'turn:127.0.0.1:3478?transport=udp,turns:127.0.0.1:5349', COLLOQUY_TURN_SECRET: 'turn-secret', COLLOQUY_TURN_TTL: '3600' });
    const { sessionId, token } = await createSession(t);
    const client = await ProtocolClient.join(t.url, sessionId, token());
    try {
      const [ice] = client.connectResult!.iceServers!;
      expect(ice!.urls).toEqual(['turn:127.0.0.1:3478?transport=udp', 'turns:127.0.0.1:5349']);
      const [expiry, user] = ice!.username.split(':');
      expect(user).toBe(client.connectionId);
      expect(Number(expiry)).toBeGreaterThan(Date.now() / 1000 + 3500);
      expect(Number(expiry)).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 3600);
      expect(ice!.credential).toBe(createHmac('sha1', 'turn-secret').update(ice!.username).digest('base64'));
    } finally {
      await client.close();
    }
  });
});

describe('health, readiness and overload', () => {
  it('/healthz and /readyz answer 200 on an idle server', async () => {
    const t = await server();
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
  });

  it('refuses new routed publishes with OT_UNABLE_TO_PUBLISH while the event loop lags over the limit; /readyz says why', async () => {
    const t = await server({ COLLOQUY_OVERLOAD_LAG_MS: '20', COLLOQUY_OVERLOAD_CPU: '0' });
    const { sessionId, token } = await createSession(t);
    const client = await ProtocolClient.join(t.url, sessionId, token());
    const relayed = await createSession(t, 'relayed');
    const peerToPeer = await ProtocolClient.join(t.url, relayed.sessionId, relayed.token());
    try {
      // Block the (shared) event loop 300 ms at a time until three 1 s windows in a row lag over 20 ms.
      // The lag timer fires every LAG_RESOLUTION_MS = 250 ms: blocks longer than that put every other
      // sample inside one (120 ms blocks + 5 ms gaps could phase-lock a 250 ms timer into the gaps).
      const deadline = Date.now() + 20_000;
      while (!t.server.load.overloaded()) {
        if (Date.now() > deadline) throw new Error(`never overloaded: ${JSON.stringify(t.server.load.sample)}`);
        const until = Date.now() + 300;
        while (Date.now() < until) {
          // busy on purpose
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      const ready = await fetch(`${t.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'overloaded', reason: expect.stringMatching(/event-loop lag .* over 20 ms/) });
      const refused = await client.tryRequest({ type: 'publish', name: 'x', videoType: 'camera', hasAudio: true, hasVideo: true, videoDimensions: { width: 640, height: 480 }, frameRate: 30, sdp: 'v=0\r\n' });
      expect(refused).toMatchObject({ type: 'error', code: 1500, name: 'OT_UNABLE_TO_PUBLISH', message: expect.stringMatching(/media server is at capacity/) });
      // Relayed media does not touch the SFU: publishing there is still allowed.
      expect(t.server.load.overloaded()).not.toBeNull();
      const allowed = await peerToPeer.tryRequest({ type: 'publish', name: 'p2p', videoType: 'camera', hasAudio: true, hasVideo: true, videoDimensions: { width: 640, height: 480 }, frameRate: 30 });
      expect(allowed).toMatchObject({ type: 'response', result: { streamId: expect.any(String) } });
      // The loop calms down: the next windows are under the limit and /readyz is ready again.
      const calm = Date.now() + 20_000;
      while ((await fetch(`${t.url}/readyz`)).status !== 200) {
        if (Date.now() > calm) throw new Error('still overloaded after 20 s idle');
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await client.close();
      await peerToPeer.close();
    }
  });
});

describe('/metrics', () => {
  it('needs the bearer token when COLLOQUY_METRICS_TOKEN is set, and serves colloquy_ series and process metrics', async () => {
    const t = await server({ COLLOQUY_METRICS_TOKEN: 'metrics-token-0123456789' });
    expect((await fetch(`${t.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    const { sessionId, token } = await createSession(t);
    const client = await ProtocolClient.join(t.url, sessionId, token());
    try {
      const res = await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
      const text = await res.text();
      expect(text).toMatch(/^colloquy_sessions\{media_mode="routed"\} 1$/m);
      expect(text).toMatch(/^colloquy_connections 1$/m);
      expect(text).toMatch(/^colloquy_signaling_messages_received_total\{type="connect"\} 1$/m);
      expect(text).toMatch(/^colloquy_archives\{status="started"\} 0$/m);
      expect(text).toMatch(/^process_cpu_seconds_total /m);
      expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
    } finally {
      await client.close();
    }
  });
});

describe('TLS', () => {
  function get(url: string, ca: string): Promise<{ status: number; fingerprint: string }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, { ca, agent: false }, (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, fingerprint }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('serves HTTPS and WSS on PORT and takes a renewed certificate on reload', async () => {
    const first = selfSignedCertificate();
    const second = selfSignedCertificate();
    try {
      const t = await server({ COLLOQUY_TLS_CERT: first.certFile, COLLOQUY_TLS_KEY: first.keyFile });
      expect(t.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const r1 = await get(`${t.url}/healthz`, first.cert);
      expect(r1).toEqual({ status: 200, fingerprint: new X509Certificate(first.cert).fingerprint256 });

      // WSS: the signaling socket over the same port, with a real connect (the session made in the
      // domain: the REST SDK here would not trust the test certificate).
      const project = t.server.store.projects.get(t.apiKey)!;
      const { id: sessionId } = await t.server.sessions.create(project, { mediaMode: 'routed', archiveMode: 'manual', location: null, archiveName: null, archiveResolution: null, e2ee: false });
      const token = () => new OpenTok(t.apiKey, t.apiSecret).generateToken(sessionId, { role: 'publisher' });
      const ws = new WebSocket(`${t.url.replace(/^https/, 'wss')}/v2/signaling`, { ca: first.cert });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const reply = new Promise<Record<string, unknown>>((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()))));
      ws.send(JSON.stringify({ type: 'connect', id: 1, version: 1, sessionId, token: token() }));
      expect(await reply).toMatchObject({ type: 'response', re: 1, result: { session: { sessionId } } });
      ws.close();

      // The renewal overwrites the files; reload (SIGHUP in `colloquy serve`) makes new connections use it.
      copyFileSync(second.certFile, first.certFile);
      copyFileSync(second.keyFile, first.keyFile);
      t.server.reloadTls();
      const r2 = await get(`${t.url}/healthz`, second.cert);
      expect(r2).toEqual({ status: 200, fingerprint: new X509Certificate(second.cert).fingerprint256 });

      // A key that does not match the certificate is refused, and the working pair stays in use.
      const third = selfSignedCertificate();
      copyFileSync(third.keyFile, first.keyFile);
      third.remove();
      expect(() => t.server.reloadTls()).toThrow();
      expect(await get(`${t.url}/healthz`, second.cert)).toEqual(r2);
    } finally {
      first.remove();
      second.remove();
    }
  });
});
