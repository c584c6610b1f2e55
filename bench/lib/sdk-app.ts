// What the browser-SDK benchmarks share: a real Colloquy server, a server SDK for sessions and
// tokens, and the benchmark's app page served from its own loopback origin (Chromium blocks a
// page fulfilled by Playwright from reaching 127.0.0.1).

import { Colloquy } from '@colloquy/sdk-node';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SdkApp {
  t: TestServer;
  sdk: Colloquy;
  /** The app page's URL. */
  url: string;
  close(): Promise<void>;
}

/** `host`: the address the app page listens on (default loopback; e.g. a netem namespace's hostAddress). */
export async function startSdkApp(page: (serverUrl: string) => string, env: Record<string, string> = {}, host = '127.0.0.1'): Promise<SdkApp> {
  const t = await startTestServer(env);
  const sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
  const app = createServer((_q, r) => r.writeHead(200, { 'content-type': 'text/html' }).end(page(t.url)));
  await new Promise<void>((resolve) => app.listen(0, host, resolve));
  return {
    t,
    sdk,
    url: `http://${host}:${(app.address() as AddressInfo).port}/`,
    async close() {
      await new Promise((r) => app.close(r));
      await t.close();
    },
  };
}
