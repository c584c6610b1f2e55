// Broadcasts' table: one row per live streaming broadcast, its settings and lifecycle. The fields a
// query needs (project, session, tag, status) are columns; the rest of the broadcast is one JSON
// document, read and written whole (it changes rarely: start, layout, stream choice, RTMP status, stop).

import type { Migration } from '../store/database.js';

export const broadcastMigrations: readonly Migration[] = [
  {
    id: 'broadcast-001-broadcasts',
    sql: `
    CREATE TABLE broadcasts (
      id                   TEXT PRIMARY KEY,
      project_id           TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      session_id           TEXT NOT NULL,
      status               TEXT NOT NULL CHECK (status IN ('started', 'stopped')),
      multi_broadcast_tag  TEXT,
      created_at           INTEGER NOT NULL,
      updated_at           INTEGER NOT NULL,
      data                 TEXT NOT NULL
    );
    CREATE INDEX broadcasts_by_project ON broadcasts(project_id, created_at DESC);
    -- One live broadcast per session and tag: a second start is a 409, even under a race.
    CREATE UNIQUE INDEX broadcasts_one_live ON broadcasts(session_id, COALESCE(multi_broadcast_tag, ''))
      WHERE status = 'started';
    `,
  },
  {
    // Lists order broadcasts of one millisecond by insertion, SQLite's rowid. PostgreSQL has no rowid:
    // it gets an identity column of that name, so the same ORDER BY runs on both. Nothing on SQLite.
    id: 'broadcast-002-postgres-rowid',
    sql: '-- SQLite already has rowid',
    postgres: 'ALTER TABLE broadcasts ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY',
  },
];
