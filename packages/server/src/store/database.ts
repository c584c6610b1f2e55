// Which engine the store runs on: SQLite in the data folder (the default, `<dataDir>/colloquy.db`),
// SQLite in a file several nodes of one machine share (COLLOQUY_DATABASE_URL=sqlite:/path), or
// PostgreSQL when COLLOQUY_DATABASE_URL names one (several nodes share it). The caller gives the
// migrations to apply (every module owns its tables' list; the server composes them).

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PostgresDatabase } from './postgres.js';
import { SqliteDatabase } from './sqlite.js';
import type { Migration, SqlDatabase } from './sql.js';

export type { Migration, Sql, SqlDatabase, SqlStatement, SqlValue, Engine } from './sql.js';

export const DATABASE_FILE = 'colloquy.db';

export interface DatabaseLocation {
  dataDir: string;
  /** `postgres://…` (or `postgresql://…`); SQLite when absent. */
  databaseUrl?: string | null;
  /**
   * A SQLite file outside the data folder (`COLLOQUY_DATABASE_URL=sqlite:/path`): the nodes of a
   * cluster on one machine share it. Null or absent: `<dataDir>/colloquy.db`.
   */
  databaseFile?: string | null;
}

/** True for a URL the PostgreSQL engine takes. */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** Opens the database and applies the migrations not yet applied. */
export async function openDatabase(location: DatabaseLocation, migrations: readonly Migration[]): Promise<SqlDatabase> {
  let db: SqlDatabase;
  if (location.databaseUrl) {
    if (!isPostgresUrl(location.databaseUrl)) throw new Error('COLLOQUY_DATABASE_URL must be a postgres:// URL');
    db = new PostgresDatabase(location.databaseUrl);
  } else {
    mkdirSync(location.dataDir, { recursive: true });
    if (location.databaseFile) mkdirSync(dirname(location.databaseFile), { recursive: true });
    db = SqliteDatabase.open(location.databaseFile ?? join(location.dataDir, DATABASE_FILE));
  }
  try {
    await db.migrate(migrations);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
