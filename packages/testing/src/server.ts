// A real Colloquy server for tests in other packages: in this process, on a free loopback port,
// with a fresh data folder, a known project and a known application.

import { loadConfig, startServer, type RunningServer, type StartServerOptions } from '@colloquy/server';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';

export interface TestServer {
  server: RunningServer;
  url: string;
  dataDir: string;
  apiKey: string;
  apiSecret: string;
  applicationId: string;
  privateKey: string;
  publicKey: string;
  close(): Promise<void>;
}

export const TEST_API_KEY = '47000001';
export const TEST_API_SECRET = 'test-secret-0123456789abcdef0123456789';
export const TEST_APPLICATION_ID = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

let keyPair: { privateKey: string; publicKey: string } | undefined;

export function testKeyPair(): { privateKey: string; publicKey: string } {
  keyPair ??= generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return keyPair;
}

export function tempDir(prefix = 'colloquy-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The two server entry points a test server is made with: the built package's, or (in the server's own tests) its sources'. */
export interface ServerEntryPoints {
  loadConfig: typeof loadConfig;
  startServer: typeof startServer;
}

/** Starts a server; `env` overrides any setting (PORT, COLLOQUY_* …). Set TEST_LOG_LEVEL to see logs. */
export function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  return startTestServerWith({ loadConfig, startServer }, env);
}

/** startTestServer with the given entry points. */
export async function startTestServerWith(
  entry: ServerEntryPoints,
  env: Record<string, string> = {},
  options: Pick<StartServerOptions, 'logger' | 'archiving'> = {},
): Promise<TestServer> {
  const dataDir = tempDir();
  const { privateKey, publicKey } = testKeyPair();
  const publicKeyFile = join(dataDir, 'app-public.pem');
  writeFileSync(publicKeyFile, publicKey);
  const config = entry.loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    COLLOQUY_DATA_DIR: dataDir,
    COLLOQUY_API_KEY: TEST_API_KEY,
    COLLOQUY_API_SECRET: TEST_API_SECRET,
    COLLOQUY_APPLICATION_ID: TEST_APPLICATION_ID,
    COLLOQUY_PUBLIC_KEY_FILE: publicKeyFile,
    // The test process is server, browser driver and load generator at once: its event-loop lag and
    // CPU say nothing about the SFU, so overload refusal is off unless a test turns it on.
    COLLOQUY_OVERLOAD_LAG_MS: '0',
    COLLOQUY_OVERLOAD_CPU: '0',
    // The SFU's one UDP port (the server's default, 7882) on a port the system picks, so test servers
    // running side by side do not share one; ICE-TCP's one TCP port likewise. A test that asks for a
    // port range, or a port, keeps it. COLLOQUY_TEST_RTC=range in the environment gives the test
    // servers that did not choose a port per peer connection instead (range mode), to compare the two.
    ...rtcPorts(env),
    // COLLOQUY_TEST_WORKERS=spread in the environment runs every test server with a media worker
    // thread that serves subscribers from the first one on (alternately with the main thread), to
    // run the media tests through the workers' path (media-workers/).
    ...(process.env['COLLOQUY_TEST_WORKERS'] === 'spread' ? { COLLOQUY_WORKERS: '2', COLLOQUY_WORKERS_FROM: '0' } : {}),
    // COLLOQUY_TEST_UPLINK=remb|transport-cc in the environment runs every test server with that
    // uplink estimation (to compare them over the same tests).
    ...(process.env['COLLOQUY_TEST_UPLINK'] ? { COLLOQUY_UPLINK_ESTIMATION: process.env['COLLOQUY_TEST_UPLINK'] } : {}),
    ...env,
  });
  const server = await entry.startServer(config, { ...options, logger: options.logger ?? pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }) });
  return {
    server,
    url: server.url,
    dataDir,
    apiKey: TEST_API_KEY,
    apiSecret: TEST_API_SECRET,
    applicationId: TEST_APPLICATION_ID,
    privateKey,
    publicKey,
    async close() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The media ports a test server gets unless its test chose them (see startTestServerWith). */
function rtcPorts(env: Record<string, string>): Record<string, string> {
  if (env['COLLOQUY_RTC_MIN_PORT'] !== undefined || env['COLLOQUY_RTC_MAX_PORT'] !== undefined || env['COLLOQUY_RTC_PORT'] !== undefined) return {};
  if (process.env['COLLOQUY_TEST_RTC'] === 'range') return { COLLOQUY_RTC_MIN_PORT: '40000', COLLOQUY_RTC_MAX_PORT: '49999' };
  return { COLLOQUY_RTC_PORT: '0', ...(env['COLLOQUY_RTC_TCP'] === 'on' && env['COLLOQUY_RTC_TCP_PORT'] === undefined ? { COLLOQUY_RTC_TCP_PORT: '0' } : {}) };
}
