// Callbacks' tables: the URLs a project's archive status and session monitoring events are POSTed to
// (one per kind, set by the operator) and those registered through the REST API.

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
  {
    // OpenTok's older registration API (POST/GET/DELETE /v2/project/{key}/callback): any number of
    // URLs per project, each for one group and event.
    id: 'callbacks-002-registered-callbacks',
    sql: `
    CREATE TABLE registered_callbacks (
      id           TEXT PRIMARY KEY,
      project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      grp          TEXT NOT NULL,
      event        TEXT NOT NULL,
      url          TEXT NOT NULL,
      created_at   INTEGER NOT NULL,
      UNIQUE (project_id, grp, event, url)
    );
    CREATE INDEX registered_callbacks_project ON registered_callbacks (project_id, grp, event);
    `,
  },
];
