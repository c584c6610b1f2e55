// COLLOQUY_TRUST_PROXY decides, in one place (src/proxy-trust.ts), whether X-Forwarded-For and
// X-Forwarded-Host are believed: by REST, the dashboard (sign-in limit, Origin check) and signaling
// (the connection's address, which the Inspector records). Without it a forged header changes
// nothing; with it the proxy's word is taken.

import OpenTok from 'opentok';
import { describe, expect, it } from 'vitest';
import { clientAddress, proxyTrust } from '../src/proxy-trust.js';
import { startTestServer } from './helpers.js';
import { WsClient } from './ws-client.js';

const PASSWORD = 'correct horse battery staple';

async function joinWith(env: Record<string, string>, headers: Record<string, string>): Promise<string> {
  const t = await startTestServer(env);
  try {
    const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
    const sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
    const c = await WsClient.join(t.url, sessionId, ot.generateToken(sessionId), headers);
    const ip = t.server.sessions.live(sessionId)!.connections.get(c.connectionId)!.ip;
    c.kill();
    return ip;
  } finally {
    await t.close();
  }
}

describe('signaling client address', () => {
  it('ignores a forged X-Forwarded-For without COLLOQUY_TRUST_PROXY', async () => {
    expect(await joinWith({}, { 'x-forwarded-for': '203.0.113.9' })).toBe('127.0.0.1');
  });

  it('takes the client from X-Forwarded-For when the proxy is trusted (by address)', async () => {
    expect(await joinWith({ COLLOQUY_TRUST_PROXY: '127.0.0.1' }, { 'x-forwarded-for': '198.51.100.7, 203.0.113.9' })).toBe('203.0.113.9');
    expect(await joinWith({ COLLOQUY_TRUST_PROXY: 'true' }, { 'x-forwarded-for': '198.51.100.7, 203.0.113.9' })).toBe('198.51.100.7');
  });
});

describe('the trust function', () => {
  const req = (remote: string, xff?: string) => ({ socket: { remoteAddress: remote }, headers: xff ? { 'x-forwarded-for': xff } : {} }) as never;
  it('walks X-Forwarded-For from the nearest hop while hops are trusted', () => {
    expect(clientAddress(req('10.0.0.2', '198.51.100.7'), proxyTrust(false))).toBe('10.0.0.2');
    expect(clientAddress(req('10.0.0.2', '198.51.100.7'), proxyTrust(['10.0.0.0/8']))).toBe('198.51.100.7');
    expect(clientAddress(req('::ffff:10.0.0.2', '198.51.100.7'), proxyTrust(['10.0.0.0/8']))).toBe('198.51.100.7');
    expect(clientAddress(req('192.0.2.1', '198.51.100.7'), proxyTrust(['10.0.0.0/8']))).toBe('192.0.2.1');
    expect(clientAddress(req('10.0.0.2', '198.51.100.7, 10.0.0.3'), proxyTrust(['10.0.0.0/8']))).toBe('198.51.100.7');
    expect(clientAddress(req('10.0.0.2', '1.1.1.1, 198.51.100.7'), proxyTrust(1))).toBe('198.51.100.7');
    expect(clientAddress(req('::1', '2001:db8::5'), proxyTrust(['::1']))).toBe('2001:db8::5');
  });
});

describe('dashboard Origin check', () => {
  it('does not believe X-Forwarded-Host without COLLOQUY_TRUST_PROXY (a forged host cannot pass a cross-origin request)', async () => {
    const t = await startTestServer({ COLLOQUY_ADMIN_PASSWORD: PASSWORD });
    try {
      const login = await fetch(`${t.url}/dashboard/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
      expect(login.status).toBe(200);
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const { csrfToken } = (await login.json()) as { csrfToken: string };
      const call = (headers: Record<string, string>) =>
        fetch(`${t.url}/dashboard/api/projects`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrfToken, ...headers },
          body: JSON.stringify({ name: 'cross' }),
        });
      expect((await call({ origin: 'https://evil.example', 'x-forwarded-host': 'evil.example' })).status).toBe(403);
      expect((await call({ origin: t.url })).status).toBe(201);
    } finally {
      await t.close();
    }
  });
});
