// Archiving's tables: archives (one row per recording, its settings and lifecycle), the files
// recorded for it (one per stream segment, with offsets on the archive clock) and the timeline
// events a composition replays (layout and layout-class changes).

import type { Migration } from '../store/database.js';

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
];
