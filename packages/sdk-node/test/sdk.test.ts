// The Node SDK against a real Colloquy server started in this process.

import { loadConfig, startServer, verifyClientToken, type RunningServer } from '@colloquy/server';
import { createSessionId } from '@colloquy/tokens';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, Colloquy, NotFoundError, RequestError } from '../src/index.js';

const KEY = '47000099';
const SECRET = 'sdk-test-secret-0123456789';
const APP = '9b2f7e1c-1d2e-4f3a-8b4c-5d6e7f8a9b0c';
const keys = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

let server: RunningServer;
let dataDir: string;
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'colloquy-sdk-'));
  writeFileSync(join(dataDir, 'pub.pem'), keys.publicKey);
  const config = loadConfig({
    PORT: '0',
    // The SFU's one UDP port where the system picks (7882 is the default; other test files run beside this one).
    COLLOQUY_RTC_PORT: '0',
    COLLOQUY_DATA_DIR: dataDir,
    COLLOQUY_API_KEY: KEY,
    COLLOQUY_API_SECRET: SECRET,
    COLLOQUY_APPLICATION_ID: APP,
    COLLOQUY_PUBLIC_KEY_FILE: join(dataDir, 'pub.pem'),
  });
  server = await startServer(config, { logger: pino({ level: 'silent' }) });
});
afterAll(async () => {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('Colloquy (project credentials)', () => {
  it('creates sessions with every option', async () => {
    const sdk = new Colloquy(KEY, SECRET, server.url);
    const routed = await sdk.createSession();
    expect(routed).toMatchObject({ mediaMode: 'routed', archiveMode: 'manual', e2ee: false });
    const always = await sdk.createSession({ archiveMode: 'always', archiveName: 'Standup', archiveResolution: '1280x720', location: '10.0.0.7' });
    expect((await server.store.sessions.get(always.sessionId))).toMatchObject({ archiveMode: 'always', archiveName: 'Standup', archiveResolution: '1280x720', location: '10.0.0.7' });
    const relayed = await sdk.createSession({ mediaMode: 'relayed' });
    expect((await server.store.sessions.get(relayed.sessionId))?.mediaMode).toBe('relayed');
    const e2ee = await sdk.createSession({ e2ee: true });
    expect(e2ee).toMatchObject({ mediaMode: 'routed', e2ee: true });
    expect((await server.store.sessions.get(e2ee.sessionId))?.e2ee).toBe(true);
    // End-to-end encryption needs the media router, and nothing that archives the media.
    await expect(sdk.createSession({ e2ee: true, mediaMode: 'relayed' })).rejects.toThrow(/routed/);
    await expect(sdk.createSession({ e2ee: true, archiveMode: 'always' })).rejects.toThrow(/archiveMode/);
  });

  it('generates JWT and T1 tokens the server verifies', async () => {
    const sdk = new Colloquy(KEY, SECRET, { apiUrl: server.url });
    const { sessionId } = await sdk.createSession();
    const jwt = sdk.generateToken(sessionId, { role: 'subscriber', data: 'user=1', initialLayoutClassList: ['a', 'b'] });
    const t1 = sdk.generateToken(sessionId, { tokenKind: 't1' });
    expect(verifyClientToken(jwt, { projects: server.store.projects, sessionId })).toMatchObject({ role: 'subscriber', connectionData: 'user=1', initialLayoutClassList: ['a', 'b'] });
    expect(verifyClientToken(t1, { projects: server.store.projects, sessionId })).toMatchObject({ kind: 'T1', role: 'publisher' });
  });

  it('refuses to generate a token for another project’s session', () => {
    const sdk = new Colloquy(KEY, SECRET, server.url);
    expect(() => sdk.generateToken(createSessionId('12345'))).toThrow(/belongs to the API key/);
    expect(() => sdk.generateToken('nonsense')).toThrow(/not a valid session ID/);
  });

  it('maps failures to typed errors with the server’s message', async () => {
    await expect(new Colloquy(KEY, 'wrong-secret', server.url).createSession()).rejects.toBeInstanceOf(AuthError);
    const sdk = new Colloquy(KEY, SECRET, server.url);
    const err = await sdk.createSession({ mediaMode: 'relayed', archiveMode: 'always' }).catch((e) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect(err).toMatchObject({ status: 400, message: expect.stringMatching(/routed session/) });
    const missing = await sdk.client.request('GET', 'archive/00000000-0000-4000-8000-000000000000').catch((e) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    const unreachable = await new Colloquy(KEY, SECRET, 'http://127.0.0.1:9').createSession().catch((e) => e);
    expect(unreachable).toMatchObject({ name: 'RequestError', status: 0 });
  });
});

describe('Colloquy (application credentials)', () => {
  it('switches to RS256 when given an application ID and a private key', async () => {
    const sdk = new Colloquy(APP, keys.privateKey, server.url);
    const { sessionId } = await sdk.createSession({ mediaMode: 'relayed' });
    const token = sdk.generateToken(sessionId, { role: 'moderator' });
    expect(verifyClientToken(token, { projects: server.store.projects, sessionId })).toMatchObject({ kind: 'application', role: 'moderator' });
    expect(() => sdk.generateToken(sessionId, { tokenKind: 't1' })).toThrow(/T1/);
  });
});
