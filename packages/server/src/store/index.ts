// The store: one SQLite database in the data folder and the repositories over it.

import { archivingMigrations } from '../archiving/schema.js';
import { broadcastMigrations } from '../broadcast/schema.js';
import { CallbackStore } from '../callbacks/callback-store.js';
import { callbackMigrations } from '../callbacks/schema.js';
import { openDatabase, type Db, type Migration } from './database.js';
import { ProjectStore } from './projects.js';
import { inspectorMigrations } from '../inspector/schema.js';
import { dashboardMigrations } from '../dashboard/schema.js';
import { renderMigrations } from '../render/schema.js';
import { coreMigrations } from './schema.js';
import { SessionStore } from './sessions.js';

export type { Db, Migration } from './database.js';
export type { Project, ProjectKind } from './projects.js';
export { ARCHIVE_RESOLUTIONS } from './sessions.js';
export type { SessionRecord, MediaMode, ArchiveMode, ArchiveResolution } from './sessions.js';
export { ProjectValidationError, parseRsaPublicKey } from './projects.js';

/** Every module's migrations, in the order they apply. Append a module's list here. */
export const ALL_MIGRATIONS: readonly Migration[] = [...coreMigrations, ...inspectorMigrations, ...dashboardMigrations, ...archivingMigrations, ...callbackMigrations, ...broadcastMigrations, ...renderMigrations];

export class Store {
  readonly db: Db;
  readonly projects: ProjectStore;
  readonly sessions: SessionStore;
  /** Where each project's archive status and session monitoring callbacks go (callbacks/). */
  readonly callbacks: CallbackStore;

  constructor(db: Db) {
    this.db = db;
    this.projects = new ProjectStore(db);
    this.sessions = new SessionStore(db);
    this.callbacks = new CallbackStore(db);
  }

  /** `file`: a database file outside the data folder (COLLOQUY_DATABASE_URL=sqlite:…). */
  static open(dataDir: string, file?: string | null): Store {
    return new Store(openDatabase(dataDir, ALL_MIGRATIONS, file ?? undefined));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
