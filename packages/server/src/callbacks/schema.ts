// Callbacks' table: the URLs a project's archive status and session monitoring events are POSTed to.

import type { Migration } from '../store/database.js';

export const callbackMigrations: readonly Migration[] = [
  {
    id: 'callbacks-001-project-callbacks',
    sql: `
    CREATE TABLE project_callbacks (
      project_id   TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
      archive_url  TEXT,
      session_url  TEXT,
      updated_at   INTEGER NOT NULL
    );
    `,
  },
];
