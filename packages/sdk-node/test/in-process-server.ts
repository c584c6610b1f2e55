// A real Colloquy server in the test's own process, on a fresh data folder, with the project the
// test names (its key and secret), quiet logs.

import { loadConfig, startServer, type RunningServer } from '@colloquy/server';
import { pino } from 'pino';

export function startInProcessServer(dataDir: string, apiKey: string, apiSecret: string): Promise<RunningServer> {
  return startServer(
    loadConfig({
      PORT: '0',
      // The SFU's one UDP port where the system picks (7882 is the default; other test files run beside this one).
      COLLOQUY_RTC_PORT: '0',
      COLLOQUY_DATA_DIR: dataDir,
      COLLOQUY_API_KEY: apiKey,
      COLLOQUY_API_SECRET: apiSecret,
      // The test process is server, SDK and (for renders) Chromium's driver at once: its event-loop
      // lag and CPU say nothing about the SFU, so overload refusal is off, as in @colloquy/testing's
      // test servers (a loaded run refused a render's publish: lag 259.7 ms over 250 ms).
      COLLOQUY_OVERLOAD_LAG_MS: '0',
      COLLOQUY_OVERLOAD_CPU: '0',
    }),
    { logger: pino({ level: 'silent' }) },
  );
}
