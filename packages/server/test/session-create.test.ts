// POST /session/create: options, content negotiation (JSON array vs PHP's XML), and bad input.

import { parseSessionId, signJwt } from '@colloquy/tokens';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => t.close());

function auth(): Record<string, string> {
  const iat = Math.floor(Date.now() / 1000);
  return { 'X-OPENTOK-AUTH': signJwt({ iss: t.apiKey, ist: 'project', iat, exp: iat + 300 }, t.apiSecret) };
}

async function create(body: string | undefined, headers: Record<string, string> = { Accept: 'application/json' }) {
  const res = await fetch(`${t.url}/session/create`, {
    method: 'POST',
    headers: { ...auth(), ...(body !== undefined ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}), ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', text, json: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined };
}

describe('POST /session/create', () => {
  it('answers a JSON array with OpenTok’s fields and Content-Type application/json', async () => {
    const res = await create('p2p.preference=disabled&archiveMode=manual');
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^application\/json/);
    expect(res.json).toHaveLength(1);
    const [s] = res.json;
    expect(s).toMatchObject({ project_id: t.apiKey, partner_id: t.apiKey, ice_credential_expiration: 86100, media_server_url: '' });
    expect(s.create_dt).toMatch(/^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}$/);
    expect(s.session_segment_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(parseSessionId(s.session_id)).toMatchObject({ apiKey: t.apiKey, location: '' });
  });

  it('answers the legacy XML document when the client sends no Accept header (PHP SDK)', async () => {
    const res = await create('p2p.preference=enabled&api_key=' + t.apiKey, { Accept: '' });
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/xml/);
    const id = /<session_id>([^<]+)<\/session_id>/.exec(res.text)?.[1];
    expect(id).toBeDefined();
    expect(res.text).toContain(`<partner_id>${t.apiKey}</partner_id>`);
    expect(res.text).toMatch(/^<\?xml version="1.0"[^>]*\?><sessions><Session>/);
    expect((await t.server.store.sessions.get(id!))?.mediaMode).toBe('relayed');
  });

  it('defaults to a routed, manually archived session with no body at all', async () => {
    const res = await create(undefined);
    expect(res.status).toBe(200);
    expect((await t.server.store.sessions.get(res.json[0].session_id))).toMatchObject({ mediaMode: 'routed', archiveMode: 'manual', e2ee: false, location: null });
  });

  it('keeps the location in the session ID and accepts the string "null"', async () => {
    const withLocation = await create('location=10.1.2.3');
    expect(parseSessionId(withLocation.json[0].session_id)?.location).toBe('10.1.2.3');
    const withNull = await create('archiveMode=manual&location=null&p2p.preference=disabled');
    expect((await t.server.store.sessions.get(withNull.json[0].session_id))?.location).toBeNull();
  });

  it('stores the archive name and resolution of always-archived sessions, and e2ee', async () => {
    const res = await create('archiveMode=always&archiveName=Daily&archiveResolution=1280x720');
    expect((await t.server.store.sessions.get(res.json[0].session_id))).toMatchObject({ archiveMode: 'always', archiveName: 'Daily', archiveResolution: '1280x720' });
    const e2ee = await create('e2ee=true');
    expect((await t.server.store.sessions.get(e2ee.json[0].session_id))?.e2ee).toBe(true);
  });

  it('accepts a JSON object body too', async () => {
    const res = await create(JSON.stringify({ 'p2p.preference': 'enabled' }), { Accept: 'application/json', 'Content-Type': 'application/json' });
    expect(res.status).toBe(200);
  });

  it('ignores fields it does not know (opentok-node passes extra options through)', async () => {
    const res = await create('p2p.preference=disabled&someFutureOption=1&api_key=' + t.apiKey);
    expect(res.status).toBe(200);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['always with relayed', 'p2p.preference=enabled&archiveMode=always', /requires a routed session/],
    ['e2ee with relayed', 'p2p.preference=enabled&e2ee=true', /e2ee requires a routed session/],
    ['e2ee with always', 'archiveMode=always&e2ee=true', /cannot use archiveMode "always"/],
    ['unknown p2p.preference', 'p2p.preference=maybe', /p2p.preference must be/],
    ['unknown archiveMode', 'archiveMode=sometimes', /archiveMode must be/],
    ['a location that is not IPv4', 'location=example.com', /IPv4/],
    ['a resolution OpenTok does not compose', 'archiveResolution=800x600', /archiveResolution must be one of/],
    ['an archive name over 80 characters', 'archiveName=' + 'n'.repeat(81), /at most 80/],
    ['e2ee that is not a boolean', 'e2ee=yes', /e2ee must be/],
    ['a field given twice', 'archiveMode=manual&archiveMode=always', /more than once/],
    ['malformed percent-encoding', 'p2p.preference=%ZZ%', /p2p.preference must be/],
  ];
  for (const [name, body, message] of bad) {
    it(`refuses ${name} with 400 and a clear message`, async () => {
      const res = await create(body);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ code: 400, message: expect.stringMatching(message) });
    });
  }

  it('refuses malformed JSON, a JSON array, and an unsupported content type', async () => {
    const badJson = await create('{"p2p', { Accept: 'application/json', 'Content-Type': 'application/json' });
    expect(badJson).toMatchObject({ status: 400, json: { code: 400, message: expect.stringMatching(/not valid JSON/) } });
    const array = await create('[]', { Accept: 'application/json', 'Content-Type': 'application/json' });
    expect(array).toMatchObject({ status: 400, json: { message: expect.stringMatching(/form or a JSON object/) } });
    const text = await create('hello', { Accept: 'application/json', 'Content-Type': 'text/plain' });
    expect(text).toMatchObject({ status: 415, json: { code: 415 } });
  });

  it('refuses a body over 1 MB with 413', async () => {
    const res = await create('archiveName=' + 'x'.repeat(1024 * 1024 + 10));
    expect(res).toMatchObject({ status: 413, json: { code: 413 } });
  });

  it('keeps serving after bad input', async () => {
    expect((await create('p2p.preference=disabled')).status).toBe(200);
  });
});
