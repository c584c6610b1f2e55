// The two engines a store suite runs against: SQLite in a temp data folder, and a real PostgreSQL
// started once per test file on loopback (@colloquy/testing/postgres), a fresh database per
// location. Call at the top of a file; `describe.each(storeEngines('x'))` then runs the suite on both.

import { rmSync } from 'node:fs';
import { startPostgres, type TestPostgres } from '@colloquy/testing/postgres';
import { afterAll, beforeAll } from 'vitest';
import { tempDir } from './helpers.js';

export function storeEngines(databasePrefix: string) {
  let pg: TestPostgres | undefined;
  let databases = 0;
  const dirs: string[] = [];
  beforeAll(async () => {
    pg = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await pg?.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const dataDir = (): string => {
    const dir = tempDir();
    dirs.push(dir);
    return dir;
  };
  return [
    { engine: 'sqlite', location: async () => ({ dataDir: dataDir() }) },
    { engine: 'postgres', location: async () => ({ dataDir: dataDir(), databaseUrl: await pg!.createDatabase(`${databasePrefix}_${++databases}`) }) },
  ] as const;
}
