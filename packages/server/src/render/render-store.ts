// Renders in SQLite: created as `starting`, moved to `started` (with the stream it publishes), and
// ended as `stopped` or `failed` with a reason. Listing is newest first, as OpenTok's lists are.

import type { Db } from '../store/database.js';

export type RenderStatus = 'starting' | 'started' | 'stopped' | 'failed';

export interface RenderRecord {
  id: string;
  projectId: string;
  sessionId: string;
  url: string;
  /** `WIDTHxHEIGHT`, one of RENDER_RESOLUTIONS. */
  resolution: string;
  /** The published stream's name (properties.name). */
  name: string;
  /** Seconds after which the render stops by itself. */
  maxDuration: number;
  statusCallbackUrl: string | null;
  status: RenderStatus;
  reason: string | null;
  streamId: string | null;
  connectionId: string | null;
  createdAt: number;
  updatedAt: number;
}

interface Row {
  id: string;
  project_id: string;
  session_id: string;
  url: string;
  resolution: string;
  name: string;
  max_duration: number;
  status_callback_url: string | null;
  status: RenderStatus;
  reason: string | null;
  stream_id: string | null;
  connection_id: string | null;
  created_at: number;
  updated_at: number;
}

const fromRow = (row: Row): RenderRecord => ({
  id: row.id,
  projectId: row.project_id,
  sessionId: row.session_id,
  url: row.url,
  resolution: row.resolution,
  name: row.name,
  maxDuration: row.max_duration,
  statusCallbackUrl: row.status_callback_url,
  status: row.status,
  reason: row.reason,
  streamId: row.stream_id,
  connectionId: row.connection_id,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export class RenderStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  insert(record: RenderRecord): void {
    this.#db
      .prepare(
        `INSERT INTO renders (id, project_id, session_id, url, resolution, name, max_duration, status_callback_url, status, reason, stream_id, connection_id, created_at, updated_at)
         VALUES (@id, @projectId, @sessionId, @url, @resolution, @name, @maxDuration, @statusCallbackUrl, @status, @reason, @streamId, @connectionId, @createdAt, @updatedAt)`,
      )
      .run(record);
  }

  get(projectId: string, id: string): RenderRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM renders WHERE id = ? AND project_id = ?').get(id, projectId) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(projectId: string, offset: number, count: number): { count: number; items: RenderRecord[] } {
    const total = this.#db.prepare('SELECT COUNT(*) FROM renders WHERE project_id = ?').pluck().get(projectId) as number;
    const rows = this.#db.prepare('SELECT * FROM renders WHERE project_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?').all(projectId, count, offset) as Row[];
    return { count: total, items: rows.map(fromRow) };
  }

  /** Moves a render to `status`; returns the updated record. */
  update(id: string, change: { status: RenderStatus; reason?: string | null; streamId?: string | null; connectionId?: string | null }, now = Date.now()): RenderRecord {
    this.#db
      .prepare(
        `UPDATE renders SET status = @status, reason = COALESCE(@reason, reason), stream_id = COALESCE(@streamId, stream_id),
         connection_id = COALESCE(@connectionId, connection_id), updated_at = @now WHERE id = @id`,
      )
      .run({ id, status: change.status, reason: change.reason ?? null, streamId: change.streamId ?? null, connectionId: change.connectionId ?? null, now });
    return fromRow(this.#db.prepare('SELECT * FROM renders WHERE id = ?').get(id) as Row);
  }

  /**
   * At start: renders a previous process left running had their browser die with it. They are
   * stopped with a reason, never shown as running forever.
   */
  endInterrupted(reason: string, now = Date.now()): number {
    return this.#db.prepare(`UPDATE renders SET status = 'stopped', reason = ?, updated_at = ? WHERE status IN ('starting', 'started')`).run(reason, now).changes;
  }
}
