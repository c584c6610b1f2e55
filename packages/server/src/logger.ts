// One pino logger for the process; modules take a child named after themselves.

import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

export function createLogger(config: Pick<Config, 'logLevel' | 'logPretty'>): Logger {
  const options = {
    level: config.logLevel,
    base: { service: 'colloquy' },
    redact: { paths: ['apiSecret', 'secret', 'req.headers["x-opentok-auth"]', 'req.headers.authorization'], censor: '[redacted]' },
  };
  if (config.logPretty) return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l' } } });
  // Synchronous writes to stdout. pino's default (asynchronous) could not exit once stdout's reader
  // was gone (`colloquy serve | head`, a log shipper that died): a line still in flight at
  // process.exit made its exit-time flushSync retry EPIPE forever, and SIGTERM never ended the
  // server. Written synchronously, the first EPIPE reaches pino at once, and it stops logging.
  return pino(options, pino.destination({ dest: 1, sync: true }));
}
