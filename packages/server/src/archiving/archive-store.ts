// Archives in SQLite: the records the REST API and the dashboard read, the per-stream files the
// composer and the ZIP use, and the layout events a composition replays.

import type { Db } from '../store/database.js';
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
  readonly #db: Db;
  /**
   * Called after an archive is inserted (previous status null) or its status changes: the
   * Inspector's archive events and the archive status callbacks come from here, so every path that
   * changes a status is covered. A listener that throws does not stop the others.
   */
  readonly #statusListeners = new Set<(record: ArchiveRecord, previous: ArchiveStatus | null) => void>();

  constructor(db: Db) {
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
  insert(record: ArchiveRecord): void {
    try {
      this.#db
        .prepare(
          `INSERT INTO archives (id, project_id, session_id, name, status, reason, output_mode, stream_mode, has_audio, has_video,
             resolution, layout, multi_archive_tag, max_bitrate, quantization_parameter, auto_archive, created_at, updated_at,
             recorded_ms, duration, size, file_name, sha256)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
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
        );
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new ArchiveConflictError('already recording');
      throw err;
    }
    this.#statusChanged(record, null);
  }

  get(id: string): ArchiveRecord | null {
    const row = this.#db.prepare('SELECT * FROM archives WHERE id = ?').get(id) as ArchiveRow | undefined;
    return row ? toRecord(row) : null;
  }

  /** A project's archives, newest first, and how many match in all. */
  list(projectId: string, options: ListOptions = {}): { count: number; items: ArchiveRecord[] } {
    const where = options.sessionId !== undefined ? 'project_id = ? AND session_id = ?' : 'project_id = ?';
    const params: unknown[] = options.sessionId !== undefined ? [projectId, options.sessionId] : [projectId];
    const count = this.#db.prepare(`SELECT COUNT(*) FROM archives WHERE ${where}`).pluck().get(...params) as number;
    const rows = this.#db
      .prepare(`SELECT * FROM archives WHERE ${where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?`)
      .all(...params, options.count ?? 50, options.offset ?? 0) as ArchiveRow[];
    return { count, items: rows.map(toRecord) };
  }

  /** Archives in the given states (recovery, retention). */
  withStatus(...statuses: ArchiveStatus[]): ArchiveRecord[] {
    const rows = this.#db
      .prepare(`SELECT * FROM archives WHERE status IN (${statuses.map(() => '?').join(', ')}) ORDER BY created_at`)
      .all(...statuses) as ArchiveRow[];
    return rows.map(toRecord);
  }

  /** The archive recording in a session under a tag (null tag = untagged), if any. */
  recording(sessionId: string, multiArchiveTag: string | null): ArchiveRecord | null {
    const row = this.#db
      .prepare(`SELECT * FROM archives WHERE session_id = ? AND COALESCE(multi_archive_tag, '') = ? AND status IN ('started', 'paused')`)
      .get(sessionId, multiArchiveTag ?? '') as ArchiveRow | undefined;
    return row ? toRecord(row) : null;
  }

  update(id: string, changes: Partial<Pick<ArchiveRecord, 'status' | 'reason' | 'recordedMs' | 'duration' | 'size' | 'fileName' | 'sha256' | 'layout'>>): ArchiveRecord {
    const sets: string[] = ['updated_at = ?'];
    const values: unknown[] = [Date.now()];
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
      values.push(key === 'layout' ? (value === null ? null : JSON.stringify(value)) : value);
    }
    const previous = changes.status !== undefined && this.#statusListeners.size > 0 ? this.get(id)?.status ?? null : undefined;
    this.#db.prepare(`UPDATE archives SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
    const updated = this.get(id);
    if (!updated) throw new Error(`archive ${id} vanished`);
    if (previous !== undefined && previous !== updated.status) this.#statusChanged(updated, previous);
    return updated;
  }

  /** Recorded time heartbeat (cheap, no read-back). */
  setRecordedMs(id: string, recordedMs: number): void {
    this.#db.prepare('UPDATE archives SET recorded_ms = ?, updated_at = ? WHERE id = ?').run(Math.round(recordedMs), Date.now(), id);
  }

  insertFile(file: ArchiveFileRecord): void {
    this.#db
      .prepare(
        `INSERT INTO archive_files (archive_id, file_name, stream_id, connection_id, connection_data, video_type, layout_class_list,
           has_audio, has_video, start_offset_ms, stop_offset_ms, size, state)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
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
      );
  }

  setFileStart(archiveId: string, fileName: string, startOffsetMs: number): void {
    this.#db.prepare('UPDATE archive_files SET start_offset_ms = ? WHERE archive_id = ? AND file_name = ?').run(Math.round(startOffsetMs), archiveId, fileName);
  }

  completeFile(archiveId: string, fileName: string, done: { startOffsetMs: number; stopOffsetMs: number; size: number; hasAudio: boolean; hasVideo: boolean }): void {
    this.#db
      .prepare(
        `UPDATE archive_files SET start_offset_ms = ?, stop_offset_ms = ?, size = ?, has_audio = ?, has_video = ?, state = 'complete'
         WHERE archive_id = ? AND file_name = ?`,
      )
      .run(Math.round(done.startOffsetMs), Math.round(done.stopOffsetMs), done.size, done.hasAudio ? 1 : 0, done.hasVideo ? 1 : 0, archiveId, fileName);
  }

  deleteFile(archiveId: string, fileName: string): void {
    this.#db.prepare('DELETE FROM archive_files WHERE archive_id = ? AND file_name = ?').run(archiveId, fileName);
  }

  files(archiveId: string): ArchiveFileRecord[] {
    const rows = this.#db.prepare('SELECT * FROM archive_files WHERE archive_id = ? ORDER BY start_offset_ms, rowid').all(archiveId) as FileRow[];
    return rows.map(toFile);
  }

  addEvent(archiveId: string, event: ArchiveEvent): void {
    const { atMs, kind, ...data } = event;
    this.#db
      .prepare('INSERT INTO archive_events (archive_id, seq, at_ms, kind, data) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM archive_events WHERE archive_id = ?), ?, ?, ?)')
      .run(archiveId, archiveId, Math.round(atMs), kind, JSON.stringify(data));
  }

  events(archiveId: string): ArchiveEvent[] {
    const rows = this.#db.prepare('SELECT at_ms, kind, data FROM archive_events WHERE archive_id = ? ORDER BY seq').all(archiveId) as Array<{
      at_ms: number;
      kind: 'layout' | 'classes';
      data: string;
    }>;
    return rows.map((r) => ({ atMs: r.at_ms, kind: r.kind, ...(JSON.parse(r.data) as object) }) as ArchiveEvent);
  }

  /** Every archive id this database knows (to find orphaned folders). */
  allIds(): Set<string> {
    return new Set(this.#db.prepare('SELECT id FROM archives').pluck().all() as string[]);
  }
}
