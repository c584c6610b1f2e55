// The SQLite engine: better-sqlite3 (synchronous) behind the async query layer. Statements are
// prepared once per SQL text and kept; a query answers in the same tick, wrapped in a resolved
// promise. A transaction holds a lock that queries from elsewhere wait on, so an `await` inside it
// never lets another caller's write join it.

import Database from 'better-sqlite3';
import { checkMigrationIds, type Migration, type Sql, type SqlDatabase, type SqlStatement, type SqlValue } from './sql.js';
import { every, type ClockTask } from '../ops/thread-clock.js';

export type RawSqlite = Database.Database;

class SqliteQueries implements Sql {
  readonly engine = 'sqlite' as const;
  readonly #statements = new Map<string, Database.Statement>();

  constructor(readonly raw: RawSqlite) {}

  prepared(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.raw.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  async all<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return this.prepared(sql).all(...params) as Row[];
  }

  async get<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row | undefined> {
    return this.prepared(sql).get(...params) as Row | undefined;
  }

  async value<V>(sql: string, params: readonly SqlValue[] = []): Promise<V | undefined> {
    const statement = this.prepared(sql).raw(true);
    try {
      return (statement.get(...params) as unknown[] | undefined)?.[0] as V | undefined;
    } finally {
      statement.raw(false);
    }
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return { changes: this.prepared(sql).run(...params).changes };
  }
}

export class SqliteDatabase implements SqlDatabase {
  readonly engine = 'sqlite' as const;
  readonly #queries: SqliteQueries;
  /** Settles when the open transaction ends; null when none is open. */
  #lock: Promise<void> | null = null;
  readonly #watchers = new Map<string, ((key: string) => void)[]>();
  /** SQLite's counter of commits by other connections (PRAGMA data_version). */
  #dataVersion = 0;
  #pollTimer: ClockTask | null = null;

  constructor(raw: RawSqlite) {
    this.#queries = new SqliteQueries(raw);
  }

  /** Opens (creating if needed) a database file with WAL, so the CLI can read and write while the server runs. */
  static open(file: string): SqliteDatabase {
    const raw = new Database(file);
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    raw.pragma('foreign_keys = ON');
    raw.pragma('busy_timeout = 5000');
    return new SqliteDatabase(raw);
  }

  /** The better-sqlite3 handle, for backup/restore (SQLite-only) and tests. */
  get raw(): RawSqlite {
    return this.#queries.raw;
  }

  async all<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row[]> {
    while (this.#lock) await this.#lock;
    return this.#queries.all<Row>(sql, params);
  }

  async get<Row>(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined> {
    while (this.#lock) await this.#lock;
    return this.#queries.get<Row>(sql, params);
  }

  async value<V>(sql: string, params?: readonly SqlValue[]): Promise<V | undefined> {
    while (this.#lock) await this.#lock;
    return this.#queries.value<V>(sql, params);
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    while (this.#lock) await this.#lock;
    return this.#queries.run(sql, params);
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    while (this.#lock) await this.#lock;
    let release!: () => void;
    this.#lock = new Promise((resolve) => (release = resolve));
    try {
      this.raw.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.#queries);
        this.raw.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.raw.inTransaction) this.raw.exec('ROLLBACK');
        throw err;
      }
    } finally {
      this.#lock = null;
      release();
    }
  }

  async batch(statements: readonly SqlStatement[]): Promise<void> {
    while (this.#lock) await this.#lock;
    // Synchronous from BEGIN to COMMIT: nothing else can run in between.
    this.raw.transaction(() => {
      for (const { sql, params } of statements) this.#queries.prepared(sql).run(...params);
    })();
  }

  async migrate(migrations: readonly Migration[]): Promise<number> {
    checkMigrationIds(migrations);
    const raw = this.raw;
    raw.exec('CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
    const record = raw.prepare('INSERT INTO migrations (id, applied_at) VALUES (?, ?)');
    let count = 0;
    // IMMEDIATE: the write lock is taken before the applied list is read, so processes that open one
    // shared file at once (COLLOQUY_DATABASE_URL=sqlite:…, a cluster on one machine) apply each once.
    raw.transaction(() => {
      const applied = new Set(raw.prepare('SELECT id FROM migrations').pluck().all() as string[]);
      for (const migration of migrations) {
        if (applied.has(migration.id)) continue;
        raw.exec(migration.sql);
        record.run(migration.id, Date.now());
        count++;
      }
    }).immediate();
    return count;
  }

  async watch(topic: string, onChange: (key: string) => void): Promise<void> {
    const list = this.#watchers.get(topic) ?? [];
    list.push(onChange);
    this.#watchers.set(topic, list);
    if (!this.#pollTimer) {
      this.#dataVersion = this.#readDataVersion();
      this.#pollTimer = every(1000, () => this.#pollChanges());
    }
  }

  async announce(): Promise<void> {
    // Other processes notice through PRAGMA data_version; nothing to send.
  }

  #pollChanges(): void {
    if (this.#watchers.size === 0 || !this.raw.open) return;
    const version = this.#readDataVersion();
    if (version === this.#dataVersion) return;
    this.#dataVersion = version;
    for (const list of this.#watchers.values()) for (const onChange of list) onChange('*');
  }

  #readDataVersion(): number {
    return this.raw.pragma('data_version', { simple: true }) as number;
  }

  async close(): Promise<void> {
    this.#pollTimer?.cancel();
    this.#pollTimer = null;
    if (this.raw.open) this.raw.close();
  }
}
