// `colloquy backup` and `colloquy restore` as an operator runs them (the built CLI in its own
// process) against a real data folder: an online backup while the server runs, restore refused
// under a running server, a restore that brings the old state back, and backups that are refused.

import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import OpenTok from 'opentok';
import { describe, expect, it } from 'vitest';
import { openServerStore } from '../src/server-store.js';
import { startTestServer, tempDir } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const run = promisify(execFile);

async function cli(args: string[], dataDir: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, COLLOQUY_DATA_DIR: dataDir, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('colloquy backup / restore', () => {
  it('backs up a running server, refuses to restore under it, and restores once it stopped', async () => {
    const t = await startTestServer();
    const backupFile = join(tempDir(), 'colloquy-backup.db');
    let sessionId: string;
    try {
      const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
      sessionId = await new Promise<string>((resolve, reject) => ot.createSession({ mediaMode: 'routed' }, (e, s) => (e ? reject(e) : resolve(s!.sessionId))));

      const backup = await cli(['backup', backupFile], t.dataDir);
      expect(backup, backup.stderr).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Backed up .* \(\d+ bytes\)/) });
      expect((await cli(['backup', backupFile], t.dataDir)).stderr).toMatch(/exists; choose a new file name/);

      const refused = await cli(['restore', backupFile], t.dataDir);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(new RegExp(`server \\(pid ${process.pid}\\) is running on .*stop it before restoring`));
    } finally {
      await t.server.close();
    }

    // Changes after the backup: a project created, the session's row deleted.
    const store = await openServerStore({ dataDir: t.dataDir });
    await store.projects.createProject('made after the backup');
    await store.db.run('DELETE FROM sessions WHERE id = ?', [sessionId]);
    await store.close();

    const restored = await cli(['restore', backupFile], t.dataDir);
    expect(restored, restored.stderr).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Restored .*the replaced database is .*colloquy\.db\.before-restore-/) });
    const after = await openServerStore({ dataDir: t.dataDir });
    try {
      expect(after.projects.list().map((p) => p.name)).not.toContain('made after the backup');
      expect(await after.sessions.get(sessionId)).toMatchObject({ id: sessionId, projectId: t.apiKey });
    } finally {
      await after.close();
    }
    expect(readdirSync(t.dataDir).filter((f) => f.startsWith('colloquy.db.before-restore-'))).toHaveLength(1);
  });

  it('refuses a file that is not a Colloquy database, and one from a newer release', async () => {
    const dataDir = tempDir();
    await (await openServerStore({ dataDir: dataDir })).close();
    const junk = join(dataDir, 'junk.db');
    writeFileSync(junk, 'not sqlite at all, just text that is long enough to look like a header......');
    expect((await cli(['restore', junk], dataDir)).stderr).toMatch(/is not a Colloquy database backup/);

    const newer = join(tempDir(), 'newer.db');
    // A copy made by SQLite's own backup, then given a migration this release does not know.
    const source = new Database(join(dataDir, 'colloquy.db'));
    await source.backup(newer);
    source.close();
    const db = new Database(newer);
    db.prepare('INSERT INTO migrations (id, applied_at) VALUES (?, ?)').run('core-999-from-the-future', Date.now());
    db.close();
    const result = await cli(['restore', newer], dataDir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/comes from a newer Colloquy \(migrations core-999-from-the-future\)/);
    expect(existsSync(join(dataDir, 'colloquy.db'))).toBe(true);
    expect((await cli(['restore'], dataDir)).stderr).toMatch(/restore needs one FILE/);
  });

  it('says to use pg_dump / pg_restore when the store is on PostgreSQL', async () => {
    const env = { COLLOQUY_DATABASE_URL: 'postgres://colloquy@127.0.0.1:1/none' };
    for (const command of ['backup', 'restore']) {
      const result = await cli([command, join(tempDir(), 'x.db')], tempDir(), env);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/uses PostgreSQL \(COLLOQUY_DATABASE_URL\): use PostgreSQL's own tools \(pg_dump/);
    }
  });
});
