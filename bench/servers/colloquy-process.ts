// Starts the Colloquy bench server (colloquy-bench-server.ts) as a child process on a fresh data
// folder with a known project, and talks to its control endpoint.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_API_KEY = '47000099';
export const BENCH_API_SECRET = 'bench-secret-0123456789abcdef0123456789';

export interface ColloquyProcess {
  url: string;
  control: string;
  pid: number;
  apiKey: string;
  apiSecret: string;
  controlGet<T>(path: string): Promise<T>;
  controlPost<T>(path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export interface ColloquyProcessOptions {
  /** The address media flows on (COLLOQUY_ANNOUNCED_IP and the UDP sockets' bind address). */
  mediaIp?: string;
  /**
   * A UDP port per peer connection (range mode) or one port for all media (the server's default since
   * 2026-12-05). Default range: the published bench figures were measured so; `--rtc-one-port` compares.
   */
  rtc?: 'one-port' | 'range';
  /** Extra node options (e.g. --expose-gc, --cpu-prof). */
  execArgv?: string[];
  env?: Record<string, string>;
}

const SERVER_PATH = fileURLToPath(new URL('./colloquy-bench-server.js', import.meta.url));

export async function startColloquy(options: ColloquyProcessOptions = {}): Promise<ColloquyProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'colloquy-bench-'));
  const mediaIp = options.mediaIp ?? '127.0.0.1';
  const child: ChildProcess = spawn(process.execPath, [...(options.execArgv ?? ['--expose-gc']), SERVER_PATH], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      COLLOQUY_DATA_DIR: dataDir,
      COLLOQUY_API_KEY: BENCH_API_KEY,
      COLLOQUY_API_SECRET: BENCH_API_SECRET,
      COLLOQUY_ADMIN_PASSWORD: 'bench-admin-password',
      COLLOQUY_ANNOUNCED_IP: mediaIp,
      COLLOQUY_RTC_LISTEN_IP: mediaIp,
      // A port per peer connection, or one UDP port for every peer connection (the system picks it).
      ...(options.rtc === 'one-port' ? { COLLOQUY_RTC_PORT: '0' } : { COLLOQUY_RTC_MIN_PORT: '40000', COLLOQUY_RTC_MAX_PORT: '49999' }),
      // Load clients send no signals; the defaults would only matter for the signaling benchmark's senders.
      COLLOQUY_SIGNAL_RATE: '1000',
      COLLOQUY_SIGNAL_BURST: '1000',
      LOG_LEVEL: process.env['BENCH_SERVER_LOG_LEVEL'] ?? 'warn',
      ...options.env,
    },
  });
  const ready = await new Promise<{ url: string; control: string; pid: number }>((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString();
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      child.stdout!.off('data', onData);
      try {
        resolve(JSON.parse(buffer.slice(0, nl)) as { url: string; control: string; pid: number });
      } catch (err) {
        reject(new Error(`bench server printed ${buffer.slice(0, nl)}: ${(err as Error).message}`));
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`bench server exited (${code}) before it was ready`)));
  });
  child.stdout!.resume(); // keep draining anything else it prints

  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(ready.control + path, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`bench server ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  let stopped: Promise<void> | undefined;
  return {
    ...ready,
    apiKey: BENCH_API_KEY,
    apiSecret: BENCH_API_SECRET,
    controlGet: (path) => call('GET', path),
    controlPost: (path, body) => call('POST', path, body ?? {}),
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null) {
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/** The server's memory and live objects at one point of a join/leave run, after a full GC. */
export interface ServerCheckpoint {
  cycle: number;
  heapMB: number;
  rssMB: number;
  sockets: number;
  channels: number;
  liveSessions: number;
  transports: number;
}

/** Waits `settleMs` (closing sockets and timers finish), runs a full GC, reads the server's stats. */
export async function serverCheckpoint(server: ColloquyProcess, cycle: number, settleMs: number): Promise<ServerCheckpoint> {
  await new Promise((r) => setTimeout(r, settleMs));
  const { memory } = await server.controlPost<{ memory: { heapUsed: number; rss: number } }>('/gc');
  const stats = await server.controlGet<{
    signaling: { sockets: number; channels: number };
    liveSessions: number;
    media: { transports: number };
  }>('/stats');
  return {
    cycle,
    heapMB: memory.heapUsed / 1048576,
    rssMB: memory.rss / 1048576,
    sockets: stats.signaling.sockets,
    channels: stats.signaling.channels,
    liveSessions: stats.liveSessions,
    transports: stats.media.transports,
  };
}
