// The dashboard in real Chromium against a real server: sign in (a wrong password first), create a
// project, rotate its secret, generate a token, watch the session on the live page while the test
// records media samples through the Inspector API, end it, and read its timeline, charts, scores
// and errors in the Inspector; the archives page too. Every page's JavaScript errors and console
// errors fail the test. Screenshots of each page go to test-output/screenshots (git-ignored).
//
// The participants and their quality here are recorded by the test through the Inspector API, the
// same calls signaling and media make; the test page joining with the browser SDK is exercised
// once the SDK exists (see the package README).

import { verifyClientToken } from '@colloquy/server';
import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PASSWORD = 'browser-test-password';
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-output', 'screenshots');

let t: TestServer;
let browser: TestBrowser;
let tp: TestPage;
/** Console errors a step caused on purpose (the 401 of a wrong password). */
const expectedErrors: RegExp[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  t = await startTestServer({ COLLOQUY_ADMIN_PASSWORD: PASSWORD });
  browser = await launchChromium();
  tp = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

async function shot(name: string): Promise<void> {
  await tp.page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

function unexpectedErrors(): string[] {
  return tp.errors.filter((e) => !expectedErrors.some((re) => re.test(e)));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('dashboard', () => {
  let projectId = '';
  let sessionId = '';

  it('refuses a wrong password and signs in with the right one', async () => {
    const { page } = tp;
    await page.goto(`${t.url}/`);
    await page.waitForSelector('#password');
    await shot('01-sign-in');
    expectedErrors.push(/401/);
    await page.fill('#password', 'not the password');
    await page.click('button[type=submit]');
    await page.waitForSelector('text=Wrong password.');
    expect(page.url()).toContain('#/login');
    expectedErrors.pop();
    expect(tp.errors.filter((e) => !/401/.test(e))).toEqual([]);
    expectedErrors.push(/status of 401/);
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('#projects-table');
    expect(page.url()).toContain('#/projects');
    const cookies = await browser.context.cookies(`${t.url}/dashboard/api/me`);
    expect(cookies.find((c) => c.name === 'colloquy_admin')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    await shot('02-projects');
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
    await shot('03-project');
    expect(unexpectedErrors()).toEqual([]);
  });

  it('generates a token for a new routed session', async () => {
    const { page } = tp;
    await page.click('a[href="#/tokens"]');
    await page.waitForSelector('#token-form');
    expect(await page.inputValue('#project-picker')).toBe(projectId);
    await page.selectOption('#session-mode', 'routed');
    await page.selectOption('#role', 'moderator');
    await page.fill('#connection-data', 'name=Browser');
    await page.selectOption('#expiry', '3600');
    await page.click('#generate-token');
    await page.waitForSelector('#token-output');
    const token = await page.inputValue('#token-output');
    sessionId = (await page.textContent('#token-session-id'))!.trim();
    expect(t.server.store.sessions.get(sessionId)).toMatchObject({ projectId, mediaMode: 'routed' });
    expect(verifyClientToken(token, { projects: t.server.store.projects, sessionId })).toMatchObject({ role: 'moderator', connectionData: 'name=Browser' });
    const href = (await page.getAttribute('#open-test-page', 'href'))!;
    expect(href.startsWith('/test-page.html#')).toBe(true);
    expect(new URLSearchParams(href.split('#')[1]).get('token')).toBe(token);
    await shot('04-tokens');
    expect(unexpectedErrors()).toEqual([]);
  });

  it('shows the session live while bitrate rises, then ended', async () => {
    const { page } = tp;
    const i = t.server.inspector;
    i.recordEvent(sessionId, projectId, { type: 'connectionCreated', connectionId: 'conn-pub', userAgent: 'Chromium test', ip: '127.0.0.1', role: 'publisher', data: 'name=Pub' });
    i.recordEvent(sessionId, projectId, { type: 'connectionCreated', connectionId: 'conn-sub', userAgent: 'Chromium test', ip: '127.0.0.1', role: 'subscriber', data: 'name=Sub' });
    i.recordEvent(sessionId, projectId, { type: 'streamCreated', connectionId: 'conn-pub', streamId: 'stream-cam', videoType: 'camera', hasAudio: true, hasVideo: true });
    i.recordEvent(sessionId, projectId, { type: 'subscriberCreated', connectionId: 'conn-sub', streamId: 'stream-cam' });

    // One sample a second, bitrate ramping up as a real publisher's does.
    const samples = async (n: number, from: number) => {
      for (let k = 0; k < n; k++) {
        const rate = (from + k) * 200_000;
        i.recordQuality(sessionId, projectId, { source: 'publisher', connectionId: 'conn-pub', streamId: 'stream-cam', kind: 'video', bitrate: rate, packetLoss: 0.002, jitterMs: 4, frameRate: 30, width: 640, height: 480 });
        i.recordQuality(sessionId, projectId, { source: 'publisher', connectionId: 'conn-pub', streamId: 'stream-cam', kind: 'audio', bitrate: 40_000, packetLoss: 0, jitterMs: 3 });
        i.recordQuality(sessionId, projectId, { source: 'subscriber', connectionId: 'conn-sub', streamId: 'stream-cam', kind: 'video', bitrate: rate * 0.95, packetLoss: 0.08, rttMs: 60, nackCount: 2, pliCount: 0, layer: 2, frameRate: 30, width: 640, height: 480 });
        await sleep(1050);
      }
    };
    await samples(2, 1);

    await page.click('a[href="#/live"]');
    await page.waitForSelector(`tr[data-session-id="${sessionId}"]`);
    await shot('05-live-list');
    await page.click(`tr[data-session-id="${sessionId}"] a`);
    await page.waitForSelector('#live-bitrate-in');
    const parse = (s: string | null) => {
      const m = /([\d.]+) (Mbps|kbps)/.exec(s ?? '');
      return m ? Number(m[1]) * (m[2] === 'Mbps' ? 1e6 : 1e3) : 0;
    };
    const first = parse(await page.textContent('#live-bitrate-in'));
    expect(first).toBeGreaterThan(0);
    await samples(3, 3);
    await page.waitForFunction((before) => {
      const m = /([\d.]+) (Mbps|kbps)/.exec(document.querySelector('#live-bitrate-in')?.textContent ?? '');
      return m !== null && Number(m[1]) * (m[2] === 'Mbps' ? 1e6 : 1e3) > before;
    }, first);
    expect(await page.locator('#live-connections tbody tr').count()).toBe(2);
    expect(await page.locator('#live-streams tbody tr').count()).toBe(1);
    expect(await page.locator('#live-subscriptions tbody tr').count()).toBe(1);
    expect(await page.locator('#live-chart polyline').count()).toBeGreaterThan(0);
    await shot('06-live-session');

    i.recordEvent(sessionId, projectId, { type: 'error', source: 'client', code: 1501, name: 'OT_UNABLE_TO_SUBSCRIBE', message: 'ICE failed on the subscriber', connectionId: 'conn-sub', streamId: 'stream-cam' });
    i.recordEvent(sessionId, projectId, { type: 'signal', connectionId: 'conn-pub', signalType: 'chat' });
    i.recordEvent(sessionId, projectId, { type: 'subscriberDestroyed', connectionId: 'conn-sub', streamId: 'stream-cam' });
    i.recordEvent(sessionId, projectId, { type: 'streamDestroyed', connectionId: 'conn-pub', streamId: 'stream-cam', reason: 'clientDisconnected' });
    i.recordEvent(sessionId, projectId, { type: 'connectionDestroyed', connectionId: 'conn-sub', reason: 'networkDisconnected' });
    i.recordEvent(sessionId, projectId, { type: 'connectionDestroyed', connectionId: 'conn-pub', reason: 'clientDisconnected' });
    await page.waitForSelector('#session-not-live');
    expect(unexpectedErrors()).toEqual([]);
  });

  it("finds the ended session's timeline, charts, scores and errors in the Inspector", async () => {
    const { page } = tp;
    await page.click('a[href="#/inspector"]');
    await page.waitForSelector('#sessions-table');
    await shot('07-inspector-list');
    await page.click(`#sessions-table a[href$="${sessionId}"]`);
    await page.waitForSelector('#participants-table');
    await page.waitForSelector('#events-table tbody tr');
    expect(await page.textContent('h1')).toContain('ended');
    const rows = page.locator('#participants-table tbody tr');
    expect(await rows.count()).toBe(2);
    const pubScore = Number(await page.textContent('tr[data-connection-id="conn-pub"] .score .badge'));
    const subScore = Number(await page.textContent('tr[data-connection-id="conn-sub"] .score .badge'));
    expect(pubScore).toBeGreaterThan(4);
    expect(subScore).toBeLessThan(pubScore);
    expect(await page.getAttribute('tr[data-connection-id="conn-sub"]', 'class')).toContain('has-errors');
    expect(await page.locator('#timeline .timeline-lanes .bar.connection').count()).toBe(2);
    expect(await page.locator('#timeline .timeline-lanes .bar.stream').count()).toBe(1);
    expect(await page.locator('#timeline .timeline-lanes .bar.subscription').count()).toBe(1);
    expect(await page.locator('#timeline .timeline-lanes .marker.error').count()).toBe(1);
    const charts = page.locator('section.stream-charts[data-stream-id="stream-cam"] .chart');
    expect(await charts.count()).toBe(4);
    for (const title of ['Bitrate', 'Packet loss', 'Round-trip time', 'Frame rate']) {
      expect(await page.locator(`section.stream-charts .chart:has(.chart-title:text-is("${title}")) polyline`).count(), title).toBeGreaterThan(0);
    }
    expect(await page.locator('#events-table tr.error-row').count()).toBe(1);
    expect(await page.textContent('#events-table tr.error-row')).toContain('ICE failed on the subscriber');
    const types = await page.locator('#events-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-type')));
    expect(types).toEqual(['connectionCreated', 'connectionCreated', 'streamCreated', 'subscriberCreated', 'error', 'signal', 'subscriberDestroyed', 'streamDestroyed', 'connectionDestroyed', 'connectionDestroyed']);
    await shot('08-inspector-session');
    await page.check('#errors-only');
    await page.waitForFunction(() => document.querySelectorAll('#events-table tbody tr').length === 1);
    expect(unexpectedErrors()).toEqual([]);
  });

  it('shows the archives page', async () => {
    const { page } = tp;
    await page.click('a[href="#/archives"]');
    await page.waitForSelector('#archives-unavailable');
    await shot('09-archives');
    expect(unexpectedErrors()).toEqual([]);
  });

  it('creates an application with a generated key pair and deletes a project after confirmation', async () => {
    const { page } = tp;
    await page.click('a[href="#/projects"]');
    await page.fill('#new-app-name', 'Browser app');
    await page.click('#create-application button[type=submit]');
    await page.waitForSelector('#private-key');
    expect(await page.textContent('#private-key')).toContain('BEGIN PRIVATE KEY');
    await shot('10-application-created');

    await page.goto(`${t.url}/#/projects/${projectId}`);
    await page.waitForSelector('#delete-project');
    expect(await page.isDisabled('#delete-project')).toBe(true);
    await page.fill('#delete-confirm', projectId);
    expect(await page.isDisabled('#delete-project')).toBe(false);
    await page.click('#delete-project');
    await page.waitForSelector('#projects-table');
    expect(t.server.store.projects.get(projectId)).toBeNull();
    expect(t.server.store.sessions.get(sessionId)).toBeNull();
    expect(t.server.inspector.events(sessionId).items).toEqual([]);
    await page.click('#sign-out');
    await page.waitForSelector('#password');
    expect(unexpectedErrors()).toEqual([]);
  });
});
