// The whole server on PostgreSQL (COLLOQUY_DATABASE_URL=postgres://…), driven as an application
// would drive it: a real PostgreSQL started on loopback (@colloquy/testing/postgres), the real
// server, the `opentok` Node SDK for sessions, tokens, archives, broadcasts and renders, a client
// that joins over the signaling WebSocket and publishes real VP8 and Opus through the SFU, and the
// Inspector's REST extension. Every store the server has (projects, sessions, archives and their
// files, archive storage, broadcasts, renders, the Inspector, the dashboard's sign-in) is written
// and read through PostgreSQL here; none of it touches a SQLite file.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestMedia } from '@colloquy/testing/media';
import { startPostgres, type TestPostgres } from '@colloquy/testing/postgres';
import { ProtocolClient, waitUntil } from '@colloquy/testing/protocol';
import { signJwt } from '@colloquy/tokens';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';

let pg: TestPostgres;
let t: TestServer;
let databaseUrl: string;
const clients: ProtocolClient[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  databaseUrl = await pg.createDatabase('server');
  t = await startTestServer({ COLLOQUY_DATABASE_URL: databaseUrl, COLLOQUY_QUALITY_SAMPLE_MS: '1000' });
}, 120_000);
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await t?.close();
  await pg?.stop();
});

const p = <T>(fn: (cb: (err: Error | null, value?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));

/** A REST call the SDK has no method for (the Inspector's extension, archive storage). */
async function rest(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const iat = Math.floor(Date.now() / 1000);
  const response = await fetch(`${t.url}/v2/project/${t.apiKey}${path}`, {
    method,
    headers: {
      'X-OPENTOK-AUTH': signJwt({ iss: t.apiKey, ist: 'project', iat, exp: iat + 300 }, t.apiSecret, 'HS256'),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : null };
}

describe('the server on PostgreSQL', { timeout: 180_000 }, () => {
  it('boots with no SQLite file, and serves sessions, tokens, signaling, archives, broadcasts, renders and the Inspector from PostgreSQL', async () => {
    expect(t.server.store.db.engine).toBe('postgres');
    expect(existsSync(join(t.dataDir, 'colloquy.db'))).toBe(false);
    const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);

    // A session and a token from the SDK; a client joins over the WebSocket and publishes real media.
    const { sessionId } = await p<{ sessionId: string }>((cb) => ot.createSession({ mediaMode: 'routed' }, cb as never));
    expect((await t.server.store.db.value<number>('SELECT COUNT(*) FROM sessions WHERE id = ?', [sessionId]))).toBe(1);
    const alice = await ProtocolClient.join(t.url, sessionId, ot.generateToken(sessionId, { role: 'publisher', data: 'name=Alice' }));
    clients.push(alice);
    const { streamId } = await alice.publish({ media: makeTestMedia({ seconds: 2, gop: 30 }), name: 'Alice cam' });

    // An archive: start, list, stop, get, then its ZIP downloaded through the signed link.
    const started = await p<any>((cb) => ot.startArchive(sessionId, { name: 'On PostgreSQL', outputMode: 'individual' } as never, cb as never));
    expect(started).toMatchObject({ sessionId, status: 'started', name: 'On PostgreSQL', outputMode: 'individual' });
    const listed = await p<any[]>((cb) => ot.listArchives({ sessionId } as never, cb as never));
    expect(listed.map((a) => a.id)).toEqual([started.id]);
    const project = t.server.store.projects.get(t.apiKey)!;
    await waitUntil(async () => (await t.server.archives.get(project, started.id)).recordedMs >= 2000, 30_000, 'two seconds recorded');
    const stopped = await p<any>((cb) => ot.stopArchive(started.id, cb as never));
    expect(stopped).toMatchObject({ id: started.id, status: 'stopped' });
    const available = await t.server.archives.whenSettled(started.id);
    expect(available).toMatchObject({ status: 'available', fileName: 'archive.zip' });
    const got = await p<any>((cb) => ot.getArchive(started.id, cb as never));
    expect(got).toMatchObject({ id: started.id, status: 'available', size: available.size });
    expect(got.duration).toBeGreaterThanOrEqual(2);
    const download = await fetch(got.url);
    expect(download.status).toBe(200);
    expect((await download.arrayBuffer()).byteLength).toBe(available.size);
    const files = await t.server.archives.store.files(started.id);
    expect(files).toEqual([expect.objectContaining({ streamId, state: 'complete', hasAudio: true, hasVideo: true })]);

    // Archive storage (the upload target) is kept per project.
    const storage = { type: 's3', config: { bucket: 'pg-archives', accessKey: 'AK', secretKey: 'SK', endpoint: 'http://127.0.0.1:9' }, fallback: 'opentok' };
    expect((await rest('PUT', '/archive/storage', storage)).status).toBe(200);
    expect((await rest('GET', '/archive/storage')).json).toMatchObject({ type: 's3', config: { bucket: 'pg-archives' } });
    expect((await rest('DELETE', '/archive/storage')).status).toBe(204);

    // A live broadcast (HLS): start, list, get, stop.
    const broadcast = await p<any>((cb) => ot.startBroadcast(sessionId, { outputs: { hls: {} } } as never, cb as never));
    expect(broadcast).toMatchObject({ sessionId, status: 'started' });
    const broadcasts = await p<any[]>((cb) => ot.listBroadcasts({ sessionId } as never, cb as never));
    expect(broadcasts.map((b) => b.id)).toEqual([broadcast.id]);
    expect((await p<any>((cb) => ot.stopBroadcast(broadcast.id, cb as never))).status).toBe('stopped');
    expect(await p<any>((cb) => ot.getBroadcast(broadcast.id, cb as never))).toMatchObject({ id: broadcast.id, status: 'stopped' });

    // Renders: none started here (a render needs Chromium); the list is read from PostgreSQL.
    expect(await p<any>((cb) => ot.listRenders({} as never, cb as never))).toMatchObject({ count: 0 });

    // The Inspector: what happened, written by its batched multi-row INSERTs, read back through REST.
    const events = await rest('GET', `/session/${sessionId}/events`);
    expect(events.status).toBe(200);
    const types = (events.json.items as Array<{ type: string }>).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['connectionCreated', 'streamCreated', 'archiveStarted', 'archiveStopped', 'archiveAvailable']));
    await waitUntil(async () => (await rest('GET', `/session/${sessionId}/quality`)).json.tracks.some((tr: { source: string; kind: string }) => tr.source === 'publisher' && tr.kind === 'video'), 30_000, 'publisher quality samples');
    const quality = (await rest('GET', `/session/${sessionId}/quality`)).json;
    const video = quality.tracks.find((tr: { source: string; kind: string }) => tr.source === 'publisher' && tr.kind === 'video');
    expect(video.points[0].bitrate).toBeGreaterThan(0);
    expect(typeof video.points[0].t).toBe('number');
    expect(quality.scores.find((s: { connectionId: string }) => s.connectionId === alice.connectionId)?.score).toBeGreaterThan(1);
  });

  it('a restart on the same database and data folder finds the archive, its file and the session', async () => {
    const { dataDir } = t;
    const sessionIds = (await t.server.store.sessions.listByProject(t.apiKey)).map((r) => r.id);
    await t.server.close();
    t = await startTestServer({ COLLOQUY_DATABASE_URL: databaseUrl, COLLOQUY_DATA_DIR: dataDir });
    expect(t.server.store.db.engine).toBe('postgres');
    const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
    const [archive] = await p<any[]>((cb) => ot.listArchives({} as never, cb as never));
    expect(archive).toMatchObject({ name: 'On PostgreSQL', status: 'available' });
    expect((await fetch(archive.url)).status).toBe(200);
    expect((await t.server.store.sessions.listByProject(t.apiKey)).map((r) => r.id)).toEqual(sessionIds);
  });
});
