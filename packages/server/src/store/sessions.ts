// Sessions created through POST /session/create: their media mode and archive settings. Live state
// (who is connected) is not here but in sessions/, which reads these records.

import type { Db } from './database.js';

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
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  insert(session: SessionRecord): void {
    this.#db
      .prepare(
        `INSERT INTO sessions (id, project_id, media_mode, archive_mode, archive_name, archive_resolution, e2ee, location, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        session.id,
        session.projectId,
        session.mediaMode,
        session.archiveMode,
        session.archiveName,
        session.archiveResolution,
        session.e2ee ? 1 : 0,
        session.location,
        session.createdAt,
      );
  }

  get(id: string): SessionRecord | null {
    const row = this.#db.prepare('SELECT * FROM sessions WHERE id = ?').get(id) as SessionRow | undefined;
    return row ? toRecord(row) : null;
  }

  /** Newest first. */
  listByProject(projectId: string, limit = 100, offset = 0): SessionRecord[] {
    const rows = this.#db
      .prepare('SELECT * FROM sessions WHERE project_id = ? ORDER BY created_at DESC, id LIMIT ? OFFSET ?')
      .all(projectId, limit, offset) as SessionRow[];
    return rows.map(toRecord);
  }
}
