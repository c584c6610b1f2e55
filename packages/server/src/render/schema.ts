// The Experience Composer's table: one row per render, kept after it ends so GET and the list
// answer for stopped and failed ones too (OpenTok lists renders in any status).

import type { Migration } from '../store/database.js';

export const renderMigrations: readonly Migration[] = [
  {
    id: 'render-001-renders',
    sql: `
    CREATE TABLE renders (
      id                   TEXT PRIMARY KEY,
      project_id           TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      session_id           TEXT NOT NULL,
      url                  TEXT NOT NULL,
      resolution           TEXT NOT NULL,
      name                 TEXT NOT NULL,
      max_duration         INTEGER NOT NULL,
      status_callback_url  TEXT,
      status               TEXT NOT NULL CHECK (status IN ('starting', 'started', 'stopped', 'failed')),
      reason               TEXT,
      stream_id            TEXT,
      connection_id        TEXT,
      created_at           INTEGER NOT NULL,
      updated_at           INTEGER NOT NULL
    );
    CREATE INDEX renders_by_project ON renders (project_id, created_at);
    `,
  },
];
