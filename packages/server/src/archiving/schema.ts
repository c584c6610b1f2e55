// Archiving's tables: archives (one row per recording, its settings and lifecycle), the files
// recorded for it (one per stream segment, with offsets on the archive clock) and the timeline
// events a composition replays (layout and layout-class changes); then each project's upload target
// (OpenTok's archive storage settings) and each archive's upload to it.

import { postgresTypes, type Migration } from '../store/sql.js';

/** The upload target and upload tables (archiving-002), the same on both engines but for the types. */
const STORAGE_TABLES = `
    -- A project's upload target (PUT /v2/project/{key}/archive/storage). The secret is kept as given:
    -- the server must sign with it; responses never show it.
    CREATE TABLE archive_storage (
      project_id   TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
      type         TEXT NOT NULL CHECK (type IN ('s3')),
      bucket       TEXT NOT NULL,
      access_key   TEXT NOT NULL,
      secret_key   TEXT NOT NULL,
      endpoint     TEXT,
      sse          TEXT CHECK (sse IN ('s3', 'none')),
      fallback     TEXT NOT NULL CHECK (fallback IN ('none', 'opentok')),
      updated_at   INTEGER NOT NULL
    );

    -- One row per archive that had a target when it became available: pending until it is in the
    -- bucket (then uploaded) or given up (failed). Where it went is kept for its download link.
    CREATE TABLE archive_uploads (
      archive_id   TEXT PRIMARY KEY REFERENCES archives(id) ON DELETE CASCADE,
      state        TEXT NOT NULL CHECK (state IN ('pending', 'uploaded', 'failed')),
      bucket       TEXT NOT NULL,
      endpoint     TEXT,
      object_key   TEXT NOT NULL,
      attempts     INTEGER NOT NULL DEFAULT 0,
      error        TEXT,
      bytes        INTEGER NOT NULL DEFAULT 0,
      upload_ms    INTEGER,
      updated_at   INTEGER NOT NULL
    );
    CREATE INDEX archive_uploads_by_state ON archive_uploads(state);
`;

export const archivingMigrations: readonly Migration[] = [
  {
    id: 'archiving-001-archives',
    sql: `
    CREATE TABLE archives (
      id                      TEXT PRIMARY KEY,
      project_id              TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      session_id              TEXT NOT NULL,
      name                    TEXT,
      status                  TEXT NOT NULL CHECK (status IN ('started', 'paused', 'stopped', 'available', 'failed', 'deleted', 'expired')),
      reason                  TEXT NOT NULL DEFAULT '',
      output_mode             TEXT NOT NULL CHECK (output_mode IN ('composed', 'individual')),
      stream_mode             TEXT NOT NULL CHECK (stream_mode IN ('auto', 'manual')),
      has_audio               INTEGER NOT NULL,
      has_video               INTEGER NOT NULL,
      resolution              TEXT,
      layout                  TEXT,
      multi_archive_tag       TEXT,
      max_bitrate             INTEGER,
      quantization_parameter  INTEGER,
      auto_archive            INTEGER NOT NULL DEFAULT 0,
      created_at              INTEGER NOT NULL,
      updated_at              INTEGER NOT NULL,
      recorded_ms             INTEGER NOT NULL DEFAULT 0,
      duration                INTEGER NOT NULL DEFAULT 0,
      size                    INTEGER NOT NULL DEFAULT 0,
      file_name               TEXT,
      sha256                  TEXT
    );
    CREATE INDEX archives_by_project ON archives(project_id, created_at DESC);
    CREATE INDEX archives_by_session ON archives(session_id, created_at DESC);
    CREATE INDEX archives_by_status ON archives(status);
    -- One recording archive per session and tag: a second start is a 409, even under a race.
    CREATE UNIQUE INDEX archives_one_recording ON archives(session_id, COALESCE(multi_archive_tag, ''))
      WHERE status IN ('started', 'paused');

    CREATE TABLE archive_files (
      archive_id         TEXT NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
      file_name          TEXT NOT NULL,
      stream_id          TEXT NOT NULL,
      connection_id      TEXT NOT NULL,
      connection_data    TEXT NOT NULL DEFAULT '',
      video_type         TEXT NOT NULL,
      layout_class_list  TEXT NOT NULL DEFAULT '[]',
      has_audio          INTEGER NOT NULL,
      has_video          INTEGER NOT NULL,
      start_offset_ms    INTEGER,
      stop_offset_ms     INTEGER,
      size               INTEGER NOT NULL DEFAULT 0,
      state              TEXT NOT NULL CHECK (state IN ('recording', 'complete')),
      PRIMARY KEY (archive_id, file_name)
    );

    CREATE TABLE archive_events (
      archive_id  TEXT NOT NULL REFERENCES archives(id) ON DELETE CASCADE,
      seq         INTEGER NOT NULL,
      at_ms       INTEGER NOT NULL,
      kind        TEXT NOT NULL CHECK (kind IN ('layout', 'classes')),
      data        TEXT NOT NULL,
      PRIMARY KEY (archive_id, seq)
    );
    `,
  },
  {
    // OpenTok's `uploaded` status, the project's archive storage (upload target) and each archive's
    // upload. SQLite cannot change a CHECK constraint in place, so the archive tables are rebuilt:
    // new tables, copy, drop the old (children first: dropping a parent cascades to its children),
    // then rename (a rename rewrites the children's REFERENCES to the new name).
    id: 'archiving-002-storage-uploads',
    sql: `
    CREATE TABLE archives_v2 (
      id                      TEXT PRIMARY KEY,
      project_id              TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
      session_id              TEXT NOT NULL,
      name                    TEXT,
      status                  TEXT NOT NULL CHECK (status IN ('started', 'paused', 'stopped', 'available', 'uploaded', 'failed', 'deleted', 'expired')),
      reason                  TEXT NOT NULL DEFAULT '',
      output_mode             TEXT NOT NULL CHECK (output_mode IN ('composed', 'individual')),
      stream_mode             TEXT NOT NULL CHECK (stream_mode IN ('auto', 'manual')),
      has_audio               INTEGER NOT NULL,
      has_video               INTEGER NOT NULL,
      resolution              TEXT,
      layout                  TEXT,
      multi_archive_tag       TEXT,
      max_bitrate             INTEGER,
      quantization_parameter  INTEGER,
      auto_archive            INTEGER NOT NULL DEFAULT 0,
      created_at              INTEGER NOT NULL,
      updated_at              INTEGER NOT NULL,
      recorded_ms             INTEGER NOT NULL DEFAULT 0,
      duration                INTEGER NOT NULL DEFAULT 0,
      size                    INTEGER NOT NULL DEFAULT 0,
      file_name               TEXT,
      sha256                  TEXT
    );
    INSERT INTO archives_v2 SELECT id, project_id, session_id, name, status, reason, output_mode, stream_mode, has_audio, has_video,
      resolution, layout, multi_archive_tag, max_bitrate, quantization_parameter, auto_archive, created_at, updated_at,
      recorded_ms, duration, size, file_name, sha256 FROM archives;

    CREATE TABLE archive_files_v2 (
      archive_id         TEXT NOT NULL REFERENCES archives_v2(id) ON DELETE CASCADE,
      file_name          TEXT NOT NULL,
      stream_id          TEXT NOT NULL,
      connection_id      TEXT NOT NULL,
      connection_data    TEXT NOT NULL DEFAULT '',
      video_type         TEXT NOT NULL,
      layout_class_list  TEXT NOT NULL DEFAULT '[]',
      has_audio          INTEGER NOT NULL,
      has_video          INTEGER NOT NULL,
      start_offset_ms    INTEGER,
      stop_offset_ms     INTEGER,
      size               INTEGER NOT NULL DEFAULT 0,
      state              TEXT NOT NULL CHECK (state IN ('recording', 'complete')),
      PRIMARY KEY (archive_id, file_name)
    );
    INSERT INTO archive_files_v2 SELECT archive_id, file_name, stream_id, connection_id, connection_data, video_type, layout_class_list,
      has_audio, has_video, start_offset_ms, stop_offset_ms, size, state FROM archive_files;

    CREATE TABLE archive_events_v2 (
      archive_id  TEXT NOT NULL REFERENCES archives_v2(id) ON DELETE CASCADE,
      seq         INTEGER NOT NULL,
      at_ms       INTEGER NOT NULL,
      kind        TEXT NOT NULL CHECK (kind IN ('layout', 'classes')),
      data        TEXT NOT NULL,
      PRIMARY KEY (archive_id, seq)
    );
    INSERT INTO archive_events_v2 SELECT archive_id, seq, at_ms, kind, data FROM archive_events;

    DROP TABLE archive_events;
    DROP TABLE archive_files;
    DROP TABLE archives;
    ALTER TABLE archives_v2 RENAME TO archives;
    ALTER TABLE archive_files_v2 RENAME TO archive_files;
    ALTER TABLE archive_events_v2 RENAME TO archive_events;
    CREATE INDEX archives_by_project ON archives(project_id, created_at DESC);
    CREATE INDEX archives_by_session ON archives(session_id, created_at DESC);
    CREATE INDEX archives_by_status ON archives(status);
    CREATE UNIQUE INDEX archives_one_recording ON archives(session_id, COALESCE(multi_archive_tag, ''))
      WHERE status IN ('started', 'paused');

${STORAGE_TABLES}    `,
    // PostgreSQL changes a CHECK constraint in place (the archives table keeps its rows and name).
    postgres: `
    ALTER TABLE archives DROP CONSTRAINT archives_status_check;
    ALTER TABLE archives ADD CONSTRAINT archives_status_check
      CHECK (status IN ('started', 'paused', 'stopped', 'available', 'uploaded', 'failed', 'deleted', 'expired'));
${postgresTypes(STORAGE_TABLES)}    `,
  },
  {
    // Lists order archives (and an archive's files) of one millisecond by insertion, SQLite's rowid.
    // PostgreSQL has no rowid: it gets an identity column of that name, so the same ORDER BY runs on
    // both. Nothing to do on SQLite.
    id: 'archiving-003-postgres-rowid',
    sql: '-- SQLite already has rowid',
    postgres: `
    ALTER TABLE archives ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;
    ALTER TABLE archive_files ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;
    `,
  },
];
