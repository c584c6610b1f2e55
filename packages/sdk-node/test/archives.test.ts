// The SDK's archive calls against a real Colloquy server: the session domain is a stand-in that
// reports connected clients, and media comes from the server tests' labelled ffmpeg RTP source.

import { loadConfig, startServer, type RunningServer } from '@colloquy/server';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Shared with the server's archiving tests: ffmpeg test patterns as real RTP, through the same
// interface the SFU implements.
import { TestRtpSource } from '../../server/test/archiving/rtp-test-source.js';
import { Colloquy, NotFoundError, RequestError } from '../src/index.js';

const run = promisify(execFile);
const KEY = '47000098';
const SECRET = 'sdk-archive-secret-0123456789';
let server: RunningServer;
let dataDir: string;
const media = new TestRtpSource('none');
const connected = new Set<string>();

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'colloquy-sdk-arch-'));
  // COLLOQUY_RTC_PORT 0: the SFU's one UDP port where the system picks (7882 is the default; other test files run beside this one).
  const config = loadConfig({ PORT: '0', COLLOQUY_RTC_PORT: '0', COLLOQUY_DATA_DIR: dataDir, COLLOQUY_API_KEY: KEY, COLLOQUY_API_SECRET: SECRET });
  server = await startServer(config, {
    logger: pino({ level: 'silent' }),
    archiving: {
      media,
      sessions: { connectionCount: (id) => (connected.has(id) ? 1 : 0), watch: () => () => {}, broadcast: () => {} },
    },
  });
});
afterAll(async () => {
  await server.close();
  await media.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('colloquy.archives', () => {
  it('sets, reads (never the secret) and removes the archive storage; the server 400 and 501 come through', async () => {
    const sdk = new Colloquy(KEY, SECRET, server.url);
    expect(await sdk.archives.getStorage()).toBeNull();
    const secretKey = 'sdk-storage-secret-0123456789';
    const set = await sdk.archives.setStorage({ type: 's3', config: { bucket: 'sdk-bucket', accessKey: 'AK', secretKey, endpoint: 'http://127.0.0.1:9000' }, fallback: 'none' });
    expect(set).toMatchObject({ type: 's3', fallback: 'none', config: { bucket: 'sdk-bucket', accessKey: 'AK', endpoint: 'http://127.0.0.1:9000', secretKeySet: true } });
    expect(JSON.stringify(await sdk.archives.getStorage())).not.toContain(secretKey);
    await expect(sdk.archives.setStorage({ type: 's3', config: { bucket: 'b', accessKey: 'AK', secretKey } })).rejects.toMatchObject({ status: 400 });
    await expect(sdk.archives.setStorage({ type: 'azure' as 's3', config: { bucket: 'sdk-bucket', accessKey: 'AK', secretKey } })).rejects.toMatchObject({ status: 501 });
    await sdk.archives.deleteStorage();
    expect(await sdk.archives.getStorage()).toBeNull();
  });

  it('starts, lists, lays out, stops, waits for, downloads and deletes an archive', async () => {
    const sdk = new Colloquy(KEY, SECRET, server.url);
    const { sessionId } = await sdk.createSession();
    connected.add(sessionId);
    await media.addStream({ streamId: 'sdk-stream', sessionId, seconds: 30 });
    const archive = await sdk.archives.start(sessionId, { name: 'SDK', resolution: '1280x720', layout: { type: 'bestFit', screenshareType: 'pip' } });
    expect(archive).toMatchObject({ status: 'started', name: 'SDK', partnerId: Number(KEY), resolution: '1280x720', url: null });
    expect(archive.streams).toEqual([{ streamId: 'sdk-stream', hasAudio: true, hasVideo: true }]);
    await sdk.archives.setLayout(archive.id, { type: 'pip' });
    await expect(sdk.archives.setLayout(archive.id, { type: 'nope' as never })).rejects.toMatchObject({ status: 400 });
    await expect(sdk.archives.addStream(archive.id, 'sdk-stream')).rejects.toMatchObject({ status: 405 });
    expect((await sdk.archives.list({ sessionId })).items.map((a) => a.id)).toEqual([archive.id]);
    await new Promise((r) => setTimeout(r, 2000));
    expect((await sdk.archives.stop(archive.id)).status).toBe('stopped');
    await expect(sdk.archives.stop(archive.id)).rejects.toMatchObject({ status: 409, message: 'Archive is not in started state' });
    const ready = await sdk.archives.waitUntilReady(archive.id, { intervalMs: 200 });
    expect(ready.status).toBe('available');
    const file = join(dataDir, 'download.mp4');
    const bytes = await sdk.archives.download(archive.id, file);
    expect(bytes).toBe(ready.size);
    expect(statSync(file).size).toBe(ready.size);
    const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', file]);
    expect(stdout.trim()).toBe('h264,1280,720');
    await sdk.archives.delete(archive.id);
    expect((await sdk.archives.get(archive.id)).status).toBe('deleted');
    await expect(sdk.archives.download(archive.id, file)).rejects.toBeInstanceOf(RequestError);
  }, 30_000);

  it('manual streams, and errors as typed exceptions', async () => {
    const sdk = new Colloquy(KEY, SECRET, server.url);
    await expect(sdk.archives.get('8b732909-0a06-46a2-8ea8-074e64d43422')).rejects.toBeInstanceOf(NotFoundError);
    const { sessionId } = await sdk.createSession();
    await expect(sdk.archives.start(sessionId)).rejects.toMatchObject({ status: 409 });
    connected.add(sessionId);
    await media.addStream({ streamId: 'manual-stream', sessionId, seconds: 30 });
    const archive = await sdk.archives.start(sessionId, { streamMode: 'manual', outputMode: 'individual' });
    expect(archive).not.toHaveProperty('resolution');
    await sdk.archives.addStream(archive.id, 'manual-stream', { hasVideo: false });
    expect((await sdk.archives.get(archive.id)).streams).toEqual([{ streamId: 'manual-stream', hasAudio: true, hasVideo: false }]);
    await sdk.archives.removeStream(archive.id, 'manual-stream');
    await expect(sdk.archives.removeStream(archive.id, 'manual-stream')).rejects.toBeInstanceOf(NotFoundError);
    await sdk.archives.stop(archive.id);
    await expect(sdk.archives.start('')).rejects.toThrow(TypeError);
    const page = await sdk.archives.list({ offset: 0, count: 1 });
    expect(page.count).toBeGreaterThanOrEqual(2);
    expect(page.items).toHaveLength(1);
  }, 30_000);
});

