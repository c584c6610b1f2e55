// Backing up and restoring the SQLite database of a data folder (`colloquy backup FILE`,
// `colloquy restore FILE`). A backup is SQLite's online backup (better-sqlite3's backup()): a
// consistent copy taken page by page while the server keeps running and writing. A restore replaces
// the database and so must not happen under a running server: the server keeps a pid file in the
// data folder while it runs, and restore refuses while that process is alive. Archive files (the
// data folder's archives/) are not in the database: copy them alongside (docs/deploy.md).

import Database from 'better-sqlite3';
import { existsSync, readFileSync, renameSync, rmSync, copyFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase, type Migration } from './database.js';

export { DATABASE_FILE } from './database.js';
import { DATABASE_FILE } from './database.js';
const PID_FILE = 'colloquy.pid';

export class BackupError extends Error {
  override name = 'BackupError';
}

/**
 * Marks the data folder as used by this process until the returned release() runs. It never
 * refuses: a pid file left by a crash, or naming a pid reused since, must not keep a server down.
 */
export function holdDataDir(dataDir: string): () => void {
  const file = join(dataDir, PID_FILE);
  writeFileSync(file, `${process.pid}\n`);
  return () => {
    if (runningServer(dataDir) === process.pid) rmSync(file, { force: true });
  };
}

/** The pid of the live Node process named by the data folder's pid file, or null (none, or stale). */
export function runningServer(dataDir: string): number | null {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dataDir, PID_FILE), 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (pid === process.pid) return pid;
  try {
    // A pid reused by another program since a crash is not a server: only a node process counts.
    return /(^|\/)node(js)?$/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')[0] ?? '') ? pid : null;
  } catch {
    return null; // no such process
  }
}

/** Copies the data folder's database to `file` (online: the server may be running). Returns its size in bytes. */
export async function backupDatabase(dataDir: string, file: string): Promise<number> {
  const source = join(dataDir, DATABASE_FILE);
  if (!existsSync(source)) throw new BackupError(`no database in ${dataDir} (${DATABASE_FILE} is missing)`);
  if (existsSync(file)) throw new BackupError(`${file} exists; choose a new file name`);
  const db = new Database(source, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    await db.backup(file);
  } catch (err) {
    rmSync(file, { force: true });
    throw new BackupError(`backup failed: ${(err as Error).message}`);
  } finally {
    db.close();
  }
  return statSync(file).size;
}

/**
 * Replaces the data folder's database with the backup `file`, after checking that it is a sound
 * Colloquy database from this release or an older one (newer migrations than this release knows
 * are refused: schema changes only go forward). The database replaced is kept beside it as
 * `colloquy.db.before-restore-<time>`. Pending migrations are applied at once.
 */
export async function restoreDatabase(dataDir: string, file: string, migrations: readonly Migration[]): Promise<{ previous: string | null; migrationsApplied: number }> {
  const running = runningServer(dataDir);
  if (running !== null) {
    throw new BackupError(`a Colloquy server (pid ${running}) is running on ${dataDir}: stop it before restoring (if that process is not Colloquy, delete ${join(dataDir, PID_FILE)})`);
  }
  if (!existsSync(file)) throw new BackupError(`no such file: ${file}`);
  let applied: string[];
  try {
    const backup = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const check = backup.pragma('integrity_check', { simple: true });
      if (check !== 'ok') throw new BackupError(`${file} is damaged: ${String(check)}`);
      applied = backup.prepare('SELECT id FROM migrations').pluck().all() as string[];
    } finally {
      backup.close();
    }
  } catch (err) {
    if (err instanceof BackupError) throw err;
    throw new BackupError(`${file} is not a Colloquy database backup: ${(err as Error).message}`);
  }
  const known = new Set(migrations.map((m) => m.id));
  const unknown = applied.filter((id) => !known.has(id));
  if (unknown.length > 0) throw new BackupError(`${file} comes from a newer Colloquy (migrations ${unknown.join(', ')}); restore it with that release`);
  const target = join(dataDir, DATABASE_FILE);
  let previous: string | null = null;
  if (existsSync(target)) {
    // Fold the write-ahead log into the old file first so the kept copy is complete on its own.
    const old = new Database(target);
    old.pragma('wal_checkpoint(TRUNCATE)');
    old.close();
    previous = `${target}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(target, previous);
  }
  rmSync(`${target}-wal`, { force: true });
  rmSync(`${target}-shm`, { force: true });
  copyFileSync(file, `${target}.restoring`);
  renameSync(`${target}.restoring`, target);
  await (await openDatabase({ dataDir }, migrations)).close();
  return { previous, migrationsApplied: migrations.length - applied.length };
}
