// Small helpers of the SIP tests: poll a condition (sync or async) until it holds, turn the
// `opentok` SDK's callbacks into promises, make a certificate for SIP over TLS, start a test server
// with SIP over TLS, and open a Chromium page (served from loopback) joined to a new routed session.

import { launchChromium, type TestBrowser, type TestPage } from '@colloquy/testing/browser';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import OpenTok from 'opentok';
import type { Logger } from 'pino';
import { startTestServer, type TestServer } from '../helpers.js';
import { freePort } from './baresip.js';

export async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await check();
    if (v) return v;
    last = v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const p = <T>(f: (cb: (err: unknown, v: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v))));

/** A self-signed certificate for 127.0.0.1, made by openssl. */
export function makeCertificate(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

/**
 * One self-signed certificate for 127.0.0.1 serving both ends of SIP over TLS (each trusts it as its
 * CA): the server's files, and baresip's (certificate and key in one PEM, the CA file).
 */
export function sipTlsFiles(dir: string): { cert: string; key: string; baresip: { certAndKeyFile: string; caFile: string } } {
  const { cert, key } = makeCertificate(dir, 'trusted');
  const certAndKeyFile = join(dir, 'cert-and-key.pem');
  writeFileSync(certAndKeyFile, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  return { cert, key, baresip: { certAndKeyFile, caFile: cert } };
}

/** A test server whose SIP user agent listens on free ports, TLS with `tls`'s certificate. */
export async function startSipTestServer(tls: { cert: string; key: string }, options: { logger?: Logger } = {}): Promise<TestServer> {
  return startTestServer({
    COLLOQUY_SIP_PORT: String(await freePort()),
    COLLOQUY_SIP_TLS_PORT: String(await freePort()),
    COLLOQUY_SIP_TLS_CERT: tls.cert,
    COLLOQUY_SIP_TLS_KEY: tls.key,
    COLLOQUY_SIP_TLS_CA: tls.cert,
  }, options.logger ? { logger: options.logger } : {});
}

export interface JoinedPage {
  app: Server;
  browser: TestBrowser;
  tab: TestPage;
  ot: OpenTok;
  sessionId: string;
  close(): Promise<void>;
}

/**
 * Chromium on `html` (served from a loopback HTTP server), joined by its `window.join(apiKey,
 * sessionId, token)` to a new routed session made with the `opentok` SDK.
 */
export async function joinedPage(t: TestServer, html: string): Promise<JoinedPage> {
  const app = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const browser = await launchChromium();
  const tab = await browser.newPage();
  await tab.page.goto(`http://127.0.0.1:${(app.address() as AddressInfo).port}/`);
  const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
  const sessionId = (await p<OpenTok.Session>((cb) => ot.createSession({ mediaMode: 'routed' }, cb))).sessionId;
  const joined = await tab.page.evaluate(([k, s, tk]) => (window as any).join(k, s, tk), [t.apiKey, sessionId, ot.generateToken(sessionId)] as const);
  if (joined !== null) throw new Error(`the page did not join: ${String(joined)}`);
  return {
    app,
    browser,
    tab,
    ot,
    sessionId,
    close: async () => {
      await browser.close();
      await new Promise((r) => app.close(r));
    },
  };
}
