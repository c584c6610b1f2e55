// Live streaming broadcasts through the REST API with the real `opentok` and `@vonage/video` SDKs
// and our Node SDK (no browser): OpenTok's status codes for bad bodies and layouts (400), a session
// nobody is connected to (409), a second broadcast without another multiBroadcastTag (409), unknown
// ids (404), auto-mode stream changes (405); the broadcast JSON; list paging; layout and manual
// streams while live; stop; the HLS files served with their content types, caching and CORS.

import { Colloquy } from '@colloquy/sdk-node';
import { signJwt } from '@colloquy/tokens';
import { MediaMode, Video } from '@vonage/video';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/server.js';
import { startTestServer, TEST_API_KEY, TEST_API_SECRET, TEST_APPLICATION_ID, testKeyPair } from '../helpers.js';
import { TestRtpSource } from '../archiving/rtp-test-source.js';
import { TestSessions } from '../archiving/test-sessions.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let server: RunningServer;
let media: TestRtpSource;
let sessions: TestSessions;
let ot: OpenTok;
let colloquy: Colloquy;
let base: string;

beforeAll(async () => {
  media = new TestRtpSource('none');
  sessions = new TestSessions();
  server = (await startTestServer({}, { archiving: { media, sessions } })).server;
  base = server.url;
  ot = new OpenTok(TEST_API_KEY, TEST_API_SECRET, base);
  colloquy = new Colloquy(TEST_API_KEY, TEST_API_SECRET, base);
});
afterAll(async () => {
  await server?.close();
  await media?.close();
});

const call = <T>(f: (cb: (err: unknown, value?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, value) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(value as T))));

const routedSession = (): Promise<string> => call<{ sessionId: string }>((cb) => ot.createSession({ mediaMode: 'routed' }, cb as never)).then((s) => s.sessionId);

async function rest(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${base}/v2/project/${TEST_API_KEY}${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'X-OPENTOK-AUTH': signJwt({ iss: TEST_API_KEY, ist: 'project', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300 }, TEST_API_SECRET, 'HS256') },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe('broadcast REST', { timeout: 120_000 }, () => {
  it('refuses bad bodies and layouts (400), empty sessions (409), unknown ids (404)', async () => {
    const sessionId = await routedSession();
    const hls = { outputs: { hls: {} } };
    // Nobody connected: OpenTok's 409.
    expect((await rest('POST', '/broadcast', { sessionId, ...hls })).status).toBe(409);
    sessions.setConnections(sessionId, 1);
    const bad: Array<[string, unknown]> = [
      ['no outputs', { sessionId, outputs: {} }],
      ['no outputs field', { sessionId }],
      ['six rtmp targets', { sessionId, outputs: { rtmp: Array.from({ length: 6 }, (_, i) => ({ id: `t${i}`, serverUrl: 'rtmp://127.0.0.1/live', streamName: 'x' })) } }],
      ['an http serverUrl', { sessionId, outputs: { rtmp: [{ serverUrl: 'http://example.com/live', streamName: 'x' }] } }],
      ['a streamName with a space', { sessionId, outputs: { rtmp: [{ serverUrl: 'rtmp://127.0.0.1/live', streamName: 'a b' }] } }],
      ['dvr and lowLatency', { sessionId, outputs: { hls: { dvr: true, lowLatency: true } } }],
      ['a bad resolution', { sessionId, ...hls, resolution: '800x600' }],
      ['maxDuration too short', { sessionId, ...hls, maxDuration: 10 }],
      ['maxBitrate too high', { sessionId, ...hls, maxBitrate: 99_000_000 }],
      ['a bad layout type', { sessionId, ...hls, layout: { type: 'mosaic' } }],
      ['a stylesheet without custom', { sessionId, ...hls, layout: { type: 'bestFit', stylesheet: 'stream { width: 50% }' } }],
      ['a bad streamMode', { sessionId, ...hls, streamMode: 'sometimes' }],
      ['no audio and no video', { sessionId, ...hls, hasAudio: false, hasVideo: false }],
      ['duplicate rtmp ids', { sessionId, outputs: { rtmp: [{ id: 'a', serverUrl: 'rtmp://127.0.0.1/live', streamName: 'x' }, { id: 'a', serverUrl: 'rtmp://127.0.0.1/live', streamName: 'y' }] } }],
    ];
    for (const [what, body] of bad) {
      const { status, json } = await rest('POST', '/broadcast', body);
      expect(status, what).toBe(400);
      expect(String(json['message']), what).not.toBe('');
    }
    expect((await rest('POST', '/broadcast', { sessionId: 'no-such-session', ...hls })).status).toBeGreaterThanOrEqual(400);
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect((await rest('GET', `/broadcast/${unknown}`)).status).toBe(404);
    expect((await rest('POST', `/broadcast/${unknown}/stop`)).status).toBe(404);
    expect((await rest('PUT', `/broadcast/${unknown}/layout`, { type: 'pip' })).status).toBe(404);
    expect((await rest('PATCH', `/broadcast/${unknown}/streams`, { addStream: 'x' })).status).toBe(404);
    expect((await rest('GET', '/broadcast/not-a-uuid')).status).toBe(404);
    expect((await rest('GET', '/broadcast?count=0')).status).toBe(400);
  });

  it('start, 409 on a second one, multiBroadcastTag, get, list, layout, stop (opentok, our SDK)', async () => {
    const sessionId = await routedSession();
    sessions.setConnections(sessionId, 2);
    type B = Record<string, any>;
    const first = await call<B>((cb) => ot.startBroadcast(sessionId, { outputs: { hls: { lowLatency: true } }, maxDuration: 600, resolution: '1280x720' } as never, cb as never));
    expect(first).toMatchObject({ sessionId, status: 'started', resolution: '1280x720', streamMode: 'auto', maxDuration: 600, hasAudio: true, hasVideo: true, settings: { hls: { lowLatency: true, dvr: false } } });
    expect(first['id']).toMatch(UUID);
    expect(first['projectId']).toBe(Number(TEST_API_KEY));
    expect(Number.isInteger(first['createdAt']) && Number.isInteger(first['updatedAt'])).toBe(true);
    expect(first['broadcastUrls']).toMatchObject({ hls: `${base}/hls/${first['id']}/index.m3u8`, rtmp: [] });

    // A second broadcast of the session: 409, unless it has another tag.
    const again = await rest('POST', '/broadcast', { sessionId, outputs: { hls: {} } });
    expect(again.status).toBe(409);
    const tagged = (await colloquy.broadcasts.start(sessionId, { outputs: { hls: { dvr: true } }, multiBroadcastTag: 'second', streamMode: 'manual' })) as unknown as B;
    expect(tagged).toMatchObject({ status: 'started', multiBroadcastTag: 'second', streamMode: 'manual', settings: { hls: { dvr: true, lowLatency: false } } });
    expect(tagged['broadcastUrls'].hls).toBe(`${base}/hls/${tagged['id']}/index.m3u8?DVR`);
    expect((await rest('POST', '/broadcast', { sessionId, outputs: { hls: {} }, multiBroadcastTag: 'second' })).status).toBe(409);

    // Get and list (paging, session filter), through each SDK.
    const got = await call<B>((cb) => ot.getBroadcast(first['id'], cb as never));
    expect(got['id']).toBe(first['id']);
    expect((await colloquy.broadcasts.get(tagged['id'])).multiBroadcastTag).toBe('second');
    const listed = await colloquy.broadcasts.list({ sessionId });
    expect(listed.count).toBe(2);
    expect(listed.items.map((b) => b.id)).toEqual([tagged['id'], first['id']]);
    const page = await colloquy.broadcasts.list({ sessionId, offset: 1, count: 1 });
    expect(page).toMatchObject({ count: 2, items: [{ id: first['id'] }] });

    // Layout while live (custom CSS goes through the archives' stylesheet checks).
    const relaid = await colloquy.broadcasts.setLayout(first['id'], { type: 'custom', stylesheet: 'stream.focus { position: absolute; width: 100%; height: 100%; }' });
    expect(relaid.status).toBe('started');
    expect((await rest('PUT', `/broadcast/${first['id']}/layout`, { type: 'custom', stylesheet: 'stream:hover { width: 1px }' })).status).toBe(400);
    expect((await rest('PUT', `/broadcast/${first['id']}/layout`, { type: 'nope' })).status).toBe(400);
    await call((cb) => ot.setBroadcastLayout(first['id'], 'pip', null as never, null as never, cb as never));

    // Streams: 405 in auto mode; manual: add (404 for an unknown stream), remove.
    expect((await rest('PATCH', `/broadcast/${first['id']}/streams`, { addStream: 'x' })).status).toBe(405);
    const stream = await media.addStream({ streamId: 'cam', sessionId, video: 'VP8', audio: true, seconds: 30 });
    try {
      await expect(colloquy.broadcasts.addStream(tagged['id'], 'nope')).rejects.toThrow();
      await colloquy.broadcasts.addStream(tagged['id'], stream.streamId);
      expect((await colloquy.broadcasts.get(tagged['id'])).streams).toEqual([{ streamId: 'cam', hasAudio: true, hasVideo: true }]);
      await colloquy.broadcasts.removeStream(tagged['id'], 'cam');
      expect((await colloquy.broadcasts.get(tagged['id'])).streams).toEqual([]);
      expect((await rest('PATCH', `/broadcast/${tagged['id']}/streams`, { removeStream: 'cam' })).status).toBe(404);
      expect((await rest('PATCH', `/broadcast/${tagged['id']}/streams`, {})).status).toBe(400);
    } finally {
      await media.removeStream('cam');
    }

    // HLS: the playlist appears once the first segment is cut (black and silence: nobody publishes).
    const hlsUrl = first['broadcastUrls'].hls as string;
    const deadline = Date.now() + 60_000;
    let playlist: Response;
    for (;;) {
      playlist = await fetch(hlsUrl);
      if (playlist.status === 200 || Date.now() > deadline) break;
      expect(playlist.status).toBe(404);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(playlist.status).toBe(200);
    expect(playlist.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(playlist.headers.get('cache-control')).toMatch(/no-cache/);
    expect(playlist.headers.get('access-control-allow-origin')).toBe('*');
    const segment = (await playlist.text()).split('\n').find((l) => l.endsWith('.ts'))!;
    const seg = await fetch(new URL(segment, hlsUrl));
    expect(seg.status).toBe(200);
    expect(seg.headers.get('content-type')).toBe('video/mp2t');
    expect(seg.headers.get('cache-control')).toMatch(/max-age/);
    expect((await seg.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    expect((await fetch(`${base}/hls/${first['id']}/../../etc/passwd`)).status).toBe(404);
    expect((await fetch(`${base}/hls/${first['id']}/other.m3u8`)).status).toBe(404);
    expect((await fetch(hlsUrl, { method: 'OPTIONS' })).headers.get('access-control-allow-origin')).toBe('*');
    for (let i = 0; (await colloquy.broadcasts.get(first['id'])).broadcastUrls.hlsStatus !== 'live'; i++) {
      expect(i).toBeLessThan(100);
      await new Promise((r) => setTimeout(r, 100));
    }

    // Stop: each SDK; a second stop is a 409.
    const stopped = await call<B>((cb) => ot.stopBroadcast(first['id'], cb as never));
    expect(stopped).toMatchObject({ status: 'stopped', broadcastUrls: { hlsStatus: 'ended' } });
    expect((await rest('POST', `/broadcast/${first['id']}/stop`)).status).toBe(409);
    expect((await rest('PUT', `/broadcast/${first['id']}/layout`, { type: 'pip' })).status).toBe(409);
    expect((await colloquy.broadcasts.stop(tagged['id'])).status).toBe('stopped');
    // The playlist stays a while after the end (players finish); it now ends the stream.
    expect(await (await fetch(hlsUrl)).text()).toMatch(/#EXT-X-ENDLIST/);
  });

  it('@vonage/video (application credentials): start with an RTMP target, get, stop; manual mode: addStreamToBroadcast, removeStreamFromBroadcast', async () => {
    type B = Record<string, any>;
    const video = new Video({ applicationId: TEST_APPLICATION_ID, privateKey: testKeyPair().privateKey }, { videoHost: base });
    const { sessionId } = await video.createSession({ mediaMode: MediaMode.ROUTED });
    sessions.setConnections(sessionId, 1);
    // Nothing listens there: the target goes connecting -> error and is retried until the stop.
    const started = (await video.startBroadcast(sessionId, { outputs: { rtmp: [{ id: 'yt', serverUrl: 'rtmp://127.0.0.1:9/live', streamName: 'key' }] }, resolution: '640x480' } as never)) as unknown as B;
    expect(started).toMatchObject({ status: 'started', applicationId: TEST_APPLICATION_ID, broadcastUrls: { rtmp: [{ id: 'yt', serverUrl: 'rtmp://127.0.0.1:9/live', streamName: 'key', status: 'connecting' }] } });
    expect(started['broadcastUrls'].hls).toBeUndefined();
    const deadline = Date.now() + 30_000;
    const seen = new Set<string>();
    while (!seen.has('error')) {
      seen.add(((await video.getBroadcast(started['id'])) as unknown as B)['broadcastUrls'].rtmp[0].status);
      if (Date.now() > deadline) throw new Error(`the unreachable RTMP target never showed error: ${[...seen]}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const stopped = (await video.stopBroadcast(started['id'])) as unknown as B;
    expect(stopped).toMatchObject({ status: 'stopped', broadcastUrls: { rtmp: [{ id: 'yt', status: 'offline' }] } });

    // Manual stream mode: addStreamToBroadcast / removeStreamFromBroadcast (their PATCH body also carries broadcastId).
    const manual = (await video.startBroadcast(sessionId, { outputs: { hls: {} }, streamMode: 'manual' } as never)) as unknown as B;
    const stream = await media.addStream({ streamId: 'vonage-cam', sessionId, video: 'VP8', audio: true, seconds: 30 });
    try {
      await video.addStreamToBroadcast(manual['id'], stream.streamId);
      expect(((await video.getBroadcast(manual['id'])) as unknown as B)['streams']).toEqual([{ streamId: 'vonage-cam', hasAudio: true, hasVideo: true }]);
      await video.removeStreamFromBroadcast(manual['id'], stream.streamId);
      expect(((await video.getBroadcast(manual['id'])) as unknown as B)['streams']).toEqual([]);
    } finally {
      await media.removeStream('vonage-cam');
      await video.stopBroadcast(manual['id']);
    }
  });
});
