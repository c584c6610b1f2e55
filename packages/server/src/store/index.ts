// The store: one database (SQLite in the data folder, or PostgreSQL) and the core repositories over
// it (projects, sessions). It knows no module above it: the server gives it every module's
// migrations (see src/server-store.ts) and modules build their own repositories over `db`.

import { openDatabase, type DatabaseLocation, type Migration, type SqlDatabase } from './database.js';
import { ProjectStore } from './projects.js';
import { SessionStore } from './sessions.js';

export type { DatabaseLocation, Engine, Migration, Sql, SqlDatabase, SqlStatement, SqlValue } from './database.js';
export { isUniqueViolation } from './sql.js';
export type { Project, ProjectKind } from './projects.js';
export { ARCHIVE_RESOLUTIONS } from './sessions.js';
export type { SessionRecord, MediaMode, ArchiveMode, ArchiveResolution } from './sessions.js';
export { ProjectValidationError, parseRsaPublicKey } from './projects.js';
export { coreMigrations } from './schema.js';
export { ProjectStore } from './projects.js';
export { openDatabase } from './database.js';

export class Store {
  readonly db: SqlDatabase;
  readonly projects: ProjectStore;
  readonly sessions: SessionStore;

  constructor(db: SqlDatabase, projects: ProjectStore) {
    this.db = db;
    this.projects = projects;
    this.sessions = new SessionStore(db);
  }

  /** Opens the database, applies `migrations` (the core's first: see coreMigrations) and loads the projects. */
  static async open(location: DatabaseLocation, migrations: readonly Migration[]): Promise<Store> {
    const db = await openDatabase(location, migrations);
    return new Store(db, await ProjectStore.open(db));
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
