// Starting a real server for a test: a fresh data folder under the OS temp dir, a free port on
// loopback, quiet logs. Every test file gets its own. The server's own tests start it from its
// sources (what vitest compiles), through the shared helper in @colloquy/testing.

import { startTestServerWith, type TestServer } from '@colloquy/testing/server';
import { loadConfig } from '../src/config.js';
import { startServer, type StartServerOptions } from '../src/server.js';
import { pino, type Logger } from 'pino';

export { TEST_API_KEY, TEST_API_SECRET, TEST_APPLICATION_ID, tempDir, testKeyPair, type TestServer } from '@colloquy/testing/server';

export function startTestServer(env: Record<string, string> = {}, options: Pick<StartServerOptions, 'logger' | 'archiving'> = {}): Promise<TestServer> {
  return startTestServerWith({ loadConfig, startServer }, env, options);
}

/** A logger that keeps every line (parsed), for tests about what is logged and how often. */
export function capturingLogger(level = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}
