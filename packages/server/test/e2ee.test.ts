// End-to-end encrypted sessions (created with e2ee=true) while Colloquy has no end-to-end
// encryption: the server must not let clear media into them, whatever a client claims. Clients
// are told at connect (session.e2ee), every publish is refused, and archiving is refused (409, as
// OpenTok refuses to archive e2ee sessions: the media router cannot decode them).

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
  it('connect says e2ee; publish is refused (1500 OT_UNSUPPORTED_BROWSER) and no stream exists; a plain session is unaffected', async () => {
    const e2ee = await createSession({ mediaMode: 'routed', e2ee: true });
    expect(t.server.store.sessions.get(e2ee)?.e2ee).toBe(true);
    const client = await join(e2ee);
    expect(client.connectResult!.session).toEqual({ sessionId: e2ee, mediaMode: 'routed', e2ee: true });
    const refused = await client.request(PUBLISH);
    expect(refused).toMatchObject({ type: 'error', code: 1500, name: 'OT_UNSUPPORTED_BROWSER' });
    expect(t.server.sessions.live(e2ee)!.liveStreams()).toEqual([]);

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
    expect(t.server.archives.store.list(t.apiKey, { sessionId: e2ee }).count).toBe(0);
  });
});
