// The SDK's render calls against a real server whose Experience Composer opens a real page in
// Debian's Chromium: start (name and resolution as asked), the render's stream listed in the
// session with that name and the page's size, list, stop (the stream gone), and the errors the
// server answers mapped to the SDK's error classes.

import type { RunningServer } from '@colloquy/server';
import { until } from '@colloquy/testing/wait';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcessServer } from './in-process-server.js';
import { Colloquy, NotFoundError, RequestError } from '../src/index.js';

const KEY = '47000097';
const SECRET = 'sdk-render-secret-0123456789';
let server: RunningServer;
let dataDir: string;
let web: Server;
let pageUrl: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'colloquy-sdk-render-'));
  server = await startInProcessServer(dataDir, KEY, SECRET);
  web = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'text/html' }).end('<body style="margin:0;font:64px sans-serif"><div id=c>0</div><script>let n=0;setInterval(()=>c.textContent=++n,40)</script></body>'),
  );
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  pageUrl = `http://127.0.0.1:${(web.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await server.close();
  await new Promise((r) => web.close(r));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('colloquy.renders', () => {
  it('starts a render that publishes the page as a named stream, lists it, stops it', async () => {
    const sdk = new Colloquy(KEY, SECRET, server.url);
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    const render = await sdk.renders.start(sessionId, sdk.generateToken(sessionId), { url: pageUrl, resolution: '640x480', maxDuration: 300, name: 'From the SDK' });
    expect(render).toMatchObject({ sessionId, url: pageUrl, resolution: '640x480', status: 'starting' });
    const started = await until(async () => {
      const r = await sdk.renders.get(render.id);
      if (r.status === 'failed') throw new Error(`render failed: ${r.reason}`);
      return r.status === 'started' ? r : undefined;
    }, 'started');
    const stream = await sdk.getStream(sessionId, started.streamId!);
    expect(stream).toMatchObject({ id: started.streamId, name: 'From the SDK' });
    expect((await sdk.renders.list({ count: 10 })).items.map((r) => r.id)).toEqual([render.id]);

    const stopped = await sdk.renders.stop(render.id);
    expect(stopped).toMatchObject({ id: render.id, status: 'stopped', reason: 'Stop requested' });
    expect((await sdk.listStreams(sessionId)).items.map((s) => s.id)).not.toContain(started.streamId);
  }, 120_000);

  it('maps the server’s refusals to the SDK’s errors', async () => {
    const sdk = new Colloquy(KEY, SECRET, server.url);
    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    await expect(sdk.renders.get('0123456789abcdef0123456789abcdef')).rejects.toBeInstanceOf(NotFoundError);
    await expect(sdk.renders.start(sessionId, sdk.generateToken(sessionId), { url: pageUrl, maxDuration: 10 })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/maxDuration/) });
    await expect(sdk.renders.start(sessionId, sdk.generateToken(sessionId, { role: 'subscriber' }), { url: pageUrl })).rejects.toBeInstanceOf(RequestError);
    await expect(sdk.renders.start(sessionId, '', { url: pageUrl })).rejects.toThrow(/token is required/);
  });
});
