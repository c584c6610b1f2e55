// Renders in the store (SQLite or PostgreSQL): created as `starting`, moved to `started` (with the stream it publishes), and
// ended as `stopped` or `failed` with a reason. Listing is newest first, as OpenTok's lists are.

import type { SqlDatabase } from '../store/sql.js';

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
  readonly #db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  async insert(r: RenderRecord): Promise<void> {
    await this.#db.run(
      `INSERT INTO renders (id, project_id, session_id, url, resolution, name, max_duration, status_callback_url, status, reason, stream_id, connection_id, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [r.id, r.projectId, r.sessionId, r.url, r.resolution, r.name, r.maxDuration, r.statusCallbackUrl, r.status, r.reason, r.streamId, r.connectionId, r.createdAt, r.updatedAt],
    );
  }

  async get(projectId: string, id: string): Promise<RenderRecord | undefined> {
    const row = await this.#db.get<Row>('SELECT * FROM renders WHERE id = ? AND project_id = ?', [id, projectId]);
    return row ? fromRow(row) : undefined;
  }

  async list(projectId: string, offset: number, count: number): Promise<{ count: number; items: RenderRecord[] }> {
    const total = (await this.#db.value<number>('SELECT COUNT(*) FROM renders WHERE project_id = ?', [projectId])) ?? 0;
    const rows = await this.#db.all<Row>('SELECT * FROM renders WHERE project_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?', [projectId, count, offset]);
    return { count: total, items: rows.map(fromRow) };
  }

  /** Moves a render to `status`; returns the updated record. */
  async update(id: string, change: { status: RenderStatus; reason?: string | null; streamId?: string | null; connectionId?: string | null }, now = Date.now()): Promise<RenderRecord> {
    await this.#db.run(
      `UPDATE renders SET status = ?, reason = COALESCE(?, reason), stream_id = COALESCE(?, stream_id),
       connection_id = COALESCE(?, connection_id), updated_at = ? WHERE id = ?`,
      [change.status, change.reason ?? null, change.streamId ?? null, change.connectionId ?? null, now, id],
    );
    return fromRow((await this.#db.get<Row>('SELECT * FROM renders WHERE id = ?', [id]))!);
  }

  /**
   * At start: renders a previous process left running had their browser die with it. They are
   * stopped with a reason, never shown as running forever.
   */
  async endInterrupted(reason: string, now = Date.now()): Promise<number> {
    return (await this.#db.run(`UPDATE renders SET status = 'stopped', reason = ?, updated_at = ? WHERE status IN ('starting', 'started')`, [reason, now])).changes;
  }
}
