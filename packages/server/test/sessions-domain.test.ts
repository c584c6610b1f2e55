// The live domain without sockets: Session and Connection lifecycles, close cascades (each event
// once, close twice harmless), SessionManager events and observeSessions, the actions a client and
// the app server (REST) both take, and the token bucket.

import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientTokenClaims } from '../src/auth/client-token.js';
import { clientActor, restActor, SessionManager, type ModerationAction } from '../src/sessions/session-manager.js';
import { TokenBucket } from '../src/sessions/token-bucket.js';
import type { ServerStore as Store } from '../src/server-store.js';
import { openServerStore } from '../src/server-store.js';
import type { Project } from '../src/store/index.js';
import { tempDir, TEST_API_KEY, TEST_API_SECRET } from './helpers.js';
import { rmSync } from 'node:fs';

let dir: string;
let store: Store;
let manager: SessionManager;
let project: Project;

beforeAll(async () => {
  dir = tempDir();
  store = await openServerStore({ dataDir: dir });
  project = (await store.projects.ensureProject(TEST_API_KEY, TEST_API_SECRET)).project;
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const client = { userAgent: 'ua', ip: '127.0.0.1', sdk: null };

async function setup(): Promise<{ record: Awaited<ReturnType<SessionManager['create']>>; claims: (role?: ClientTokenClaims['role']) => ClientTokenClaims }> {
  manager = new SessionManager(store, pino({ level: 'silent' }), { signalRate: { capacity: 3, perSecond: 1 } });
  const record = await manager.create(project, { mediaMode: 'routed', archiveMode: 'manual', location: null, archiveName: null, archiveResolution: null, e2ee: false });
  const claims = (role: ClientTokenClaims['role'] = 'publisher'): ClientTokenClaims => ({
    kind: 'jwt',
    projectId: TEST_API_KEY,
    sessionId: record.id,
    role,
    connectionData: `role=${role}`,
    expireTime: 0,
    initialLayoutClassList: [],
  });
  return { record, claims };
}

describe('Session and Connection', () => {
  it('emits each lifecycle event once; closing cascades and is idempotent', async () => {
    const { record, claims } = await setup();
    const log: string[] = [];
    manager.on('sessionStarted', () => log.push('started'));
    manager.on('sessionEnded', () => log.push('ended'));
    manager.observeSessions({
      connectionCreated: (_s, c) => log.push(`created ${c.data}`),
      connectionDestroyed: (_s, c, reason) => log.push(`destroyed ${c.data} ${reason}`),
    });
    const { session, connection: a } = manager.join(record, claims('publisher'), client);
    const { connection: b } = manager.join(record, claims('moderator'), client);
    expect(manager.live(record.id)).toBe(session);
    expect(session.connections.size).toBe(2);
    expect(a.capabilities).toEqual({ publish: 1, subscribe: 1, forceDisconnect: 0, forceUnpublish: 0, forceMute: 0 });
    expect(session.streams.size).toBe(0);

    a.close('clientDisconnected');
    a.close('networkDisconnected');
    expect(a.closeReason).toBe('clientDisconnected');
    session.close('networkDisconnected');
    session.close();
    b.close('forceDisconnected');
    expect(b.closeReason).toBe('networkDisconnected');
    expect(manager.live(record.id)).toBeUndefined();
    expect(log).toEqual([
      'started',
      'created role=publisher',
      'created role=moderator',
      'destroyed role=publisher clientDisconnected',
      'destroyed role=moderator networkDisconnected',
      'ended',
    ]);
    // A new join starts a new live session.
    const again = manager.join(record, claims(), client);
    expect(again.session).not.toBe(session);
    manager.close();
    manager.close();
    expect(again.connection.closed).toBe(true);
    expect(() => manager.join(record, claims(), client)).toThrow(/shutting down/);
  });

  it('refuses a token for another session, enforces forceDisconnect permission and the signal rate', async () => {
    const { record, claims } = await setup();
    expect(() => manager.join(record, { ...claims(), sessionId: 'other' }, client)).toThrow(/not for this session/);
    const { connection: pub } = manager.join(record, claims('publisher'), client);
    const { connection: mod } = manager.join(record, claims('moderator'), client);
    expect(() => manager.forceDisconnect(clientActor(pub), mod.id)).toThrow(expect.objectContaining({ kind: 'forbidden', code: 1520 }));
    const got: string[] = [];
    mod.on('signal', (s) => got.push(s.data));
    for (let i = 0; i < 3; i++) manager.signal(clientActor(pub), mod.id, undefined, `s${i}`);
    expect(() => manager.signal(clientActor(pub), mod.id, undefined, 'over')).toThrow(expect.objectContaining({ kind: 'rate-limited', code: 429 }));
    // The app server's signals (REST) are not rate-limited.
    for (let i = 0; i < 5; i++) manager.signal(restActor(record), mod.id, undefined, `r${i}`);
    expect(got).toEqual(['s0', 's1', 's2', 'r0', 'r1', 'r2', 'r3', 'r4']);
    const actions: ModerationAction[] = [];
    manager.on('moderation', (a) => actions.push(a));
    manager.forceDisconnect(clientActor(mod), pub.id);
    expect(pub.closeReason).toBe('forceDisconnected');
    expect(actions).toMatchObject([{ action: 'forceDisconnect', connectionId: pub.id, by: { origin: 'client', connectionId: mod.id } }]);
    expect(() => manager.signal(clientActor(pub), null, undefined, 'x')).toThrow(expect.objectContaining({ code: 1010 }));
    expect(() => manager.forceDisconnect(restActor(record), pub.id)).toThrow(expect.objectContaining({ kind: 'not-found' }));
    // The REST actor is made from the project's own session only.
    const otherProject = { ...project, id: '47000000' };
    await expect(manager.restActor(otherProject, record.id)).rejects.toMatchObject({ kind: 'not-found' });
    manager.close();
  });

  it('observeSessions reaches sessions live before it and those started later, until detached', async () => {
    const { record, claims } = await setup();
    const other = await manager.create(project, { mediaMode: 'routed', archiveMode: 'manual', location: null, archiveName: null, archiveResolution: null, e2ee: false });
    manager.join(record, claims(), client);
    const seen: string[] = [];
    const detach = manager.observeSessions({ connectionCreated: (s, c) => seen.push(`${s.id === record.id ? 'first' : 'other'} ${c.data}`) });
    manager.join(record, claims('moderator'), client);
    manager.join(other, { ...claims('subscriber'), sessionId: other.id }, client);
    detach();
    manager.join(record, claims(), client);
    manager.join(other, { ...claims(), sessionId: other.id }, client);
    expect(seen).toEqual(['first role=moderator', 'other role=subscriber']);
    manager.close();
  });

  it('keeps calling listeners when one throws', async () => {
    const { record, claims } = await setup();
    const seen: string[] = [];
    manager.observeSessions({
      connectionCreated: () => {
        throw new Error('listener bug');
      },
    });
    manager.observeSessions({ connectionCreated: (_s, c) => seen.push(c.id) });
    const { connection } = manager.join(record, claims(), client);
    expect(seen).toEqual([connection.id]);
    manager.close();
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then the sustained rate', () => {
    const bucket = new TokenBucket(2, 10, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, false]);
    expect(bucket.take(50)).toBe(false); // half a token
    expect(bucket.take(100)).toBe(true);
    expect(bucket.take(10_000)).toBe(true);
    expect(bucket.take(10_000)).toBe(true);
    expect(bucket.take(10_000)).toBe(false);
  });
});

describe('media timeouts', () => {
  it('a publisher transport that never connects ends its stream (networkDisconnected) and is released', async () => {
    const { MediaEngine } = await import('@colloquy/sfu');
    const { NodePublisher, makeTestMedia } = await import('@colloquy/testing/media');
    const engine = new MediaEngine({ logger: pino({ level: 'silent' }) });
    manager = new SessionManager(store, pino({ level: 'silent' }), { signalRate: { capacity: 3, perSecond: 1 }, media: engine, mediaConnectTimeoutMs: 300 });
    const record = await manager.create(project, { mediaMode: 'routed', archiveMode: 'manual', location: null, archiveName: null, archiveResolution: null, e2ee: false });
    const claims: ClientTokenClaims = { kind: 'jwt', projectId: TEST_API_KEY, sessionId: record.id, role: 'publisher', connectionData: '', expireTime: 0, initialLayoutClassList: ['a'] };
    const { session, connection } = manager.join(record, claims, client);
    const reasons: string[] = [];
    manager.observeSessions({ streamDestroyed: (_s, stream, reason) => reasons.push(`${stream.live ? 'live' : 'pending'} ${reason}`) });
    // A real offer whose answer is never applied: ICE never starts.
    const peer = new NodePublisher({ media: makeTestMedia({ seconds: 1 }) });
    const offer = await new Promise<string>((resolve) => {
      void peer.connect(async (o) => {
        resolve(o);
        return new Promise<string>(() => {});
      });
    });
    const { stream } = await manager.publish(connection, { name: '', videoType: 'camera', hasAudio: true, hasVideo: true, videoDimensions: null, frameRate: null, sdp: offer });
    expect(stream.layoutClassList).toEqual(['a']);
    expect(session.router!.transportCount).toBe(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(reasons).toEqual(['pending networkDisconnected']);
    expect(session.router!.transportCount).toBe(0);
    await peer.pc.close();
    connection.close('clientDisconnected');
    expect(engine.routers).toEqual([]);
    await engine.close();
  });
});
