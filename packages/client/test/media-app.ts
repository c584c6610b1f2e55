// What the SDK's Chromium media tests share: a real Colloquy server, the app page of
// media-harness.ts served from its own loopback origin, one Chromium, tokens from the real
// `opentok` SDK, and helpers that drive the page (join, publish) and wait for what it logs —
// subscribers decoding (getStats framesDecoded rising, width > 0, audio packets rising).

import { launchChromium, type LaunchOptions, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenTok from 'opentok';
import { expect } from 'vitest';
import { mediaHarness } from './media-harness.js';

export interface Logged {
  type: string;
  streamId?: string;
  [key: string]: unknown;
}

export interface SubStats {
  framesDecoded: number;
  width: number;
  audioPackets: number;
  error?: string;
}

export type Role = 'publisher' | 'subscriber' | 'moderator' | 'publisheronly';
export type PublishResult = { streamId?: string; error?: { code: number; name: string; message: string } };

export class MediaApp {
  readonly t: TestServer;
  readonly ot: OpenTok;
  readonly browser: TestBrowser;
  readonly appUrl: string;
  /** Pages opened since the last closePages(). */
  pages: TestPage[] = [];
  readonly #app: Server;

  private constructor(t: TestServer, app: Server, appUrl: string, browser: TestBrowser) {
    this.t = t;
    this.#app = app;
    this.appUrl = appUrl;
    this.browser = browser;
    this.ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
  }

  /** Starts a server (with these env overrides), the app page's HTTP server and Chromium. */
  static async start(env: Record<string, string> = {}, launch: LaunchOptions = {}, host = '127.0.0.1'): Promise<MediaApp> {
    const t = await startTestServer(env);
    const app = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(mediaHarness(t.url));
    });
    await new Promise<void>((resolve) => app.listen(0, host, resolve));
    const appUrl = `http://${host}:${(app.address() as AddressInfo).port}/app.html`;
    // Off loopback the pages are not a secure context: camera access needs the origins declared secure.
    const secure = host === '127.0.0.1' ? [] : [`--unsafely-treat-insecure-origin-as-secure=${new URL(appUrl).origin},${new URL(t.url).origin}`];
    return new MediaApp(t, app, appUrl, await launchChromium({ ...launch, args: [...(launch.args ?? []), ...secure] }));
  }

  createSession(mediaMode: 'routed' | 'relayed', options: Record<string, unknown> = {}): Promise<string> {
    return new Promise((resolve, reject) =>
      this.ot.createSession({ mediaMode, ...options } as Parameters<OpenTok['createSession']>[0], (err, s) => (err ? reject(err) : resolve(s!.sessionId))),
    );
  }

  async openPage(): Promise<TestPage> {
    const p = await this.browser.newPage();
    await p.page.goto(this.appUrl);
    this.pages.push(p);
    return p;
  }

  token(sessionId: string, role: Role = 'publisher', data: string = role): string {
    return this.ot.generateToken(sessionId, { role, data });
  }

  /** Joins through the page's join(); returns its connection id (fails the test on an error). */
  async join(p: TestPage, sessionId: string, role: Role = 'publisher', data: string = role, options: Record<string, unknown> = {}): Promise<string> {
    const result = await this.tryJoin(p, sessionId, role, data, options);
    expect(result.connectionId, JSON.stringify(result)).toBeTruthy();
    return result.connectionId!;
  }

  /** Joins and returns what connect gave: {connectionId} or the error {code, name, message}. */
  tryJoin(p: TestPage, sessionId: string, role: Role = 'publisher', data: string = role, options: Record<string, unknown> = {}): Promise<{ connectionId?: string; code?: number; name?: string; message?: string }> {
    const token = this.token(sessionId, role, data);
    return p.page.evaluate(([k, s, tk, o]) => (window as any).join(k, s, tk, o), [this.t.apiKey, sessionId, token, options] as const);
  }

  /** Fails the test on page errors other than the SDK's own warnings, and closes every page. */
  async closePages(): Promise<void> {
    for (const p of this.pages) expect(p.errors.filter((e) => !/OT\.(warn|info|debug)/.test(e))).toEqual([]);
    await Promise.all(this.pages.map((p) => p.page.close().catch(() => {})));
    this.pages = [];
  }

  async close(): Promise<void> {
    await this.browser.close();
    await new Promise((resolve) => this.#app.close(resolve));
    await this.t.close();
  }
}

export const publish = (p: TestPage, props: Record<string, unknown> = {}): Promise<PublishResult> => p.page.evaluate((o) => (window as any).publish(o), props);
/** A routed session where page `a` (Ada) publishes a 1280x720 30 fps camera (simulcast) and page `b` (Bob) has joined to subscribe. */
export async function publish720p(m: MediaApp): Promise<{ sessionId: string; a: TestPage; b: TestPage; streamId: string }> {
  const sessionId = await m.createSession('routed');
  const [a, b] = [await m.openPage(), await m.openPage()];
  await m.join(a, sessionId, 'publisher', 'name=Ada');
  await m.join(b, sessionId, 'subscriber', 'name=Bob');
  const { streamId, error } = await publish(a, { name: 'Ada', resolution: '1280x720', frameRate: 30 });
  if (!streamId) throw new Error(`publish failed: ${JSON.stringify(error)}`);
  return { sessionId, a, b, streamId };
}

export const log = (p: TestPage): Promise<Logged[]> => p.page.evaluate(() => (window as any).log);
export const subStats = (p: TestPage): Promise<Record<string, SubStats>> => p.page.evaluate(() => (window as any).subStats());

/** Waits until `test` holds on the page's subscribers' stats (several pages': merged; read every 250 ms), or fails with the last read. */
export async function waitForStats(p: TestPage | TestPage[], test: (s: Record<string, SubStats>) => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<Record<string, SubStats>> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, SubStats> = {};
  while (Date.now() < deadline) {
    last = {};
    for (const page of Array.isArray(p) ? p : [p]) Object.assign(last, await subStats(page));
    if (await test(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
}

/**
 * Page `b` subscribes to `streamId` once it knows the stream, once per entry of `subscribers` (its
 * name is the subscriber's key, its value the subscribe properties, in that order); returns each
 * name's subscriber key (`streamId:name`).
 */
export async function subscribeEach<K extends string>(b: TestPage, streamId: string, subscribers: Record<K, Record<string, unknown>>): Promise<Record<K, string>> {
  await b.page.waitForFunction((id) => (window as any).streams.has(id), streamId);
  await b.page.evaluate(
    ([id, subs]) => {
      for (const [key, props] of Object.entries(subs)) (window as any).subscribeTo(id, { ...props, key });
    },
    [streamId, subscribers] as const,
  );
  const keys = {} as Record<K, string>;
  for (const name of Object.keys(subscribers) as K[]) keys[name] = `${streamId}:${name}`;
  return keys;
}

/** subscribeEach with `small` preferring 320x180 and `large` without a preference. */
export function subscribeSmallAndLarge(b: TestPage, streamId: string): Promise<{ small: string; large: string }> {
  return subscribeEach(b, streamId, { small: { preferredResolution: { width: 320, height: 180 } }, large: {} });
}

/** framesDecoded rose by 10+ at `width` on each subscriber key between two reads (decoding that layer); each read waits up to `timeoutMs`. */
export async function expectLayers(p: TestPage, widths: Record<string, number>, what: string, timeoutMs = 30_000): Promise<Record<string, SubStats>> {
  const first = await waitForStats(p, (s) => Object.entries(widths).every(([k, w]) => s[k]?.width === w), what, timeoutMs);
  return waitForStats(p, (s) => Object.entries(widths).every(([k, w]) => s[k]?.width === w && s[k]!.framesDecoded >= first[k]!.framesDecoded + 10), `${what} (frames rising)`, timeoutMs);
}

export async function waitForLog(p: TestPage, test: (l: Logged[]) => boolean, what: string, timeoutMs = 10_000): Promise<Logged[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const l = await log(p);
    if (test(l)) return l;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; page log: ${JSON.stringify(l).slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Waits until every subscriber on the page (or those whose key is listed) decodes: framesDecoded
 * rising by 10+ between two reads, width > 0, audio packets rising. Returns the frames decoded.
 */
export async function expectDecoding(p: TestPage, keys: string[], options: { audio?: boolean; timeoutMs?: number } = {}): Promise<Record<string, SubStats>> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let first: Record<string, SubStats> | undefined;
  let last: Record<string, SubStats> = {};
  while (Date.now() < deadline) {
    last = await subStats(p);
    const ready = keys.every((k) => (last[k]?.framesDecoded ?? 0) > 0 && (last[k]?.width ?? 0) > 0);
    if (ready) {
      first ??= last;
      const rising = keys.every((k) => {
        const video = last[k]!.framesDecoded >= first![k]!.framesDecoded + 10;
        const audio = options.audio === false || last[k]!.audioPackets > first![k]!.audioPackets;
        return video && audio;
      });
      if (rising) return last;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  // What the page's Subscribers said (a subscribe error, video off): the reason is usually there.
  const said = (await log(p)).filter((e) => e.type === 'subscribed' || /^video|subscriberDestroyed/.test(e.type));
  throw new Error(`not decoding on ${keys.join(', ')}: ${JSON.stringify(last)}; page log ${JSON.stringify(said).slice(0, 2000)}`);
}
