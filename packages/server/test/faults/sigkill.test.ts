// Fault: the server process is SIGKILLed while an archive records (`colloquy serve` from the built
// dist, a real publisher, a real recording). Nothing may outlive it: no UDP socket of its media
// port range stays bound, and a new server on the same data folder and ports serves again, finalizes
// the interrupted archive (available, or failed with a reason; never stuck "started") and takes a
// new publisher on the freed ports.

import { makeTestMedia } from '@colloquy/testing/media';
import { ProtocolClient } from '@colloquy/testing/protocol';
import { Colloquy } from '@colloquy/sdk-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_API_KEY, TEST_API_SECRET, tempDir } from '../helpers.js';
import { eventually } from './leaks.js';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
// A range of its own, drawn per run: another suite on the machine (a second clone's npm test) must not
// be counted as this server's leftover sockets.
const PORT_BASE = 41_000 + Math.floor(Math.random() * 60) * 100;
const PORTS: [number, number] = [PORT_BASE, PORT_BASE + 99];
const dataDir = tempDir();
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function serve(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      COLLOQUY_DATA_DIR: dataDir,
      COLLOQUY_API_KEY: TEST_API_KEY,
      COLLOQUY_API_SECRET: TEST_API_SECRET,
      COLLOQUY_ADMIN_PASSWORD: 'sigkill-test-password',
      COLLOQUY_RTC_MIN_PORT: String(PORTS[0]),
      COLLOQUY_RTC_MAX_PORT: String(PORTS[1]),
      COLLOQUY_ARCHIVE_MIN_FREE_MB: '1',
      LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'warn',
    },
  });
  children.push(child);
  await eventually(() => child.exitCode === null && ready.has(port), 30_000, () => `server on ${port} ready (exit code ${child.exitCode})`);
  return child;
}

/** Ports whose /healthz answered 200, polled in the background. */
const ready = new Set<number>();
function pollHealth(port: number): () => void {
  let stopped = false;
  void (async () => {
    while (!stopped) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) ready.add(port);
      } catch {
        ready.delete(port);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return () => (stopped = true);
}

/** UDP sockets bound anywhere on this machine within the media port range. */
function boundInRange(): number {
  let n = 0;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(file, 'latin1').split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (!local) continue;
      const port = parseInt(local.split(':')[1]!, 16);
      if (port >= PORTS[0] && port <= PORTS[1]) n++;
    }
  }
  return n;
}

describe('SIGKILL while recording', () => {
  it('leaves no port bound; a restart on the same folder serves, finalizes the archive and publishes on the freed ports', async () => {
    const port = await freePort();
    const stopPolling = pollHealth(port);
    try {
      const first = await serve(port);
      const url = `http://127.0.0.1:${port}`;
      const sdk = new Colloquy(TEST_API_KEY, TEST_API_SECRET, url);
      const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
      const alice = await ProtocolClient.join(url, sessionId, sdk.generateToken(sessionId, { data: 'alice' }));
      const media = makeTestMedia({ seconds: 2, gop: 30 });
      await alice.publish({ media });
      const archive = await sdk.archives.start(sessionId, { name: 'killed', outputMode: 'individual' });
      await new Promise((r) => setTimeout(r, 3000));
      expect(boundInRange()).toBeGreaterThan(0);

      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      alice.kill();
      await alice.close();
      // The kernel released every socket of the killed process; our own client's are closed too.
      await eventually(() => boundInRange() === 0, 10_000, () => `${boundInRange()} UDP sockets still bound in ${PORTS.join('-')}`);

      ready.delete(port);
      await serve(port);
      // Recovery finalizes the interrupted archive from what reached the disk.
      let status = '';
      for (let i = 0; i < 600 && !['available', 'failed'].includes(status); i++) {
        status = (await sdk.archives.get(archive.id)).status;
        if (!['available', 'failed'].includes(status)) await new Promise((r) => setTimeout(r, 100));
      }
      expect(['available', 'failed']).toContain(status);
      const bob = await ProtocolClient.join(url, sessionId, sdk.generateToken(sessionId, { data: 'bob' }));
      try {
        await bob.publish({ media });
        expect(boundInRange()).toBeGreaterThan(0);
      } finally {
        await bob.close();
      }
    } finally {
      stopPolling();
    }
  }, 180_000);
});
