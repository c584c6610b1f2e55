// The SQLite database in the data folder, opened with WAL so that the CLI can read and write while
// the server runs. Schema changes are named migrations, applied once each in the order given; each
// module owns its own list (store/schema.ts, archiving/schema.ts, ...). Never edit a shipped one:
// append a new one.

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export type Db = Database.Database;

export interface Migration {
  /** Unique, stable name, e.g. `core-001-projects`. */
  id: string;
  sql: string;
}

/** Opens (creating if needed) `<dataDir>/colloquy.db` and applies the migrations not yet applied. */
export function openDatabase(dataDir: string, migrations: readonly Migration[]): Db {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, 'colloquy.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db, migrations);
  return db;
}

function migrate(db: Db, migrations: readonly Migration[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const applied = new Set(db.prepare('SELECT id FROM migrations').pluck().all() as string[]);
  const record = db.prepare('INSERT INTO migrations (id, applied_at) VALUES (?, ?)');
  const seen = new Set<string>();
  for (const migration of migrations) {
    if (seen.has(migration.id)) throw new Error(`duplicate migration id ${migration.id}`);
    seen.add(migration.id);
    if (applied.has(migration.id)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.id, Date.now());
    })();
  }
}
