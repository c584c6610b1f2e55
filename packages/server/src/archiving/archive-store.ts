// Archives in the store (SQLite or PostgreSQL): the records the REST API and the dashboard read, the per-stream files the
// composer and the ZIP use, and the layout events a composition replays.

import { isUniqueViolation, type Sql, type SqlDatabase, type SqlValue } from '../store/sql.js';
import type { ArchiveLayout } from './layout.js';

export type ArchiveStatus = 'started' | 'paused' | 'stopped' | 'available' | 'uploaded' | 'failed' | 'deleted' | 'expired';
export type OutputMode = 'composed' | 'individual';
export type StreamMode = 'auto' | 'manual';

export interface ArchiveRecord {
  id: string;
  projectId: string;
  sessionId: string;
  name: string | null;
  status: ArchiveStatus;
  /** Why it stopped or failed ('' while recording). */
  reason: string;
  outputMode: OutputMode;
  streamMode: StreamMode;
  hasAudio: boolean;
  hasVideo: boolean;
  /** Composed only. */
  resolution: string | null;
  layout: ArchiveLayout | null;
  multiArchiveTag: string | null;
  maxBitrate: number | null;
  quantizationParameter: number | null;
  /** Started by archiveMode `always`. */
  autoArchive: boolean;
  createdAt: number;
  updatedAt: number;
  /** Recorded (not paused) time so far, persisted about every second for crash recovery. */
  recordedMs: number;
  /** Seconds, once stopped. */
  duration: number;
  /** Bytes of the downloadable file, once available. */
  size: number;
  /** The downloadable file in the archive's folder (`archive.mp4` / `archive.zip`), once available. */
  fileName: string | null;
  sha256: string | null;
}

export interface ArchiveFileRecord {
  archiveId: string;
  fileName: string;
  streamId: string;
  connectionId: string;
  connectionData: string;
  videoType: 'camera' | 'screen' | 'custom';
  layoutClassList: string[];
  hasAudio: boolean;
  hasVideo: boolean;
  /** Archive time of the first frame, ms (null until the file has its first frame). */
  startOffsetMs: number | null;
  stopOffsetMs: number | null;
  size: number;
  state: 'recording' | 'complete';
}

export type ArchiveEvent =
  | { atMs: number; kind: 'layout'; layout: ArchiveLayout }
  | { atMs: number; kind: 'classes'; streamId: string; layoutClassList: string[] };

interface ArchiveRow {
  id: string;
  project_id: string;
  session_id: string;
  name: string | null;
  status: ArchiveStatus;
  reason: string;
  output_mode: OutputMode;
  stream_mode: StreamMode;
  has_audio: number;
  has_video: number;
  resolution: string | null;
  layout: string | null;
  multi_archive_tag: string | null;
  max_bitrate: number | null;
  quantization_parameter: number | null;
  auto_archive: number;
  created_at: number;
  updated_at: number;
  recorded_ms: number;
  duration: number;
  size: number;
  file_name: string | null;
  sha256: string | null;
}

interface FileRow {
  archive_id: string;
  file_name: string;
  stream_id: string;
  connection_id: string;
  connection_data: string;
  video_type: ArchiveFileRecord['videoType'];
  layout_class_list: string;
  has_audio: number;
  has_video: number;
  start_offset_ms: number | null;
  stop_offset_ms: number | null;
  size: number;
  state: ArchiveFileRecord['state'];
}

function toRecord(row: ArchiveRow): ArchiveRecord {
  return {
    id: row.id,
    projectId: row.project_id,
    sessionId: row.session_id,
    name: row.name,
    status: row.status,
    reason: row.reason,
    outputMode: row.output_mode,
    streamMode: row.stream_mode,
    hasAudio: row.has_audio === 1,
    hasVideo: row.has_video === 1,
    resolution: row.resolution,
    layout: row.layout ? (JSON.parse(row.layout) as ArchiveLayout) : null,
    multiArchiveTag: row.multi_archive_tag,
    maxBitrate: row.max_bitrate,
    quantizationParameter: row.quantization_parameter,
    autoArchive: row.auto_archive === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    recordedMs: row.recorded_ms,
    duration: row.duration,
    size: row.size,
    fileName: row.file_name,
    sha256: row.sha256,
  };
}

function toFile(row: FileRow): ArchiveFileRecord {
  return {
    archiveId: row.archive_id,
    fileName: row.file_name,
    streamId: row.stream_id,
    connectionId: row.connection_id,
    connectionData: row.connection_data,
    videoType: row.video_type,
    layoutClassList: JSON.parse(row.layout_class_list) as string[],
    hasAudio: row.has_audio === 1,
    hasVideo: row.has_video === 1,
    startOffsetMs: row.start_offset_ms,
    stopOffsetMs: row.stop_offset_ms,
    size: row.size,
    state: row.state,
  };
}

export class ArchiveConflictError extends Error {
  override name = 'ArchiveConflictError';
}

export interface ListOptions {
  offset?: number;
  count?: number;
  sessionId?: string;
}

export class ArchiveStore {
  readonly #db: SqlDatabase;
  /**
   * Called after an archive is inserted (previous status null) or its status changes: the
   * Inspector's archive events and the archive status callbacks come from here, so every path that
   * changes a status is covered. A listener that throws does not stop the others.
   */
  readonly #statusListeners = new Set<(record: ArchiveRecord, previous: ArchiveStatus | null) => void>();

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  /** Adds a status listener (see above); returns its removal. */
  onStatusChange(listener: (record: ArchiveRecord, previous: ArchiveStatus | null) => void): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  #statusChanged(record: ArchiveRecord, previous: ArchiveStatus | null): void {
    for (const listener of this.#statusListeners) {
      try {
        listener(record, previous);
      } catch {
        // A listener's failure is its own (each logs); the archive's state is already stored.
      }
    }
  }

  /** Inserts a new archive; ArchiveConflictError if the session already records one with this tag. */
  async insert(record: ArchiveRecord): Promise<void> {
    try {
      await this.#db.run(
        `INSERT INTO archives (id, project_id, session_id, name, status, reason, output_mode, stream_mode, has_audio, has_video,
           resolution, layout, multi_archive_tag, max_bitrate, quantization_parameter, auto_archive, created_at, updated_at,
           recorded_ms, duration, size, file_name, sha256)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          record.id,
          record.projectId,
          record.sessionId,
          record.name,
          record.status,
          record.reason,
          record.outputMode,
          record.streamMode,
          record.hasAudio ? 1 : 0,
          record.hasVideo ? 1 : 0,
          record.resolution,
          record.layout ? JSON.stringify(record.layout) : null,
          record.multiArchiveTag,
          record.maxBitrate,
          record.quantizationParameter,
          record.autoArchive ? 1 : 0,
          record.createdAt,
          record.updatedAt,
          record.recordedMs,
          record.duration,
          record.size,
          record.fileName,
          record.sha256,
        ],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw new ArchiveConflictError('already recording');
      throw err;
    }
    this.#statusChanged(record, null);
  }

  /** `on`: an open transaction to read in (see update). */
  async get(id: string, on: Sql = this.#db): Promise<ArchiveRecord | null> {
    const row = await on.get<ArchiveRow>('SELECT * FROM archives WHERE id = ?', [id]);
    return row ? toRecord(row) : null;
  }

  /** A project's archives, newest first, and how many match in all. */
  async list(projectId: string, options: ListOptions = {}): Promise<{ count: number; items: ArchiveRecord[] }> {
    const where = options.sessionId !== undefined ? 'project_id = ? AND session_id = ?' : 'project_id = ?';
    const params: SqlValue[] = options.sessionId !== undefined ? [projectId, options.sessionId] : [projectId];
    const count = (await this.#db.value<number>(`SELECT COUNT(*) FROM archives WHERE ${where}`, params)) ?? 0;
    // rowid: the insertion order among archives of one millisecond (PostgreSQL has an identity column of that name).
    const rows = await this.#db.all<ArchiveRow>(`SELECT * FROM archives WHERE ${where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?`, [
      ...params,
      options.count ?? 50,
      options.offset ?? 0,
    ]);
    return { count, items: rows.map(toRecord) };
  }

  /** Archives in the given states (recovery, retention). */
  async withStatus(...statuses: ArchiveStatus[]): Promise<ArchiveRecord[]> {
    const rows = await this.#db.all<ArchiveRow>(`SELECT * FROM archives WHERE status IN (${statuses.map(() => '?').join(', ')}) ORDER BY created_at`, statuses);
    return rows.map(toRecord);
  }

  /** The archive recording in a session under a tag (null tag = untagged), if any. */
  async recording(sessionId: string, multiArchiveTag: string | null): Promise<ArchiveRecord | null> {
    const row = await this.#db.get<ArchiveRow>(
      `SELECT * FROM archives WHERE session_id = ? AND COALESCE(multi_archive_tag, '') = ? AND status IN ('started', 'paused')`,
      [sessionId, multiArchiveTag ?? ''],
    );
    return row ? toRecord(row) : null;
  }

  /** Changes an archive and returns it as stored. `on`: an open transaction to write in (uploads change an archive and its upload together). */
  async update(
    id: string,
    changes: Partial<Pick<ArchiveRecord, 'status' | 'reason' | 'recordedMs' | 'duration' | 'size' | 'fileName' | 'sha256' | 'layout'>>,
    on: Sql = this.#db,
  ): Promise<ArchiveRecord> {
    const sets: string[] = ['updated_at = ?'];
    const values: SqlValue[] = [Date.now()];
    const column: Record<string, string> = {
      status: 'status',
      reason: 'reason',
      recordedMs: 'recorded_ms',
      duration: 'duration',
      size: 'size',
      fileName: 'file_name',
      sha256: 'sha256',
      layout: 'layout',
    };
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined) continue;
      sets.push(`${column[key]} = ?`);
      values.push(key === 'layout' ? (value === null ? null : JSON.stringify(value)) : (value as SqlValue));
    }
    const previous = changes.status !== undefined && this.#statusListeners.size > 0 ? ((await this.get(id, on))?.status ?? null) : undefined;
    await on.run(`UPDATE archives SET ${sets.join(', ')} WHERE id = ?`, [...values, id]);
    const updated = await this.get(id, on);
    if (!updated) throw new Error(`archive ${id} vanished`);
    if (previous !== undefined && previous !== updated.status) this.#statusChanged(updated, previous);
    return updated;
  }

  /** Recorded time heartbeat (cheap, no read-back). */
  async setRecordedMs(id: string, recordedMs: number): Promise<void> {
    await this.#db.run('UPDATE archives SET recorded_ms = ?, updated_at = ? WHERE id = ?', [Math.round(recordedMs), Date.now(), id]);
  }

  async insertFile(file: ArchiveFileRecord): Promise<void> {
    await this.#db.run(
      `INSERT INTO archive_files (archive_id, file_name, stream_id, connection_id, connection_data, video_type, layout_class_list,
         has_audio, has_video, start_offset_ms, stop_offset_ms, size, state)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        file.archiveId,
        file.fileName,
        file.streamId,
        file.connectionId,
        file.connectionData,
        file.videoType,
        JSON.stringify(file.layoutClassList),
        file.hasAudio ? 1 : 0,
        file.hasVideo ? 1 : 0,
        file.startOffsetMs,
        file.stopOffsetMs,
        file.size,
        file.state,
      ],
    );
  }

  async setFileStart(archiveId: string, fileName: string, startOffsetMs: number): Promise<void> {
    await this.#db.run('UPDATE archive_files SET start_offset_ms = ? WHERE archive_id = ? AND file_name = ?', [Math.round(startOffsetMs), archiveId, fileName]);
  }

  async completeFile(archiveId: string, fileName: string, done: { startOffsetMs: number; stopOffsetMs: number; size: number; hasAudio: boolean; hasVideo: boolean }): Promise<void> {
    await this.#db.run(
      `UPDATE archive_files SET start_offset_ms = ?, stop_offset_ms = ?, size = ?, has_audio = ?, has_video = ?, state = 'complete'
       WHERE archive_id = ? AND file_name = ?`,
      [Math.round(done.startOffsetMs), Math.round(done.stopOffsetMs), done.size, done.hasAudio ? 1 : 0, done.hasVideo ? 1 : 0, archiveId, fileName],
    );
  }

  async deleteFile(archiveId: string, fileName: string): Promise<void> {
    await this.#db.run('DELETE FROM archive_files WHERE archive_id = ? AND file_name = ?', [archiveId, fileName]);
  }

  /** An archive's files by start offset, those not started yet first (SQLite's NULL order, spelled out for PostgreSQL), then in insertion order. */
  async files(archiveId: string): Promise<ArchiveFileRecord[]> {
    const rows = await this.#db.all<FileRow>(
      'SELECT * FROM archive_files WHERE archive_id = ? ORDER BY (start_offset_ms IS NOT NULL), start_offset_ms, rowid',
      [archiveId],
    );
    return rows.map(toFile);
  }

  async addEvent(archiveId: string, event: ArchiveEvent): Promise<void> {
    const { atMs, kind, ...data } = event;
    await this.#db.run(
      'INSERT INTO archive_events (archive_id, seq, at_ms, kind, data) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM archive_events WHERE archive_id = ?), ?, ?, ?)',
      [archiveId, archiveId, Math.round(atMs), kind, JSON.stringify(data)],
    );
  }

  async events(archiveId: string): Promise<ArchiveEvent[]> {
    const rows = await this.#db.all<{ at_ms: number; kind: 'layout' | 'classes'; data: string }>(
      'SELECT at_ms, kind, data FROM archive_events WHERE archive_id = ? ORDER BY seq',
      [archiveId],
    );
    return rows.map((r) => ({ atMs: r.at_ms, kind: r.kind, ...(JSON.parse(r.data) as object) }) as ArchiveEvent);
  }

  /** Every archive id this database knows (to find orphaned folders). */
  async allIds(): Promise<Set<string>> {
    return new Set((await this.#db.all<{ id: string }>('SELECT id FROM archives')).map((r) => r.id));
  }
}
