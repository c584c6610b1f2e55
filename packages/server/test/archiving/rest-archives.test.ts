// Archives through the REST API with the real `opentok` and `@vonage/video` SDKs: start (composed
// and individual), get, list, stop, layout, manual streams, delete, OpenTok's error codes, and the
// signed download link (expiry, ranges, content types). Media comes from the labelled test source.

import { Video } from '@vonage/video';
import { signJwt } from '@colloquy/tokens';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenTok from 'opentok';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import { startTestServer, TEST_API_KEY, TEST_API_SECRET, TEST_APPLICATION_ID, testKeyPair } from '../helpers.js';
import { ffprobe, streamOf, unzipAll } from './probe.js';
import { TestRtpSource } from './rtp-test-source.js';
import { TestSessions } from './test-sessions.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let server: RunningServer;
let dataDir: string;
let media: TestRtpSource;
let sessions: TestSessions;
let scratch: string;

async function start(env: Record<string, string> = {}): Promise<RunningServer> {
  return (await startTestServer(env, { archiving: { media, sessions } })).server;
}

beforeAll(async () => {
  media = new TestRtpSource('none');
  sessions = new TestSessions();
  server = await start({ COLLOQUY_ARCHIVE_LINK_TTL: '120' });
  dataDir = server.config.dataDir;
  scratch = mkdtempSync(join(tmpdir(), 'colloquy-dl-'));
});
// Each test's ffmpeg sources stop with it: a pile of encoders would starve the machine.
const published: string[] = [];
afterEach(async () => {
  for (const streamId of published.splice(0)) await media.removeStream(streamId);
});
afterAll(async () => {
  await server.close();
  await media.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

const ot = () => new OpenTok(TEST_API_KEY, TEST_API_SECRET, server.url);
const p = <T>(fn: (cb: (err: Error | null, value?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));

/** A raw authenticated call, to see exact statuses and bodies. */
async function rest(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const iat = Math.floor(Date.now() / 1000);
  const response = await fetch(`${server.url}/v2/project/${TEST_API_KEY}${path}`, {
    method,
    headers: {
      'X-OPENTOK-AUTH': signJwt({ iss: TEST_API_KEY, ist: 'project', iat, exp: iat + 300 }, TEST_API_SECRET, 'HS256'),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

async function liveSession(options: { streams?: string[]; mediaMode?: 'routed' | 'relayed' } = {}): Promise<string> {
  const session = await p<OpenTok.Session>((cb) => ot().createSession({ mediaMode: options.mediaMode ?? 'routed' }, cb));
  sessions.setConnections(session.sessionId, 2);
  for (const streamId of options.streams ?? []) {
    const stream = await media.addStream({ streamId: `${streamId}-${session.sessionId.slice(-6)}`, sessionId: session.sessionId, seconds: 20 });
    published.push(stream.streamId);
    sessions.streamAdded(session.sessionId, stream);
  }
  return session.sessionId;
}

// Generous: these flows wait for real media and for compositions (ffmpeg below normal priority),
// both of which a loaded machine delivers slowly (minutes at a load of 16 on 2 cores).
describe('archives with the opentok SDK', { timeout: 600_000 }, () => {
  it('starts, reports, stops and delivers a composed archive; the url downloads an H.264/AAC MP4', async () => {
    const sessionId = await liveSession({ streams: ['a', 'b'] });
    // The recording runs from some moment of the start call to some moment of the stop call: the
    // test brackets both calls, so its expectations hold however slowly a loaded machine answers.
    const startBefore = Date.now();
    const archive = await p<OpenTok.Archive>((cb) => ot().startArchive(sessionId, { name: 'Team call', resolution: '640x480' }, cb));
    const startAfter = Date.now();
    expect(archive.id).toMatch(UUID);
    expect(archive).toMatchObject({ status: 'started', name: 'Team call', sessionId, outputMode: 'composed', resolution: '640x480', hasAudio: true, hasVideo: true, url: null });
    const raw = await rest('GET', `/archive/${archive.id}`);
    expect(raw.body).toMatchObject({ partnerId: Number(TEST_API_KEY), projectId: Number(TEST_API_KEY), reason: '', duration: 0, size: 0, streamMode: 'auto' });
    expect((raw.body!['streams'] as unknown[]).length).toBe(2);
    expect(sessions.sent.filter((e) => e.sessionId === sessionId).map((e) => e.event.type)).toEqual(['archiveStarted']);

    await Promise.all(published.map((id) => media.waitForMedia(id, 3000)));
    // And 3 s of wall time: a sender that was starved catches up in a burst (ffmpeg -re), so 3 s of
    // media can arrive in less.
    while (Date.now() - startAfter < 3000) await new Promise((r) => setTimeout(r, 3000 - (Date.now() - startAfter)));
    const stopBefore = Date.now();
    const stopped = await p<OpenTok.Archive>((cb) => ot().stopArchive(archive.id, cb));
    const stopAfter = Date.now();
    const recordedAtLeastS = (stopBefore - startAfter) / 1000;
    const recordedAtMostS = (stopAfter - startBefore) / 1000;
    expect(stopped.status).toBe('stopped');
    const settled = await server.archives.whenSettled(archive.id);
    expect(settled.status).toBe('available');
    const got = await p<OpenTok.Archive>((cb) => ot().getArchive(archive.id, cb));
    expect(got).toMatchObject({ status: 'available', duration: settled.duration });
    expect(got.size).toBeGreaterThan(10_000);
    expect(got.url).toMatch(new RegExp(`^${server.url}/archive-downloads/${archive.id}/archive\\.mp4\\?expires=\\d+&signature=`));

    const response = await fetch(got.url!);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('video/mp4');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="Team call.mp4"');
    expect(Number(response.headers.get('content-length'))).toBe(got.size);
    const file = join(scratch, 'composed.mp4');
    writeFileSync(file, Buffer.from(await response.arrayBuffer()));
    const probe = await ffprobe(file);
    expect(streamOf(probe, 'video')).toMatchObject({ codec_name: 'h264', width: 640, height: 480 });
    expect(streamOf(probe, 'audio')).toMatchObject({ codec_name: 'aac', sample_rate: '48000' });
    // The recording lasted between the two calls (~3 s of media), and the MP4 as long, ± 1 s.
    expect(settled.recordedMs / 1000).toBeGreaterThanOrEqual(recordedAtLeastS - 0.01);
    expect(settled.recordedMs / 1000).toBeLessThanOrEqual(recordedAtMostS + 0.01);
    expect(recordedAtLeastS).toBeGreaterThanOrEqual(3);
    // Should it fail (seen once under two test suites at once, 2.2 s off): what the composer took,
    // max(recordedMs, each stream file's stop offset), says which side ran long.
    const files = (await server.archives.store.files(archive.id)).map((f) => ({ stream: f.streamId, startMs: f.startOffsetMs, stopMs: f.stopOffsetMs }));
    expect(Math.abs(Number(probe.format.duration) - settled.recordedMs / 1000), `MP4 ${probe.format.duration} s, recorded ${settled.recordedMs} ms, files ${JSON.stringify(files)}`).toBeLessThanOrEqual(1);
    expect(got.duration).toBe(Math.round(settled.recordedMs / 1000));
  });

  it('delivers an individual archive as a ZIP with the manifest', async () => {
    const sessionId = await liveSession({ streams: ['c'] });
    const archive = await p<OpenTok.Archive>((cb) => ot().startArchive(sessionId, { outputMode: 'individual' }, cb));
    expect((await rest('GET', `/archive/${archive.id}`)).body).not.toHaveProperty('resolution');
    await media.waitForMedia(published[0]!, 2000);
    await p((cb) => ot().stopArchive(archive.id, cb));
    await server.archives.whenSettled(archive.id);
    const got = await p<OpenTok.Archive>((cb) => ot().getArchive(archive.id, cb));
    const response = await fetch(got.url!);
    expect(response.headers.get('content-type')).toBe('application/zip');
    const zip = join(scratch, 'individual.zip');
    writeFileSync(zip, Buffer.from(await response.arrayBuffer()));
    const out = join(scratch, 'individual');
    const entries = await unzipAll(zip, out);
    expect(entries.sort()).toEqual([`c-${sessionId.slice(-6)}.webm`, 'manifest.json']);
    const probe = await ffprobe(join(out, entries.find((e) => e.endsWith('.webm'))!));
    expect(streamOf(probe, 'video')?.codec_name).toBe('vp8');
    expect(streamOf(probe, 'audio')?.codec_name).toBe('opus');
  });

  it('answers OpenTok\'s codes for bad requests', async () => {
    const unknown = '8b732909-0a06-46a2-8ea8-074e64d43422';
    await expect(p((cb) => ot().getArchive(unknown, cb))).rejects.toThrow(/Archive not found/);
    expect((await rest('GET', `/archive/${unknown}`)).status).toBe(404);
    expect((await rest('GET', '/archive/not-a-uuid')).status).toBe(404);
    expect((await rest('POST', `/archive/${unknown}/stop`, {})).status).toBe(404);
    expect((await rest('DELETE', `/archive/${unknown}`)).status).toBe(404);
    await expect(p((cb) => ot().stopArchive(unknown, cb))).rejects.toThrow(/Archive not found/);

    // Unknown session 404; relayed session 409; nobody connected 409.
    expect((await rest('POST', '/archive', { sessionId: '1_MX40NzAwMDAwMX5-MTcwMDAwMDAwMDAwMH5hYmN-fg' })).status).toBe(404);
    await expect(p((cb) => ot().startArchive('2_bm90LWEtc2Vzc2lvbg', {}, cb))).rejects.toThrow(/Session not found/);
    const relayed = await liveSession({ mediaMode: 'relayed' });
    const r409 = await rest('POST', '/archive', { sessionId: relayed });
    expect(r409).toEqual({ status: 409, body: { code: 409, message: 'Recording already in progress or session not using OpenTok Media Router' } });
    const empty = await p<OpenTok.Session>((cb) => ot().createSession({ mediaMode: 'routed' }, cb));
    expect((await rest('POST', '/archive', { sessionId: empty.sessionId })).status).toBe(409);

    const sessionId = await liveSession({ streams: ['d'] });
    // Invalid layout, resolution, options: 400, and nothing started.
    for (const body of [
      { layout: { type: 'grid' } },
      { layout: { type: 'custom' } },
      { layout: { type: 'custom', stylesheet: 'stream > stream { width: 1px }' } },
      { layout: { type: 'pip', screenshareType: 'bestFit' } },
      { resolution: '800x600' },
      { outputMode: 'mixed' },
      { streamMode: 'sometimes' },
      { hasAudio: false, hasVideo: false },
      { maxBitrate: 10 },
      { maxBitrate: 1_000_000, quantizationParameter: 20 },
      { name: 'x'.repeat(81) },
    ]) {
      const res = await rest('POST', '/archive', { sessionId, ...body });
      expect([res.status, JSON.stringify(body)]).toEqual([400, JSON.stringify(body)]);
    }
    await expect(p((cb) => ot().startArchive(sessionId, { resolution: '800x600' } as never, cb))).rejects.toThrow(/resolution/);

    const archive = await p<OpenTok.Archive>((cb) => ot().startArchive(sessionId, { layout: { type: 'bestFit', screenshareType: 'pip' } } as never, cb));
    // Already recording without a tag: 409 (with a tag: fine).
    await expect(p((cb) => ot().startArchive(sessionId, {}, cb))).rejects.toThrow();
    expect((await rest('POST', '/archive', { sessionId })).status).toBe(409);
    const tagged = await rest('POST', '/archive', { sessionId, multiArchiveTag: 'second' });
    expect(tagged.body).toMatchObject({ status: 'started', multiArchiveTag: 'second' });

    // Layout: invalid 400, valid 200.
    await expect(p((cb) => ot().setArchiveLayout(archive.id, 'grid', null, null, cb))).rejects.toThrow();
    expect((await rest('PUT', `/archive/${archive.id}/layout`, { type: 'grid' })).status).toBe(400);
    await p((cb) => ot().setArchiveLayout(archive.id, 'verticalPresentation', null, null, cb));
    await p((cb) => ot().setArchiveLayout(archive.id, 'custom', 'stream.focus { position: absolute; width: 100%; height: 100% }', null, cb));
    // Stream changes on an auto archive: 405.
    await expect(p((cb) => ot().addArchiveStream(archive.id, 'x', {}, cb))).rejects.toThrow(/Unsupported Stream Mode/);
    expect((await rest('PATCH', `/archive/${archive.id}/streams`, { addStream: 'x' })).status).toBe(405);
    expect((await rest('PATCH', `/archive/${archive.id}/streams`, {})).status).toBe(400);
    // Delete while recording: 409.
    expect((await rest('DELETE', `/archive/${archive.id}`)).status).toBe(409);

    await media.waitForMedia(published[0]!, 1200);
    await p((cb) => ot().stopArchive(archive.id, cb));
    // Double stop: 409 with OpenTok's message.
    await expect(p((cb) => ot().stopArchive(archive.id, cb))).rejects.toThrow('Archive is not in started state');
    expect(await rest('POST', `/archive/${archive.id}/stop`)).toEqual({ status: 409, body: { code: 409, message: 'Archive is not in started state' } });
    await server.archives.whenSettled(archive.id);
    expect((await rest('DELETE', `/archive/${archive.id}`)).status).toBe(204);
    expect((await rest('GET', `/archive/${archive.id}`)).body).toMatchObject({ status: 'deleted', url: null });
    await rest('POST', `/archive/${tagged.body!['id']}/stop`);
  });

  it('manual stream mode through the SDK', async () => {
    const sessionId = await liveSession({ streams: ['e', 'f'] });
    const archive = await p<OpenTok.Archive>((cb) => ot().startArchive(sessionId, { streamMode: 'manual' } as never, cb));
    const e = `e-${sessionId.slice(-6)}`;
    await p((cb) => ot().addArchiveStream(archive.id, e, { hasAudio: true, hasVideo: false }, cb));
    expect((await rest('GET', `/archive/${archive.id}`)).body!['streams']).toEqual([{ streamId: e, hasAudio: true, hasVideo: false }]);
    await expect(p((cb) => ot().addArchiveStream(archive.id, 'no-such-stream', {}, cb))).rejects.toThrow(/not found/);
    await p((cb) => ot().removeArchiveStream(archive.id, e, cb));
    expect((await rest('GET', `/archive/${archive.id}`)).body!['streams']).toEqual([]);
    await p((cb) => ot().stopArchive(archive.id, cb));
  });

  it('lists newest first, pages, and filters by session', async () => {
    const sessionId = await liveSession({ streams: ['g'] });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await p<OpenTok.Archive>((cb) => ot().startArchive(sessionId, {}, cb));
      ids.push(a.id);
      await p((cb) => ot().stopArchive(a.id, cb));
    }
    const all = await new Promise<{ items: OpenTok.Archive[]; total: number }>((resolve, reject) =>
      ot().listArchives({ sessionId }, (err, items, total) => (err ? reject(err) : resolve({ items: items!, total: total! }))),
    );
    expect(all.total).toBe(3);
    expect(all.items.map((a) => a.id)).toEqual([...ids].reverse());
    const page = await new Promise<OpenTok.Archive[]>((resolve, reject) =>
      ot().listArchives({ sessionId, offset: 1, count: 1 }, (err, items) => (err ? reject(err) : resolve(items!))),
    );
    expect(page.map((a) => a.id)).toEqual([ids[1]]);
    expect((await rest('GET', '/archive?count=0')).status).toBe(400);
    expect((await rest('GET', '/archive?count=1001')).status).toBe(400);
    expect((await rest('GET', '/archive?offset=-1')).status).toBe(400);
    const everything = await rest('GET', '/archive?count=1000');
    expect(everything.body!['count']).toBeGreaterThanOrEqual(3);
  });
});

// Generous: these flows wait for real media and for compositions (ffmpeg below normal priority),
// both of which a loaded machine delivers slowly (minutes at a load of 16 on 2 cores).
describe('download links', { timeout: 600_000 }, () => {
  let archiveId: string;
  let size: number;
  /** A fresh link (the server hands out one per GET). */
  const link = async () => (await p<OpenTok.Archive>((cb) => ot().getArchive(archiveId, cb))).url!;
  beforeAll(async () => {
    const sessionId = await liveSession({ streams: ['h'] });
    const a = await p<OpenTok.Archive>((cb) => ot().startArchive(sessionId, {}, cb));
    await media.waitForMedia(published[0]!, 1500);
    await p((cb) => ot().stopArchive(a.id, cb));
    archiveId = a.id;
    size = (await server.archives.whenSettled(a.id)).size;
  });

  it('serves byte ranges and HEAD', async () => {
    const url = await link();
    const first = await fetch(url, { headers: { Range: 'bytes=0-99' } });
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe(`bytes 0-99/${size}`);
    expect((await first.arrayBuffer()).byteLength).toBe(100);
    const whole = Buffer.from(await (await fetch(url)).arrayBuffer());
    const tail = await fetch(url, { headers: { Range: 'bytes=-10' } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(whole.subarray(size - 10));
    const open = await fetch(url, { headers: { Range: `bytes=${size - 5}-` } });
    expect(Buffer.from(await open.arrayBuffer())).toEqual(whole.subarray(size - 5));
    const beyond = await fetch(url, { headers: { Range: `bytes=${size}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${size}`);
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    expect(Number(head.headers.get('content-length'))).toBe(size);
  });

  it('expires links after COLLOQUY_ARCHIVE_LINK_TTL (120 s here) and refuses tampered ones', async () => {
    const url = await link();
    const expires = Number(/expires=(\d+)/.exec(url)![1]);
    expect(expires - Date.now() / 1000).toBeGreaterThan(115);
    expect(expires - Date.now() / 1000).toBeLessThanOrEqual(120);
    // A link signed 121 s ago has expired.
    const old = server.archives.links.url(server.url, archiveId, 'archive.mp4', Date.now() - 121_000);
    const expired = await fetch(old);
    expect(expired.status).toBe(403);
    expect(((await expired.json()) as { message: string }).message).toMatch(/expired/);
    const tampered = url.replace(/signature=([^&]+)/, (_m, sig: string) => `signature=${sig.slice(0, -2)}${sig.endsWith('xx') ? 'yy' : 'xx'}`);
    expect((await fetch(tampered)).status).toBe(403);
    expect((await fetch(url.replace(/expires=\d+/, `expires=${expires + 3600}`))).status).toBe(403);
    expect((await fetch(url.replace(/\?.*$/, ''))).status).toBe(403);
    expect((await fetch(url.replace(archiveId, '8b732909-0a06-46a2-8ea8-074e64d43422'))).status).toBe(403);
    expect((await fetch(url)).status).toBe(200);
  });

  it('builds links from the request’s host, the forwarded host behind a trusted proxy, or COLLOQUY_PUBLIC_URL', async () => {
    const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'video.example.com' };
    // No proxy is trusted by default: a forged X-Forwarded-Host cannot redirect download links.
    const direct = await rest('GET', `/archive/${archiveId}`, undefined, forwarded);
    expect(direct.body!['url']).toMatch(new RegExp(`^${server.url.replace(/\./g, '\\.')}/archive-downloads/`));
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ COLLOQUY_TRUST_PROXY: 'true' }, /^https:\/\/video\.example\.com\/archive-downloads\//],
      [{ COLLOQUY_PUBLIC_URL: 'https://rec.example.org/base/' }, /^https:\/\/rec\.example\.org\/base\/archive-downloads\//],
    ];
    for (const [env, expected] of cases) {
      const other = await start(env);
      try {
        // An available archive on that server (its record only: the link is what is checked).
        const record = { ...(await server.archives.store.get(archiveId))!, id: '0f0e0d0c-0b0a-4908-8706-050403020100' };
        await other.archives.store.insert(record);
        const iat = Math.floor(Date.now() / 1000);
        const response = await fetch(`${other.url}/v2/project/${TEST_API_KEY}/archive/${record.id}`, {
          headers: { ...forwarded, 'X-OPENTOK-AUTH': signJwt({ iss: TEST_API_KEY, ist: 'project', iat, exp: iat + 300 }, TEST_API_SECRET, 'HS256') },
        });
        const body = (await response.json()) as { url: string };
        expect(body.url).toMatch(expected);
        expect(body.url).toMatch(new RegExp(`/archive-downloads/${record.id}/archive\\.mp4\\?expires=\\d+&signature=`));
      } finally {
        const dir = other.config.dataDir;
        await other.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});

// Generous: these flows wait for real media and for compositions (ffmpeg below normal priority),
// both of which a loaded machine delivers slowly (minutes at a load of 16 on 2 cores).
describe('archives with @vonage/video', { timeout: 600_000 }, () => {
  it('starts, gets, searches and stops with application credentials', async () => {
    const video = new Video({ applicationId: TEST_APPLICATION_ID, privateKey: testKeyPair().privateKey }, { videoHost: server.url });
    const session = await video.createSession({});
    sessions.setConnections(session.sessionId, 1);
    const stream = await media.addStream({ streamId: 'vv-1', sessionId: session.sessionId, seconds: 20 });
    published.push(stream.streamId);
    sessions.streamAdded(session.sessionId, stream);
    const archive = await video.startArchive(session.sessionId, { name: 'vonage' });
    expect(archive).toMatchObject({ status: 'started', projectId: TEST_APPLICATION_ID, applicationId: TEST_APPLICATION_ID });
    expect(archive).not.toHaveProperty('partnerId');
    expect((await video.getArchive(archive.id)).id).toBe(archive.id);
    expect((await video.searchArchives({ sessionId: session.sessionId })).items.map((a) => a.id)).toEqual([archive.id]);
    await media.waitForMedia('vv-1', 1000);
    expect((await video.stopArchive(archive.id)).status).toBe('stopped');
    expect((await server.archives.whenSettled(archive.id)).status).toBe('available');
    await video.deleteArchive(archive.id);
    expect((await video.getArchive(archive.id)).status).toBe('deleted');
  });
});
