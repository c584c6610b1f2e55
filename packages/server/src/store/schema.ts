// Core tables: projects (legacy API key + secret, or Vonage application id + public key) and the
// sessions created through the REST API.

import type { Migration } from './database.js';

export const coreMigrations: readonly Migration[] = [
  {
    id: 'core-001-projects-sessions',
    sql: `
    CREATE TABLE projects (
      id          TEXT PRIMARY KEY,
      kind        TEXT NOT NULL CHECK (kind IN ('project', 'application')),
      name        TEXT NOT NULL,
      secret      TEXT,
      public_key  TEXT,
      created_at  INTEGER NOT NULL,
      CHECK ((kind = 'project' AND secret IS NOT NULL) OR (kind = 'application' AND public_key IS NOT NULL))
    );
    CREATE TABLE sessions (
      id                  TEXT PRIMARY KEY,
      project_id          TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      media_mode          TEXT NOT NULL CHECK (media_mode IN ('routed', 'relayed')),
      archive_mode        TEXT NOT NULL CHECK (archive_mode IN ('manual', 'always')),
      archive_name        TEXT,
      archive_resolution  TEXT,
      e2ee                INTEGER NOT NULL DEFAULT 0,
      location            TEXT,
      created_at          INTEGER NOT NULL
    );
    CREATE INDEX sessions_by_project ON sessions(project_id, created_at);
    `,
  },
];
