// A throwaway PostgreSQL server for tests: initdb into a temp folder, `postgres` on a free loopback
// port with its unix socket in that folder, stopped and removed by `stop()`. The binaries come from
// Debian's layout (/usr/lib/postgresql/<version>/bin, not on PATH). PostgreSQL refuses to run as
// root, so as root (CI) every command runs in a new user namespace (`unshare -U`, util-linux): there
// it sees itself as the overflow user, not root, while the kernel still checks files as the real
// user. (Switching to the `postgres` user also works where /dev/null is writable by everyone; this
// machine's is not, and initdb writes to it.)

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPostgres {
  /** `postgres://colloquy@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** Creates an empty database and answers its URL (one per test file keeps them apart). */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** The newest /usr/lib/postgresql/<version>/bin that has initdb and postgres. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'postgres'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/setup-system.sh');
  return join(root, versions[0]!, 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const USER = 'colloquy';

export async function startPostgres(options: { timeoutMs?: number } = {}): Promise<TestPostgres> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'colloquy-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  /** [command, args] for one of PostgreSQL's programs, in a user namespace when we are root. */
  const cmd = (program: string, args: string[]): [string, string[]] => (asRoot ? ['unshare', ['-U', '--', join(bin, program), ...args]] : [join(bin, program), args]);
  const init = spawnSync(...cmd('initdb', ['-D', data, '-U', USER, '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']), { encoding: 'utf8' });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  }
  const port = await freePort();
  // Durability off: a test database lives for one run.
  const server: ChildProcess = spawn(
    ...cmd('postgres', ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200']),
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  server.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const psql = (args: string[]) => spawnSync(join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', USER, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', ...args], { encoding: 'utf8' });
  const stop = async (): Promise<void> => {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGINT'); // fast shutdown
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (server.exitCode !== null) {
      await stop();
      throw new Error(`postgres exited at start: ${log}`);
    }
    const ready = spawnSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-U', USER], { encoding: 'utf8' });
    if (ready.status === 0) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`postgres did not accept connections in time: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const url = (db: string) => `postgres://${USER}@127.0.0.1:${port}/${db}`;
  return {
    url: url('postgres'),
    port,
    async createDatabase(name: string): Promise<string> {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      const made = psql(['-c', `CREATE DATABASE ${name}`]);
      if (made.status !== 0) throw new Error(`CREATE DATABASE ${name} failed: ${made.stderr}`);
      return url(name);
    },
    stop,
  };
}
