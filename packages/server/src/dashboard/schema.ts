// Dashboard tables: the operator's password hash (never the password) and signed-in browser
// sessions (a hash of the cookie, never the cookie itself), so a restart does not sign anyone out.

import type { Migration } from '../store/database.js';

export const dashboardMigrations: readonly Migration[] = [
  {
    id: 'dashboard-001-admin',
    sql: `
    CREATE TABLE dashboard_settings (
      key    TEXT PRIMARY KEY,
      value  TEXT NOT NULL
    );
    CREATE TABLE dashboard_sessions (
      token_hash  TEXT PRIMARY KEY,
      csrf_token  TEXT NOT NULL,
      created_at  INTEGER NOT NULL,
      expires_at  INTEGER NOT NULL,
      ip          TEXT
    );
    CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions(expires_at);
    `,
  },
];
