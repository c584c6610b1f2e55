// The migration that adds archive storage rebuilds the archive tables (SQLite cannot change a CHECK
// constraint in place): a database made before it keeps every archive, file and event, accepts the
// `uploaded` status afterwards, and its files and events still go with their archive.

import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ArchiveStore, type ArchiveRecord } from '../../src/archiving/archive-store.js';
import { SERVER_MIGRATIONS } from '../../src/server-store.js';
import { ProjectStore } from '../../src/store/index.js';
import { SqliteDatabase } from '../../src/store/sqlite.js';
import { join } from 'node:path';
import { tempDir } from '../helpers.js';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('archiving-002-storage-uploads', () => {
  it('keeps archives, files and events of an older database, then takes "uploaded"', async () => {
    const file = join(dir, 'colloquy.db');
    const beforeDb = SqliteDatabase.open(file);
    await beforeDb.migrate(SERVER_MIGRATIONS.filter((m) => m.id !== 'archiving-002-storage-uploads'));
    const project = await (await ProjectStore.open(beforeDb)).createProject('old');
    const before = beforeDb.raw;
    const id = randomUUID();
    const record: ArchiveRecord = {
      id, projectId: project.id, sessionId: '1_old', name: 'old one', status: 'available', reason: 'user initiated', outputMode: 'individual',
      streamMode: 'auto', hasAudio: true, hasVideo: true, resolution: null, layout: null, multiArchiveTag: null, maxBitrate: null,
      quantizationParameter: null, autoArchive: false, createdAt: 1, updatedAt: 2, recordedMs: 3000, duration: 3, size: 1234, fileName: 'archive.zip', sha256: 'ab',
    };
    const old = new ArchiveStore(beforeDb);
    await old.insert(record);
    await old.insertFile({ archiveId: id, fileName: 's.webm', streamId: 's', connectionId: 'c', connectionData: '', videoType: 'camera', layoutClassList: ['x'], hasAudio: true, hasVideo: true, startOffsetMs: 0, stopOffsetMs: 3000, size: 1000, state: 'complete' });
    await old.addEvent(id, { atMs: 5, kind: 'classes', streamId: 's', layoutClassList: ['y'] });
    expect(() => before.prepare("UPDATE archives SET status = 'uploaded'").run()).toThrow(/CHECK/);
    await beforeDb.close();

    const afterDb = SqliteDatabase.open(file);
    await afterDb.migrate(SERVER_MIGRATIONS);
    const after = afterDb.raw;
    const archives = new ArchiveStore(afterDb);
    expect(await archives.get(id)).toEqual(record);
    expect(await archives.files(id)).toHaveLength(1);
    expect(await archives.events(id)).toEqual([{ atMs: 5, kind: 'classes', streamId: 's', layoutClassList: ['y'] }]);
    expect((await archives.update(id, { status: 'uploaded' })).status).toBe('uploaded');
    expect(after.pragma('foreign_key_check')).toEqual([]);
    // The children still reference the rebuilt table: deleting the archive takes them along.
    after.prepare('DELETE FROM archives WHERE id = ?').run(id);
    expect(await archives.files(id)).toEqual([]);
    expect(await archives.events(id)).toEqual([]);
    await afterDb.close();
  });
});
