// The SQLite database in the data folder, opened with WAL so that the CLI can read and write while
// the server runs. Schema changes are named migrations, applied once each in the order given; each
// module owns its own list (store/schema.ts, archiving/schema.ts, ...). Never edit a shipped one:
// append a new one.

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export type Db = Database.Database;

export interface Migration {
  /** Unique, stable name, e.g. `core-001-projects`. */
  id: string;
  sql: string;
}

/**
 * Opens (creating if needed) `<dataDir>/colloquy.db`, or `file` when given (COLLOQUY_DATABASE_URL:
 * several nodes of one machine share it), and applies the migrations not yet applied.
 */
export function openDatabase(dataDir: string, migrations: readonly Migration[], file?: string): Db {
  mkdirSync(dataDir, { recursive: true });
  if (file) mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file ?? join(dataDir, 'colloquy.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db, migrations);
  return db;
}

function migrate(db: Db, migrations: readonly Migration[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const record = db.prepare('INSERT INTO migrations (id, applied_at) VALUES (?, ?)');
  const seen = new Set<string>();
  for (const migration of migrations) {
    if (seen.has(migration.id)) throw new Error(`duplicate migration id ${migration.id}`);
    seen.add(migration.id);
  }
  // IMMEDIATE: the write lock is taken before the applied list is read, so processes that open one
  // shared file at once (COLLOQUY_DATABASE_URL) apply each migration once.
  db.transaction(() => {
    const applied = new Set(db.prepare('SELECT id FROM migrations').pluck().all() as string[]);
    for (const migration of migrations) {
      if (applied.has(migration.id)) continue;
      db.exec(migration.sql);
      record.run(migration.id, Date.now());
    }
  }).immediate();
}
