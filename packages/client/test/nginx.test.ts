// TLS in front of Colloquy, the two ways docs/deploy.md describes, each with a browser call that
// decodes: (1) Debian's nginx run from docs/deploy/nginx.conf itself (only ports and certificate
// paths changed, each change checked to apply), proxying HTTP and the signaling WebSocket with
// X-Forwarded-* to a server with COLLOQUY_TRUST_PROXY; (2) Colloquy's own HTTPS/WSS
// (COLLOQUY_TLS_CERT/KEY). Certificates are self-signed, made by openssl for the run.

import { launchChromium, type TestBrowser } from '@colloquy/testing/browser';
import { freePort, selfSignedCertificate, startNginx, type Certificate, type Nginx } from '@colloquy/testing/deploy';
import { startTestServer, type TestServer } from '@colloquy/testing/server';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { runCall, startAppServer, type AppServer } from './call.js';

const RECIPE = new URL('../../../docs/deploy/nginx.conf', import.meta.url);
const PASSWORD = 'nginx-test-password-1';

let cert: Certificate;
let browser: TestBrowser;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  cert = selfSignedCertificate();
  // The certificates are self-signed for this run; with a real one (Let's Encrypt) no flag is needed.
  browser = await launchChromium({ args: ['--ignore-certificate-errors'] });
});
afterAll(async () => {
  await browser?.close();
  for (const cleanup of cleanups.reverse()) await cleanup();
  cert?.remove();
});

/** docs/deploy/nginx.conf with this run's ports and certificate; throws if a line it edits is gone. */
function recipeFor(upstreamPort: number, httpPort: number, httpsPort: number): string {
  let conf = readFileSync(RECIPE, 'utf8');
  const edit = (from: string, to: string): void => {
    if (!conf.includes(from)) throw new Error(`docs/deploy/nginx.conf no longer contains ${JSON.stringify(from)}: update this test with it`);
    conf = conf.replaceAll(from, to);
  };
  edit('server 127.0.0.1:3000;', `server 127.0.0.1:${upstreamPort};`);
  edit('listen 80;', `listen 127.0.0.1:${httpPort};`);
  edit('listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`);
  edit('/etc/letsencrypt/live/video.example.com/fullchain.pem', cert.certFile);
  edit('/etc/letsencrypt/live/video.example.com/privkey.pem', cert.keyFile);
  // What Debian's /etc/nginx/nginx.conf around conf.d/ provides, with files in the run's folder.
  return `user root;
worker_processes 1;
events { worker_connections 256; }
http {
  access_log @RUNTIME_DIR@/access.log;
  client_body_temp_path @RUNTIME_DIR@/client_body;
  proxy_temp_path @RUNTIME_DIR@/proxy;
  fastcgi_temp_path @RUNTIME_DIR@/fastcgi;
  uwsgi_temp_path @RUNTIME_DIR@/uwsgi;
  scgi_temp_path @RUNTIME_DIR@/scgi;
${conf}
}
`;
}

function rawRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const send = url.startsWith('https') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: options.method ?? 'GET', headers: options.headers, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('behind nginx (docs/deploy/nginx.conf)', () => {
  let t: TestServer;
  let nginx: Nginx;
  let app: AppServer;
  let httpPort: number;

  beforeAll(async () => {
    t = await startTestServer({ COLLOQUY_TRUST_PROXY: '127.0.0.1', COLLOQUY_ADMIN_PASSWORD: PASSWORD });
    httpPort = await freePort();
    const httpsPort = await freePort();
    nginx = await startNginx(recipeFor(Number(new URL(t.url).port), httpPort, httpsPort), httpsPort, 'https');
    app = await startAppServer(nginx.url);
    cleanups.push(async () => {
      await app.close();
      await nginx.close();
      await t.close();
    });
  });

  it('a routed call through nginx decodes (the SDK and its signaling WebSocket come through nginx)', async () => {
    const call = await runCall(browser, app.url, { restUrl: t.url, apiKey: t.apiKey, apiSecret: t.apiSecret, mediaMode: 'routed' });
    try {
      expect(call.width).toBeGreaterThan(0);
      // The page's SDK talked to the server through nginx only: its signaling went to nginx's port.
      const sdkSrc = await call.subscriber.page.evaluate(() => document.querySelector('script')!.src);
      expect(sdkSrc.startsWith(nginx.url)).toBe(true);
    } finally {
      await call.close();
    }
  }, 60_000);

  it('redirects HTTP to HTTPS, and X-Forwarded-Proto and -For reach the server', async () => {
    const redirect = await rawRequest(`http://127.0.0.1:${httpPort}/healthz`);
    expect(redirect.status).toBe(301);
    expect(redirect.headers['location']).toMatch(/^https:\/\/127\.0\.0\.1\/healthz$/);

    // The dashboard's cookie is Secure only when the request came over HTTPS: through nginx it is
    // (X-Forwarded-Proto believed), straight to the server it is not.
    const login = (base: string) =>
      rawRequest(`${base}/dashboard/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
    const viaNginx = await login(nginx.url);
    expect(viaNginx.status).toBe(200);
    expect(String(viaNginx.headers['set-cookie'])).toMatch(/; Secure/);
    const direct = await login(t.url);
    expect(String(direct.headers['set-cookie'])).not.toMatch(/Secure/);

    // A signaling socket through nginx: the connection's address is the X-Forwarded-For client.
    const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
    const sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (e, s) => (e ? reject(e) : resolve(s!.sessionId))));
    const ws = new WebSocket(`${nginx.url.replace('https', 'wss')}/v2/signaling`, { rejectUnauthorized: false, headers: { 'x-forwarded-for': '198.51.100.7' } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const reply = new Promise<{ result: { connection: { connectionId: string } } }>((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()))));
    ws.send(JSON.stringify({ type: 'connect', id: 1, version: 1, sessionId, token: ot.generateToken(sessionId) }));
    const { connectionId } = (await reply).result.connection;
    const connection = t.server.sessions.liveSessions().flatMap((s) => [...s.connections.values()]).find((c) => c.id === connectionId);
    expect(connection?.ip).toBe('198.51.100.7');
    ws.close();
  });
});

describe("Colloquy's own TLS (COLLOQUY_TLS_CERT/KEY)", () => {
  it('a routed call over HTTPS and WSS on PORT decodes', async () => {
    const t = await startTestServer({ COLLOQUY_TLS_CERT: cert.certFile, COLLOQUY_TLS_KEY: cert.keyFile });
    const app = await startAppServer(t.url);
    cleanups.push(async () => {
      await app.close();
      await t.close();
    });
    expect(t.url).toMatch(/^https:/);
    // The session is made in the domain: Node's REST client would not trust the test certificate.
    const project = t.server.store.projects.get(t.apiKey)!;
    const { id: sessionId } = await t.server.sessions.create(project, { mediaMode: 'routed', archiveMode: 'manual', location: null, archiveName: null, archiveResolution: null, e2ee: false });
    const call = await runCall(browser, app.url, { restUrl: t.url, apiKey: t.apiKey, apiSecret: t.apiSecret, mediaMode: 'routed', sessionId });
    try {
      expect(call.width).toBeGreaterThan(0);
    } finally {
      await call.close();
    }
  }, 60_000);
});
