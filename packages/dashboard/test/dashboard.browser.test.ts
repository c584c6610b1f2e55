// The dashboard in real Chromium against a real server, along the path an operator takes: sign in
// (a wrong password first), create a project and rotate its secret, set its callback URLs (an ftp
// one refused), make a token for a new routed
// session and open its test page in a second tab, which joins with the browser SDK and publishes
// the fake camera while the live page watches the bitrate rise from zero; a third tab joins with a
// subscriber token, receives and decodes the stream and, trying to publish, gets a real
// OT_PERMISSION_DENIED that the SDK reports to the Inspector. The app server (REST) records a
// composed and an individual archive meanwhile. The live page shows the connections, stream and
// subscription; both tabs leave; the Inspector shows the ended session's participants, timelines,
// scores, charts from the real samples and the event log with the error highlighted; the Archives
// page plays, downloads and deletes; deleting the project takes its archive files. Another
// project's data is refused. The session lists show the part of each ID that differs and who
// joined first, and hide sessions nobody joined; chart lines are blue for what flows in, orange
// for what flows out. A moderator's test page mutes, signals and disconnects another participant.
// An application's token asked for without its private key makes no session.
//
// One browser, the quality sampler at 1 s. Every page's uncaught errors and console errors fail
// the test unless whitelisted below with a reason. Screenshots of each page go to
// test-output/screenshots (git-ignored) for a person to look at.

import { verifyClientToken } from '@colloquy/server';
import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { buildJwtToken, signJwt } from '@colloquy/tokens';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECTION_SHADES } from '../src/charts';

const PASSWORD = 'browser-test-password';
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-output', 'screenshots');

let t: TestServer;
let browser: TestBrowser;
/** The dashboard tab. */
let tp: TestPage;
/** The test page tabs the dashboard opened: the publisher's and the subscriber's. */
let alice: TestPage;
let bob: TestPage;

/**
 * Console errors a step causes on purpose, each with its reason. Everything else a page logs as an
 * error, and every uncaught exception, fails the test.
 */
const expected: Array<{ page: () => TestPage | undefined; pattern: RegExp; reason: string }> = [
  { page: () => tp, pattern: /status of 401/, reason: 'the wrong password is answered 401, and Chromium logs failed fetches' },
  { page: () => tp, pattern: /status of 400/, reason: 'an ftp callback URL, and an application token without its private key, are answered 400, and Chromium logs failed fetches' },
];

beforeAll(async () => {
  // Only this run's pictures: a renamed step must not leave an old one behind.
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  t = await startTestServer({ COLLOQUY_ADMIN_PASSWORD: PASSWORD, COLLOQUY_QUALITY_SAMPLE_MS: '1000' });
  browser = await launchChromium();
  tp = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

async function shot(p: TestPage, name: string): Promise<void> {
  await p.page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

function unexpectedErrors(p: TestPage): string[] {
  return p.errors.filter((e) => !expected.some((x) => x.page() === p && x.pattern.test(e)));
}

function expectNoErrors(): void {
  for (const p of [tp, alice, bob]) if (p) expect(unexpectedErrors(p), p.page.url()).toEqual([]);
}

/** Collects a tab's errors the way TestBrowser.newPage does, for tabs the page itself opened. */
function watch(page: Page): TestPage {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console.error: ${msg.text()}`);
  });
  return { page, errors };
}

/** Clicks "Open test page" on the tokens page and returns the tab it opens. */
async function openTestPage(): Promise<TestPage> {
  const [popup] = await Promise.all([browser.context.waitForEvent('page'), tp.page.click('#open-test-page')]);
  const p = watch(popup);
  await popup.waitForURL(/\/test-page\.html#/, { waitUntil: 'commit' });
  return p;
}

async function generateToken(options: { mode: 'routed' | 'relayed' | 'existing'; sessionId?: string; role: string; data: string; expiry: string }): Promise<{ token: string; sessionId: string }> {
  const { page } = tp;
  await page.selectOption('#session-mode', options.mode);
  if (options.sessionId) await page.fill('#session-id', options.sessionId);
  await page.selectOption('#role', options.role);
  await page.fill('#connection-data', options.data);
  await page.selectOption('#expiry', options.expiry);
  // The result is replaced on each generation: wait for the new token, not the previous one.
  const before = (await page.locator('#token-output').count()) > 0 ? await page.inputValue('#token-output') : null;
  await page.click('#generate-token');
  await page.waitForFunction((prev) => {
    const el = document.querySelector<HTMLTextAreaElement>('#token-output');
    return el !== null && el.value !== prev;
  }, before);
  return { token: await page.inputValue('#token-output'), sessionId: (await page.textContent('#token-session-id'))!.trim() };
}

/** Polls `ok` every 100 ms until it holds; fails with `what` after `ms`. */
async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function parseBitrate(s: string | null): number {
  const m = /([\d.]+) (Mbps|kbps|bps)/.exec(s ?? '');
  return m ? Number(m[1]) * (m[2] === 'Mbps' ? 1e6 : m[2] === 'kbps' ? 1e3 : 1) : 0;
}

describe('dashboard', () => {
  let projectId = '';
  let sessionId = '';
  /** A session made with a token nobody used. */
  let unjoinedSessionId = '';
  let aliceConnection = '';
  let bobConnection = '';
  let streamId = '';
  const bitrates: Array<[seconds: number, bps: number]> = [];
  const archiveIds: string[] = [];

  /** The app server's REST call, with the new project's credentials. */
  const rest = async (method: string, path: string, body?: unknown) => {
    const secret = t.server.store.projects.get(projectId)!.secret!;
    const res = await fetch(`${t.url}/v2/project/${projectId}${path}`, {
      method,
      headers: { 'x-opentok-auth': restJwt(projectId, secret), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
  };

  it('refuses a wrong password and signs in with the right one', async () => {
    const { page } = tp;
    await page.goto(`${t.url}/`);
    await page.waitForSelector('#password');
    await shot(tp, '01-sign-in');
    await page.fill('#password', 'not the password');
    await page.click('button[type=submit]');
    await page.waitForSelector('text=Wrong password.');
    expect(page.url()).toContain('#/login');
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('#projects-table');
    expect(page.url()).toContain('#/projects');
    const cookies = await browser.context.cookies(`${t.url}/dashboard/api/me`);
    expect(cookies.find((c) => c.name === 'colloquy_admin')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    await shot(tp, '02-projects');
    expectNoErrors();
  });

  it('creates a project, shows its secret and rotates it', async () => {
    const { page } = tp;
    await page.fill('#new-project-name', 'Browser project');
    await page.click('#create-project button[type=submit]');
    await page.waitForSelector('#api-key');
    projectId = (await page.textContent('#api-key'))!.trim();
    const project = t.server.store.projects.get(projectId)!;
    expect(project).toMatchObject({ name: 'Browser project', kind: 'project' });
    await page.click('#show-secret');
    expect(await page.textContent('#api-secret')).toBe(project.secret);
    await page.click('#rotate-secret');
    await page.click('#confirm-rotate');
    await page.waitForSelector('text=Secret rotated.');
    const rotated = t.server.store.projects.get(projectId)!.secret;
    expect(rotated).not.toBe(project.secret);
    await page.click('#show-secret');
    expect(await page.textContent('#api-secret')).toBe(rotated);
    await shot(tp, '03-project');
    expectNoErrors();
  });

  it('saves the callback URLs, keeps them across a reload, refuses an ftp one and removes one', async () => {
    const { page } = tp;
    // Nothing listens on the discard port: the archives below still record when deliveries fail.
    const archiveUrl = 'http://127.0.0.1:9/archive';
    const sessionUrl = 'http://127.0.0.1:9/session';
    const saved = async () => {
      await page.click('#save-callbacks');
      await page.waitForSelector('#project-status .ok-box:text-is("Callbacks saved.")');
    };
    /** What the dashboard API answers now, fetched by the page with its cookie. */
    const callbacks = () =>
      page.evaluate(async (id) => ((await (await fetch(`/dashboard/api/projects/${id}`)).json()) as { callbacks: unknown }).callbacks, projectId);
    expect(await page.inputValue('#archive-callback-url')).toBe('');
    expect(await page.inputValue('#session-callback-url')).toBe('');
    await page.fill('#archive-callback-url', archiveUrl);
    await page.fill('#session-callback-url', sessionUrl);
    await saved();
    await page.reload();
    await page.waitForSelector('#callbacks-form');
    expect(await page.inputValue('#archive-callback-url')).toBe(archiveUrl);
    expect(await page.inputValue('#session-callback-url')).toBe(sessionUrl);
    expect(await t.server.store.callbacks.get(projectId)).toEqual({ archive: archiveUrl, session: sessionUrl });

    await page.fill('#archive-callback-url', 'ftp://x');
    await page.click('#save-callbacks');
    await page.waitForSelector('#project-status .error-box');
    expect(await page.textContent('#project-status .error-box')).toMatch(/http or https/);
    expect(await callbacks()).toEqual({ archive: archiveUrl, session: sessionUrl });
    await shot(tp, '03-project-callbacks');

    await page.fill('#archive-callback-url', archiveUrl);
    await page.fill('#session-callback-url', '');
    await saved();
    expect(await callbacks()).toEqual({ archive: archiveUrl, session: null });
    expect(await page.inputValue('#session-callback-url')).toBe('');
    expectNoErrors();
  });

  it('sets the archive storage, keeps the secret when editing, never shows it, refuses a bad endpoint and removes it', async () => {
    const { page } = tp;
    const secret = 'browser-secret-key-0123456789';
    const storage = () => t.server.archives.uploads.storage.get(projectId);
    await page.waitForSelector('#storage-form');
    expect(await page.$('#remove-storage')).toBeNull();
    await page.fill('#storage-bucket', 'dash-archives');
    await page.fill('#storage-access-key', 'DASHKEY');
    await page.fill('#storage-secret-key', secret);
    await page.fill('#storage-endpoint', 'http://127.0.0.1:9');
    await page.selectOption('#storage-fallback', 'none');
    await page.click('#save-storage');
    await page.waitForSelector('#project-status .ok-box:has-text("Archive storage saved")');
    expect(await storage()).toMatchObject({ bucket: 'dash-archives', accessKey: 'DASHKEY', secretKey: secret, endpoint: 'http://127.0.0.1:9', fallback: 'none' });

    await page.reload();
    await page.waitForSelector('#storage-form');
    expect(await page.inputValue('#storage-bucket')).toBe('dash-archives');
    expect(await page.inputValue('#storage-secret-key')).toBe('');
    expect(await page.getAttribute('#storage-secret-key', 'placeholder')).toMatch(/…6789.*leave empty/);
    expect(await page.inputValue('#storage-fallback')).toBe('none');
    expect(await page.content()).not.toContain(secret);

    // Editing without retyping the secret keeps it.
    await page.fill('#storage-bucket', 'dash-archives-2');
    await page.click('#save-storage');
    await page.waitForSelector('#project-status .ok-box:has-text("dash-archives-2")');
    expect(await storage()).toMatchObject({ bucket: 'dash-archives-2', secretKey: secret });

    await page.fill('#storage-endpoint', 'ftp://x.example.com');
    await page.click('#save-storage');
    await page.waitForSelector('#project-status .error-box');
    expect(await page.textContent('#project-status .error-box')).toMatch(/endpoint/);
    expect((await storage())?.endpoint).toBe('http://127.0.0.1:9');
    await shot(tp, '03-project-storage');

    await page.click('#remove-storage');
    await page.waitForSelector('#project-status .ok-box:has-text("Archive storage removed")');
    expect(await storage()).toBeNull();
    expect(await page.inputValue('#storage-bucket')).toBe('');
    expectNoErrors();
  });

  it('makes tokens; the test page joins in a new tab and publishes while the live page watches its bitrate rise', async () => {
    const { page } = tp;
    await page.click('a[href="#/tokens"]');
    await page.waitForSelector('#token-form');
    expect(await page.inputValue('#project-picker')).toBe(projectId);

    const relayed = await generateToken({ mode: 'relayed', role: 'publisher', data: 'name=Relayed', expiry: '86400' });
    expect(await t.server.store.sessions.get(relayed.sessionId)).toMatchObject({ projectId, mediaMode: 'relayed' });
    unjoinedSessionId = relayed.sessionId;

    const routed = await generateToken({ mode: 'routed', role: 'moderator', data: 'name=Alice', expiry: '3600' });
    sessionId = routed.sessionId;
    expect(await t.server.store.sessions.get(sessionId)).toMatchObject({ projectId, mediaMode: 'routed' });
    const claims = verifyClientToken(routed.token, { projects: t.server.store.projects, sessionId });
    expect(claims).toMatchObject({ role: 'moderator', connectionData: 'name=Alice' });
    expect(claims.expireTime - Date.now() / 1000).toBeGreaterThan(3500);
    expect(claims.expireTime - Date.now() / 1000).toBeLessThanOrEqual(3600);
    const href = (await page.getAttribute('#open-test-page', 'href'))!;
    expect(new URLSearchParams(href.split('#')[1]).get('token')).toBe(routed.token);
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.url });
    await page.click('#copy-token');
    await page.waitForSelector('#copy-token:text-is("Copied")');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(routed.token);
    await shot(tp, '04-tokens');

    // The operator opens the test page, then watches the session live. The SDK's script is held
    // until the live page is up, so the page sees the bitrate from before media flows (otherwise
    // which tab wins is a race); nothing else about the flow changes.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const hold = async (route: Route) => {
      await released;
      await route.continue();
    };
    await browser.context.route('**/v2/js/opentok.js', hold);
    alice = await openTestPage();
    expect(alice.page.url()).toBe(`${t.url}${href}`);
    await page.click('#watch-live');
    await page.waitForSelector('#session-not-live');
    release();
    await alice.page.waitForFunction(() => window.colloquyTestPage?.sdkLoaded === true);
    await browser.context.unroute('**/v2/js/opentok.js', hold);

    await alice.page.waitForFunction(() => window.colloquyTestPage?.publishing === true, null, { timeout: 15_000 });
    aliceConnection = (await alice.page.evaluate(() => window.colloquyTestPage.connectionId))!;
    expect(aliceConnection).toBeTruthy();
    // The fake camera is really captured and shown in the publisher tile.
    await alice.page.waitForFunction(() => (document.querySelector<HTMLVideoElement>('#publisher video')?.videoWidth ?? 0) > 0);

    // The live page redraws every 2 s; the server samples the producers every second.
    const started = Date.now();
    const deadline = started + 20_000;
    let draws = '0';
    let bps = 0;
    while (bps < 200_000 && Date.now() < deadline) {
      draws = await page.waitForFunction((prev) => {
        const n = document.querySelector<HTMLElement>('#live-session')?.dataset['draws'];
        return n !== undefined && n !== prev ? n : false;
      }, draws, { timeout: 5000 }).then((h) => h.jsonValue() as Promise<string>);
      bps = parseBitrate(await page.locator('#live-bitrate-in').textContent({ timeout: 100 }).catch(() => null));
      bitrates.push([Math.round((Date.now() - started) / 100) / 10, bps]);
    }
    expect(bitrates[0]![1], `bitrate readings ${JSON.stringify(bitrates)}`).toBe(0);
    expect(bps, `bitrate readings ${JSON.stringify(bitrates)}`).toBeGreaterThan(200_000);
    // The chart has the rise: its line for "in" goes from 0 up.
    expect(await page.locator('#live-chart polyline').count()).toBeGreaterThan(0);
    await shot(tp, '05-live-bitrate-rising');
    expectNoErrors();
  });

  it('a subscriber tab receives the stream, and its refused publish is a real client error', async () => {
    await tp.page.click('a[href="#/tokens"]');
    await tp.page.waitForSelector('#token-form');
    const bobToken = await generateToken({ mode: 'existing', sessionId, role: 'subscriber', data: 'name=Bob', expiry: '3600' });
    expect(bobToken.sessionId).toBe(sessionId);
    bob = await openTestPage();
    await bob.page.waitForFunction(() => window.colloquyTestPage?.subscribers === 1, null, { timeout: 15_000 });
    bobConnection = (await bob.page.evaluate(() => window.colloquyTestPage.connectionId))!;
    expect(await bob.page.evaluate(() => window.colloquyTestPage.canPublish)).toBe(false);
    // Frames are decoded: the subscriber's video has a size and its playback time advances.
    await bob.page.waitForFunction(() => {
      const v = document.querySelector<HTMLVideoElement>('#subscribers video');
      return v !== null && v.videoWidth > 0 && v.currentTime > 0.5;
    }, null, { timeout: 15_000 });
    expect(await bob.page.textContent('#subscribers .tile')).toContain('Alice');
    streamId = (await bob.page.getAttribute('#subscribers .tile', 'data-stream-id'))!;

    // A subscriber token may not publish: the server refuses, the SDK tells the page and the Inspector.
    await bob.page.click('#publish');
    await bob.page.waitForFunction(() => window.colloquyTestPage.errors.some((e) => e.includes('publish failed')));
    const errors = await bob.page.evaluate(() => window.colloquyTestPage.errors);
    expect(errors.join('\n')).toMatch(/publish failed: OT_PERMISSION_DENIED/);
    expect(await bob.page.isVisible('#last-error')).toBe(true);
    expect(await bob.page.evaluate(() => window.colloquyTestPage.publishing)).toBe(false);
    await alice.page.waitForFunction(() => document.querySelector('#log')?.textContent?.includes('name=Bob'));
    await shot(alice, '06-test-page-publisher');
    await shot(bob, '07-test-page-subscriber');
    expectNoErrors();
  });

  it('shows the live session with its connections, stream, subscription and bitrate', async () => {
    const { page } = tp;
    // Recording starts now (the app server's call), so the Archives page has real archives later:
    // a composed MP4 and, at the same time under a tag, an individual ZIP.
    for (const [name, extra] of [['Composed archive', { outputMode: 'composed' }], ['Individual archive', { outputMode: 'individual', multiArchiveTag: 'streams' }]] as const) {
      const started = await rest('POST', '/archive', { sessionId, name, ...extra });
      expect(started.status, JSON.stringify(started.body)).toBe(200);
      archiveIds.push(started.body['id'] as string);
    }
    await alice.page.waitForFunction(() => document.querySelector('#log')?.textContent?.includes('archiveStarted'));
    await page.bringToFront();
    await page.click('a[href="#/live"]');
    await page.waitForSelector(`tr[data-session-id="${sessionId}"]`);
    expect(parseBitrate(await page.textContent(`tr[data-session-id="${sessionId}"] .bitrate-in`))).toBeGreaterThan(0);
    await shot(tp, '08-live-list');
    await page.click(`tr[data-session-id="${sessionId}"] a`);
    await page.waitForSelector('#live-subscriptions');
    // Bob's subscriber is sampled from the next server tick on.
    await page.waitForFunction(() => /\d+ kbps|Mbps/.test(document.querySelector('#live-subscriptions tbody td:last-child')?.textContent ?? ''), null, { timeout: 10_000 });

    expect(await page.locator('#live-connections tbody tr').count()).toBe(2);
    const connectionsText = await page.textContent('#live-connections');
    for (const text of ['name=Alice', 'name=Bob', 'moderator', 'subscriber', '127.0.0.1']) expect(connectionsText).toContain(text);
    expect(connectionsText).toMatch(/Chrome \d+ on Linux/);
    expect(await page.getAttribute('#live-connections .ua', 'title')).toMatch(/Chrome\//);
    expect(await page.locator('#live-streams tbody tr').count()).toBe(1);
    const stream = await page.locator('#live-streams tbody tr td').allTextContents();
    expect(stream[1]).toContain('name=Alice');
    expect(stream.slice(2, 7)).toEqual(['camera', 'Alice', 'on', 'on', '640×480']);
    expect(stream[7]).toMatch(/\d+ fps/);
    // The publisher's bitrate, live: a 640x480 camera sends well over 100 kbps. Read until it shows
    // that: on a loaded machine one reading can fall while the browser ramps back up after a burst of loss.
    await expect
      .poll(async () => parseBitrate((await page.locator('#live-streams tbody tr td').nth(8).textContent()) ?? ''), { timeout: 30_000, interval: 500 })
      .toBeGreaterThan(100_000);
    expect(await page.locator('#live-subscriptions tbody tr').count()).toBe(1);
    expect(await page.textContent('#live-subscriptions tbody tr td:first-child')).toContain('name=Bob');
    // Bob's subscription, live: over 100 kbps once the SFU has shown his downlink (its start-up
    // hold gives a new subscriber the layers 700 kbps carries, here the 320x240 one at ~95 kbps,
    // until a probe shows the link: ~2 s, longer on a loaded machine).
    const shownAt = Date.now();
    if (parseBitrate(await page.textContent('#live-subscriptions tbody td:last-child')) <= 100_000) {
      // What the SFU gives Bob now (the hold, the estimate), should a reading come in low.
      const sub = [...(t.server.sessions.live(sessionId)?.subscriptions.values() ?? [])][0];
      const video = sub?.consumers.find((c) => c.kind === 'video');
      const d = sub?.transport?.getStats().downlink;
      console.log(`dashboard: Bob's subscription under 100 kbps at first: layer ${video?.currentLayer} (cap ${video?.bandwidthLayer}), hold ${d?.startupHeldMs ?? 'on'} ms, estimate ${d?.estimate}, cuts ${JSON.stringify(d?.cuts ?? [])}, last probe ${JSON.stringify(d?.lastProbe ?? null)}`);
    }
    await expect
      .poll(async () => parseBitrate((await page.textContent('#live-subscriptions tbody td:last-child')) ?? ''), { timeout: 30_000, interval: 500 })
      .toBeGreaterThan(100_000);
    console.log(`dashboard: Bob's subscription over 100 kbps ${Date.now() - shownAt} ms after the live page showed it`);
    expect(parseBitrate(await page.textContent('#live-bitrate-out'))).toBeGreaterThan(100_000);
    const tracks = await page.locator('#live-tracks tbody tr').allTextContents();
    expect(tracks.some((r) => r.startsWith('server, received') && r.includes('video') && r.includes('640×480'))).toBe(true);
    expect(tracks.some((r) => r.startsWith('server, sent') && r.includes('video'))).toBe(true);
    expect(await page.locator('#live-chart polyline').count()).toBeGreaterThan(0);
    await shot(tp, '09-live-session');
    expectNoErrors();
  });

  it('sees the session end on the live page when both tabs leave', async () => {
    const { page } = tp;
    // At least 3 s recorded each, however slowly this machine runs today.
    for (const id of archiveIds) await until(() => (t.server.archives.liveArchives().find((a) => a.id === id)?.clock() ?? 0) >= 3000, 15_000, `archive ${id} recording 3 s`);
    for (const id of archiveIds) expect((await rest('POST', `/archive/${id}/stop`)).status).toBe(200);
    await bob.page.click('#disconnect');
    await alice.page.waitForFunction(() => document.querySelector('#log')?.textContent?.includes('connectionDestroyed'));
    await alice.page.click('#disconnect');
    await alice.page.waitForFunction(() => window.colloquyTestPage.connected === false);
    await page.waitForSelector('#session-not-live', { timeout: 10_000 });
    expect(t.server.inspector.liveSession(sessionId)).toBeNull();
    await shot(tp, '10-live-ended');
    expectNoErrors();
  });

  it("finds the ended session's timeline, charts, scores and the error in the Inspector", async () => {
    const { page } = tp;
    await page.click('a[href="#/inspector"]');
    await page.waitForSelector('#sessions-table');
    await shot(tp, '11-inspector-list');
    // The row shows the end of the ID (where session IDs differ) and who joined first; the session
    // nobody joined is hidden until asked for.
    const row = `#sessions-table tr[data-session-id="${sessionId}"]`;
    expect(await page.textContent(`${row} a code`)).toBe(`…${sessionId.slice(-14)}`);
    expect(await page.getAttribute(`${row} a`, 'title')).toBe(sessionId);
    expect(await page.textContent(`${row} .first-participant`)).toBe('name=Alice');
    expect(await page.locator(`#sessions-table tr[data-session-id="${unjoinedSessionId}"]`).count()).toBe(0);
    await page.check('#show-unjoined');
    await page.waitForSelector(`#sessions-table tr[data-session-id="${unjoinedSessionId}"]`);
    expect(await page.textContent(`#sessions-table tr[data-session-id="${unjoinedSessionId}"] .first-participant`)).toBe('nobody');
    const tails = await page.locator('#sessions-table tbody a code').allTextContents();
    expect(new Set(tails).size).toBe(tails.length);
    expect(tails.length).toBeGreaterThanOrEqual(2);
    await page.click(`#sessions-table a[href$="${sessionId}"]`);
    await page.waitForSelector('#participants-table');
    await page.waitForSelector('#events-table tbody tr[data-type]');
    expect(await page.textContent('h1')).toContain('ended');

    expect(await page.locator('#participants-table tbody tr').count()).toBe(2);
    const alicesRow = `tr[data-connection-id="${aliceConnection}"]`;
    const bobsRow = `tr[data-connection-id="${bobConnection}"]`;
    expect(await page.textContent(alicesRow)).toContain('name=Alice');
    expect(await page.textContent(bobsRow)).toContain('clientDisconnected');
    // A quality score per connection, from the server's samples of what it received and sent.
    for (const row of [alicesRow, bobsRow]) {
      const score = Number(await page.textContent(`${row} .score .badge`));
      expect(score, row).toBeGreaterThanOrEqual(1);
      expect(score, row).toBeLessThanOrEqual(5);
    }
    expect(await page.getAttribute(bobsRow, 'class')).toContain('has-errors');
    expect(await page.getAttribute(alicesRow, 'class')).not.toContain('has-errors');

    expect(await page.locator('#timeline .timeline-lanes .bar.connection').count()).toBe(2);
    expect(await page.locator('#timeline .timeline-lanes .bar.stream').count()).toBe(1);
    expect(await page.locator('#timeline .timeline-lanes .bar.subscription').count()).toBe(1);
    expect(await page.locator('#timeline .timeline-lanes .marker.error').count()).toBe(1);

    // Charts of the stream drawn from the real samples: bitrate, loss, RTT (from the subscriber's
    // RTCP receiver reports) and frame rate.
    const section = `section.stream-charts[data-stream-id="${streamId}"]`;
    for (const title of ['Bitrate', 'Packet loss', 'Round-trip time', 'Frame rate']) {
      expect(await page.locator(`${section} .chart:has(.chart-title:text-is("${title}")) polyline`).count(), title).toBeGreaterThan(0);
    }
    // One colour family per direction: what arrives from Alice in blue, what goes to Bob in orange;
    // the browsers' own reports dashed in the colour of the same person.
    const legend = await page.locator(`${section} .chart:has(.chart-title:text-is("Bitrate")) .legend-item`).evaluateAll((items) =>
      items.map((i) => ({ label: i.textContent ?? '', color: i.getAttribute('data-color') ?? '', dashed: i.querySelector('i')?.classList.contains('dashed') ?? false })),
    );
    const inLine = legend.find((l) => l.label === 'in from the publisher');
    const toBob = legend.find((l) => l.label === '→ Bob');
    expect(inLine && (DIRECTION_SHADES.in as readonly string[]).includes(inLine.color), JSON.stringify(legend)).toBe(true);
    expect(toBob && (DIRECTION_SHADES.out as readonly string[]).includes(toBob.color), JSON.stringify(legend)).toBe(true);
    for (const l of legend) {
      const family = l.label.endsWith('sent') || l.label === 'in from the publisher' ? DIRECTION_SHADES.in : DIRECTION_SHADES.out;
      expect((family as readonly string[]).includes(l.color), JSON.stringify(l)).toBe(true);
      expect(l.dashed, JSON.stringify(l)).toBe(l.label.includes('browser'));
    }
    // No two lines of a chart look alike (same colour and same stroke).
    expect(new Set(legend.map((l) => `${l.color}/${l.dashed}`)).size).toBe(legend.length);
    // Video and audio one at a time: audio has no frame rate chart.
    await page.click(`${section} .kind-button[data-kind="audio"]`);
    await page.waitForSelector(`${section} .kind-button.active[data-kind="audio"]`);
    expect(await page.locator(`${section} .chart-title:text-is("Frame rate")`).count()).toBe(0);
    expect(await page.locator(`${section} .chart:has(.chart-title:text-is("Bitrate")) polyline`).count()).toBeGreaterThan(0);
    await page.click(`${section} .kind-button[data-kind="video"]`);

    const quality = await t.server.inspector.quality(sessionId, { streamId, source: 'publisher' });
    const video = quality.tracks.find((tr) => tr.kind === 'video')!;
    // A sample a second while Alice published (about 10 s here), none lost to timer jitter.
    expect(video.points.length).toBeGreaterThanOrEqual(6);
    expect(video.points.filter((p) => (p.bitrate ?? 0) > 100_000).length).toBeGreaterThanOrEqual(video.points.length - 2);
    expect(video.points.some((p) => (p.frameRate ?? 0) > 5 && p.width === 640)).toBe(true);
    const received = (await t.server.inspector.quality(sessionId, { streamId, source: 'subscriber' })).tracks.find((tr) => tr.kind === 'video')!;
    expect(received.connectionId).toBe(bobConnection);
    expect(received.points.some((p) => p.rttMs !== null)).toBe(true);

    const types = await page.locator('#events-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-type')));
    for (const type of ['connectionCreated', 'streamCreated', 'subscriberCreated', 'error', 'archiveStarted', 'archiveStopped', 'subscriberDestroyed', 'streamDestroyed', 'connectionDestroyed']) {
      expect(types, type).toContain(type);
    }
    expect(types.filter((x) => x === 'connectionCreated')).toHaveLength(2);
    expect(types.filter((x) => x === 'connectionDestroyed')).toHaveLength(2);
    expect(await page.locator('#events-table tr.error-row').count()).toBe(1);
    const errorRow = await page.textContent('#events-table tr.error-row');
    expect(errorRow).toContain('OT_PERMISSION_DENIED');
    expect(errorRow).toContain('source: client');
    await shot(tp, '12-inspector-session');
    await page.check('#errors-only');
    await page.waitForFunction(() => document.querySelectorAll('#events-table tbody tr').length === 1);
    expectNoErrors();
  });

  it("refuses another project's data at the dashboard API and at the REST extension, and changes without the CSRF token", async () => {
    // The dashboard API, signed in: the session asked for under the bootstrap project is not found.
    const cookie = (await browser.context.cookies(`${t.url}/dashboard/api/me`)).map((c) => `${c.name}=${c.value}`).join('; ');
    for (const path of ['', '/events', '/quality', '/live']) {
      const res = await fetch(`${t.url}/dashboard/api/projects/${t.apiKey}/sessions/${encodeURIComponent(sessionId)}${path}`, { headers: { cookie } });
      expect(res.status, path).toBe(404);
    }
    const own = await fetch(`${t.url}/dashboard/api/projects/${projectId}/sessions/${encodeURIComponent(sessionId)}/events`, { headers: { cookie } });
    expect(own.status).toBe(200);
    // The browser's cookie alone does not make a change: the page's CSRF token must come with it.
    const csrf = await tp.page.evaluate(async () => ((await (await fetch('/dashboard/api/me')).json()) as { csrfToken: string }).csrfToken);
    const rotate = (headers: Record<string, string>) => fetch(`${t.url}/dashboard/api/projects/${projectId}/rotate-secret`, { method: 'POST', headers: { cookie, ...headers } });
    const secretBefore = t.server.store.projects.get(projectId)!.secret;
    expect((await rotate({})).status).toBe(403);
    expect((await rotate({ 'x-csrf-token': 'not-the-token' })).status).toBe(403);
    expect(t.server.store.projects.get(projectId)!.secret).toBe(secretBefore);
    expect((await rotate({ 'x-csrf-token': csrf })).status).toBe(200);
    expect(t.server.store.projects.get(projectId)!.secret).not.toBe(secretBefore);
    // The REST extension with the other project's credentials: its own key in the path, 404; our key, 403.
    const jwt = restJwt(t.apiKey, t.apiSecret);
    for (const path of ['events', 'quality']) {
      const mine = await fetch(`${t.url}/v2/project/${t.apiKey}/session/${encodeURIComponent(sessionId)}/${path}`, { headers: { 'x-opentok-auth': jwt } });
      expect(mine.status, path).toBe(404);
      const theirs = await fetch(`${t.url}/v2/project/${projectId}/session/${encodeURIComponent(sessionId)}/${path}`, { headers: { 'x-opentok-auth': jwt } });
      expect(theirs.status, path).toBe(403);
    }
    const secret = t.server.store.projects.get(projectId)!.secret!;
    const ok = await fetch(`${t.url}/v2/project/${projectId}/session/${encodeURIComponent(sessionId)}/quality`, { headers: { 'x-opentok-auth': restJwt(projectId, secret) } });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { tracks: unknown[] }).tracks.length).toBeGreaterThan(0);
    // A token of the other project does not let a client into this session either.
    expect(() => verifyClientToken(buildJwtToken(t.apiKey, t.apiSecret, { sessionId }), { projects: t.server.store.projects, sessionId })).toThrow();
  });

  it('lists the archives with their status; plays the composed one, downloads both, deletes one', async () => {
    const { page } = tp;
    await page.click('a[href="#/archives"]');
    await page.waitForSelector('#archives-table');
    const [composedId, individualId] = archiveIds as [string, string];
    // Produced after the stop (ffmpeg composes the MP4); the page refreshes until they are available.
    for (const id of archiveIds) await page.waitForSelector(`tr[data-archive-id="${id}"][data-status="available"]`, { timeout: 30_000 });
    expect(await page.locator('#archives-table tbody tr').count()).toBe(2);
    expect(await page.textContent(`tr[data-archive-id="${composedId}"]`)).toContain('composed 640x480');
    expect(await page.textContent(`tr[data-archive-id="${individualId}"]`)).toContain('individual streams (ZIP)');
    expect(await page.locator(`tr[data-archive-id="${individualId}"] [data-action="play"]`).count()).toBe(0);

    // Play: Chromium decodes the MP4 from the signed link.
    await page.click(`tr[data-archive-id="${composedId}"] [data-action="play"]`);
    const playing = () => {
      const v = document.querySelector<HTMLVideoElement>('#archive-video');
      return v ? { width: v.videoWidth, duration: v.duration, time: v.currentTime, error: v.error?.message ?? null, state: v.readyState } : null;
    };
    await page
      .waitForFunction(() => {
        const v = document.querySelector<HTMLVideoElement>('#archive-video');
        return v !== null && v.videoWidth === 640 && v.duration > 2.5 && v.currentTime > 0.3;
      }, null, { timeout: 15_000 })
      .catch(async (err: Error) => {
        throw new Error(`${err.message}; video: ${JSON.stringify(await page.evaluate(playing))}`);
      });
    await shot(tp, '13-archives');

    // Download: the links are the archiving module's signed ones.
    for (const [id, type] of [[composedId, 'video/mp4'], [individualId, 'application/zip']] as const) {
      const href = (await page.getAttribute(`tr[data-archive-id="${id}"] [data-action="download"]`, 'href'))!;
      expect(href).toMatch(new RegExp(`^/archive-downloads/${id}/archive\\.(mp4|zip)\\?expires=\\d+&signature=`));
      const res = await fetch(`${t.url}${href}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    }

    // Delete asks for a second click, then the archive's files go.
    const archiveDir = (id: string) => join(t.server.archives.archivesDir, id);
    expect(existsSync(archiveDir(individualId))).toBe(true);
    await page.click(`tr[data-archive-id="${individualId}"] [data-action="delete"]`);
    await page.waitForSelector(`tr[data-archive-id="${individualId}"] [data-action="delete"]:text-is("Click again to delete")`);
    await page.click(`tr[data-archive-id="${individualId}"] [data-action="delete"]`);
    await page.waitForSelector(`tr[data-archive-id="${individualId}"][data-status="deleted"]`);
    expect(existsSync(archiveDir(individualId))).toBe(false);
    expect(existsSync(archiveDir(composedId))).toBe(true);
    expectNoErrors();
  });

  it("gives a moderator's test page force mute, signal and disconnect over another participant", async () => {
    await tp.page.click('a[href="#/tokens"]');
    await tp.page.waitForSelector('#token-form');
    const pat = await generateToken({ mode: 'routed', role: 'publisher', data: 'name=Pat', expiry: '3600' });
    const patPage = await openTestPage();
    await patPage.page.waitForFunction(() => window.colloquyTestPage?.publishing === true, null, { timeout: 15_000 });
    const patConnection = (await patPage.page.evaluate(() => window.colloquyTestPage.connectionId))!;
    await generateToken({ mode: 'existing', sessionId: pat.sessionId, role: 'moderator', data: 'name=Mo', expiry: '3600' });
    // The moderator only watches (publish=0 in the fragment).
    const href = (await tp.page.getAttribute('#open-test-page', 'href'))!;
    const mo = watch(await browser.context.newPage());
    await mo.page.goto(`${t.url}${href}&publish=0`);
    try {
      await mo.page.waitForFunction(() => window.colloquyTestPage?.subscribers === 1, null, { timeout: 15_000 });
      expect(await mo.page.evaluate(() => window.colloquyTestPage.moderator)).toBe(true);
      expect(await mo.page.isVisible('#force-mute-all')).toBe(true);
      // Pat's page (a publisher token) has no moderator controls, only signals.
      await patPage.page.waitForSelector('#participants li .signal-to');
      expect(await patPage.page.locator('.force-mute, .force-disconnect, .force-unpublish').count()).toBe(0);
      expect(await patPage.page.isVisible('#force-mute-all')).toBe(false);

      await mo.page.click('#subscribers .tile .force-mute');
      await patPage.page.waitForFunction(() => window.colloquyTestPage.mutesForced === 1, null, { timeout: 10_000 });
      await mo.page.waitForFunction(() => /streamPropertyChanged \S+ hasAudio=false/.test(document.querySelector('#log')?.textContent ?? ''), null, { timeout: 10_000 });

      await mo.page.fill('#signal-type', 'chat');
      await mo.page.fill('#signal-data', 'only for Pat');
      await mo.page.click(`#participants li[data-connection-id="${patConnection}"] .signal-to`);
      await patPage.page.waitForFunction(() => window.colloquyTestPage.signalsReceived === 1, null, { timeout: 10_000 });
      expect(await patPage.page.textContent('#log')).toMatch(/signal signal:chat from \S+: only for Pat/);
      expect(await mo.page.evaluate(() => window.colloquyTestPage.signalsReceived)).toBe(0); // sent to Pat only
      await shot(mo, '14-test-page-moderator');

      await mo.page.click(`#participants li[data-connection-id="${patConnection}"] .force-disconnect`);
      await patPage.page.waitForFunction(() => window.colloquyTestPage.disconnectReason !== null, null, { timeout: 10_000 });
      expect(await patPage.page.evaluate(() => window.colloquyTestPage.disconnectReason)).toBe('forceDisconnected');
      await mo.page.waitForFunction((id) => document.querySelector(`#participants li[data-connection-id="${id}"]`) === null, patConnection);
      expect(unexpectedErrors(mo)).toEqual([]);
      expect(unexpectedErrors(patPage)).toEqual([]);
    } finally {
      await mo.page.close();
      await patPage.page.close();
    }
  });

  it('creates an application with a generated key pair and deletes a project after confirmation', async () => {
    const { page } = tp;
    await page.click('a[href="#/projects"]');
    await page.fill('#new-app-name', 'Browser app');
    await page.click('#create-application button[type=submit]');
    await page.waitForSelector('#private-key');
    const privateKey = (await page.textContent('#private-key'))!;
    expect(privateKey).toContain('BEGIN PRIVATE KEY');
    await shot(tp, '15-application-created');

    // A token for a new session of the application without its private key: refused, and no
    // session is left behind; with the key, one session and a token.
    const app = t.server.store.projects.list().find((p) => p.name === 'Browser app')!;
    const appSessions = () => t.server.store.sessions.countByProject(app.id);
    await page.goto(`${t.url}/#/tokens`);
    await page.selectOption('#project-picker', app.id);
    await page.waitForSelector('#private-key-input');
    await page.selectOption('#session-mode', 'routed');
    await page.click('#generate-token');
    await page.waitForSelector('#token-result .error-box');
    expect(await page.textContent('#token-result .error-box')).toMatch(/private key/);
    expect(await appSessions()).toBe(0);
    await page.fill('#private-key-input', privateKey);
    await page.click('#generate-token');
    await page.waitForSelector('#token-output');
    expect(await appSessions()).toBe(1);

    await page.goto(`${t.url}/#/projects/${projectId}`);
    await page.waitForSelector('#delete-project');
    expect(await page.isDisabled('#delete-project')).toBe(true);
    await page.fill('#delete-confirm', projectId);
    expect(await page.isDisabled('#delete-project')).toBe(false);
    await page.click('#delete-project');
    await page.waitForSelector('#projects-table');
    expect(t.server.store.projects.get(projectId)).toBeNull();
    expect(await t.server.store.sessions.get(sessionId)).toBeNull();
    expect((await t.server.inspector.events(sessionId)).items).toEqual([]);
    // …and its archives, files included.
    expect((await t.server.archives.list(projectId)).count).toBe(0);
    expect(existsSync(join(t.server.archives.archivesDir, archiveIds[0]!))).toBe(false);
    await page.click('#sign-out');
    await page.waitForSelector('#password');
    expectNoErrors();
    console.log(`live bitrate in (s since the live page opened, bps): ${JSON.stringify(bitrates)}`);
  });
});

/** An OpenTok REST JWT (HS256 with the project secret), as the server SDKs send in X-OPENTOK-AUTH. */
function restJwt(apiKey: string, secret: string): string {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({ iss: apiKey, ist: 'project', iat: now, exp: now + 300 }, secret);
}
