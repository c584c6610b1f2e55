// A real Colloquy cluster for tests and benchmarks: redis-server on loopback and N `colloquy serve`
// processes (so a node can be SIGKILLed), each with its own port, UDP range and data folder, all
// sharing one database (one SQLite file by default, one machine only; or the PostgreSQL given as
// `databaseUrl`) and the test project.

import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startRedis, type RedisServer } from './deploy.js';
import { TEST_API_KEY, TEST_API_SECRET, tempDir } from './server.js';

export const CLUSTER_SECRET = 'cluster-test-secret-0123456789';

export interface ClusterNodeProcess {
  id: string;
  url: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** What the process printed (stdout and stderr, last 200 kB). */
  output(): string;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
}

export interface TestCluster {
  redis: RedisServer;
  nodes: ClusterNodeProcess[];
  apiKey: string;
  apiSecret: string;
  /** The node with this id. */
  node(id: string): ClusterNodeProcess;
  close(): Promise<void>;
}

export interface ClusterOptions {
  nodes?: number;
  /** Settings every node gets (COLLOQUY_*). */
  env?: Record<string, string>;
  /** The shared database (`postgres://…`); default: one SQLite file in a temp folder (one machine). */
  databaseUrl?: string;
  /** UDP media ports per node (a port per peer connection); default 150. A 1→600 benchmark needs more. */
  portsPerNode?: number;
}

const CLI = join(dirname(fileURLToPath(import.meta.resolve('@colloquy/server'))), 'cli.js');

/** Starts redis-server and the nodes (n1, n2, …), resolving once every node serves and has joined the cluster. */
export async function startTestCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const redis = await startRedis();
  const shared = tempDir('colloquy-cluster-');
  const nodes: ClusterNodeProcess[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => stopNode(n)));
    await redis.close();
    rmSync(shared, { recursive: true, force: true });
    for (const n of nodes) rmSync(n.dataDir, { recursive: true, force: true });
  };
  try {
    const count = options.nodes ?? 3;
    const ports = options.portsPerNode ?? 150;
    if (!Number.isInteger(ports) || ports < 2 || count * ports > 20_000) throw new Error(`portsPerNode must be an integer from 2, at most 20000 over all nodes; got ${ports}`);
    // Distinct UDP ranges per node (and per test run) so nodes never contend for a media port.
    const base = 20_000 + Math.floor(Math.random() * 40) * 500;
    const starts: Promise<ClusterNodeProcess>[] = [];
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      const id = `n${i + 1}`;
      const dataDir = tempDir(`colloquy-${id}-`);
      starts.push(
        startNode(id, port, dataDir, {
          COLLOQUY_REDIS_URL: redis.url,
          COLLOQUY_NODE_ID: id,
          COLLOQUY_PUBLIC_URL: `http://127.0.0.1:${port}`,
          COLLOQUY_CLUSTER_SECRET: CLUSTER_SECRET,
          COLLOQUY_DATABASE_URL: options.databaseUrl ?? `sqlite:${join(shared, 'colloquy.db')}`,
          COLLOQUY_DATA_DIR: dataDir,
          COLLOQUY_RTC_MIN_PORT: String(base + i * ports),
          COLLOQUY_RTC_MAX_PORT: String(base + i * ports + ports - 1),
          ...options.env,
        }).then((node) => {
          nodes.push(node);
          return node;
        }),
      );
    }
    await Promise.all(starts);
    nodes.sort((a, b) => a.id.localeCompare(b.id));
  } catch (err) {
    await close();
    throw err;
  }
  return {
    redis,
    nodes,
    apiKey: TEST_API_KEY,
    apiSecret: TEST_API_SECRET,
    node: (id) => {
      const found = nodes.find((n) => n.id === id);
      if (!found) throw new Error(`no node ${id}`);
      return found;
    },
    close,
  };
}

function startNode(id: string, port: number, dataDir: string, env: Record<string, string>): Promise<ClusterNodeProcess> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'warn',
      COLLOQUY_API_KEY: TEST_API_KEY,
      COLLOQUY_API_SECRET: TEST_API_SECRET,
      COLLOQUY_ADMIN_PASSWORD: 'cluster-test-admin',
      COLLOQUY_VIDEO_CHAT: 'off',
      // The test machine runs browsers, ffmpeg and three nodes at once: overload refusal is off.
      COLLOQUY_OVERLOAD_LAG_MS: '0',
      COLLOQUY_OVERLOAD_CPU: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${id} did not start in 60 s:\n${out}`)), 60_000);
    const onData = (chunk: Buffer): void => {
      out = (out + chunk.toString()).slice(-200_000);
      if (out.includes('Colloquy is running at')) {
        clearTimeout(timer);
        resolve({ id, url: `http://127.0.0.1:${port}`, port, dataDir, child, output: () => out, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node ${id} exited with ${code} before it served:\n${out}`));
    });
  });
}

async function stopNode(node: ClusterNodeProcess): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  node.child.kill('SIGTERM');
  const killer = setTimeout(() => node.child.kill('SIGKILL'), 10_000);
  await node.exited;
  clearTimeout(killer);
}

/** One figure of a node's /metrics: the sum of the series of `name` whose labels contain `labels`. */
export async function nodeMetric(node: ClusterNodeProcess, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').includes(labels)) sum += Number(m[3]);
  }
  return sum;
}
