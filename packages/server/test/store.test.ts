// One store suite, run against both engines: SQLite in a temp data folder and a real PostgreSQL the
// test starts on loopback (@colloquy/testing/postgres). Every module's migrations apply on both;
// projects (in-memory cache, invalidated across connections), sessions and callbacks behave alike.

import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServerStore, SERVER_MIGRATIONS, type ServerStore } from '../src/server-store.js';
import { AdminAuth } from '../src/dashboard/admin-auth.js';
import { ProjectValidationError } from '../src/store/index.js';
import { storeEngines } from './engines.js';

const engines = storeEngines('store');

const routed = { mediaMode: 'routed', archiveMode: 'manual', archiveName: null, archiveResolution: null, e2ee: false, location: null } as const;

describe.each(engines)('store on $engine', ({ engine, location }) => {
  let store: ServerStore;
  let where: Awaited<ReturnType<typeof location>>;
  beforeAll(async () => {
    where = await location();
    store = await openServerStore(where);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
  });

  it('applies every module migration once, and again is a no-op', async () => {
    expect(store.db.engine).toBe(engine);
    expect(await store.db.value<number>('SELECT COUNT(*) FROM migrations')).toBe(SERVER_MIGRATIONS.length);
    expect(await store.db.migrate(SERVER_MIGRATIONS)).toBe(0);
    for (const table of ['projects', 'sessions', 'archives', 'archive_files', 'archive_uploads', 'inspector_events', 'broadcasts', 'renders', 'project_callbacks', 'dashboard_sessions']) {
      expect(await store.db.value<number>(`SELECT COUNT(*) FROM ${table}`), table).toBe(0);
    }
  });

  it('creates, finds, rotates and deletes projects; a duplicate key is a validation error', async () => {
    const p = await store.projects.createProject('First', { apiKey: '47000100', apiSecret: 'a'.repeat(40) });
    expect(store.projects.get('47000100')).toEqual(p);
    await expect(store.projects.createProject('Again', { apiKey: '47000100', apiSecret: 'b'.repeat(40) })).rejects.toBeInstanceOf(ProjectValidationError);
    const rotated = await store.projects.rotateSecret(p.id);
    expect(rotated.secret).not.toBe(p.secret);
    expect(store.projects.get(p.id)!.secret).toBe(rotated.secret);
    expect((await store.projects.ensureProject(p.id, 'c'.repeat(40))).created).toBe(false);
    expect(store.projects.get(p.id)!.secret).toBe('c'.repeat(40));
    expect(store.projects.list().map((x) => x.id)).toContain(p.id);
    expect(await store.projects.delete(p.id)).toBe(true);
    expect(store.projects.get(p.id)).toBeNull();
  });

  it('stores sessions (integers and millisecond times come back as numbers) and deletes them with their project', async () => {
    const p = await store.projects.createProject('Sessions');
    const createdAt = Date.now();
    for (let i = 0; i < 3; i++) {
      await store.sessions.insert({ id: `2_${engine}_${i}`, projectId: p.id, ...routed, e2ee: i === 1, createdAt: createdAt + i });
    }
    const one = await store.sessions.get(`2_${engine}_1`);
    expect(one).toEqual({ id: `2_${engine}_1`, projectId: p.id, ...routed, e2ee: true, createdAt: createdAt + 1 });
    expect(typeof one!.createdAt).toBe('number');
    expect((await store.sessions.listByProject(p.id, 2, 0)).map((s) => s.id)).toEqual([`2_${engine}_2`, `2_${engine}_1`]);
    expect(await store.sessions.countByProject(p.id)).toBe(3);
    await store.projects.delete(p.id);
    expect(await store.sessions.get(`2_${engine}_0`)).toBeNull();
  });

  it('keeps callbacks: set/get with ON CONFLICT, registrations in a transaction, each URL once', async () => {
    const p = await store.projects.createProject('Callbacks');
    expect(await store.callbacks.set(p.id, { archive: 'https://a.example/x', session: 'https://s.example/y' })).toEqual({ archive: 'https://a.example/x', session: 'https://s.example/y' });
    await store.callbacks.set(p.id, { archive: '' });
    expect(await store.callbacks.get(p.id)).toEqual({ archive: null, session: 'https://s.example/y' });
    const reg = await store.callbacks.register(p.id, { group: 'connection', event: 'created', url: 'https://s.example/y' });
    expect(await store.callbacks.register(p.id, { group: 'connection', event: 'created', url: 'https://s.example/y' })).toEqual(reg);
    expect(await store.callbacks.urlsFor(p.id, 'connection', 'created')).toEqual(['https://s.example/y']);
    expect(await store.callbacks.unregister(p.id, reg.id)).toBe(true);
    expect(await store.callbacks.listRegistered(p.id)).toEqual([]);
  });

  it('rolls a failed transaction back, and commits a batch as one', async () => {
    const p = await store.projects.createProject('Tx');
    await expect(
      store.db.transaction(async (tx) => {
        await tx.run('INSERT INTO sessions (id, project_id, media_mode, archive_mode, e2ee, created_at) VALUES (?, ?, ?, ?, ?, ?)', ['2_tx', p.id, 'routed', 'manual', 0, 1]);
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    expect(await store.sessions.get('2_tx')).toBeNull();
    await store.db.batch([1, 2, 3].map((i) => ({ sql: 'INSERT INTO sessions (id, project_id, media_mode, archive_mode, e2ee, created_at) VALUES (?, ?, ?, ?, ?, ?)', params: [`2_b${i}`, p.id, 'routed', 'manual', 0, i] })));
    expect(await store.sessions.countByProject(p.id)).toBe(3);
    // A batch whose last statement fails leaves nothing.
    await expect(store.db.batch([{ sql: 'INSERT INTO sessions (id, project_id, media_mode, archive_mode, e2ee, created_at) VALUES (?, ?, ?, ?, ?, ?)', params: ['2_b9', p.id, 'routed', 'manual', 0, 9] }, { sql: 'INSERT INTO sessions (id) VALUES (?)', params: ['2_b1'] }])).rejects.toThrow();
    expect(await store.sessions.get('2_b9')).toBeNull();
  });

  it('keeps the dashboard sign-in: a stored password hash, sessions that expire, a reset that signs everyone out', async () => {
    let clock = 1_000_000;
    const admin = new AdminAuth(store.db, { now: () => clock });
    const password = await admin.init(null);
    expect(password).toEqual(expect.any(String));
    expect(await new AdminAuth(store.db).init(null)).toBeNull(); // the stored hash is found again
    expect(await admin.verifyPassword(password!)).toBe(true);
    const { token, session } = await admin.createSession('127.0.0.1');
    expect(await admin.session(token)).toEqual(session);
    clock = session.expiresAt;
    expect(await admin.session(token)).toBeNull();
    clock = 1_000_000;
    const other = await admin.createSession(null);
    await admin.setStoredPassword('new password');
    expect(await admin.session(other.token)).toBeNull();
    expect(await admin.verifyPassword('new password')).toBe(true);
  });

  it('sees a project another connection created or changed (another node, or the CLI)', async () => {
    const other = await openServerStore(where);
    try {
      const made = await other.projects.createProject('Made elsewhere');
      await waitFor(() => store.projects.get(made.id) !== null);
      const rotated = await other.projects.rotateSecret(made.id);
      await waitFor(() => store.projects.get(made.id)?.secret === rotated.secret);
      await other.projects.delete(made.id);
      await waitFor(() => store.projects.get(made.id) === null);
    } finally {
      await other.close();
    }
  });

  it('nodes that start together ensure the same project once: the one whose insert is refused takes the row', async () => {
    // Both stores loaded their projects before either inserted (as nodes starting at once do).
    const [a, b] = await Promise.all([openServerStore(where), openServerStore(where)]);
    try {
      const key = engine === 'sqlite' ? '47000777' : '47000778';
      const results = await Promise.all([a.projects.ensureProject(key, 'secret-one-secret-one-secret-one-1234'), b.projects.ensureProject(key, 'secret-one-secret-one-secret-one-1234')]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(results.map((r) => r.project.id)).toEqual([key, key]);
      // And an application the same way.
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
      const appId = engine === 'sqlite' ? '0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b' : '0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5c';
      const apps = await Promise.all([a.projects.ensureApplication(appId, publicKey), b.projects.ensureApplication(appId, publicKey)]);
      expect(apps.filter((r) => r.created)).toHaveLength(1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
