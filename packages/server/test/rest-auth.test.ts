// REST authentication: every way a request can be badly signed gets 401 or 403 with OpenTok's
// JSON error shape, and the server keeps answering afterwards.

import { encodeBase64Url, signJwt } from '@colloquy/tokens';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => t.close());

const now = () => Math.floor(Date.now() / 1000);

function legacyJwt(claims: Record<string, unknown> = {}, secret = t.apiSecret): string {
  return signJwt({ iss: t.apiKey, ist: 'project', iat: now(), exp: now() + 300, ...claims }, secret);
}

async function createWith(headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${t.url}/session/create`, { method: 'POST', headers: { Accept: 'application/json', ...headers } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('X-OPENTOK-AUTH (HS256)', () => {
  it('accepts a well-signed token', async () => {
    const res = await createWith({ 'X-OPENTOK-AUTH': legacyJwt() });
    expect(res.status).toBe(200);
  });

  it('accepts a numeric iss and a token without jti', async () => {
    expect((await createWith({ 'X-OPENTOK-AUTH': legacyJwt({ iss: Number(t.apiKey) }) })).status).toBe(200);
  });

  const cases: Array<[string, () => Record<string, string>, number, RegExp]> = [
    ['no credentials', () => ({}), 401, /Missing credentials/],
    ['garbage', () => ({ 'X-OPENTOK-AUTH': 'not-a-jwt' }), 401, /Invalid authentication token/],
    ['three garbage parts', () => ({ 'X-OPENTOK-AUTH': 'a.b.c' }), 401, /Invalid authentication token/],
    ['wrong secret', () => ({ 'X-OPENTOK-AUTH': legacyJwt({}, 'x'.repeat(40)) }), 403, /Invalid credentials/],
    ['unknown key', () => ({ 'X-OPENTOK-AUTH': legacyJwt({ iss: '123' }) }), 403, /Invalid credentials/],
    ['ist account', () => ({ 'X-OPENTOK-AUTH': legacyJwt({ ist: 'account' }) }), 403, /ist/],
    ['expired', () => ({ 'X-OPENTOK-AUTH': legacyJwt({ iat: now() - 1000, exp: now() - 600 }) }), 401, /expired/],
    ['issued in the future', () => ({ 'X-OPENTOK-AUTH': legacyJwt({ iat: now() + 3600, exp: now() + 3900 }) }), 401, /future/],
    ['no exp', () => ({ 'X-OPENTOK-AUTH': legacyJwt({ exp: undefined }) }), 401, /exp/],
    ['string iat', () => ({ 'X-OPENTOK-AUTH': legacyJwt({ iat: 'yesterday' }) }), 401, /iat/],
    ['lifetime of a year', () => ({ 'X-OPENTOK-AUTH': legacyJwt({ exp: now() + 365 * 86400 }) }), 401, /lifetime/],
    [
      'alg none',
      () => {
        const header = encodeBase64Url(JSON.stringify({ alg: 'none', typ: 'JWT' }));
        const payload = encodeBase64Url(JSON.stringify({ iss: t.apiKey, ist: 'project', iat: now(), exp: now() + 300 }));
        return { 'X-OPENTOK-AUTH': `${header}.${payload}.` };
      },
      401,
      /algorithm "none" is not accepted/,
    ],
    [
      'HS512',
      () => {
        const header = encodeBase64Url(JSON.stringify({ alg: 'HS512', typ: 'JWT' }));
        const payload = encodeBase64Url(JSON.stringify({ iss: t.apiKey, ist: 'project', iat: now(), exp: now() + 300 }));
        return { 'X-OPENTOK-AUTH': `${header}.${payload}.c2ln` };
      },
      401,
      /HS512/,
    ],
    ['RS256 token in X-OPENTOK-AUTH', () => ({ 'X-OPENTOK-AUTH': signJwt({ iss: t.apiKey, ist: 'project', iat: now(), exp: now() + 300 }, t.privateKey, 'RS256') }), 401, /HS256/],
  ];
  for (const [name, headers, status, message] of cases) {
    it(`refuses ${name} with ${status}`, async () => {
      const res = await createWith(headers());
      expect(res.status).toBe(status);
      expect(res.body).toMatchObject({ code: status, message: expect.stringMatching(message) });
    });
  }
});

describe('Authorization: Bearer (RS256)', () => {
  const appJwt = (claims: Record<string, unknown> = {}) =>
    signJwt({ application_id: t.applicationId, iat: now(), exp: now() + 900, jti: 'x', ...claims }, t.privateKey, 'RS256');

  it('accepts a token signed with the application key', async () => {
    expect((await createWith({ Authorization: `Bearer ${appJwt()}` })).status).toBe(200);
  });

  it('accepts opentok-node style claims (iss + application_id)', async () => {
    expect((await createWith({ Authorization: `Bearer ${appJwt({ iss: t.applicationId, ist: 'project' })}` })).status).toBe(200);
  });

  it('refuses an HS256 token signed with the public key as secret (algorithm confusion)', async () => {
    const forged = signJwt({ application_id: t.applicationId, iat: now(), exp: now() + 900 }, t.publicKey, 'HS256');
    const res = await createWith({ Authorization: `Bearer ${forged}` });
    expect(res).toMatchObject({ status: 401, body: { code: 401 } });
  });

  it('refuses a Basic header', async () => {
    const res = await createWith({ Authorization: 'Basic dXNlcjpwYXNz' });
    expect(res).toMatchObject({ status: 401, body: { message: expect.stringMatching(/Bearer/) } });
  });

  it('refuses an unknown application', async () => {
    const res = await createWith({ Authorization: `Bearer ${appJwt({ application_id: '11111111-2222-4333-8444-555555555555' })}` });
    expect(res.status).toBe(403);
  });
});

describe('/v2/project/{key}', () => {
  it('refuses a key in the path that is not the caller’s', async () => {
    const res = await fetch(`${t.url}/v2/project/99999999/archive`, { headers: { 'X-OPENTOK-AUTH': legacyJwt() } });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 403, message: expect.stringMatching(/does not match/) });
  });

  it('refuses an application calling the legacy project’s tree', async () => {
    const jwt = signJwt({ application_id: t.applicationId, iat: now(), exp: now() + 900 }, t.privateKey, 'RS256');
    const res = await fetch(`${t.url}/v2/project/${t.apiKey}/archive`, { headers: { Authorization: `Bearer ${jwt}` } });
    expect(res.status).toBe(403);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await fetch(`${t.url}/v2/project/${t.apiKey}/nothing-here`, { headers: { 'X-OPENTOK-AUTH': legacyJwt() } });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 404 });
  });

  it('still serves after all of the above', async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});

describe('configuration', () => {
  it('parses COLLOQUY_TRUST_PROXY and refuses nonsense', async () => {
    const { loadConfig } = await import('../src/config.js');
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ COLLOQUY_TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ COLLOQUY_TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ COLLOQUY_TRUST_PROXY: '10.0.0.0/8, ::1' }).trustProxy).toEqual(['10.0.0.0/8', '::1']);
    expect(() => loadConfig({ COLLOQUY_TRUST_PROXY: 'everyone' })).toThrow(/COLLOQUY_TRUST_PROXY/);
  });
});
