// Inspector tables: the event log and quality samples of each session, plus one summary row per
// session (counters, first/last activity) so the session list needs no scan of the big tables.
// Every row hangs off `sessions(id)` with ON DELETE CASCADE: deleting a project removes its
// sessions and so their Inspector data.

import type { Migration } from '../store/database.js';

export const inspectorMigrations: readonly Migration[] = [
  {
    id: 'inspector-001-events-quality',
    sql: `
    CREATE TABLE inspector_sessions (
      session_id      TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
      project_id      TEXT NOT NULL,
      first_at        INTEGER NOT NULL,
      last_at         INTEGER NOT NULL,
      events          INTEGER NOT NULL DEFAULT 0,
      samples         INTEGER NOT NULL DEFAULT 0,
      errors          INTEGER NOT NULL DEFAULT 0,
      connections     INTEGER NOT NULL DEFAULT 0,
      dropped_events  INTEGER NOT NULL DEFAULT 0,
      dropped_samples INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX inspector_sessions_by_project ON inspector_sessions(project_id, last_at);
    CREATE INDEX inspector_sessions_by_age ON inspector_sessions(last_at);

    CREATE TABLE inspector_events (
      id             INTEGER PRIMARY KEY,
      session_id     TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
      at             INTEGER NOT NULL,
      type           TEXT NOT NULL,
      connection_id  TEXT,
      stream_id      TEXT,
      is_error       INTEGER NOT NULL DEFAULT 0,
      details        TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX inspector_events_by_session ON inspector_events(session_id, id);
    CREATE INDEX inspector_events_by_age ON inspector_events(at);

    CREATE TABLE inspector_quality (
      id             INTEGER PRIMARY KEY,
      session_id     TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
      at             INTEGER NOT NULL,
      source         TEXT NOT NULL CHECK (source IN ('publisher', 'subscriber', 'client')),
      connection_id  TEXT NOT NULL,
      stream_id      TEXT,
      kind           TEXT NOT NULL CHECK (kind IN ('audio', 'video')),
      direction      TEXT CHECK (direction IN ('send', 'receive')),
      bitrate        INTEGER,
      packet_loss    REAL,
      jitter_ms      REAL,
      rtt_ms         REAL,
      frame_rate     REAL,
      width          INTEGER,
      height         INTEGER,
      nack_count     INTEGER,
      pli_count      INTEGER,
      layer          INTEGER
    );
    CREATE INDEX inspector_quality_by_session ON inspector_quality(session_id, at);
    CREATE INDEX inspector_quality_by_age ON inspector_quality(at);
    `,
  },
];
