// The dashboard's HLS player in real Chromium against a real server: a test page tab joins a routed
// session and publishes the fake camera, the app server (REST) starts a broadcast with an HLS
// output, and the signed-in dashboard lists it and plays it with hls.js, which the server serves
// from its own /assets (the page's policy allows no other origin). The <video> must really play:
// its clock advances and it has decoded a picture (videoWidth > 0).

import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { signJwt } from '@colloquy/tokens';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PASSWORD = 'player-test-password';

let t: TestServer;
let browser: TestBrowser;
let dashboard: TestPage;
let publisher: TestPage;

beforeAll(async () => {
  t = await startTestServer({ COLLOQUY_ADMIN_PASSWORD: PASSWORD });
  browser = await launchChromium();
  dashboard = await browser.newPage();
  publisher = await browser.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
}, 120_000);

/** The app server's REST call with the test project's credentials. */
async function rest(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = signJwt({ iss: t.apiKey, ist: 'project', iat: now, exp: now + 300 }, t.apiSecret);
  const res = await fetch(`${t.url}/v2/project/${t.apiKey}${path}`, {
    method,
    headers: { 'x-opentok-auth': jwt, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('broadcast HLS player', { timeout: 240_000 }, () => {
  it('lists a live broadcast and plays its HLS output with hls.js served by Colloquy', async () => {
    const { page } = dashboard;
    await page.goto(`${t.url}/`);
    await page.waitForSelector('#password');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('#projects-table');

    // A demo token for a new routed session, made by the dashboard API with the page's cookie and
    // CSRF token; its test page joins and publishes the fake camera.
    const made = await page.evaluate(async (projectId) => {
      const me = (await (await fetch('/dashboard/api/me')).json()) as { csrfToken: string };
      const res = await fetch(`/dashboard/api/projects/${projectId}/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrfToken },
        body: JSON.stringify({ newSession: { mediaMode: 'routed' }, role: 'publisher', data: 'name=Caster' }),
      });
      return (await res.json()) as { sessionId: string; testPageUrl: string };
    }, t.apiKey);
    await publisher.page.goto(`${t.url}${made.testPageUrl}`);
    await publisher.page.waitForFunction(() => (window as unknown as { colloquyTestPage: { publishing: boolean } }).colloquyTestPage.publishing, null, { timeout: 60_000 });

    const started = await until('the broadcast to start', async () => {
      const r = await rest('POST', '/broadcast', { sessionId: made.sessionId, outputs: { hls: { lowLatency: true } }, resolution: '640x480' });
      return r.status === 200 && r.body;
    });
    const id = started['id'] as string;
    await until('the HLS output live', async () => {
      const r = await rest('GET', `/broadcast/${id}`);
      return (r.body['broadcastUrls'] as { hlsStatus?: string }).hlsStatus === 'live';
    });

    // The list shows it live with a Play link; the player page plays it. The list is the picked
    // project's: the test server's application, made in the same millisecond as the project, sorts
    // first by its id and is the default then (a list with "No broadcasts" failed two loaded runs).
    await page.selectOption('#project-picker', t.apiKey);
    await page.click('a[href="#/broadcasts"]');
    await page.waitForSelector(`tr[data-broadcast-id="${id}"][data-status="started"]`).catch(async (err: unknown) => {
      // Seen once in a loaded full run (two suites on 2 cores): say what the broadcast had become.
      const r = await rest('GET', `/broadcast/${id}`);
      throw new Error(`the list never showed the broadcast live; REST has status ${String(r.body['status'])}, reason ${JSON.stringify(r.body['reason'] ?? null)}, urls ${JSON.stringify(r.body['broadcastUrls'])}; the list: ${await page.locator('#broadcasts').innerText().catch(() => '?')}`, { cause: err });
    });
    await page.click(`tr[data-broadcast-id="${id}"] a[data-action="play"]`);
    await page.waitForSelector('#broadcast-video');
    expect(page.url()).toContain(`#/broadcasts/${t.apiKey}/${id}`);
    const video = () =>
      page.evaluate(() => {
        const v = document.querySelector<HTMLVideoElement>('#broadcast-video')!;
        return { currentTime: v.currentTime, width: v.videoWidth, height: v.videoHeight, paused: v.paused, status: document.querySelector('#player-status')?.textContent ?? '' };
      });
    const first = await until('the video to play', async () => {
      const v = await video();
      return v.width > 0 && v.currentTime > 0.5 && v;
    });
    const later = await until('the video clock to advance', async () => {
      const v = await video();
      return v.currentTime > first.currentTime + 2 && v;
    });
    expect(later).toMatchObject({ width: 640, height: 480, paused: false, status: 'Playing' });

    // hls.js came from our own server, as a JavaScript asset cached like the other hashed assets.
    const scripts = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => /\/assets\/hls-[\w-]+\.js$/.test(n)));
    expect(scripts).toHaveLength(1);
    expect(new URL(scripts[0]!).origin).toBe(t.url);
    const asset = await fetch(scripts[0]!);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/^(application|text)\/javascript/);
    expect(asset.headers.get('cache-control')).toMatch(/immutable/);
    expect(await asset.text()).toMatch(/MANIFEST_PARSED|manifestParsed/);

    expect([...dashboard.errors, ...publisher.errors]).toEqual([]);

    // Another project's broadcast id (or an unknown one) is not found; without the cookie, 401.
    const unknown = await page.evaluate(async (projectId) => (await fetch(`/dashboard/api/projects/${projectId}/broadcasts/00000000-0000-4000-8000-000000000000`)).status, t.apiKey);
    expect(unknown).toBe(404);
    expect((await fetch(`${t.url}/dashboard/api/projects/${t.apiKey}/broadcasts`)).status).toBe(401);

    expect((await rest('POST', `/broadcast/${id}/stop`)).status).toBe(200);
  });
});
