// Fault: the disk fills while an archive records. The data folder is a small tmpfs this test
// mounts (it runs as root here and in CI; a failed mount fails the test, it is never skipped).
// Expected: the archive stops as OpenTok reports a failed recording (archiveStopped to the
// clients), the process lives on (before, the archive's heartbeat timer threw SqliteError
// "database or disk is full" and ended it), clients stay connected, REST answers 503 rather than
// 500 (GET …/events included), a new archive is refused while space is short, and once space is
// freed the stopped archive settles and a new archive records and becomes available.

import { makeTestMedia } from '@colloquy/testing/media';
import { ProtocolClient } from '@colloquy/testing/protocol';
import { Colloquy } from '@colloquy/sdk-node';
import { signJwt } from '@colloquy/tokens';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturingLogger, startTestServer, type TestServer } from '../helpers.js';
import { eventually } from './leaks.js';

let mountPoint: string;
let mounted = false;
let t: TestServer | undefined;
const filler = () => join(mountPoint, 'filler.bin');

beforeAll(() => {
  mountPoint = mkdtempSync(join(tmpdir(), 'colloquy-full-disk-'));
  // Loud failure if this cannot be done: the fault suite must run, not skip.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', mountPoint]);
  mounted = true;
});

afterAll(async () => {
  await t?.close();
  if (mounted) execFileSync('umount', [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

/** Writes a file until the file system is full (ENOSPC). */
function fillDisk(): number {
  const fd = openSync(filler(), 'w');
  const chunk = Buffer.alloc(256 * 1024, 7);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  return written;
}

describe('a full disk while an archive records', () => {
  it('stops the archive, keeps the server and its clients up, answers 503, and recovers once space is freed', async () => {
    const log = capturingLogger('info');
    t = await startTestServer(
      { COLLOQUY_DATA_DIR: join(mountPoint, 'data'), COLLOQUY_ARCHIVE_MIN_FREE_MB: '8', COLLOQUY_ARCHIVE_NO_PUBLISHER_TIMEOUT: '3600' },
      { logger: log.logger },
    );
    const sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
    const auth = () => {
      const iat = Math.floor(Date.now() / 1000);
      return { 'X-OPENTOK-AUTH': signJwt({ iss: t!.apiKey, ist: 'project', iat, exp: iat + 300 }, t!.apiSecret, 'HS256'), 'content-type': 'application/json' };
    };
    const rest = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${t!.url}/v2/project/${t!.apiKey}${path}`, { method, headers: auth(), body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
    const alice = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'alice' }));
    const bob = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'bob' }));
    try {
      await alice.publish({ media: makeTestMedia({ seconds: 2, gop: 30 }) });
      const started = await rest('POST', '/archive', { sessionId, name: 'full disk', outputMode: 'individual' });
      expect(started.status).toBe(200);
      const archiveId = started.body['id'] as string;
      await eventually(() => (t!.server.archives.liveArchives()[0]?.recording ?? false), 20_000, () => 'the archive records the stream');
      await new Promise((r) => setTimeout(r, 1500));

      fillDisk();
      // The archive fails instead of the process: its clients are told it stopped.
      await bob.waitFor((m) => m.type === 'archiveStopped' && m['archiveId'] === archiveId, 20_000);
      expect(t.server.archives.activeArchives(sessionId)).toEqual([]);
      // Several heartbeats later: still up, everyone still connected.
      await new Promise((r) => setTimeout(r, 2500));
      expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
      expect(t.server.sessions.live(sessionId)!.connections.size).toBe(2);
      await alice.request({ type: 'signal', to: bob.connectionId, data: 'still here' });
      await bob.waitFor((m) => m.type === 'signal' && m['data'] === 'still here', 10_000);
      // REST: a clean 503 for what needs the disk, never a 500.
      const refused = await rest('POST', '/archive', { sessionId, multiArchiveTag: 'second' });
      expect(refused.status).toBe(503);
      expect(refused.body['message']).toMatch(/free disk space/);
      const events = await rest('GET', `/session/${sessionId}/events`);
      expect([200, 503]).toContain(events.status);
      const created = await fetch(`${t.url}/session/create`, { method: 'POST', headers: { ...auth(), accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body: 'p2p.preference=disabled' });
      expect([200, 503]).toContain(created.status);
      expect(log.lines.filter((l) => (l['level'] as number) >= 60)).toEqual([]);

      // Space again: the stopped archive settles (its recording was cut short by the full disk) and
      // a new archive records and becomes available.
      rmSync(filler());
      let status = '';
      const isSettled = async () => ['available', 'failed'].includes((status = (await t!.server.archives.store.get(archiveId))!.status));
      await eventually(isSettled, 60_000, () => `archive settled; it is ${status}`);
      expect((await t.server.archives.store.get(archiveId))!.reason).toMatch(/disk/);
      const again = await rest('POST', '/archive', { sessionId, name: 'after', outputMode: 'individual' });
      expect(again.status).toBe(200);
      await eventually(() => t!.server.archives.liveArchives().some((a) => a.id === again.body['id'] && a.recording), 20_000, () => 'the new archive records');
      await new Promise((r) => setTimeout(r, 1500));
      expect((await rest('POST', `/archive/${again.body['id'] as string}/stop`)).status).toBe(200);
      const settled = await t.server.archives.whenSettled(again.body['id'] as string);
      expect(settled.status).toBe('available');
    } finally {
      await alice.close();
      await bob.close();
    }
  }, 150_000);
});
