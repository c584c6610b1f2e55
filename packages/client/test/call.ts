// One call through the browser SDK for the deployment tests (TURN, ICE-TCP, TLS, nginx, metrics):
// an app page served from loopback that loads opentok.js from `sdkUrl`, a publisher page and a
// subscriber page, and a wait until the subscriber decodes (framesDecoded rising by 10+, width > 0).

import type { TestBrowser, TestPage } from '@colloquy/testing/browser';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenTok from 'opentok';
import { mediaHarness } from './media-harness.js';

export interface AppServer {
  url: string;
  close(): Promise<void>;
}

/** Serves the harness page (opentok.js from `sdkUrl`) on 127.0.0.1, or on `host`. */
export async function startAppServer(sdkUrl: string, host = '127.0.0.1'): Promise<AppServer> {
  const app = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(mediaHarness(sdkUrl)));
  await new Promise<void>((resolve) => app.listen(0, host, resolve));
  return {
    url: `http://${host}:${(app.address() as AddressInfo).port}/app.html`,
    close: () => new Promise((resolve) => app.close(() => resolve())),
  };
}

export interface SelectedPair {
  local: string;
  localProtocol: string;
  relayProtocol: string | null;
  remote: string;
  remoteProtocol: string;
  remotePort?: number;
  tcpType: string | null;
}

export interface CallResult {
  publisher: TestPage;
  subscriber: TestPage;
  streamId: string;
  framesDecoded: number;
  width: number;
  /** The subscriber's selected pair, and the publisher's (one per peer connection). */
  subscriberPair: SelectedPair | null;
  publisherPairs: (SelectedPair | null)[];
  close(): Promise<void>;
}

export interface CallOptions {
  /** REST base URL for creating the session (the server itself, not the proxy). */
  restUrl: string;
  apiKey: string;
  apiSecret: string;
  mediaMode: 'routed' | 'relayed';
  /** A session made elsewhere (e.g. when the REST API is behind a certificate Node does not trust); default: made through restUrl. */
  sessionId?: string;
  /** initSession options of both pages (iceConfig, serverUrl …). */
  sessionOptions?: Record<string, unknown>;
  timeoutMs?: number;
}

export async function runCall(browser: TestBrowser, appUrl: string, options: CallOptions): Promise<CallResult> {
  const ot = new OpenTok(options.apiKey, options.apiSecret, options.restUrl);
  const sessionId = options.sessionId ?? await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: options.mediaMode }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
  const pages: TestPage[] = [];
  const close = async () => {
    await Promise.all(pages.map((p) => p.page.close().catch(() => {})));
  };
  try {
    for (let i = 0; i < 2; i++) {
      const p = await browser.newPage();
      pages.push(p);
      await p.page.goto(appUrl);
      const token = ot.generateToken(sessionId, { role: 'publisher', data: `page${i}` });
      const joined = (await p.page.evaluate(([k, s, tk, o]) => (window as any).join(k, s, tk, o), [options.apiKey, sessionId, token, options.sessionOptions ?? {}] as const)) as { connectionId?: string };
      if (!joined.connectionId) throw new Error(`page ${i} could not connect: ${JSON.stringify(joined)}; errors: ${p.errors.join('; ')}`);
    }
    const [publisher, subscriber] = pages as [TestPage, TestPage];
    await subscriber.page.evaluate(() => ((window as any).autoSubscribe = true));
    const published = (await publisher.page.evaluate(() => (window as any).publish({ name: 'pub' }))) as { streamId?: string; error?: unknown };
    if (!published.streamId) throw new Error(`publish failed: ${JSON.stringify(published)}`);
    const streamId = published.streamId;
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    let first: number | null = null;
    let last: { framesDecoded: number; width: number } | undefined;
    for (;;) {
      const stats = (await subscriber.page.evaluate(() => (window as any).subStats())) as Record<string, { framesDecoded: number; width: number }>;
      last = stats[streamId];
      if (last && last.framesDecoded > 0 && last.width > 0) {
        first ??= last.framesDecoded;
        if (last.framesDecoded >= first + 10) break;
      }
      if (Date.now() > deadline) {
        const log = await subscriber.page.evaluate(() => (window as any).log);
        throw new Error(`subscriber not decoding: ${JSON.stringify(last)}; page log ${JSON.stringify(log).slice(-800)}; errors ${[...publisher.errors, ...subscriber.errors].join('; ')}`);
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    const subPairs = (await subscriber.page.evaluate(() => (window as any).pairInfo())) as { subscribers: Record<string, SelectedPair | null> };
    const pubPairs = (await publisher.page.evaluate(() => (window as any).pairInfo())) as { publisher: (SelectedPair | null)[] };
    return {
      publisher,
      subscriber,
      streamId,
      framesDecoded: last.framesDecoded,
      width: last.width,
      subscriberPair: subPairs.subscribers[streamId] ?? null,
      publisherPairs: pubPairs.publisher,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
