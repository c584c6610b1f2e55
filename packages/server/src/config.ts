// Server configuration, read once from the environment and validated, so a typo in a variable
// fails at start with a clear message instead of misbehaving later.

import { resolve } from 'node:path';

export interface Config {
  /** HTTP port (`PORT`, default 3000; 0 picks a free one). */
  port: number;
  /** Address the HTTP server binds (`HOST`, default 127.0.0.1; set 0.0.0.0 to serve other machines). */
  host: string;
  /** Folder for the SQLite database, archives and other state (`COLLOQUY_DATA_DIR`, default ./data). */
  dataDir: string;
  /** Absolute base URL clients and download links use (`COLLOQUY_PUBLIC_URL`); derived from the request when unset. */
  publicUrl: string | null;
  /** pino level (`LOG_LEVEL`, default info). */
  logLevel: string;
  /** Pretty, human-oriented logs instead of JSON lines (`LOG_PRETTY=1`). */
  logPretty: boolean;
  /** Ensure a project with exactly these credentials (`COLLOQUY_API_KEY` + `COLLOQUY_API_SECRET`). */
  apiKey: string | null;
  apiSecret: string | null;
  /** Ensure a Vonage-style application (`COLLOQUY_APPLICATION_ID` + `COLLOQUY_PUBLIC_KEY_FILE`). */
  applicationId: string | null;
  publicKeyFile: string | null;
  /** Allowed clock difference when checking `iat`/`exp` of REST JWTs, in seconds. */
  clockSkewSeconds: number;
  archiving: ArchivingConfig;
}

/** Archive settings (`COLLOQUY_ARCHIVE_*`); the short ones exist mostly so tests need not wait. */
export interface ArchivingConfig {
  /** Lifetime of an archive's signed download `url` (`COLLOQUY_ARCHIVE_LINK_TTL`, seconds, default 600). */
  linkTtlSeconds: number;
  /** Days before an available archive expires and its file is deleted (`COLLOQUY_ARCHIVE_RETENTION_DAYS`, default 0 = keep). */
  retentionDays: number;
  /** Compositions run at once (`COLLOQUY_ARCHIVE_COMPOSE_CONCURRENCY`, default 1). */
  composeConcurrency: number;
  /** Archives stop this long after a session's last client left (`COLLOQUY_ARCHIVE_AUTO_STOP_DELAY`, seconds, default 60). */
  autoStopDelaySeconds: number;
  /** Recorded length at which an archive stops; `always` archives roll over (`COLLOQUY_ARCHIVE_MAX_DURATION`, seconds, default 14400). */
  maxDurationSeconds: number;
  /** An archive with nobody publishing stops after this long (`COLLOQUY_ARCHIVE_NO_PUBLISHER_TIMEOUT`, seconds, default 3600). */
  noPublisherTimeoutSeconds: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function intVar(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function strVar(env: Env, name: string): string | null {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? null : raw.trim();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function loadConfig(env: Env = process.env): Config {
  const apiKey = strVar(env, 'COLLOQUY_API_KEY');
  const apiSecret = strVar(env, 'COLLOQUY_API_SECRET');
  if ((apiKey === null) !== (apiSecret === null)) {
    throw new ConfigError('COLLOQUY_API_KEY and COLLOQUY_API_SECRET must be set together');
  }
  if (apiKey !== null && !/^[1-9][0-9]{0,15}$/.test(apiKey)) {
    // The PHP and Java SDKs type the key as an integer (reference §0.7).
    throw new ConfigError(`COLLOQUY_API_KEY must be numeric, as OpenTok API keys are; got ${JSON.stringify(apiKey)}`);
  }
  if (apiSecret !== null && (apiSecret.length < 16 || apiSecret.length > 256)) {
    throw new ConfigError('COLLOQUY_API_SECRET must be 16 to 256 characters long');
  }
  const applicationId = strVar(env, 'COLLOQUY_APPLICATION_ID');
  const publicKeyFile = strVar(env, 'COLLOQUY_PUBLIC_KEY_FILE');
  if ((applicationId === null) !== (publicKeyFile === null)) {
    throw new ConfigError('COLLOQUY_APPLICATION_ID and COLLOQUY_PUBLIC_KEY_FILE must be set together');
  }
  if (applicationId !== null && !UUID.test(applicationId)) {
    throw new ConfigError(`COLLOQUY_APPLICATION_ID must be a UUID; got ${JSON.stringify(applicationId)}`);
  }
  const publicUrl = strVar(env, 'COLLOQUY_PUBLIC_URL');
  if (publicUrl !== null) {
    let url: URL;
    try {
      url = new URL(publicUrl);
    } catch {
      throw new ConfigError(`COLLOQUY_PUBLIC_URL is not a URL: ${JSON.stringify(publicUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('COLLOQUY_PUBLIC_URL must be http(s)');
  }
  const host = strVar(env, 'HOST') ?? '127.0.0.1';
  return {
    port: intVar(env, 'PORT', 3000, 0, 65535),
    host,
    dataDir: resolve(strVar(env, 'COLLOQUY_DATA_DIR') ?? './data'),
    publicUrl: publicUrl?.replace(/\/+$/, '') ?? null,
    logLevel: strVar(env, 'LOG_LEVEL') ?? 'info',
    logPretty: env['LOG_PRETTY'] === '1',
    apiKey,
    apiSecret,
    applicationId: applicationId?.toLowerCase() ?? null,
    publicKeyFile: publicKeyFile === null ? null : resolve(publicKeyFile),
    clockSkewSeconds: intVar(env, 'COLLOQUY_CLOCK_SKEW', 60, 0, 3600),
    archiving: {
      linkTtlSeconds: intVar(env, 'COLLOQUY_ARCHIVE_LINK_TTL', 600, 1, 7 * 86_400),
      retentionDays: intVar(env, 'COLLOQUY_ARCHIVE_RETENTION_DAYS', 0, 0, 36_500),
      composeConcurrency: intVar(env, 'COLLOQUY_ARCHIVE_COMPOSE_CONCURRENCY', 1, 1, 16),
      autoStopDelaySeconds: intVar(env, 'COLLOQUY_ARCHIVE_AUTO_STOP_DELAY', 60, 1, 3600),
      maxDurationSeconds: intVar(env, 'COLLOQUY_ARCHIVE_MAX_DURATION', 14_400, 1, 43_200),
      noPublisherTimeoutSeconds: intVar(env, 'COLLOQUY_ARCHIVE_NO_PUBLISHER_TIMEOUT', 3600, 1, 43_200),
    },
  };
}
