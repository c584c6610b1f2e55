// Broadcasts in the store (SQLite or PostgreSQL): the records the REST API, the callbacks and the dashboard read. Every status
// change (and every RTMP target's status change) is announced to listeners, so the broadcast status
// callbacks follow each path that changes a broadcast.

import { isUniqueViolation, type SqlDatabase, type SqlValue } from '../store/sql.js';
import type { ArchiveLayout } from '../archiving/layout.js';

export type BroadcastStatus = 'started' | 'stopped';
export type RtmpStatus = 'connecting' | 'live' | 'offline' | 'error';
export type HlsStatus = 'connecting' | 'live' | 'ended' | 'error';

export interface RtmpTarget {
  id: string;
  serverUrl: string;
  streamName: string;
  status: RtmpStatus;
}

export interface BroadcastRecord {
  id: string;
  projectId: string;
  sessionId: string;
  status: BroadcastStatus;
  /** Why it stopped ('' while live). */
  reason: string;
  createdAt: number;
  updatedAt: number;
  resolution: string;
  streamMode: 'auto' | 'manual';
  hasAudio: boolean;
  hasVideo: boolean;
  /** Seconds. */
  maxDuration: number;
  maxBitrate: number | null;
  multiBroadcastTag: string | null;
  layout: ArchiveLayout;
  /** Null when the broadcast has no HLS output. */
  hls: { dvr: boolean; lowLatency: boolean; status: HlsStatus } | null;
  rtmp: RtmpTarget[];
  /** Manual stream mode: the streams chosen, with their audio/video choice. */
  selected: Array<{ streamId: string; hasAudio: boolean; hasVideo: boolean }>;
}

export class BroadcastConflictError extends Error {
  override name = 'BroadcastConflictError';
}

interface Row {
  id: string;
  project_id: string;
  session_id: string;
  status: BroadcastStatus;
  multi_broadcast_tag: string | null;
  created_at: number;
  updated_at: number;
  data: string;
}

type Document = Omit<BroadcastRecord, 'id' | 'projectId' | 'sessionId' | 'status' | 'multiBroadcastTag' | 'createdAt' | 'updatedAt'>;

function toRecord(row: Row): BroadcastRecord {
  const doc = JSON.parse(row.data) as Document;
  return {
    ...doc,
    id: row.id,
    projectId: row.project_id,
    sessionId: row.session_id,
    status: row.status,
    multiBroadcastTag: row.multi_broadcast_tag,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function documentOf(record: BroadcastRecord): string {
  const { id: _id, projectId: _p, sessionId: _s, status: _st, multiBroadcastTag: _t, createdAt: _c, updatedAt: _u, ...doc } = record;
  return JSON.stringify(doc);
}

export class BroadcastStore {
  readonly #db: SqlDatabase;
  readonly #listeners = new Set<(record: BroadcastRecord) => void>();
  /**
   * Each broadcast's last queued write: a live broadcast saves its record often (output status,
   * layout, selection) without waiting, so the writes of one broadcast are chained to land in order.
   */
  readonly #writes = new Map<string, Promise<void>>();

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  /** Called after a broadcast is inserted, or its status or an output's status changes. */
  onChange(listener: (record: BroadcastRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(record: BroadcastRecord): void {
    for (const listener of this.#listeners) {
      try {
        listener(record);
      } catch {
        // A listener's failure is its own; the broadcast is stored.
      }
    }
  }

  /** Inserts a new broadcast; BroadcastConflictError if the session already has one live with this tag. */
  async insert(record: BroadcastRecord): Promise<void> {
    try {
      await this.#db.run('INSERT INTO broadcasts (id, project_id, session_id, status, multi_broadcast_tag, created_at, updated_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
        record.id,
        record.projectId,
        record.sessionId,
        record.status,
        record.multiBroadcastTag,
        record.createdAt,
        record.updatedAt,
        documentOf(record),
      ]);
    } catch (err) {
      if (isUniqueViolation(err)) throw new BroadcastConflictError('already broadcasting');
      throw err;
    }
    this.#changed(record);
  }

  /**
   * Writes the record back as it is now (after this broadcast's earlier writes); `announce` tells the
   * listeners (a status changed) once it is stored.
   */
  save(record: BroadcastRecord, announce: boolean): Promise<void> {
    record.updatedAt = Math.max(Date.now(), record.updatedAt);
    const params = [record.status, record.updatedAt, documentOf(record), record.id];
    const snapshot: BroadcastRecord = structuredClone(record);
    const previous = this.#writes.get(record.id) ?? Promise.resolve();
    const write = previous
      .catch(() => {})
      .then(() => this.#db.run('UPDATE broadcasts SET status = ?, updated_at = ?, data = ? WHERE id = ?', params))
      .then(() => {
        if (announce) this.#changed(snapshot);
      })
      .finally(() => {
        if (this.#writes.get(record.id) === write) this.#writes.delete(record.id);
      });
    this.#writes.set(record.id, write);
    return write;
  }

  /** Resolves once every queued write has landed (before the database closes). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#writes.values()]);
  }

  async get(id: string): Promise<BroadcastRecord | null> {
    const row = await this.#db.get<Row>('SELECT * FROM broadcasts WHERE id = ?', [id]);
    return row ? toRecord(row) : null;
  }

  /** A project's broadcasts, newest first, and how many match in all. */
  async list(projectId: string, options: { offset?: number; count?: number; sessionId?: string } = {}): Promise<{ count: number; items: BroadcastRecord[] }> {
    const where = options.sessionId !== undefined ? 'project_id = ? AND session_id = ?' : 'project_id = ?';
    const params: SqlValue[] = options.sessionId !== undefined ? [projectId, options.sessionId] : [projectId];
    const count = (await this.#db.value<number>(`SELECT COUNT(*) FROM broadcasts WHERE ${where}`, params)) ?? 0;
    // rowid: the insertion order among broadcasts of one millisecond (PostgreSQL has an identity column of that name).
    const rows = await this.#db.all<Row>(`SELECT * FROM broadcasts WHERE ${where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?`, [
      ...params,
      options.count ?? 50,
      options.offset ?? 0,
    ]);
    return { count, items: rows.map(toRecord) };
  }

  /** The live broadcast of a session under a tag (null tag = untagged), if any. */
  async live(sessionId: string, tag: string | null): Promise<BroadcastRecord | null> {
    const row = await this.#db.get<Row>("SELECT * FROM broadcasts WHERE session_id = ? AND COALESCE(multi_broadcast_tag, '') = ? AND status = 'started'", [sessionId, tag ?? '']);
    return row ? toRecord(row) : null;
  }

  /** Every broadcast still marked live (at start: what a previous run left). */
  async allLive(): Promise<BroadcastRecord[]> {
    return (await this.#db.all<Row>("SELECT * FROM broadcasts WHERE status = 'started'")).map(toRecord);
  }
}
