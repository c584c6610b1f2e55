// The modules' repositories on both engines, as test/store.test.ts runs the core's: archives (with
// their files and timeline events), archive storage and uploads, broadcasts and renders, against
// SQLite in a temp data folder and a real PostgreSQL the test starts on loopback. What they must
// keep alike: numbers and booleans as the code wrote them, one recording/live row per session and
// tag (a unique violation becomes the module's conflict), newest-first lists with insertion order
// among rows of one millisecond, and writes made together in one transaction or not at all.

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveConflictError, ArchiveStore, type ArchiveRecord, type ArchiveStatus } from '../src/archiving/archive-store.js';
import { ArchiveStorageStore } from '../src/archiving/storage/storage-store.js';
import { BroadcastConflictError, BroadcastStore, type BroadcastRecord } from '../src/broadcast/broadcast-store.js';
import { RenderStore, type RenderRecord } from '../src/render/render-store.js';
import { openServerStore, type ServerStore } from '../src/server-store.js';
import { storeEngines } from './engines.js';

const engines = storeEngines('modules');

function archive(projectId: string, sessionId: string, over: Partial<ArchiveRecord> = {}): ArchiveRecord {
  return {
    id: randomUUID(), projectId, sessionId, name: 'Call', status: 'started', reason: '', outputMode: 'composed', streamMode: 'auto',
    hasAudio: true, hasVideo: false, resolution: '1280x720', layout: { type: 'bestFit' } as ArchiveRecord['layout'], multiArchiveTag: null,
    maxBitrate: 2_000_000, quantizationParameter: null, autoArchive: false, createdAt: 1_700_000_000_000, updatedAt: 1_700_000_000_000,
    recordedMs: 0, duration: 0, size: 0, fileName: null, sha256: null, ...over,
  };
}

function broadcast(projectId: string, sessionId: string, over: Partial<BroadcastRecord> = {}): BroadcastRecord {
  return {
    id: randomUUID(), projectId, sessionId, status: 'started', reason: '', createdAt: 1_700_000_000_000, updatedAt: 1_700_000_000_000,
    resolution: '640x480', streamMode: 'auto', hasAudio: true, hasVideo: true, maxDuration: 14_400, maxBitrate: null, multiBroadcastTag: null,
    layout: { type: 'bestFit' } as BroadcastRecord['layout'], hls: { dvr: false, lowLatency: false, status: 'connecting' }, rtmp: [], selected: [], ...over,
  };
}

describe.each(engines)('module stores on $engine', ({ location }) => {
  let store: ServerStore;
  let projectId: string;
  beforeAll(async () => {
    store = await openServerStore(await location());
    projectId = (await store.projects.createProject('Modules')).id;
  }, 60_000);
  afterAll(async () => {
    await store?.close();
  });

  it('archives: a record comes back as written; a second recording of a session and tag is a conflict; the status listener sees each change', async () => {
    const archives = new ArchiveStore(store.db);
    const changes: Array<[ArchiveStatus, ArchiveStatus | null]> = [];
    archives.onStatusChange((r, previous) => changes.push([r.status, previous]));
    const a = archive(projectId, '1_arch_a');
    await archives.insert(a);
    expect(await archives.get(a.id)).toEqual(a);
    await expect(archives.insert(archive(projectId, '1_arch_a'))).rejects.toBeInstanceOf(ArchiveConflictError);
    const tagged = archive(projectId, '1_arch_a', { multiArchiveTag: 'backup' });
    await archives.insert(tagged);
    expect((await archives.recording('1_arch_a', null))?.id).toBe(a.id);
    expect((await archives.recording('1_arch_a', 'backup'))?.id).toBe(tagged.id);

    await archives.setRecordedMs(a.id, 1234.4);
    const paused = await archives.update(a.id, { status: 'paused', layout: null });
    expect(paused).toMatchObject({ status: 'paused', recordedMs: 1234, layout: null });
    const stopped = await archives.update(a.id, { status: 'stopped', reason: 'user initiated', duration: 1 });
    expect(stopped).toMatchObject({ status: 'stopped', reason: 'user initiated', duration: 1 });
    expect(typeof stopped.updatedAt).toBe('number');
    // Stopped: the session may record again under the same tag.
    expect(await archives.recording('1_arch_a', null)).toBeNull();
    expect(changes).toEqual([['started', null], ['started', null], ['paused', 'started'], ['stopped', 'paused']]);
    expect((await archives.withStatus('stopped')).map((r) => r.id)).toEqual([a.id]);
    expect(await archives.allIds()).toEqual(new Set([a.id, tagged.id]));
  });

  it('archives: lists newest first, rows of one millisecond in insertion order, with paging and a session filter', async () => {
    const archives = new ArchiveStore(store.db);
    const p = (await store.projects.createProject('Lists')).id;
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) {
      const r = archive(p, n < 3 ? '1_list_same' : `1_list_${n}`, { status: 'available', createdAt: 1_700_000_001_000 });
      await archives.insert(r);
      ids.push(r.id);
    }
    const all = await archives.list(p);
    expect(all.count).toBe(5);
    expect(all.items.map((r) => r.id)).toEqual([...ids].reverse());
    expect((await archives.list(p, { offset: 1, count: 2 })).items.map((r) => r.id)).toEqual([ids[3], ids[2]]);
    const bySession = await archives.list(p, { sessionId: '1_list_same' });
    expect(bySession).toMatchObject({ count: 3 });
    expect(bySession.items.map((r) => r.id)).toEqual([ids[2], ids[1], ids[0]]);
  });

  it('archives: files by start offset (not started yet first, then insertion order) and timeline events in order', async () => {
    const archives = new ArchiveStore(store.db);
    const a = archive(projectId, '1_files');
    await archives.insert(a);
    const file = { archiveId: a.id, streamId: 's', connectionId: 'c', connectionData: 'name=A', videoType: 'camera' as const, layoutClassList: ['focus'], hasAudio: true, hasVideo: true, startOffsetMs: null, stopOffsetMs: null, size: 0, state: 'recording' as const };
    for (const name of ['late.webm', 'none.webm', 'early.webm', 'tie.webm']) await archives.insertFile({ ...file, fileName: name });
    await archives.setFileStart(a.id, 'late.webm', 5000);
    await archives.setFileStart(a.id, 'early.webm', 1000.6);
    await archives.setFileStart(a.id, 'tie.webm', 5000);
    await archives.completeFile(a.id, 'early.webm', { startOffsetMs: 1000.6, stopOffsetMs: 4000.2, size: 999, hasAudio: false, hasVideo: true });
    const files = await archives.files(a.id);
    expect(files.map((f) => f.fileName)).toEqual(['none.webm', 'early.webm', 'late.webm', 'tie.webm']);
    expect(files[1]).toEqual({ ...file, fileName: 'early.webm', startOffsetMs: 1001, stopOffsetMs: 4000, size: 999, hasAudio: false, hasVideo: true, state: 'complete' });
    await archives.deleteFile(a.id, 'none.webm');
    expect(await archives.files(a.id)).toHaveLength(3);
    await archives.addEvent(a.id, { atMs: 0, kind: 'layout', layout: { type: 'pip' } as ArchiveRecord['layout'] & object });
    await archives.addEvent(a.id, { atMs: 1500.7, kind: 'classes', streamId: 's', layoutClassList: ['full'] });
    expect(await archives.events(a.id)).toEqual([
      { atMs: 0, kind: 'layout', layout: { type: 'pip' } },
      { atMs: 1501, kind: 'classes', streamId: 's', layoutClassList: ['full'] },
    ]);
  });

  it('archive storage: the target is set, replaced and removed; an upload and its archive change in one transaction, or neither', async () => {
    const archives = new ArchiveStore(store.db);
    const storage = new ArchiveStorageStore(store.db);
    const settings = { type: 's3' as const, bucket: 'b1', accessKey: 'AK', secretKey: 'SK', endpoint: 'http://127.0.0.1:9', sse: null, fallback: 'none' as const, updatedAt: 1_700_000_000_000 };
    await storage.set(projectId, settings);
    expect(await storage.get(projectId)).toEqual(settings);
    await storage.set(projectId, { ...settings, bucket: 'b2', sse: 's3' });
    expect(await storage.get(projectId)).toMatchObject({ bucket: 'b2', sse: 's3' });

    const a = archive(projectId, '1_upload', { status: 'available', fileName: 'archive.mp4', size: 10 });
    await archives.insert(a);
    expect(await storage.addUpload(a.id, { bucket: 'b2', endpoint: null, objectKey: `${projectId}/${a.id}/archive.mp4` })).toMatchObject({ state: 'pending', attempts: 0, endpoint: null });
    expect((await storage.pendingUploads()).map((u) => u.archiveId)).toEqual([a.id]);
    await storage.updateUpload(a.id, { attempts: 1, error: 'refused' });

    // A failure inside the transaction leaves both rows as they were.
    await expect(
      store.db.transaction(async (tx) => {
        await storage.updateUpload(a.id, { state: 'uploaded', bytes: 10, uploadMs: 5, error: null }, tx);
        await archives.update(a.id, { status: 'uploaded' }, tx);
        throw new Error('the bucket answered too late');
      }),
    ).rejects.toThrow(/too late/);
    expect(await storage.upload(a.id)).toMatchObject({ state: 'pending', attempts: 1, error: 'refused' });
    expect((await archives.get(a.id))!.status).toBe('available');

    await store.db.transaction(async (tx) => {
      await storage.updateUpload(a.id, { state: 'uploaded', bytes: 10, uploadMs: 5, error: null }, tx);
      await archives.update(a.id, { status: 'uploaded' }, tx);
    });
    expect(await storage.upload(a.id)).toMatchObject({ state: 'uploaded', bytes: 10, uploadMs: 5, error: null });
    expect((await archives.get(a.id))!.status).toBe('uploaded');
    expect(await storage.pendingUploads()).toEqual([]);
    expect(await storage.delete(projectId)).toBe(true);
    expect(await storage.delete(projectId)).toBe(false);
    expect(await storage.get(projectId)).toBeNull();
  });

  it('broadcasts: one live per session and tag; saves made without waiting land in order; lists newest first', async () => {
    const broadcasts = new BroadcastStore(store.db);
    const seen: string[] = [];
    broadcasts.onChange((r) => seen.push(`${r.status}/${r.hls?.status}`));
    const b = broadcast(projectId, '1_bcast');
    await broadcasts.insert(b);
    await expect(broadcasts.insert(broadcast(projectId, '1_bcast'))).rejects.toBeInstanceOf(BroadcastConflictError);
    const second = broadcast(projectId, '1_bcast', { multiBroadcastTag: 'two' });
    await broadcasts.insert(second);
    // As a live broadcast does: the record changes and is saved again before the last save landed.
    for (const status of ['live', 'error', 'live'] as const) {
      b.hls!.status = status;
      void broadcasts.save(b, true);
    }
    b.status = 'stopped';
    b.hls!.status = 'ended';
    b.reason = 'user initiated';
    void broadcasts.save(b, true);
    await broadcasts.settled();
    expect(seen).toEqual(['started/connecting', 'started/connecting', 'started/live', 'started/error', 'started/live', 'stopped/ended']);
    expect(await broadcasts.get(b.id)).toEqual(b);
    expect(await broadcasts.live('1_bcast', null)).toBeNull();
    expect((await broadcasts.live('1_bcast', 'two'))?.id).toBe(second.id);
    expect((await broadcasts.allLive()).map((r) => r.id)).toEqual([second.id]);
    const listed = await broadcasts.list(projectId, { sessionId: '1_bcast' });
    expect(listed.count).toBe(2);
    expect(listed.items.map((r) => r.id)).toEqual([second.id, b.id]);
  });

  it('renders: insert, get within the project, list newest first, status changes, and the end of those a previous process left running', async () => {
    const renders = new RenderStore(store.db);
    const base: RenderRecord = {
      id: 'a'.repeat(32), projectId, sessionId: '1_render', url: 'https://example.test/', resolution: '1280x720', name: 'Composer', maxDuration: 1800,
      statusCallbackUrl: null, status: 'starting', reason: null, streamId: null, connectionId: null, createdAt: 1_700_000_000_000, updatedAt: 1_700_000_000_000,
    };
    await renders.insert(base);
    await renders.insert({ ...base, id: 'b'.repeat(32), createdAt: base.createdAt + 1, status: 'stopped', reason: 'Stop requested' });
    expect(await renders.get(projectId, base.id)).toEqual(base);
    expect(await renders.get('another-project', base.id)).toBeUndefined();
    const started = await renders.update(base.id, { status: 'started', streamId: 'st', connectionId: 'co' }, base.createdAt + 5);
    expect(started).toMatchObject({ status: 'started', streamId: 'st', connectionId: 'co', reason: null, updatedAt: base.createdAt + 5 });
    const listed = await renders.list(projectId, 0, 10);
    expect(listed.count).toBe(2);
    expect(listed.items.map((r) => r.id)).toEqual(['b'.repeat(32), base.id]);
    expect(await renders.endInterrupted('The server stopped while the render ran')).toBe(1);
    expect(await renders.get(projectId, base.id)).toMatchObject({ status: 'stopped', reason: 'The server stopped while the render ran', streamId: 'st' });
  });
});
