// Sessions created through POST /session/create: their media mode and archive settings. Live state
// (who is connected) is not here but in sessions/, which reads these records.

import type { SqlDatabase } from './sql.js';

export type MediaMode = 'routed' | 'relayed';
export type ArchiveMode = 'manual' | 'always';

/** Resolutions OpenTok composes archives at (reference §1.2, §6): a session's default and an archive's. */
export const ARCHIVE_RESOLUTIONS = ['640x480', '480x640', '1280x720', '720x1280', '1920x1080', '1080x1920'] as const;
export type ArchiveResolution = (typeof ARCHIVE_RESOLUTIONS)[number];

export interface SessionRecord {
  id: string;
  projectId: string;
  mediaMode: MediaMode;
  archiveMode: ArchiveMode;
  archiveName: string | null;
  archiveResolution: string | null;
  e2ee: boolean;
  location: string | null;
  createdAt: number;
}

interface SessionRow {
  id: string;
  project_id: string;
  media_mode: MediaMode;
  archive_mode: ArchiveMode;
  archive_name: string | null;
  archive_resolution: string | null;
  e2ee: number;
  location: string | null;
  created_at: number;
}

function toRecord(row: SessionRow): SessionRecord {
  return {
    id: row.id,
    projectId: row.project_id,
    mediaMode: row.media_mode,
    archiveMode: row.archive_mode,
    archiveName: row.archive_name,
    archiveResolution: row.archive_resolution,
    e2ee: row.e2ee === 1,
    location: row.location,
    createdAt: row.created_at,
  };
}

export class SessionStore {
  readonly #db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  async insert(session: SessionRecord): Promise<void> {
    await this.#db.run(
      `INSERT INTO sessions (id, project_id, media_mode, archive_mode, archive_name, archive_resolution, e2ee, location, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        session.id,
        session.projectId,
        session.mediaMode,
        session.archiveMode,
        session.archiveName,
        session.archiveResolution,
        session.e2ee ? 1 : 0,
        session.location,
        session.createdAt,
      ],
    );
  }

  async get(id: string): Promise<SessionRecord | null> {
    const row = await this.#db.get<SessionRow>('SELECT * FROM sessions WHERE id = ?', [id]);
    return row ? toRecord(row) : null;
  }

  /** Newest first. */
  async listByProject(projectId: string, limit = 100, offset = 0): Promise<SessionRecord[]> {
    const rows = await this.#db.all<SessionRow>('SELECT * FROM sessions WHERE project_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?', [projectId, limit, offset]);
    return rows.map(toRecord);
  }

  async countByProject(projectId: string): Promise<number> {
    return (await this.#db.value<number>('SELECT COUNT(*) FROM sessions WHERE project_id = ?', [projectId])) ?? 0;
  }

  async idsByProject(projectId: string): Promise<string[]> {
    return (await this.#db.all<{ id: string }>('SELECT id FROM sessions WHERE project_id = ?', [projectId])).map((r) => r.id);
  }
}
