// The server's store: the core store (projects, sessions) plus the repositories that modules keep
// in the same database, opened with every module's migrations in the order they apply. This is the
// one place that knows all the modules' tables; the store itself only runs the list it is given.

import { archivingMigrations } from './archiving/schema.js';
import { broadcastMigrations } from './broadcast/schema.js';
import { CallbackStore } from './callbacks/callback-store.js';
import { callbackMigrations } from './callbacks/schema.js';
import { dashboardMigrations } from './dashboard/schema.js';
import { inspectorMigrations } from './inspector/schema.js';
import { renderMigrations } from './render/schema.js';
import { coreMigrations, openDatabase, ProjectStore, Store, type DatabaseLocation, type Migration, type SqlDatabase } from './store/index.js';

/** Every module's migrations, in the order they apply. Append a module's list here. */
export const SERVER_MIGRATIONS: readonly Migration[] = [
  ...coreMigrations,
  ...inspectorMigrations,
  ...dashboardMigrations,
  ...archivingMigrations,
  ...callbackMigrations,
  ...broadcastMigrations,
  ...renderMigrations,
];

export class ServerStore extends Store {
  /** Where each project's archive status and session monitoring callbacks go (callbacks/). */
  readonly callbacks: CallbackStore;

  constructor(db: SqlDatabase, projects: ProjectStore) {
    super(db, projects);
    this.callbacks = new CallbackStore(db);
  }
}

/** Opens SQLite in `dataDir`, or PostgreSQL when `databaseUrl` is set, with every module's tables. */
export async function openServerStore(location: DatabaseLocation): Promise<ServerStore> {
  const db = await openDatabase(location, SERVER_MIGRATIONS);
  try {
    return new ServerStore(db, await ProjectStore.open(db));
  } catch (err) {
    await db.close();
    throw err;
  }
}
