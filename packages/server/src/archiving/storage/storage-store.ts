// Rows of archive storage (SQLite or PostgreSQL): each project's upload target (`archive_storage`) and each
// archive's upload to it (`archive_uploads`: pending -> uploaded | failed). A pending row survives a
// restart, which is how an interrupted upload is found and tried again.

import type { Sql, SqlDatabase, SqlValue } from '../../store/sql.js';
import type { ArchiveStorageSettings } from './storage-settings.js';

export type UploadState = 'pending' | 'uploaded' | 'failed';

export interface UploadRecord {
  archiveId: string;
  state: UploadState;
  bucket: string;
  /** The endpoint the object went to (null: Amazon S3). */
  endpoint: string | null;
  objectKey: string;
  attempts: number;
  /** The last failure (kept after a success that followed retries: null then). */
  error: string | null;
  bytes: number;
  /** How long the successful attempt took, ms. */
  uploadMs: number | null;
  updatedAt: number;
}

interface StorageRow {
  project_id: string;
  type: 's3';
  bucket: string;
  access_key: string;
  secret_key: string;
  endpoint: string | null;
  sse: 's3' | 'none' | null;
  fallback: 'none' | 'opentok';
  updated_at: number;
}

interface UploadRow {
  archive_id: string;
  state: UploadState;
  bucket: string;
  endpoint: string | null;
  object_key: string;
  attempts: number;
  error: string | null;
  bytes: number;
  upload_ms: number | null;
  updated_at: number;
}

const toUpload = (r: UploadRow): UploadRecord => ({
  archiveId: r.archive_id,
  state: r.state,
  bucket: r.bucket,
  endpoint: r.endpoint,
  objectKey: r.object_key,
  attempts: r.attempts,
  error: r.error,
  bytes: r.bytes,
  uploadMs: r.upload_ms,
  updatedAt: r.updated_at,
});

export class ArchiveStorageStore {
  readonly #db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  async get(projectId: string): Promise<ArchiveStorageSettings | null> {
    const row = await this.#db.get<StorageRow>('SELECT * FROM archive_storage WHERE project_id = ?', [projectId]);
    if (!row) return null;
    return {
      type: row.type,
      bucket: row.bucket,
      accessKey: row.access_key,
      secretKey: row.secret_key,
      endpoint: row.endpoint,
      sse: row.sse,
      fallback: row.fallback,
      updatedAt: row.updated_at,
    };
  }

  async set(projectId: string, s: ArchiveStorageSettings): Promise<void> {
    await this.#db.run(
      `INSERT INTO archive_storage (project_id, type, bucket, access_key, secret_key, endpoint, sse, fallback, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (project_id) DO UPDATE SET type = excluded.type, bucket = excluded.bucket, access_key = excluded.access_key,
         secret_key = excluded.secret_key, endpoint = excluded.endpoint, sse = excluded.sse, fallback = excluded.fallback, updated_at = excluded.updated_at`,
      [projectId, s.type, s.bucket, s.accessKey, s.secretKey, s.endpoint, s.sse, s.fallback, s.updatedAt],
    );
  }

  /** Whether there was a target to remove. */
  async delete(projectId: string): Promise<boolean> {
    return (await this.#db.run('DELETE FROM archive_storage WHERE project_id = ?', [projectId])).changes > 0;
  }

  async upload(archiveId: string): Promise<UploadRecord | null> {
    const row = await this.#db.get<UploadRow>('SELECT * FROM archive_uploads WHERE archive_id = ?', [archiveId]);
    return row ? toUpload(row) : null;
  }

  /** A new pending upload (or a pending one again, for an archive uploaded before with other settings). */
  async addUpload(archiveId: string, target: { bucket: string; endpoint: string | null; objectKey: string }): Promise<UploadRecord> {
    await this.#db.run(
      `INSERT INTO archive_uploads (archive_id, state, bucket, endpoint, object_key, attempts, error, bytes, upload_ms, updated_at)
       VALUES (?, 'pending', ?, ?, ?, 0, NULL, 0, NULL, ?)
       ON CONFLICT (archive_id) DO UPDATE SET state = 'pending', bucket = excluded.bucket, endpoint = excluded.endpoint,
         object_key = excluded.object_key, attempts = 0, error = NULL, bytes = 0, upload_ms = NULL, updated_at = excluded.updated_at`,
      [archiveId, target.bucket, target.endpoint, target.objectKey, Date.now()],
    );
    return (await this.upload(archiveId))!;
  }

  /** `on`: an open transaction to write in (an upload's end changes its archive too). */
  async updateUpload(
    archiveId: string,
    changes: Partial<Pick<UploadRecord, 'state' | 'attempts' | 'error' | 'bytes' | 'uploadMs' | 'bucket' | 'endpoint'>>,
    on: Sql = this.#db,
  ): Promise<void> {
    const column: Record<string, string> = { state: 'state', attempts: 'attempts', error: 'error', bytes: 'bytes', uploadMs: 'upload_ms', bucket: 'bucket', endpoint: 'endpoint' };
    const sets = ['updated_at = ?'];
    const values: SqlValue[] = [Date.now()];
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      sets.push(`${column[key]} = ?`);
      values.push(value);
    }
    await on.run(`UPDATE archive_uploads SET ${sets.join(', ')} WHERE archive_id = ?`, [...values, archiveId]);
  }

  /** Uploads not finished (to resume after a restart), oldest first. */
  async pendingUploads(): Promise<UploadRecord[]> {
    return (await this.#db.all<UploadRow>("SELECT * FROM archive_uploads WHERE state = 'pending' ORDER BY updated_at")).map(toUpload);
  }
}
