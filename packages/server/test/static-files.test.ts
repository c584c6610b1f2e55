// The dashboard's static files (@fastify/static under our headers), on a dist folder made here:
// 503 while it is not built, the cache and CSP headers per kind of file, 404 for files not there.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, registerStaticFiles } from '../src/dashboard/static-files.js';

const dist = mkdtempSync(join(tmpdir(), 'colloquy-dist-'));
afterAll(() => rmSync(dist, { recursive: true, force: true }));

describe('dashboard static files', () => {
  it('answers 503 on every page while the dashboard is not built', async () => {
    const app = Fastify();
    await registerStaticFiles(app, join(dist, 'missing'));
    for (const url of ['/', '/index.html', '/test-page.html', '/assets/main.js']) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(503);
      expect(res.body).toMatch(/not built/);
    }
    await app.close();
  });

  it('serves HTML with the CSP and no-cache, assets as immutable, and nothing else', async () => {
    mkdirSync(join(dist, 'assets'), { recursive: true });
    writeFileSync(join(dist, 'index.html'), '<!doctype html><title>x</title>');
    writeFileSync(join(dist, 'assets', 'main-abc.js'), 'console.log(1)');
    const app = Fastify();
    await registerStaticFiles(app, dist);
    const page = await app.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers).toMatchObject({ 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-frame-options': 'DENY', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    expect(page.headers['content-type']).toContain('text/html');
    const asset = await app.inject({ url: '/assets/main-abc.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(asset.headers['content-security-policy']).toBeUndefined();
    expect((await app.inject({ url: '/assets/main-abc.js', headers: { 'if-none-match': String(asset.headers.etag) } })).statusCode).toBe(304);
    expect((await app.inject({ url: '/assets/other.js' })).statusCode).toBe(404);
    await app.close();
  });
});
