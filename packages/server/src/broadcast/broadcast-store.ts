// Broadcasts in SQLite: the records the REST API, the callbacks and the dashboard read. Every status
// change (and every RTMP target's status change) is announced to listeners, so the broadcast status
// callbacks follow each path that changes a broadcast.

import type { Db } from '../store/database.js';
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
  readonly #db: Db;
  readonly #listeners = new Set<(record: BroadcastRecord) => void>();

  constructor(db: Db) {
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
  insert(record: BroadcastRecord): void {
    try {
      this.#db
        .prepare('INSERT INTO broadcasts (id, project_id, session_id, status, multi_broadcast_tag, created_at, updated_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(record.id, record.projectId, record.sessionId, record.status, record.multiBroadcastTag, record.createdAt, record.updatedAt, documentOf(record));
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new BroadcastConflictError('already broadcasting');
      throw err;
    }
    this.#changed(record);
  }

  /** Writes the record back; `announce` tells the listeners (a status changed). */
  save(record: BroadcastRecord, announce: boolean): void {
    record.updatedAt = Math.max(Date.now(), record.updatedAt);
    this.#db
      .prepare('UPDATE broadcasts SET status = ?, updated_at = ?, data = ? WHERE id = ?')
      .run(record.status, record.updatedAt, documentOf(record), record.id);
    if (announce) this.#changed(record);
  }

  get(id: string): BroadcastRecord | null {
    const row = this.#db.prepare('SELECT * FROM broadcasts WHERE id = ?').get(id) as Row | undefined;
    return row ? toRecord(row) : null;
  }

  /** A project's broadcasts, newest first, and how many match in all. */
  list(projectId: string, options: { offset?: number; count?: number; sessionId?: string } = {}): { count: number; items: BroadcastRecord[] } {
    const where = options.sessionId !== undefined ? 'project_id = ? AND session_id = ?' : 'project_id = ?';
    const params: unknown[] = options.sessionId !== undefined ? [projectId, options.sessionId] : [projectId];
    const count = this.#db.prepare(`SELECT COUNT(*) FROM broadcasts WHERE ${where}`).pluck().get(...params) as number;
    const rows = this.#db
      .prepare(`SELECT * FROM broadcasts WHERE ${where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?`)
      .all(...params, options.count ?? 50, options.offset ?? 0) as Row[];
    return { count, items: rows.map(toRecord) };
  }

  /** The live broadcast of a session under a tag (null tag = untagged), if any. */
  live(sessionId: string, tag: string | null): BroadcastRecord | null {
    const row = this.#db
      .prepare("SELECT * FROM broadcasts WHERE session_id = ? AND COALESCE(multi_broadcast_tag, '') = ? AND status = 'started'")
      .get(sessionId, tag ?? '') as Row | undefined;
    return row ? toRecord(row) : null;
  }

  /** Every broadcast still marked live (at start: what a previous run left). */
  allLive(): BroadcastRecord[] {
    return (this.#db.prepare("SELECT * FROM broadcasts WHERE status = 'started'").all() as Row[]).map(toRecord);
  }
}
