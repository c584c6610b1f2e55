// The /render REST API without a real browser: validation at the boundary (400/404/409), the
// concurrency limit (429) and the off switch (501), a browser that cannot start (`failed` with a
// reason, in the status callbacks), persistence across a restart, and the `opentok` and
// `@vonage/video` SDKs' render calls. A render that must stay `starting` uses a stand-in
// "Chromium" that never answers (a shell script that sleeps a bounded time).

import { MediaMode, Video } from '@vonage/video';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withoutFramingLimits } from '../../src/render/composer.js';
import { startTestServer, tempDir, type TestServer } from '../helpers.js';
import { p, until } from '../sip/helpers.js';

/** A "browser" that starts and never speaks: the render stays `starting` until stopped. */
function silentChromium(): string {
  const path = join(tempDir('colloquy-fake-chromium-'), 'chromium');
  writeFileSync(path, '#!/bin/sh\nexec sleep 20\n');
  chmodSync(path, 0o755);
  return path;
}

describe('/render REST API', () => {
  let t: TestServer;
  let ot: OpenTok;
  let routed: string;
  let relayed: string;
  let hooks: Server;
  let hookUrl: string;
  const callbacks: Array<Record<string, unknown>> = [];
  const dataDir = tempDir();

  beforeAll(async () => {
    t = await startTestServer({ COLLOQUY_CHROMIUM_PATH: silentChromium(), COLLOQUY_MAX_RENDERS: '1', COLLOQUY_DATA_DIR: dataDir });
    ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
    routed = (await p<{ sessionId: string }>((cb) => ot.createSession({ mediaMode: 'routed' }, cb))).sessionId;
    relayed = (await p<{ sessionId: string }>((cb) => ot.createSession({ mediaMode: 'relayed' }, cb))).sessionId;
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        callbacks.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    await t?.close();
    await new Promise((r) => hooks?.close(r));
  });

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const { status, data } = await sdkRequest(method, path, body);
    return { status, json: data as Record<string, unknown> };
  }
  async function sdkRequest(method: string, path: string, body?: unknown) {
    const { Colloquy } = await import('@colloquy/sdk-node');
    const sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
    try {
      return await sdk.client.request<unknown>(method, path, body);
    } catch (err) {
      const e = err as { status: number; message: string };
      return { status: e.status, data: { message: e.message } };
    }
  }
  const token = (sid = routed, role: 'publisher' | 'subscriber' | 'moderator' = 'publisher') => ot.generateToken(sid, { role });
  const valid = () => ({ sessionId: routed, token: token(), url: 'https://example.test/page' });

  it('validates the body: 400 with the field named', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ ...valid(), url: 'ftp://example.test/' }, /url/],
      [{ ...valid(), url: 'not a url' }, /url/],
      [{ ...valid(), url: 'https://user:pw@example.test/' }, /url/],
      [{ ...valid(), url: undefined }, /url/],
      [{ ...valid(), maxDuration: 59 }, /maxDuration/],
      [{ ...valid(), maxDuration: 36_001 }, /maxDuration/],
      [{ ...valid(), maxDuration: 100.5 }, /maxDuration/],
      [{ ...valid(), resolution: '800x600' }, /resolution/],
      [{ ...valid(), properties: { name: 'x'.repeat(1001) } }, /name/],
      [{ ...valid(), statusCallbackUrl: 'javascript:alert(1)' }, /statusCallbackUrl/],
      [{ ...valid(), token: undefined }, /token/],
      [{ ...valid(), sessionId: '' }, /sessionId/],
      [{ ...valid(), token: 'T1==garbage' }, /token is not valid/],
      [{ ...valid(), token: token(routed, 'subscriber') }, /role publisher or moderator/],
      [{ ...valid(), token: token(relayed) }, /token is not valid/],
    ];
    for (const [body, message] of cases) {
      const res = await call('POST', 'render', body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.json['message']).toMatch(message);
    }
    expect(t.server.renders.running).toBe(0);
  });

  it('404s an unknown session or render; 409s a relayed or end-to-end encrypted session', async () => {
    expect((await call('POST', 'render', { ...valid(), sessionId: '1_MX4xMjM0fn5-MTIzfnh4eH5-' })).status).toBe(404);
    expect((await call('POST', 'render', { ...valid(), sessionId: relayed, token: token(relayed) })).status).toBe(409);
    const { Colloquy } = await import('@colloquy/sdk-node');
    const e2ee = (await new Colloquy(t.apiKey, t.apiSecret, t.url).createSession({ mediaMode: 'routed', e2ee: true })).sessionId;
    expect(await call('POST', 'render', { ...valid(), sessionId: e2ee, token: token(e2ee) })).toMatchObject({ status: 409, json: { message: expect.stringMatching(/end-to-end encrypted/) } });
    for (const method of ['GET', 'POST', 'DELETE']) expect((await call(method, 'render/0123456789abcdef0123456789abcdef')).status).toBe(404);
    expect((await call('GET', 'render?count=0')).status).toBe(400);
    expect((await call('GET', 'render?count=1001')).status).toBe(400);
    expect((await call('GET', 'render?offset=-1')).status).toBe(400);
  });

  it('opentok: start (202, defaults), get, list; one more than COLLOQUY_MAX_RENDERS is 429; stop', async () => {
    const started = await p<Record<string, unknown>>((cb) => ot.startRender({ sessionId: routed, token: token(), url: 'https://example.test/a', statusCallbackUrl: hookUrl } as never, cb));
    expect(started).toMatchObject({ sessionId: routed, applicationId: t.apiKey, projectId: t.apiKey, url: 'https://example.test/a', resolution: '1280x720', status: 'starting' });
    expect(started['createdAt']).toBeTypeOf('number');
    expect(started['streamId']).toBeUndefined();
    const id = started['id'] as string;
    expect(await p((cb) => ot.getRender(id, cb))).toMatchObject({ id, status: 'starting' });
    expect(await t.server.renders.renders.get(t.apiKey, id)).toMatchObject({ maxDuration: 1800, name: '' });

    const second = await call('POST', 'render', valid());
    expect(second.status).toBe(429);
    expect(second.json['message']).toMatch(/COLLOQUY_MAX_RENDERS/);

    const list = await p<{ count: number; items: Array<{ id: string }> } | Array<{ id: string }>>((cb) => ot.listRenders({ count: 1000 } as never, cb as never));
    expect((Array.isArray(list) ? list : list.items).map((r) => r.id)).toContain(id);

    const stopped = await p<Record<string, unknown>>((cb) => ot.stopRender(id, cb));
    expect(stopped).toMatchObject({ id, status: 'stopped', reason: 'Stop requested' });
    expect(t.server.renders.running).toBe(0);
    // Stopping again answers the render as it is.
    expect(await call('DELETE', `render/${id}`)).toMatchObject({ status: 200, json: { status: 'stopped' } });
    await until(() => callbacks.filter((c) => c['id'] === id).length >= 2, 'two callbacks');
    expect(callbacks.filter((c) => c['id'] === id).map((c) => c['status'])).toEqual(['starting', 'stopped']);
    expect(callbacks.find((c) => c['id'] === id && c['status'] === 'stopped')).toMatchObject({ reason: 'Stop requested', name: '', sessionId: routed });
  });

  it('drops only the framing limits from a page\'s response headers', () => {
    expect(
      withoutFramingLimits([
        { name: 'X-Frame-Options', value: 'DENY' },
        { name: 'Content-Security-Policy', value: "default-src 'self'; frame-ancestors 'none'; img-src *" },
        { name: 'content-security-policy', value: "frame-ancestors https://a.example" },
        { name: 'Content-Type', value: 'text/html' },
      ]),
    ).toEqual([
      { name: 'Content-Security-Policy', value: "default-src 'self'; img-src *" },
      { name: 'Content-Type', value: 'text/html' },
    ]);
  });

  it('maxDuration stops a render (the manager given 1 s; REST allows 60 s and more)', async () => {
    const project = t.server.store.projects.get(t.apiKey)!;
    const record = await t.server.renders.start(project, { sessionId: routed, token: token(), url: 'https://example.test/short', maxDuration: 1, resolution: '640x480', name: '', statusCallbackUrl: null });
    const ended = await until(async () => {
      const r = (await t.server.renders.renders.get(t.apiKey, record.id))!;
      return r.status === 'stopped' ? r : undefined;
    }, 'max duration', 10_000);
    expect(ended.reason).toBe('Max duration exceeded');
    expect(t.server.renders.running).toBe(0);
  });

  it('@vonage/video: start with properties.name and a portrait resolution, get, list, stop', async () => {
    const video = new Video({ applicationId: t.applicationId, privateKey: t.privateKey }, { videoHost: t.url });
    const { sessionId } = await video.createSession({ mediaMode: MediaMode.ROUTED });
    const clientToken = video.generateClientToken(sessionId, { role: 'publisher' } as never);
    const render = await video.startExperienceComposerRender(sessionId, clientToken, {
      url: 'https://example.test/b',
      maxDuration: 60,
      resolution: '720x1280' as never,
      properties: { name: 'Portrait' },
    });
    expect(render).toMatchObject({ sessionId, applicationId: t.applicationId, resolution: '720x1280', status: 'starting' });
    expect(await t.server.renders.renders.get(t.applicationId, render.id)).toMatchObject({ maxDuration: 60, name: 'Portrait' });
    expect(await video.getExperienceComposerRender(render.id)).toMatchObject({ id: render.id, status: 'starting' });
    const list = await video.listExperienceComposerRenders({ count: 5, offset: 0 } as never);
    expect(list.count).toBe(1);
    expect(list.items.map((r) => r.id)).toEqual([render.id]);
    // A project never sees another's renders.
    expect((await call('GET', `render/${render.id}`)).status).toBe(404);
    await video.stopExperienceComposerRender(render.id);
    expect(await video.getExperienceComposerRender(render.id)).toMatchObject({ status: 'stopped', reason: 'Stop requested' });
  });

  it('a browser that cannot start ends failed with a reason (and the callback says so)', async () => {
    const other = await startTestServer({ COLLOQUY_CHROMIUM_PATH: '/nonexistent/chromium' });
    try {
      const otx = new OpenTok(other.apiKey, other.apiSecret, other.url);
      const sid = (await p<{ sessionId: string }>((cb) => otx.createSession({ mediaMode: 'routed' }, cb))).sessionId;
      const started = await p<{ id: string }>((cb) => otx.startRender({ sessionId: sid, token: otx.generateToken(sid), url: 'https://example.test/', statusCallbackUrl: hookUrl } as never, cb));
      const failed = await until(async () => {
        const r = await p<{ status: string; reason?: string }>((cb) => otx.getRender(started.id, cb));
        return r.status === 'failed' ? r : undefined;
      }, 'the render to fail');
      expect(failed.reason).toMatch(/^The render could not start: /);
      expect(other.server.renders.running).toBe(0);
      await until(() => callbacks.some((c) => c['id'] === started.id && c['status'] === 'failed'), 'the failed callback');
    } finally {
      await other.close();
    }
  });

  it('COLLOQUY_MAX_RENDERS=0 turns renders off (501)', async () => {
    const off = await startTestServer({ COLLOQUY_MAX_RENDERS: '0' });
    try {
      const otx = new OpenTok(off.apiKey, off.apiSecret, off.url);
      const sid = (await p<{ sessionId: string }>((cb) => otx.createSession({ mediaMode: 'routed' }, cb))).sessionId;
      const res = await fetch(`${off.url}/v2/project/${off.apiKey}/render`, { method: 'POST' }).then((r) => r.status);
      expect(res).toBe(401); // still authenticated first
      await expect(p((cb) => otx.startRender({ sessionId: sid, token: otx.generateToken(sid), url: 'https://example.test/' } as never, cb))).rejects.toThrow(/turned off/);
    } finally {
      await off.close();
    }
  });

  it('keeps renders across a restart; one running at shutdown, or when the process died, ends stopped with a reason', async () => {
    const started = await call('POST', 'render', valid());
    expect(started.status).toBe(202);
    const id = started.json['id'] as string;
    await t.server.close();
    t = await startTestServer({ COLLOQUY_CHROMIUM_PATH: silentChromium(), COLLOQUY_DATA_DIR: dataDir });
    expect(await call('GET', `render/${id}`)).toMatchObject({ status: 200, json: { id, status: 'stopped', reason: 'The server stopped' } });
    expect((await call('GET', 'render')).json['count']).toBe(3);

    // A process that died (SIGKILL, power loss) never wrote the end: the next start does.
    const now = Date.now();
    await t.server.renders.renders.insert({ id: 'f'.repeat(32), projectId: t.apiKey, sessionId: routed, url: 'https://example.test/', resolution: '640x480', name: '', maxDuration: 1800, statusCallbackUrl: null, status: 'started', reason: null, streamId: 'lost', connectionId: 'lost', createdAt: now, updatedAt: now });
    await t.server.close();
    t = await startTestServer({ COLLOQUY_CHROMIUM_PATH: silentChromium(), COLLOQUY_DATA_DIR: dataDir });
    expect(await call('GET', `render/${'f'.repeat(32)}`)).toMatchObject({ status: 200, json: { status: 'stopped', reason: 'The server stopped while the render ran', streamId: 'lost' } });
  });
});

describe('the server without renders', () => {
  // playwright-core is loaded at the first render, never by the server's own import: statically it
  // cost every server ~30 MB of heap, and a heap snapshot of the server took ~30 s instead of ~1 s.
  it('does not load playwright-core until a render starts', async () => {
    const { execFileSync } = await import('node:child_process');
    const script =
      "await import('@colloquy/server');" +
      "const { createRequire } = await import('node:module');" +
      "const cache = createRequire(import.meta.url).cache;" +
      "process.stdout.write(JSON.stringify(Object.keys(cache).filter((k) => k.includes('playwright-core')).length));";
    const loaded = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8', timeout: 60_000 });
    expect(JSON.parse(loaded)).toBe(0);
    // And it is there when asked for (the first render's path).
    const { loadChromium } = await import('../../src/render/composer.js');
    expect(typeof (await loadChromium()).launch).toBe('function');
  }, 90_000);
});
