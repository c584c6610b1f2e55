// The PostgreSQL engine (COLLOQUY_DATABASE_URL=postgres://…): a pg connection pool behind the async
// query layer. SQL is written with `?` placeholders, numbered `$1, $2, …` here once per text.
// Integer columns are BIGINT (millisecond times do not fit in 32 bits) and come back as numbers, as
// they do from SQLite. Several nodes may start at once: migrations run under an advisory lock.

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { checkMigrationIds, postgresSql, type Migration, type Sql, type SqlDatabase, type SqlStatement, type SqlValue } from './sql.js';

const INT8_OID = 20;
/** Any number for the advisory lock that serializes migrations across nodes ("colloquy" in ASCII, cut to 31 bits). */
const MIGRATION_LOCK = 0x636f6c6c;

/** BIGINT and COUNT(*) as JavaScript numbers: every integer we store is far below 2^53. */
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === INT8_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  },
} as pg.CustomTypesConfig;

const numbered = new Map<string, string>();

/** `?` → `$n`, outside quoted strings and identifiers. Cached per SQL text. */
export function numberPlaceholders(sql: string): string {
  let out = numbered.get(sql);
  if (out !== undefined) return out;
  let n = 0;
  let quote: string | null = null;
  out = '';
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
    } else if (ch === '?') {
      out += '$' + ++n;
      continue;
    }
    out += ch;
  }
  // SQL texts are constants in the code; the bound only guards against a caller building them.
  if (numbered.size >= 2000) numbered.clear();
  numbered.set(sql, out);
  return out;
}

/** A topic's NOTIFY channel: a fixed prefix and the topic's letters (channel names are identifiers). */
function channelOf(topic: string): string {
  if (!/^[a-z_]+$/.test(topic)) throw new Error(`bad watch topic ${topic}`);
  return 'colloquy_' + topic;
}

interface Queryable {
  query(config: pg.QueryConfig): Promise<pg.QueryResult>;
}

function query(on: Queryable, sql: string, params: readonly SqlValue[], rowMode?: 'array'): Promise<pg.QueryResult> {
  return on.query({ text: numberPlaceholders(sql), values: params as unknown[], ...(rowMode ? { rowMode } : {}) });
}

class PostgresQueries implements Sql {
  readonly engine = 'postgres' as const;

  constructor(readonly on: Queryable) {}

  async all<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row[]> {
    return (await query(this.on, sql, params)).rows as Row[];
  }

  async get<Row>(sql: string, params: readonly SqlValue[] = []): Promise<Row | undefined> {
    return (await query(this.on, sql, params)).rows[0] as Row | undefined;
  }

  async value<V>(sql: string, params: readonly SqlValue[] = []): Promise<V | undefined> {
    return ((await query(this.on, sql, params, 'array')).rows[0] as unknown[] | undefined)?.[0] as V | undefined;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return { changes: (await query(this.on, sql, params)).rowCount ?? 0 };
  }
}

export class PostgresDatabase extends PostgresQueries implements SqlDatabase {
  readonly #pool: pg.Pool;
  /** One connection that LISTENs for the topics watched; opened at the first watch. */
  #listener: pg.Client | null = null;
  readonly #watchers = new Map<string, ((key: string) => void)[]>();
  readonly #url: string;
  /**
   * Marks this process's notifications: its listener hears them too, and must skip them (this
   * process updated its cache itself; a reload started by its own echo could land after a later
   * change, e.g. bring back a project it has just deleted).
   */
  readonly #origin = randomUUID();

  constructor(url: string, options: { maxConnections?: number } = {}) {
    const pool = new pg.Pool({ connectionString: url, types, max: options.maxConnections ?? 10 });
    // An idle connection that the server drops is replaced at the next query; it must not end the process.
    pool.on('error', () => {});
    super(pool);
    this.#pool = pool;
    this.#url = url;
  }

  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      try {
        const result = await fn(new PostgresQueries(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    } finally {
      client.release();
    }
  }

  async batch(statements: readonly SqlStatement[]): Promise<void> {
    if (statements.length === 0) return;
    await this.transaction(async (tx) => {
      for (const { sql, params } of statements) await tx.run(sql, params);
    });
  }

  async migrate(migrations: readonly Migration[]): Promise<number> {
    checkMigrationIds(migrations);
    const client = await this.#pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      try {
        await client.query('CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
        const applied = new Set((await client.query('SELECT id FROM migrations')).rows.map((r: { id: string }) => r.id));
        let count = 0;
        for (const migration of migrations) {
          if (applied.has(migration.id)) continue;
          await client.query('BEGIN');
          try {
            await client.query(postgresSql(migration));
            await client.query('INSERT INTO migrations (id, applied_at) VALUES ($1, $2)', [migration.id, Date.now()]);
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK');
            throw new Error(`migration ${migration.id} failed on PostgreSQL: ${(err as Error).message}`, { cause: err });
          }
          count++;
        }
        return count;
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
      }
    } finally {
      client.release();
    }
  }

  async watch(topic: string, onChange: (key: string) => void): Promise<void> {
    if (!this.#listener) {
      const listener = new pg.Client({ connectionString: this.#url, types });
      listener.on('error', () => {});
      listener.on('notification', (message) => {
        const payload = message.payload ?? '';
        const bar = payload.indexOf('|');
        if (bar >= 0 && payload.slice(0, bar) === this.#origin) return;
        const key = bar >= 0 ? payload.slice(bar + 1) : payload || '*';
        for (const fn of this.#watchers.get(message.channel) ?? []) fn(key);
      });
      await listener.connect();
      this.#listener = listener;
    }
    const channel = channelOf(topic);
    const list = this.#watchers.get(channel);
    if (list) list.push(onChange);
    else {
      this.#watchers.set(channel, [onChange]);
      await this.#listener.query(`LISTEN ${channel}`);
    }
  }

  async announce(topic: string, key: string): Promise<void> {
    await this.#pool.query('SELECT pg_notify($1, $2)', [channelOf(topic), `${this.#origin}|${key}`]);
  }

  async close(): Promise<void> {
    const listener = this.#listener;
    this.#listener = null;
    await listener?.end().catch(() => {});
    await this.#pool.end();
  }
}
