// The dashboard API over real HTTP: operator sign-in (wrong password, cookie flags, CSRF, Origin,
// rate limit, generated password), projects and applications (create, show, rotate with the old
// secret refused by the real opentok SDK, key replacement, delete with cascade), demo sessions and
// tokens, Inspector reads, archives (list with signed links, delete, a project's files with it), broadcasts (list, one, HLS as a path).

import { Video } from '@vonage/video';
import OpenTok from 'opentok';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArchiveRecord } from '../src/archiving/archive-store.js';
import type { BroadcastRecord } from '../src/broadcast/broadcast-store.js';
import { verifyClientToken } from '../src/auth/client-token.js';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';
import { startTestServer, tempDir, testKeyPair, type TestServer } from './helpers.js';
import { WsClient } from './ws-client.js';

const PASSWORD = 'correct horse battery staple';

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

/** A browser-like client: keeps the session cookie and sends the CSRF token unless told not to. */
class Operator {
  cookie: string | null = null;
  csrf: string | null = null;
  constructor(
    readonly base: string,
    readonly ip = '127.0.0.1',
  ) {}

  async call(method: string, path: string, body?: unknown, options: { csrf?: string | null; headers?: Record<string, string> } = {}): Promise<Answer> {
    const headers: Record<string, string> = { 'x-forwarded-for': this.ip, ...options.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.cookie) headers['cookie'] = this.cookie;
    const csrf = options.csrf === undefined ? this.csrf : options.csrf;
    if (csrf && method !== 'GET') headers['x-csrf-token'] = csrf;
    const res = await fetch(`${this.base}/dashboard/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  }

  async login(password = PASSWORD): Promise<Answer> {
    const res = await this.call('POST', '/login', { password });
    const setCookie = res.headers.get('set-cookie');
    if (res.status === 200 && setCookie) {
      this.cookie = setCookie.split(';')[0]!;
      this.csrf = res.body.csrfToken;
    }
    return res;
  }
}

let t: TestServer;
let op: Operator;
beforeAll(async () => {
  // The tests stand in for clients behind a reverse proxy: each Operator has its own X-Forwarded-For.
  t = await startTestServer({ COLLOQUY_ADMIN_PASSWORD: PASSWORD, COLLOQUY_TRUST_PROXY: 'true' });
  op = new Operator(t.url);
  expect((await op.login()).status).toBe(200);
});
afterAll(async () => t.close());

function createSession(ot: OpenTok): Promise<string> {
  return new Promise((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (err, s) => (err ? reject(err) : resolve(s!.sessionId))));
}

describe('sign-in', () => {
  it('refuses a wrong password with 401 and sets no cookie', async () => {
    const visitor = new Operator(t.url, '198.51.100.1');
    const res = await visitor.login('wrong password');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ code: 401, message: 'Wrong password' });
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('sets an HTTP-only, SameSite=Strict session cookie (Secure behind HTTPS) and answers a CSRF token', async () => {
    const visitor = new Operator(t.url, '198.51.100.2');
    const res = await visitor.login();
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ signedIn: true, csrfToken: expect.any(String) });
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^colloquy_admin=[A-Za-z0-9_-]{40,};/);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/dashboard');
    expect(cookie).not.toContain('Secure');
    expect((await visitor.call('GET', '/me')).body).toMatchObject({ signedIn: true, csrfToken: res.body.csrfToken });
    const https = await visitor.call('POST', '/login', { password: PASSWORD }, { headers: { 'x-forwarded-proto': 'https' } });
    expect(https.headers.get('set-cookie')).toContain('Secure');
    // Signing in again replaces the session: the previous cookie is dead.
    expect((await visitor.call('GET', '/me')).body).toEqual({ signedIn: false });
  });

  it('answers signedIn false without a cookie, and 401 for everything else', async () => {
    const anonymous = new Operator(t.url, '198.51.100.3');
    expect(await anonymous.call('GET', '/me')).toMatchObject({ status: 200, body: { signedIn: false } });
    expect((await anonymous.call('GET', '/projects')).status).toBe(401);
    expect((await anonymous.call('POST', '/projects', { name: 'x' })).status).toBe(401);
    const forged = new Operator(t.url, '198.51.100.3');
    forged.cookie = 'colloquy_admin=' + 'A'.repeat(43);
    expect((await forged.call('GET', '/projects')).status).toBe(401);
  });

  it('takes the password only as JSON', async () => {
    const res = await fetch(`${t.url}/dashboard/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '198.51.100.4' },
      body: `password=${encodeURIComponent(PASSWORD)}`,
    });
    expect(res.status).toBe(415);
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('refuses a mutating request without the CSRF token, with a wrong one, or from another origin (403)', async () => {
    const before = t.server.store.projects.count();
    expect((await op.call('POST', '/projects', { name: 'no csrf' }, { csrf: null })).status).toBe(403);
    const wrong = await op.call('POST', '/projects', { name: 'wrong csrf' }, { csrf: 'x'.repeat(32) });
    expect(wrong.status).toBe(403);
    expect(wrong.body.message).toMatch(/CSRF/);
    const cross = await op.call('POST', '/projects', { name: 'cross' }, { headers: { origin: 'https://evil.example' } });
    expect(cross.status).toBe(403);
    expect((await op.call('DELETE', `/projects/${t.apiKey}`, { confirm: t.apiKey }, { csrf: null })).status).toBe(403);
    expect((await op.call('POST', `/projects/${t.apiKey}/rotate-secret`, undefined, { csrf: null })).status).toBe(403);
    expect(t.server.store.projects.count()).toBe(before);
    const sameOrigin = await op.call('POST', '/projects', { name: 'same origin' }, { headers: { origin: t.url } });
    expect(sameOrigin.status).toBe(201);
  });

  it('signs out: the cookie stops working', async () => {
    const visitor = new Operator(t.url, '198.51.100.5');
    await visitor.login();
    expect((await visitor.call('POST', '/logout', undefined, { csrf: null })).status).toBe(403);
    const out = await visitor.call('POST', '/logout');
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0');
    expect((await visitor.call('GET', '/projects')).status).toBe(401);
  });
});

describe('login rate limit', () => {
  it('answers 429 with Retry-After after 5 attempts a minute from one address, even for the right password', async () => {
    const attacker = new Operator(t.url, '203.0.113.9');
    for (let n = 0; n < 5; n++) expect((await attacker.login('guess ' + n)).status).toBe(401);
    const limited = await attacker.login();
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
    expect(limited.headers.get('set-cookie')).toBeNull();
    // Another address is not affected.
    expect((await new Operator(t.url, '203.0.113.10').login()).status).toBe(200);
  });

  it('ignores X-Forwarded-For when no proxy is trusted, so a forged header cannot dodge the limit', async () => {
    const direct = await startTestServer({ COLLOQUY_ADMIN_PASSWORD: PASSWORD });
    try {
      for (let n = 0; n < 5; n++) expect((await new Operator(direct.url, `192.0.2.${n}`).login('guess')).status).toBe(401);
      expect((await new Operator(direct.url, '192.0.2.99').login()).status).toBe(429);
    } finally {
      await direct.close();
    }
  });
});

describe('generated password', () => {
  it('is made at first start, kept only as an scrypt hash, and still valid after a restart', async () => {
    const dataDir = tempDir();
    const config = loadConfig({ PORT: '0', COLLOQUY_RTC_PORT: '0', COLLOQUY_DATA_DIR: dataDir });
    const logger = pino({ level: 'silent' });
    const first = await startServer(config, { logger });
    const password = first.generatedAdminPassword!;
    try {
      expect(password).toMatch(/^[a-z2-9-]{24,}$/);
      const stored = (await first.store.db.all<{ value: string }>('SELECT value FROM dashboard_settings')).map((r) => r.value);
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatch(/^scrypt\$32768\$8\$1\$/);
      expect(stored[0]).not.toContain(password);
      expect((await new Operator(first.url).login(password)).status).toBe(200);
    } finally {
      await first.close();
    }
    const second = await startServer(config, { logger });
    try {
      expect(second.generatedAdminPassword).toBeNull();
      expect((await new Operator(second.url).login(password)).status).toBe(200);
      expect((await new Operator(second.url, '192.0.2.1').login('not it')).status).toBe(401);
    } finally {
      await second.close();
    }
    rmSync(dataDir, { recursive: true, force: true });
  });
});

describe('projects', () => {
  it('creates, lists and shows a project with its secret', async () => {
    const created = await op.call('POST', '/projects', { name: 'Dash app' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ kind: 'project', name: 'Dash app', secret: expect.stringMatching(/^[0-9a-f]{40}$/), sessions: 0 });
    const list = await op.call('GET', '/projects');
    expect(list.body.map((p: { id: string }) => p.id)).toContain(created.body.id);
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
    expect((await op.call('GET', `/projects/${created.body.id}`)).body.secret).toBe(created.body.secret);
    expect((await op.call('POST', '/projects', { name: '' })).status).toBe(400);
    expect((await op.call('GET', '/projects/99999999')).status).toBe(404);
  });

  it('sets and clears callback URLs: http(s) only, with the CSRF token, for a project that exists', async () => {
    const { body: p } = await op.call('POST', '/projects', { name: 'Hooks' });
    expect(p.callbacks).toEqual({ archive: null, session: null });
    const set = await op.call('PUT', `/projects/${p.id}/callbacks`, { archive: 'https://app.example.com/archive', session: 'http://10.0.0.5:8080/monitor?k=1' });
    expect(set.status).toBe(200);
    expect(set.body.callbacks).toEqual({ archive: 'https://app.example.com/archive', session: 'http://10.0.0.5:8080/monitor?k=1' });
    // An absent key is left alone, '' removes.
    expect((await op.call('PUT', `/projects/${p.id}/callbacks`, { session: '' })).body.callbacks).toEqual({ archive: 'https://app.example.com/archive', session: null });
    for (const bad of [{ archive: 'ftp://x.example.com/' }, { archive: 'not a url' }, { session: 'https://user:pw@x.example.com/' }, { archive: 'https://x/'.padEnd(3000, 'x') }, { other: 'https://x/' }, { archive: 5 }]) {
      const res = await op.call('PUT', `/projects/${p.id}/callbacks`, bad);
      expect(res.status, JSON.stringify(bad).slice(0, 60)).toBe(400);
    }
    expect((await op.call('PUT', `/projects/${p.id}/callbacks`, { archive: null }, { csrf: null })).status).toBe(403);
    expect((await op.call('PUT', '/projects/99999999/callbacks', { archive: null })).status).toBe(404);
    expect((await op.call('GET', `/projects/${p.id}`)).body.callbacks).toEqual({ archive: 'https://app.example.com/archive', session: null });
  });

  it('sets, edits (keeping the secret when left empty) and removes archive storage: the secret never comes back, CSRF needed', async () => {
    const { body: p } = await op.call('POST', '/projects', { name: 'Stored' });
    expect(p.archiveStorage).toBeNull();
    const secretKey = 'dashboard-secret-key-0123456789';
    const body = { type: 's3', config: { bucket: 'recordings', accessKey: 'AK1', secretKey, endpoint: 'http://127.0.0.1:9000' }, fallback: 'none' };
    expect((await op.call('PUT', `/projects/${p.id}/archive-storage`, body, { csrf: null })).status).toBe(403);
    const set = await op.call('PUT', `/projects/${p.id}/archive-storage`, body);
    expect(set.status).toBe(200);
    expect(set.body.archiveStorage).toMatchObject({ type: 's3', fallback: 'none', config: { bucket: 'recordings', accessKey: 'AK1', endpoint: 'http://127.0.0.1:9000', secretKeySet: true, secretKeyHint: '…6789' } });
    expect(JSON.stringify(set.body)).not.toContain(secretKey);
    // The page never has the secret to send back: an empty one keeps the stored one.
    const edited = await op.call('PUT', `/projects/${p.id}/archive-storage`, { ...body, config: { ...body.config, secretKey: '', bucket: 'recordings-2' }, fallback: 'opentok' });
    expect(edited.body.archiveStorage).toMatchObject({ fallback: 'opentok', config: { bucket: 'recordings-2' } });
    expect((await t.server.archives.uploads.storage.get(p.id))).toMatchObject({ bucket: 'recordings-2', secretKey });
    // The REST API sees the same settings.
    expect(JSON.stringify((await op.call('GET', `/projects/${p.id}`)).body)).not.toContain(secretKey);
    for (const bad of [{ ...body, type: 'gcs' }, { ...body, config: { ...body.config, bucket: '' } }, { ...body, config: { ...body.config, endpoint: 'ftp://x' } }, { ...body, fallback: 'maybe' }]) {
      expect((await op.call('PUT', `/projects/${p.id}/archive-storage`, bad)).status, JSON.stringify(bad)).toBe(400);
    }
    // No stored secret to keep on a project without storage: one is required.
    const { body: other } = await op.call('POST', '/projects', { name: 'Unstored' });
    expect((await op.call('PUT', `/projects/${other.id}/archive-storage`, { ...body, config: { ...body.config, secretKey: '' } })).status).toBe(400);
    expect((await op.call('DELETE', `/projects/${p.id}/archive-storage`, undefined, { csrf: null })).status).toBe(403);
    const removed = await op.call('DELETE', `/projects/${p.id}/archive-storage`);
    expect(removed.status).toBe(200);
    expect(removed.body.archiveStorage).toBeNull();
    expect((await t.server.archives.uploads.storage.get(p.id))).toBeNull();
    expect((await op.call('PUT', '/projects/99999999/archive-storage', body)).status).toBe(404);
  });

  it('rotates a secret: the old one is refused at once by the REST API (real opentok SDK), the new one works', async () => {
    const { body: p } = await op.call('POST', '/projects', { name: 'Rotating' });
    const oldSdk = new OpenTok(p.id, p.secret, t.url);
    await createSession(oldSdk);
    const rotated = await op.call('POST', `/projects/${p.id}/rotate-secret`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(p.secret);
    await expect(createSession(oldSdk)).rejects.toThrow(/Invalid API key or secret/);
    const sessionId = await createSession(new OpenTok(p.id, rotated.body.secret, t.url));
    expect(sessionId).toMatch(/^1_/);
    expect((await op.call('POST', `/projects/${t.applicationId}/rotate-secret`)).status).toBe(400);
  });

  it('creates applications with a generated key pair (the private key works with @vonage/video) or an uploaded public key', async () => {
    const generated = await op.call('POST', '/applications', { name: 'Generated' });
    expect(generated.status).toBe(201);
    expect(generated.body).toMatchObject({ kind: 'application', secret: null, publicKey: expect.stringContaining('BEGIN PUBLIC KEY'), privateKey: expect.stringContaining('BEGIN PRIVATE KEY') });
    const video = new Video({ applicationId: generated.body.id, privateKey: generated.body.privateKey }, { videoHost: t.url });
    expect((await video.createSession({})).sessionId).toMatch(/^1_/);
    expect((await op.call('GET', `/projects/${generated.body.id}`)).body.privateKey).toBeUndefined();

    const uploaded = await op.call('POST', '/applications', { name: 'Uploaded', publicKey: testKeyPair().publicKey });
    expect(uploaded.status).toBe(201);
    expect(uploaded.body.privateKey).toBeNull();
    expect((await op.call('POST', '/applications', { name: 'Bad', publicKey: 'not a key' })).status).toBe(400);

    // Replacing the public key: the old private key is refused, the new one works.
    const replaced = await op.call('PUT', `/projects/${generated.body.id}/public-key`, { publicKey: testKeyPair().publicKey });
    expect(replaced.status).toBe(200);
    await expect(video.createSession({})).rejects.toMatchObject({ response: { status: 403 } });
    const withNew = new Video({ applicationId: generated.body.id, privateKey: testKeyPair().privateKey }, { videoHost: t.url });
    expect((await withNew.createSession({})).sessionId).toMatch(/^1_/);
  });

  it('deletes a project only with its id as confirmation, with its sessions and Inspector data', async () => {
    const { body: p } = await op.call('POST', '/projects', { name: 'Doomed' });
    const sdk = new OpenTok(p.id, p.secret, t.url);
    const sessionId = await createSession(sdk);
    t.server.inspector.recordEvent(sessionId, p.id, { type: 'connectionCreated', connectionId: 'doomed-conn' });
    t.server.inspector.recordQuality(sessionId, p.id, { source: 'publisher', connectionId: 'doomed-conn', streamId: 's', kind: 'audio', bitrate: 1, packetLoss: 0 });
    await t.server.inspector.flush();
    const rows = (table: string) => t.server.store.db.value(`SELECT COUNT(*) FROM ${table} WHERE session_id = ?`, [sessionId]);
    expect(await rows('inspector_events')).toBe(1);

    expect((await op.call('DELETE', `/projects/${p.id}`)).status).toBe(400);
    expect((await op.call('DELETE', `/projects/${p.id}`, { confirm: 'something else' })).status).toBe(400);
    expect((await op.call('DELETE', `/projects/${p.id}`, { confirm: p.id })).status).toBe(204);

    expect((await t.server.store.sessions.get(sessionId))).toBeNull();
    expect(await rows('inspector_events')).toBe(0);
    expect(await rows('inspector_quality')).toBe(0);
    expect(await rows('inspector_sessions')).toBe(0);
    expect((await op.call('GET', `/projects/${p.id}`)).status).toBe(404);
    await expect(createSession(sdk)).rejects.toThrow(/Invalid API key or secret/);
    // Recording for the deleted session afterwards writes nothing.
    t.server.inspector.recordEvent(sessionId, p.id, { type: 'connectionDestroyed', connectionId: 'doomed-conn', reason: 'clientDisconnected' });
    await t.server.inspector.flush();
    expect(await rows('inspector_events')).toBe(0);
  });
});

describe('demo sessions and tokens', () => {
  it('creates routed and relayed sessions and tokens (JWT, T1) that the server accepts', async () => {
    const routed = await op.call('POST', `/projects/${t.apiKey}/sessions`, { mediaMode: 'routed' });
    const relayed = await op.call('POST', `/projects/${t.apiKey}/sessions`, { mediaMode: 'relayed' });
    expect(routed.status).toBe(201);
    expect((await t.server.store.sessions.get(routed.body.sessionId))?.mediaMode).toBe('routed');
    expect((await t.server.store.sessions.get(relayed.body.sessionId))?.mediaMode).toBe('relayed');
    expect((await op.call('POST', `/projects/${t.apiKey}/sessions`, { mediaMode: 'p2p' })).status).toBe(400);

    const jwt = await op.call('POST', `/projects/${t.apiKey}/tokens`, { sessionId: routed.body.sessionId, role: 'moderator', data: 'name=Ada', ttlSeconds: 3600 });
    expect(jwt.status).toBe(200);
    const claims = verifyClientToken(jwt.body.token, { projects: t.server.store.projects, sessionId: routed.body.sessionId });
    expect(claims).toMatchObject({ kind: 'jwt', role: 'moderator', connectionData: 'name=Ada' });
    expect(Math.abs(claims.expireTime - (Date.now() / 1000 + 3600))).toBeLessThan(5);
    const fragment = new URLSearchParams(jwt.body.testPageUrl.split('#')[1]);
    expect(jwt.body.testPageUrl.startsWith('/test-page.html#')).toBe(true);
    expect(Object.fromEntries(fragment)).toEqual({ apiKey: t.apiKey, sessionId: routed.body.sessionId, token: jwt.body.token });

    const t1 = await op.call('POST', `/projects/${t.apiKey}/tokens`, { sessionId: relayed.body.sessionId, role: 'subscriber', kind: 't1' });
    expect(t1.body.token.startsWith('T1==')).toBe(true);
    expect(verifyClientToken(t1.body.token, { projects: t.server.store.projects, sessionId: relayed.body.sessionId })).toMatchObject({ kind: 'T1', role: 'subscriber' });

    for (const bad of [{ sessionId: routed.body.sessionId, role: 'admin' }, { sessionId: routed.body.sessionId, ttlSeconds: 31 * 86_400 }, { sessionId: routed.body.sessionId, data: 'x'.repeat(1001) }]) {
      expect((await op.call('POST', `/projects/${t.apiKey}/tokens`, bad)).status).toBe(400);
    }
  });

  it("refuses a token for another project's session", async () => {
    const appSession = await op.call('POST', `/projects/${t.applicationId}/sessions`, {});
    expect((await op.call('POST', `/projects/${t.apiKey}/tokens`, { sessionId: appSession.body.sessionId })).status).toBe(404);
  });

  it("signs an application's token with the pasted private key, and refuses a missing or wrong key", async () => {
    const { body: s } = await op.call('POST', `/projects/${t.applicationId}/sessions`, {});
    expect((await op.call('POST', `/projects/${t.applicationId}/tokens`, { sessionId: s.sessionId })).status).toBe(400);
    const { body: other } = await op.call('POST', '/applications', { name: 'Other keys' });
    const wrong = await op.call('POST', `/projects/${t.applicationId}/tokens`, { sessionId: s.sessionId, privateKey: other.privateKey });
    expect(wrong.status).toBe(400);
    expect(wrong.body.message).toMatch(/does not match/);
    const ok = await op.call('POST', `/projects/${t.applicationId}/tokens`, { sessionId: s.sessionId, privateKey: t.privateKey, role: 'publisher' });
    expect(ok.status).toBe(200);
    expect(verifyClientToken(ok.body.token, { projects: t.server.store.projects, sessionId: s.sessionId })).toMatchObject({ kind: 'application', role: 'publisher' });
  });

  it('makes the new session only once the token can be signed (a missing or wrong private key leaves none)', async () => {
    const count = () => t.server.store.sessions.countByProject(t.applicationId);
    const before = await count();
    const { body: other } = await op.call('POST', '/applications', { name: 'Yet other keys' });
    for (const privateKey of [undefined, '', 'not a key', other.privateKey]) {
      const refused = await op.call('POST', `/projects/${t.applicationId}/tokens`, { newSession: { mediaMode: 'relayed' }, ...(privateKey === undefined ? {} : { privateKey }) });
      expect(refused.status).toBe(400);
    }
    expect(await count()).toBe(before);
    const ok = await op.call('POST', `/projects/${t.applicationId}/tokens`, { newSession: { mediaMode: 'relayed' }, privateKey: t.privateKey, role: 'moderator' });
    expect(ok.status).toBe(200);
    expect(await count()).toBe(before + 1);
    expect((await t.server.store.sessions.get(ok.body.sessionId))).toMatchObject({ projectId: t.applicationId, mediaMode: 'relayed' });
    expect(verifyClientToken(ok.body.token, { projects: t.server.store.projects, sessionId: ok.body.sessionId })).toMatchObject({ kind: 'application', role: 'moderator' });
    // Exactly one of sessionId and newSession.
    expect((await op.call('POST', `/projects/${t.apiKey}/tokens`, {})).status).toBe(400);
    expect((await op.call('POST', `/projects/${t.apiKey}/tokens`, { sessionId: ok.body.sessionId, newSession: {} })).status).toBe(400);
  });

  it('lists only sessions somebody joined with ?joined=true, each with its first participant', async () => {
    const { body: empty } = await op.call('POST', `/projects/${t.apiKey}/sessions`, {});
    const { body: joined } = await op.call('POST', `/projects/${t.apiKey}/sessions`, {});
    t.server.inspector.recordEvent(joined.sessionId, t.apiKey, { type: 'connectionCreated', connectionId: 'first-one', data: 'name=Grace' });
    t.server.inspector.recordEvent(joined.sessionId, t.apiKey, { type: 'connectionCreated', connectionId: 'second-one', data: 'name=Alan' });
    const all = (await op.call('GET', `/projects/${t.apiKey}/sessions?limit=500`)).body as Array<{ sessionId: string; firstParticipant: unknown }>;
    expect(all.find((x) => x.sessionId === empty.sessionId)?.firstParticipant).toBeNull();
    expect(all.find((x) => x.sessionId === joined.sessionId)?.firstParticipant).toEqual({ connectionId: 'first-one', data: 'name=Grace' });
    const only = (await op.call('GET', `/projects/${t.apiKey}/sessions?limit=500&joined=true`)).body as Array<{ sessionId: string; connections: number }>;
    expect(only.map((x) => x.sessionId)).toContain(joined.sessionId);
    expect(only.map((x) => x.sessionId)).not.toContain(empty.sessionId);
    expect(only.every((x) => x.connections > 0)).toBe(true);
    expect((await op.call('GET', `/projects/${t.apiKey}/sessions?joined=maybe`)).status).toBe(400);
  });
});

describe('Inspector, live and archives through the dashboard API', () => {
  it("reads a session's participants, events and quality, and refuses it under another project", async () => {
    const { body: s } = await op.call('POST', `/projects/${t.apiKey}/sessions`, {});
    const i = t.server.inspector;
    i.recordEvent(s.sessionId, t.apiKey, { type: 'connectionCreated', connectionId: 'dash-a', userAgent: 'Test UA' });
    i.recordEvent(s.sessionId, t.apiKey, { type: 'streamCreated', connectionId: 'dash-a', streamId: 'dash-s' });
    i.recordQuality(s.sessionId, t.apiKey, { source: 'publisher', connectionId: 'dash-a', streamId: 'dash-s', kind: 'video', bitrate: 500_000, packetLoss: 0 });

    const detail = await op.call('GET', `/projects/${t.apiKey}/sessions/${s.sessionId}`);
    expect(detail.status).toBe(200);
    expect(detail.body.session).toMatchObject({ sessionId: s.sessionId, mediaMode: 'routed', connections: 1, liveConnections: 1 });
    expect(detail.body.participants).toEqual([expect.objectContaining({ connectionId: 'dash-a', userAgent: 'Test UA', live: true })]);
    expect(detail.body.live.bitrateIn).toBe(500_000);
    expect((await op.call('GET', `/projects/${t.apiKey}/sessions/${s.sessionId}/events?type=streamCreated`)).body.items).toHaveLength(1);
    expect((await op.call('GET', `/projects/${t.apiKey}/sessions/${s.sessionId}/quality`)).body.tracks).toHaveLength(1);
    expect((await op.call('GET', `/projects/${t.apiKey}/live`)).body.map((x: { sessionId: string }) => x.sessionId)).toContain(s.sessionId);
    expect((await op.call('GET', `/projects/${t.apiKey}/inspector-sessions`)).body.map((x: { sessionId: string }) => x.sessionId)).toContain(s.sessionId);
    expect((await op.call('GET', `/projects/${t.applicationId}/live`)).body).toEqual([]);

    expect((await op.call('GET', `/projects/${t.applicationId}/sessions/${s.sessionId}`)).status).toBe(404);
    expect((await op.call('GET', `/projects/${t.applicationId}/sessions/${s.sessionId}/events`)).status).toBe(404);
    expect((await op.call('GET', `/projects/${t.apiKey}/sessions/${s.sessionId}/events?limit=-1`)).status).toBe(400);
  });

  it("lists a project's archives with relative signed links, deletes them, and refuses another project's", async () => {
    const own = await archiveOnDisk(t.apiKey, { name: 'Recorded' });
    const recording = await archiveOnDisk(t.apiKey, { status: 'started', recordedMs: 7400 });
    const others = await archiveOnDisk(t.applicationId);

    const list = await op.call('GET', `/projects/${t.apiKey}/archives`);
    expect(list.status).toBe(200);
    expect(list.body.count).toBe(2);
    const byId = new Map(list.body.items.map((a: { id: string }) => [a.id, a]));
    expect(byId.get(recording)).toMatchObject({ status: 'started', duration: 7, url: null });
    const item = byId.get(own) as { url: string };
    expect(item).toMatchObject({ name: 'Recorded', status: 'available', outputMode: 'composed', resolution: '640x480', size: 4, reason: null });
    expect(item.url).toMatch(new RegExp(`^/archive-downloads/${own}/archive\\.mp4\\?expires=\\d+&signature=[\\w-]+$`));
    const file = await fetch(`${t.url}${item.url}`);
    expect(file.status).toBe(200);
    expect(await file.text()).toBe('mp4!');
    expect((await op.call('GET', `/projects/${t.applicationId}/archives`)).body.items.map((a: { id: string }) => a.id)).toEqual([others]);

    expect((await op.call('DELETE', `/projects/${t.apiKey}/archives/${others}`)).status).toBe(404);
    expect((await op.call('DELETE', `/projects/${t.apiKey}/archives/${own}`, undefined, { csrf: null })).status).toBe(403);
    expect((await op.call('DELETE', `/projects/${t.apiKey}/archives/${recording}`)).status).toBe(409);
    expect((await op.call('DELETE', `/projects/${t.apiKey}/archives/${own}`)).status).toBe(204);
    expect(existsSync(join(t.server.archives.archivesDir, own))).toBe(false);
    expect((await t.server.archives.store.get(own))?.status).toBe('deleted');
    expect(existsSync(join(t.server.archives.archivesDir, others))).toBe(true);
  });

  it("lists a project's broadcasts with their HLS playlist as a path, and refuses another project's", async () => {
    const broadcast = async (projectId: string, over: Partial<BroadcastRecord>): Promise<string> => {
      const id = randomUUID();
      await t.server.broadcasts.store.insert({
        id, projectId, sessionId: `1_session-${id}`, status: 'stopped', reason: 'user initiated', createdAt: Date.now(), updatedAt: Date.now(),
        resolution: '640x480', streamMode: 'auto', hasAudio: true, hasVideo: true, maxDuration: 14_400, maxBitrate: null, multiBroadcastTag: null,
        layout: { type: 'bestFit' } as BroadcastRecord['layout'], hls: { dvr: true, lowLatency: false, status: 'ended' }, rtmp: [], selected: [], ...over,
      });
      return id;
    };
    const dvr = await broadcast(t.apiKey, {});
    const rtmpOnly = await broadcast(t.apiKey, { hls: null, rtmp: [{ id: 'yt', serverUrl: 'rtmp://127.0.0.1/live', streamName: 'key', status: 'offline' }] });
    const others = await broadcast(t.applicationId, {});

    const list = await op.call('GET', `/projects/${t.apiKey}/broadcasts`);
    expect(list.status).toBe(200);
    expect(list.body.count).toBe(2);
    const byId = new Map(list.body.items.map((b: { id: string }) => [b.id, b]));
    expect(byId.get(dvr)).toEqual({
      id: dvr, sessionId: `1_session-${dvr}`, status: 'stopped', reason: 'user initiated', createdAt: expect.any(Number), resolution: '640x480',
      hls: `/hls/${dvr}/index.m3u8?DVR`, hlsStatus: 'ended', lowLatency: false, dvr: true, rtmp: [],
    });
    // The stream key stays out of the dashboard's view.
    expect(byId.get(rtmpOnly)).toMatchObject({ hls: null, hlsStatus: null, rtmp: [{ id: 'yt', serverUrl: 'rtmp://127.0.0.1/live', status: 'offline' }] });
    expect(JSON.stringify(byId.get(rtmpOnly))).not.toContain('key');
    expect((await op.call('GET', `/projects/${t.apiKey}/broadcasts/${dvr}`)).body).toEqual(byId.get(dvr));
    expect((await op.call('GET', `/projects/${t.apiKey}/broadcasts/${others}`)).status).toBe(404);
    expect((await op.call('GET', `/projects/${t.apiKey}/broadcasts/not-a-uuid`)).status).toBe(404);
    expect((await op.call('GET', `/projects/${t.apiKey}/broadcasts?limit=0`)).status).toBe(400);
    expect((await fetch(`${t.url}/dashboard/api/projects/${t.apiKey}/broadcasts`)).status).toBe(401);
  });

  it("deleting a project disconnects its clients and removes its archives' files", async () => {
    const { body: p } = await op.call('POST', '/projects', { name: 'With archives' });
    const a = await archiveOnDisk(p.id);
    const b = await archiveOnDisk(p.id, { status: 'failed', fileName: null });
    const sdk = new OpenTok(p.id, p.secret, t.url);
    const liveSession = await createSession(sdk);
    const client = await WsClient.join(t.url, liveSession, sdk.generateToken(liveSession));
    expect((await op.call('DELETE', `/projects/${p.id}`, { confirm: p.id })).status).toBe(204);
    await client.waitClosed();
    expect(t.server.sessions.live(liveSession)).toBeUndefined();
    for (const id of [a, b]) {
      expect(existsSync(join(t.server.archives.archivesDir, id))).toBe(false);
      expect((await t.server.archives.store.get(id))).toBeNull();
    }
  });
});

/** An archive row of a project with a session of its own, and its folder with a 4-byte "archive.mp4". */
async function archiveOnDisk(projectId: string, fields: Partial<ArchiveRecord> = {}): Promise<string> {
  const project = t.server.store.projects.get(projectId)!;
  const session = await t.server.sessions.create(project, { mediaMode: 'routed', archiveMode: 'manual', location: null, archiveName: null, archiveResolution: null, e2ee: false });
  const id = randomUUID();
  const now = Date.now();
  const record: ArchiveRecord = {
    id,
    projectId,
    sessionId: session.id,
    name: null,
    status: 'available',
    reason: '',
    outputMode: 'composed',
    streamMode: 'auto',
    hasAudio: true,
    hasVideo: true,
    resolution: '640x480',
    layout: null,
    multiArchiveTag: null,
    maxBitrate: null,
    quantizationParameter: null,
    autoArchive: false,
    createdAt: now,
    updatedAt: now,
    recordedMs: 3000,
    duration: 3,
    size: 4,
    fileName: 'archive.mp4',
    sha256: null,
    ...fields,
  };
  await t.server.archives.store.insert(record);
  const dir = join(t.server.archives.archivesDir, id);
  mkdirSync(dir, { recursive: true });
  if (record.fileName) writeFileSync(join(dir, record.fileName), 'mp4!');
  return id;
}

describe('static front end', () => {
  it('serves the built dashboard at / with a strict CSP, and hashed assets as immutable', async () => {
    const res = await fetch(`${t.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(`${t.url}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toContain('immutable');
    // A browser's revalidation. (Given If-None-Match alone, fetch adds `Cache-Control: no-cache`,
    // an end-to-end reload, which @fastify/send rightly answers in full.)
    const again = await fetch(`${t.url}${asset}`, { headers: { 'if-none-match': js.headers.get('etag')!, 'cache-control': 'max-age=0' } });
    expect(again.status).toBe(304);
    expect((await fetch(`${t.url}/test-page.html`)).status).toBe(200);
    expect((await fetch(`${t.url}/assets/nope.js`)).status).toBe(404);
  });
});
