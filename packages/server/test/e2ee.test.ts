// End-to-end encrypted sessions (created with e2ee=true), the server's side: clients are told at
// connect (session.e2ee); a publish that does not say it encrypts (e2ee: true) is refused, so a
// client that cannot encrypt never sends clear media in; creating one relayed or with archiveMode
// always is refused; archiving and SIP calls, which need the media, are refused with 409 as OpenTok
// does (the media router cannot decrypt). The browser's encryption is tested in packages/client.

import { signJwt } from '@colloquy/tokens';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';
import { WsClient } from './ws-client.js';

let t: TestServer;
let ot: OpenTok;
const clients: WsClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
  ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
});
afterAll(async () => {
  for (const c of clients) c.kill();
  await t.close();
});

function createSession(options: Record<string, unknown>): Promise<string> {
  return new Promise((resolve, reject) => ot.createSession(options as OpenTok.SessionOptions, (e, s) => (e ? reject(e) : resolve(s!.sessionId))));
}

async function join(sessionId: string): Promise<WsClient> {
  const c = await WsClient.join(t.url, sessionId, ot.generateToken(sessionId, { role: 'moderator' }));
  clients.push(c);
  return c;
}

const PUBLISH = { type: 'publish', name: 'cam', hasAudio: true, hasVideo: true, videoType: 'camera', videoDimensions: { width: 640, height: 480 } };

describe('e2ee sessions', () => {
  it('connect says e2ee; a publish without e2ee: true is refused (1500 OT_ENCRYPTION_SECRET_MISSING) and no stream exists; a plain session is unaffected', async () => {
    const e2ee = await createSession({ mediaMode: 'routed', e2ee: true });
    expect((await t.server.store.sessions.get(e2ee))?.e2ee).toBe(true);
    const client = await join(e2ee);
    expect(client.connectResult!.session).toEqual({ sessionId: e2ee, mediaMode: 'routed', e2ee: true });
    for (const claim of [{}, { e2ee: false }]) {
      const refused = await client.request({ ...PUBLISH, ...claim });
      expect(refused).toMatchObject({ type: 'error', code: 1500, name: 'OT_ENCRYPTION_SECRET_MISSING' });
    }
    expect(t.server.sessions.live(e2ee)!.liveStreams()).toEqual([]);
    // A publish that says it encrypts gets past that check (here it fails later: no SDP offer).
    const claimed = await client.request({ ...PUBLISH, e2ee: true });
    expect(claimed).not.toMatchObject({ name: 'OT_ENCRYPTION_SECRET_MISSING' });
    // Not a boolean: the protocol schema refuses it.
    expect(await client.request({ ...PUBLISH, e2ee: 'yes' })).toMatchObject({ type: 'error' });

    const plain = await createSession({ mediaMode: 'relayed' });
    const other = await join(plain);
    expect(other.connectResult!.session.e2ee).toBe(false);
    expect(await other.request(PUBLISH)).toMatchObject({ type: 'response', result: { streamId: expect.any(String) } });
  });

  it('archiving an e2ee session is refused with 409, even with a client connected', async () => {
    const e2ee = await createSession({ mediaMode: 'routed', e2ee: true });
    await join(e2ee);
    const error = await new Promise<Error | null>((resolve) => ot.startArchive(e2ee, { name: 'secret' }, (e) => resolve(e ?? null)));
    expect(error?.message).toMatch(/409|end-to-end encrypted/);
    const iat = Math.floor(Date.now() / 1000);
    const response = await fetch(`${t.url}/v2/project/${t.apiKey}/archive`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-opentok-auth': signJwt({ iss: t.apiKey, ist: 'project', iat, exp: iat + 300 }, t.apiSecret, 'HS256') },
      body: JSON.stringify({ sessionId: e2ee }),
    });
    expect(response.status).toBe(409);
    expect(await response.json()).toEqual({ code: 409, message: expect.stringMatching(/end-to-end encrypted/) });
    expect((await t.server.archives.store.list(t.apiKey, { sessionId: e2ee })).count).toBe(0);
  });

  it('creating an e2ee session relayed or with archiveMode always is refused (400), through the opentok SDK and the plain form', async () => {
    await expect(createSession({ mediaMode: 'relayed', e2ee: true })).rejects.toThrow(/400|routed/);
    await expect(createSession({ mediaMode: 'routed', archiveMode: 'always', e2ee: true })).rejects.toThrow(/400|archiveMode/);
    const iat = Math.floor(Date.now() / 1000);
    const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'x-opentok-auth': signJwt({ iss: t.apiKey, ist: 'project', iat, exp: iat + 300 }, t.apiSecret, 'HS256') };
    const form = async (body: string) => {
      const response = await fetch(`${t.url}/session/create`, { method: 'POST', headers, body });
      return { status: response.status, body: (await response.json()) as unknown };
    };
    expect(await form('p2p.preference=enabled&e2ee=true')).toEqual({ status: 400, body: { code: 400, message: expect.stringMatching(/e2ee requires a routed session/) } });
    expect(await form('p2p.preference=disabled&archiveMode=always&e2ee=true')).toEqual({ status: 400, body: { code: 400, message: expect.stringMatching(/cannot use archiveMode "always"/) } });
    expect(await form('e2ee=maybe')).toMatchObject({ status: 400 });
    const created = await form('p2p.preference=disabled&e2ee=true');
    expect(created.status).toBe(200);
    expect((await t.server.store.sessions.get((created.body as Array<{ session_id: string }>)[0]!.session_id))?.e2ee).toBe(true);
  });

  it('a SIP call into an e2ee session is refused with 409 (the gateway would need the audio)', async () => {
    const e2ee = await createSession({ mediaMode: 'routed', e2ee: true });
    const iat = Math.floor(Date.now() / 1000);
    const response = await fetch(`${t.url}/v2/project/${t.apiKey}/dial`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-opentok-auth': signJwt({ iss: t.apiKey, ist: 'project', iat, exp: iat + 300 }, t.apiSecret, 'HS256') },
      body: JSON.stringify({ sessionId: e2ee, token: ot.generateToken(e2ee), sip: { uri: 'sip:+15550100@127.0.0.1:5999' } }),
    });
    expect(response.status).toBe(409);
    expect(await response.json()).toEqual({ code: 409, message: expect.stringMatching(/SIP calls .*end-to-end encrypted/) });
    expect(t.server.sessions.live(e2ee)).toBeUndefined();
  });

  // Every other server feature that would need the media answers the same 409.
  const mediaFeatures: Array<[string, string, (sessionId: string) => Record<string, unknown>]> = [
    ['live captions', '/captions', (sessionId) => ({ sessionId, token: ot.generateToken(sessionId, { role: 'moderator' }), languageCode: 'en-US' })],
    ['live streaming broadcasts', '/broadcast', (sessionId) => ({ sessionId, outputs: { hls: {} } })],
    ['Experience Composer renders', '/render', (sessionId) => ({ sessionId, token: ot.generateToken(sessionId), url: 'http://127.0.0.1:9/page' })],
    ['Audio Connector WebSockets', '/connect', (sessionId) => ({ sessionId, token: ot.generateToken(sessionId), websocket: { uri: 'ws://127.0.0.1:9/socket' } })],
  ];
  it.each(mediaFeatures)('%s in an e2ee session are refused with 409', async (_name, path, body) => {
    const e2ee = await createSession({ mediaMode: 'routed', e2ee: true });
    await join(e2ee);
    const iat = Math.floor(Date.now() / 1000);
    const response = await fetch(`${t.url}/v2/project/${t.apiKey}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-opentok-auth': signJwt({ iss: t.apiKey, ist: 'project', iat, exp: iat + 300 }, t.apiSecret, 'HS256') },
      body: JSON.stringify(body(e2ee)),
    });
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ code: 409, message: expect.stringMatching(/end-to-end encrypted/) });
  });
});
