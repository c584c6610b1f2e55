// The real OpenTok and Vonage server SDKs from npm, pointed at a Colloquy server: sessions, tokens
// (checked with our verifier), signals and lists as OpenTok answers them with nobody connected.

import { MediaMode, Video } from '@vonage/video';
import OpenTok from 'opentok';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyClientToken } from '../src/auth/client-token.js';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => t.close());

function opentok(secret = t.apiSecret): OpenTok {
  return new OpenTok(t.apiKey, secret, t.url);
}

function createSession(ot: OpenTok, options: OpenTok.SessionOptions): Promise<OpenTok.Session> {
  return new Promise((resolve, reject) => ot.createSession(options, (err, session) => (err ? reject(err) : resolve(session!))));
}

describe('opentok (npm) against Colloquy', () => {
  it('creates routed and relayed sessions whose IDs carry the API key', async () => {
    const routed = await createSession(opentok(), { mediaMode: 'routed' });
    const relayed = await createSession(opentok(), { mediaMode: 'relayed' });
    expect(routed.sessionId).toMatch(/^1_[A-Za-z0-9_-]+$/);
    expect((await t.server.store.sessions.get(routed.sessionId))?.mediaMode).toBe('routed');
    expect((await t.server.store.sessions.get(relayed.sessionId))?.mediaMode).toBe('relayed');
    const decoded = Buffer.from(routed.sessionId.slice(2), 'base64url').toString().split('~');
    expect(decoded[1]).toBe(t.apiKey);
  });

  it('creates an always-archived session and refuses always + relayed in the SDK', async () => {
    const s = await createSession(opentok(), { mediaMode: 'routed', archiveMode: 'always' });
    expect((await t.server.store.sessions.get(s.sessionId))).toMatchObject({ archiveMode: 'always', archiveResolution: '640x480' });
  });

  it('generates JWT and T1 tokens that our verifier accepts with their claims', async () => {
    const { sessionId } = await createSession(opentok(), { mediaMode: 'routed' });
    const expireTime = Math.floor(Date.now() / 1000) + 3600;
    const jwt = opentok().generateToken(sessionId, { role: 'moderator', data: 'name=Ada', expireTime, initialLayoutClassList: ['focus', 'big'] });
    const t1 = opentok().generateToken(sessionId, { role: 'subscriber', data: 'name=Bob&x=1' }, true);
    expect(t1.startsWith('T1==')).toBe(true);
    const projects = t.server.store.projects;
    expect(verifyClientToken(jwt, { projects, sessionId })).toEqual({
      kind: 'jwt',
      projectId: t.apiKey,
      sessionId,
      role: 'moderator',
      connectionData: 'name=Ada',
      expireTime,
      initialLayoutClassList: ['focus', 'big'],
    });
    expect(verifyClientToken(t1, { projects, sessionId })).toMatchObject({ kind: 'T1', role: 'subscriber', connectionData: 'name=Bob&x=1' });
  });

  it('gets 403 with a wrong secret', async () => {
    await expect(createSession(opentok('0'.repeat(40)), {})).rejects.toThrow(/Invalid API key or secret/);
  });

  it('answers signal with 404 when nobody is connected, and lists empty archives', async () => {
    const ot = opentok();
    const { sessionId } = await createSession(ot, { mediaMode: 'routed' });
    const signalErr = await new Promise<Error | null>((resolve) => ot.signal(sessionId, null, { type: 'chat', data: 'hi' }, resolve));
    expect(signalErr?.message).toMatch(/not found/i);
    const list = await new Promise<{ archives: unknown[]; total: number }>((resolve, reject) =>
      ot.listArchives({ sessionId }, (err, archives, total) => (err ? reject(err) : resolve({ archives: archives!, total: total! }))),
    );
    expect(list).toEqual({ archives: [], total: 0 });
  });
});

describe('@vonage/video (npm) against Colloquy', () => {
  function video(privateKey = t.privateKey): Video {
    return new Video({ applicationId: t.applicationId, privateKey }, { videoHost: t.url });
  }

  it('creates sessions with application credentials (Bearer RS256) and location=null', async () => {
    const routed = await video().createSession({ mediaMode: MediaMode.ROUTED });
    const relayed = await video().createSession({ mediaMode: MediaMode.RELAYED });
    expect((await t.server.store.sessions.get(routed.sessionId))).toMatchObject({ projectId: t.applicationId, mediaMode: 'routed', location: null });
    expect((await t.server.store.sessions.get(relayed.sessionId))).toMatchObject({ projectId: t.applicationId, mediaMode: 'relayed' });
  });

  it('generates client tokens that our verifier accepts', async () => {
    const { sessionId } = await video().createSession({});
    const token = video().generateClientToken(sessionId, { role: 'publisher', data: 'who=vonage' } as never);
    expect(verifyClientToken(token, { projects: t.server.store.projects, sessionId })).toMatchObject({
      kind: 'application',
      projectId: t.applicationId,
      role: 'publisher',
      connectionData: 'who=vonage',
    });
  });

  it('is refused with another private key', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    await expect(video(other.privateKey).createSession({})).rejects.toMatchObject({ response: { status: 403 } });
  });

  it('lists connections and archives of a session as empty', async () => {
    const { sessionId } = await video().createSession({});
    const archives = await video().searchArchives({ sessionId });
    expect(archives).toMatchObject({ count: 0, items: [] });
  });
});
