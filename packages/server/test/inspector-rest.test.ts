// The REST extension GET …/session/{sid}/events and …/quality: data recorded through the Inspector
// API read back with real credentials (HS256 project JWT and RS256 application JWT), bad queries
// refused, and another project's session refused.

import { signJwt } from '@colloquy/tokens';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let sessionId: string;
let appSessionId: string;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  t = await startTestServer();
  const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
  sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
  const appProject = t.server.store.projects.get(t.applicationId)!;
  appSessionId = (await t.server.sessions.create(appProject, { mediaMode: 'routed', archiveMode: 'manual', location: null, archiveName: null, archiveResolution: null, e2ee: false })).id;

  const i = t.server.inspector;
  i.recordEvent(sessionId, t.apiKey, { type: 'connectionCreated', connectionId: 'conn-a', userAgent: 'Chromium', ip: '127.0.0.1' });
  i.recordEvent(sessionId, t.apiKey, { type: 'streamCreated', connectionId: 'conn-a', streamId: 'stream-a', videoType: 'camera' });
  i.recordEvent(sessionId, t.apiKey, { type: 'error', source: 'client', code: 1500, message: 'camera busy', connectionId: 'conn-a' });
  i.recordQuality(sessionId, t.apiKey, { source: 'publisher', connectionId: 'conn-a', streamId: 'stream-a', kind: 'video', bitrate: 750_000, packetLoss: 0.001, jitterMs: 3, frameRate: 30, width: 640, height: 480 });
  i.recordQuality(sessionId, t.apiKey, { source: 'publisher', connectionId: 'conn-a', streamId: 'stream-a', kind: 'audio', bitrate: 40_000, packetLoss: 0 });
  i.recordEvent(appSessionId, t.applicationId, { type: 'connectionCreated', connectionId: 'conn-app' });
});
afterAll(async () => t.close());

function projectAuth(): Record<string, string> {
  return { 'X-OPENTOK-AUTH': signJwt({ iss: t.apiKey, ist: 'project', iat: now(), exp: now() + 300 }, t.apiSecret) };
}

function appAuth(): Record<string, string> {
  return { Authorization: `Bearer ${signJwt({ application_id: t.applicationId, iat: now(), exp: now() + 300, jti: 'x' }, t.privateKey, 'RS256')}` };
}

async function get(path: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const res = await fetch(`${t.url}${path}`, { headers: { Accept: 'application/json', ...headers } });
  return { status: res.status, body: await res.json() };
}

describe('GET /v2/project/{key}/session/{sid}/events', () => {
  it("answers the session's events, oldest first", async () => {
    const res = await get(`/v2/project/${t.apiKey}/session/${sessionId}/events`, projectAuth());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ count: 3, sessionId, projectId: t.apiKey, next: null });
    expect(res.body.items.map((e: { type: string }) => e.type)).toEqual(['connectionCreated', 'streamCreated', 'error']);
    expect(res.body.items[0]).toMatchObject({ connectionId: 'conn-a', details: { userAgent: 'Chromium', ip: '127.0.0.1' } });
    expect(res.body.items[2]).toMatchObject({ isError: true, details: { source: 'client', code: 1500, message: 'camera busy' } });
  });

  it('filters and pages', async () => {
    const errors = await get(`/v2/project/${t.apiKey}/session/${sessionId}/events?errors=true`, projectAuth());
    expect(errors.body.items.map((e: { type: string }) => e.type)).toEqual(['error']);
    const typed = await get(`/v2/project/${t.apiKey}/session/${sessionId}/events?type=streamCreated,error&limit=1`, projectAuth());
    expect(typed.body.items.map((e: { type: string }) => e.type)).toEqual(['streamCreated']);
    const next = await get(`/v2/project/${t.apiKey}/session/${sessionId}/events?type=streamCreated,error&limit=1&after=${typed.body.next}`, projectAuth());
    expect(next.body.items.map((e: { type: string }) => e.type)).toEqual(['error']);
    expect(next.body.next).toBeNull();
  });

  it('refuses bad query parameters with 400', async () => {
    for (const q of ['type=nonsense', 'limit=0', 'limit=5000', 'since=yesterday', 'unknown=1']) {
      const res = await get(`/v2/project/${t.apiKey}/session/${sessionId}/events?${q}`, projectAuth());
      expect(res.status, q).toBe(400);
      expect(res.body.message).toMatch(/Query is invalid/);
    }
  });

  it('works for an application with a Bearer RS256 JWT', async () => {
    const res = await get(`/v2/project/${t.applicationId}/session/${appSessionId}/events`, appAuth());
    expect(res.status).toBe(200);
    expect(res.body.items.map((e: { connectionId: string }) => e.connectionId)).toEqual(['conn-app']);
  });

  it("refuses another project's session (404) and another project's key in the path (403)", async () => {
    const otherSession = await get(`/v2/project/${t.apiKey}/session/${appSessionId}/events`, projectAuth());
    expect(otherSession.status).toBe(404);
    expect(JSON.stringify(otherSession.body)).not.toContain('conn-app');
    const otherKey = await get(`/v2/project/${t.applicationId}/session/${appSessionId}/events`, projectAuth());
    expect(otherKey.status).toBe(403);
    const theirs = await get(`/v2/project/${t.applicationId}/session/${sessionId}/events`, appAuth());
    expect(theirs.status).toBe(404);
    const unsigned = await get(`/v2/project/${t.apiKey}/session/${sessionId}/events`, {});
    expect(unsigned.status).toBe(401);
    const malformed = await get(`/v2/project/${t.apiKey}/session/not-a-session/events`, projectAuth());
    expect(malformed.status).toBe(404);
  });
});

describe('GET /v2/project/{key}/session/{sid}/quality', () => {
  it('answers time series per track and a score per connection', async () => {
    const res = await get(`/v2/project/${t.apiKey}/session/${sessionId}/quality`, projectAuth());
    expect(res.status).toBe(200);
    expect(res.body.bucketMs).toBeGreaterThanOrEqual(1000);
    expect(res.body.tracks.map((x: { kind: string; source: string }) => `${x.source}/${x.kind}`).sort()).toEqual(['publisher/audio', 'publisher/video']);
    const video = res.body.tracks.find((x: { kind: string }) => x.kind === 'video');
    expect(video.points[0]).toMatchObject({ bitrate: 750_000, packetLoss: 0.001, jitterMs: 3, frameRate: 30, width: 640, height: 480 });
    expect(res.body.scores).toHaveLength(1);
    expect(res.body.scores[0]).toMatchObject({ connectionId: 'conn-a', basis: 'server' });
    expect(res.body.scores[0].score).toBeGreaterThan(4.5);
  });

  it('filters by source and refuses a bucket under a second', async () => {
    const res = await get(`/v2/project/${t.apiKey}/session/${sessionId}/quality?source=subscriber`, projectAuth());
    expect(res.body.tracks).toEqual([]);
    expect((await get(`/v2/project/${t.apiKey}/session/${sessionId}/quality?bucket=10`, projectAuth())).status).toBe(400);
  });

  it("refuses another project's session", async () => {
    expect((await get(`/v2/project/${t.apiKey}/session/${appSessionId}/quality`, projectAuth())).status).toBe(404);
    expect((await get(`/v2/project/${t.applicationId}/session/${sessionId}/quality`, appAuth())).status).toBe(404);
  });
});
