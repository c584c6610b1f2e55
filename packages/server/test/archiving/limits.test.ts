// Archive limits: simultaneous archives per session and per project (COLLOQUY_ARCHIVE_MAX_PER_SESSION,
// COLLOQUY_ARCHIVE_MAX_PER_PROJECT: 409 with a message saying which), and no start below the free
// disk space threshold (COLLOQUY_ARCHIVE_MIN_FREE_MB: 503 with a clear message). Before, a session
// took 100 of 100 archives with distinct multiArchiveTags.

import { signJwt } from '@colloquy/tokens';
import { rmSync } from 'node:fs';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import { startTestServer, TEST_API_KEY, TEST_API_SECRET } from '../helpers.js';
import { TestRtpSource } from './rtp-test-source.js';
import { TestSessions } from './test-sessions.js';

let media: TestRtpSource;
const servers: RunningServer[] = [];

async function start(env: Record<string, string>): Promise<{ server: RunningServer; sessions: TestSessions }> {
  const sessions = new TestSessions();
  const t = await startTestServer(env, { archiving: { media, sessions } });
  servers.push(t.server);
  return { server: t.server, sessions };
}

beforeAll(() => {
  media = new TestRtpSource('none');
});
afterAll(async () => {
  for (const s of servers) {
    await s.close();
    rmSync(s.config.dataDir, { recursive: true, force: true });
  }
  await media.close();
});

async function rest(server: RunningServer, method: string, path: string, body?: unknown) {
  const iat = Math.floor(Date.now() / 1000);
  const response = await fetch(`${server.url}/v2/project/${TEST_API_KEY}${path}`, {
    method,
    headers: { 'X-OPENTOK-AUTH': signJwt({ iss: TEST_API_KEY, ist: 'project', iat, exp: iat + 300 }, TEST_API_SECRET, 'HS256'), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function liveSession(server: RunningServer, sessions: TestSessions): Promise<string> {
  const session = await new Promise<OpenTok.Session>((resolve, reject) =>
    new OpenTok(TEST_API_KEY, TEST_API_SECRET, server.url).createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!))),
  );
  sessions.setConnections(session.sessionId, 1);
  return session.sessionId;
}

describe('simultaneous archives', () => {
  it('refuses more than COLLOQUY_ARCHIVE_MAX_PER_SESSION on one session and COLLOQUY_ARCHIVE_MAX_PER_PROJECT in a project (409)', async () => {
    const { server, sessions } = await start({ COLLOQUY_ARCHIVE_MAX_PER_SESSION: '2', COLLOQUY_ARCHIVE_MAX_PER_PROJECT: '3', COLLOQUY_ARCHIVE_MIN_FREE_MB: '0' });
    const a = await liveSession(server, sessions);
    expect((await rest(server, 'POST', '/archive', { sessionId: a, multiArchiveTag: 't1' })).status).toBe(200);
    expect((await rest(server, 'POST', '/archive', { sessionId: a, multiArchiveTag: 't2' })).status).toBe(200);
    const third = await rest(server, 'POST', '/archive', { sessionId: a, multiArchiveTag: 't3' });
    expect(third).toEqual({ status: 409, body: { code: 409, message: expect.stringMatching(/Too many archives recording this session: at most 2/) } });

    const b = await liveSession(server, sessions);
    expect((await rest(server, 'POST', '/archive', { sessionId: b })).status).toBe(200);
    const c = await liveSession(server, sessions);
    const overProject = await rest(server, 'POST', '/archive', { sessionId: c });
    expect(overProject).toEqual({ status: 409, body: { code: 409, message: expect.stringMatching(/Too many archives recording in this project: at most 3/) } });

    // Stopping one frees its slot at once.
    const live = server.archives.liveArchives().find((x) => x.sessionId === b)!;
    expect((await rest(server, 'POST', `/archive/${live.id}/stop`)).status).toBe(200);
    expect((await rest(server, 'POST', '/archive', { sessionId: c })).status).toBe(200);
  });

  it('refuses to start below COLLOQUY_ARCHIVE_MIN_FREE_MB of free space (503, clear message)', async () => {
    const { server, sessions } = await start({ COLLOQUY_ARCHIVE_MIN_FREE_MB: '1048576' });
    const a = await liveSession(server, sessions);
    const refused = await rest(server, 'POST', '/archive', { sessionId: a });
    expect(refused.status).toBe(503);
    expect(refused.body['message']).toMatch(/Cannot start the archive: the server has \d+ MB of free disk space, less than the 1048576 MB/);
    expect(server.archives.liveArchives()).toEqual([]);
    expect((await server.archives.list(TEST_API_KEY)).count).toBe(0);
  });

});
