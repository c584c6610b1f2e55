// The store's hot paths on both engines: the project lookup every token check and connect makes
// (served from memory, so the engine does not matter), a session record read (each REST call on a
// session and each connect), and an Inspector-sized batch written as one transaction. SQLite is a
// file in a temp folder; PostgreSQL is a throwaway server on loopback (@colloquy/testing/postgres).
// Prints µs per operation (median of rounds).
//   ROUNDS=5 OPS=2000 npm run store:lookup -w @colloquy/bench

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServerStore, type ServerStore } from '@colloquy/server';
import { startPostgres } from '@colloquy/testing/postgres';
import { envInt, fmt, medianMicros, table } from '../lib/stats.js';

const ROUNDS = envInt('ROUNDS', 5);
const OPS = envInt('OPS', 2000);
const BATCH = 200;

const measure = (ops: number, fn: () => unknown): Promise<number> => medianMicros(ROUNDS, ops, fn);

async function run(store: ServerStore): Promise<number[]> {
  const project = await store.projects.createProject('Bench');
  const id = `2_bench_${Date.now()}`;
  await store.sessions.insert({ id, projectId: project.id, mediaMode: 'routed', archiveMode: 'manual', archiveName: null, archiveResolution: null, e2ee: false, location: null, createdAt: Date.now() });
  let n = 0;
  const batch = () =>
    store.db.batch(
      Array.from({ length: BATCH }, () => ({
        sql: 'INSERT INTO inspector_events (session_id, at, type, connection_id, stream_id, is_error, details) VALUES (?, ?, ?, ?, ?, ?, ?)',
        params: [id, Date.now(), 'signal', `c${n++}`, null, 0, '{}'],
      })),
    );
  return [await measure(OPS * 10, () => store.projects.get(project.id)), await measure(OPS, () => store.sessions.get(id)), await measure(Math.max(1, OPS / 100), batch)];
}

const dir = mkdtempSync(join(tmpdir(), 'colloquy-store-bench-'));
const pg = await startPostgres();
try {
  const sqlite = await openServerStore({ dataDir: dir });
  const sqliteFigures = await run(sqlite);
  await sqlite.close();
  const postgres = await openServerStore({ dataDir: dir, databaseUrl: await pg.createDatabase('bench') });
  const pgFigures = await run(postgres);
  await postgres.close();
  const names = ['project lookup (token check, connect)', 'session record read', `batch of ${BATCH} Inspector rows, one transaction`];
  console.log(table([['operation', 'SQLite µs', 'PostgreSQL µs'], ...names.map((name, i) => [name, fmt(sqliteFigures[i]!, 2), fmt(pgFigures[i]!, 2)])]));
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
