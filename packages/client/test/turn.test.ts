// TURN through Debian's coturn, started here on loopback with a TURN REST secret: the server hands
// each client time-limited credentials (COLLOQUY_TURN_URLS/SECRET) and Chromium, forced to relay
// (iceConfig.transportPolicy 'relay'), sends its media through coturn over UDP, TCP and TLS, in a
// routed session (to the SFU) and a relayed one (browser to browser). Each case proves the selected
// candidate pair is a relay candidate of that protocol and that the subscriber decodes.

import { launchChromium, type TestBrowser } from '@colloquy/testing/browser';
import { startCoturn, type Coturn } from '@colloquy/testing/deploy';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCall, startAppServer, type AppServer } from './call.js';

let coturn: Coturn;
let browser: TestBrowser;
/** For turns: coturn's certificate is self-signed, made for this run; Chromium checks TURN/TLS certificates. */
let tlsBrowser: TestBrowser;
const servers: { t: TestServer; app: AppServer }[] = [];

beforeAll(async () => {
  coturn = await startCoturn();
  browser = await launchChromium();
  tlsBrowser = await launchChromium({ args: ['--ignore-certificate-errors'] });
});
afterAll(async () => {
  await browser?.close();
  await tlsBrowser?.close();
  for (const { t, app } of servers) {
    await app.close();
    await t.close();
  }
  await coturn?.close();
});

async function serverWith(url: string): Promise<{ t: TestServer; app: AppServer }> {
  const t = await startTestServer({ COLLOQUY_TURN_URLS: url, COLLOQUY_TURN_SECRET: coturn.secret, COLLOQUY_TURN_TTL: '600' });
  const app = await startAppServer(t.url);
  servers.push({ t, app });
  return { t, app };
}

describe('relay-only calls through coturn', () => {
  const cases = [
    { transport: 'udp', relayProtocol: 'udp' },
    { transport: 'tcp', relayProtocol: 'tcp' },
    { transport: 'tls', relayProtocol: 'tls' },
  ] as const;
  for (const { transport, relayProtocol } of cases) {
    for (const mediaMode of ['routed', 'relayed'] as const) {
      it(`${mediaMode} over TURN/${transport}: the selected pair is a relay candidate and frames decode`, async () => {
        const { t, app } = await serverWith(coturn.urls[transport]);
        const call = await runCall(transport === 'tls' ? tlsBrowser : browser, app.url, {
          restUrl: t.url,
          apiKey: t.apiKey,
          apiSecret: t.apiSecret,
          mediaMode,
          sessionOptions: { iceConfig: { transportPolicy: 'relay' } },
        });
        try {
          expect(call.width).toBeGreaterThan(0);
          expect(call.subscriberPair, coturn.log().slice(-2000)).toMatchObject({ local: 'relay', relayProtocol });
          expect(call.publisherPairs.length).toBeGreaterThan(0);
          for (const pair of call.publisherPairs) expect(pair).toMatchObject({ local: 'relay', relayProtocol });
        } finally {
          await call.close();
        }
      }, 60_000);
    }
  }

  it("includeServers 'custom' uses only the app's customServers: the server's TURN/UDP is left out", async () => {
    const { t, app } = await serverWith(coturn.urls.udp);
    // The app's own TURN/TCP entry on the same coturn, with credentials it made itself.
    const username = `${Math.floor(Date.now() / 1000) + 600}:app`;
    const credential = createHmac('sha1', coturn.secret).update(username).digest('base64');
    const call = await runCall(browser, app.url, {
      restUrl: t.url,
      apiKey: t.apiKey,
      apiSecret: t.apiSecret,
      mediaMode: 'routed',
      sessionOptions: { iceConfig: { transportPolicy: 'relay', includeServers: 'custom', customServers: [{ urls: coturn.urls.tcp, username, credential }] } },
    });
    try {
      expect(call.subscriberPair).toMatchObject({ local: 'relay', relayProtocol: 'tcp' });
      for (const pair of call.publisherPairs) expect(pair).toMatchObject({ local: 'relay', relayProtocol: 'tcp' });
    } finally {
      await call.close();
    }
  }, 60_000);
});
