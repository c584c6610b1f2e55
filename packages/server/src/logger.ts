// One pino logger for the process; modules take a child named after themselves.

import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

export function createLogger(config: Pick<Config, 'logLevel' | 'logPretty'>): Logger {
  return pino({
    level: config.logLevel,
    base: { service: 'colloquy' },
    redact: { paths: ['apiSecret', 'secret', 'req.headers["x-opentok-auth"]', 'req.headers.authorization'], censor: '[redacted]' },
    ...(config.logPretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss.l' } } } : {}),
  });
}
