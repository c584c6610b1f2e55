// Archive settings from the environment: defaults, values, and refusals with the variable named.

import { describe, expect, it } from 'vitest';
import { archivingSettings } from '../../src/archiving/archive-manager.js';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('archive configuration', () => {
  it('has OpenTok-like defaults', () => {
    expect(loadConfig({}).archiving).toEqual({
      linkTtlSeconds: 600,
      retentionDays: 0,
      composeConcurrency: 1,
      autoStopDelaySeconds: 60,
      maxDurationSeconds: 14_400,
      noPublisherTimeoutSeconds: 3600,
      minFreeMb: 256,
      maxPerSession: 5,
      maxPerProject: 50,
      uploadAttempts: 5,
      uploadRetryDelaySeconds: 5,
      uploadConcurrency: 2,
    });
  });

  it('reads every variable and turns seconds into the manager\'s milliseconds', () => {
    const config = loadConfig({
      COLLOQUY_ARCHIVE_LINK_TTL: '30',
      COLLOQUY_ARCHIVE_RETENTION_DAYS: '3',
      COLLOQUY_ARCHIVE_COMPOSE_CONCURRENCY: '2',
      COLLOQUY_ARCHIVE_AUTO_STOP_DELAY: '5',
      COLLOQUY_ARCHIVE_MAX_DURATION: '10',
      COLLOQUY_ARCHIVE_NO_PUBLISHER_TIMEOUT: '20',
      COLLOQUY_ARCHIVE_MIN_FREE_MB: '64',
      COLLOQUY_ARCHIVE_MAX_PER_SESSION: '2',
      COLLOQUY_ARCHIVE_MAX_PER_PROJECT: '9',
      COLLOQUY_ARCHIVE_UPLOAD_ATTEMPTS: '3',
      COLLOQUY_ARCHIVE_UPLOAD_RETRY_DELAY: '0',
      COLLOQUY_ARCHIVE_UPLOAD_CONCURRENCY: '4',
    });
    expect(archivingSettings(config.archiving)).toEqual({
      linkTtlSeconds: 30,
      retentionDays: 3,
      composeConcurrency: 2,
      autoStopDelayMs: 5000,
      maxDurationMs: 10_000,
      noPublisherTimeoutMs: 20_000,
      minFreeMb: 64,
      maxPerSession: 2,
      maxPerProject: 9,
      uploadAttempts: 3,
      uploadRetryDelayMs: 0,
      uploadConcurrency: 4,
    });
  });

  it('refuses bad values, naming the variable', () => {
    expect(() => loadConfig({ COLLOQUY_ARCHIVE_LINK_TTL: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ COLLOQUY_ARCHIVE_COMPOSE_CONCURRENCY: 'two' })).toThrow(/COLLOQUY_ARCHIVE_COMPOSE_CONCURRENCY/);
    expect(() => loadConfig({ COLLOQUY_ARCHIVE_RETENTION_DAYS: '-1' })).toThrow(/COLLOQUY_ARCHIVE_RETENTION_DAYS/);
    expect(() => loadConfig({ COLLOQUY_ARCHIVE_MAX_DURATION: '99999' })).toThrow(/between 1 and 43200/);
    expect(() => loadConfig({ COLLOQUY_ARCHIVE_MAX_PER_SESSION: '0' })).toThrow(/COLLOQUY_ARCHIVE_MAX_PER_SESSION/);
    expect(() => loadConfig({ COLLOQUY_ARCHIVE_MIN_FREE_MB: '-5' })).toThrow(/COLLOQUY_ARCHIVE_MIN_FREE_MB/);
    expect(() => loadConfig({ COLLOQUY_ARCHIVE_UPLOAD_ATTEMPTS: '0' })).toThrow(/COLLOQUY_ARCHIVE_UPLOAD_ATTEMPTS/);
    expect(() => loadConfig({ COLLOQUY_ARCHIVE_UPLOAD_CONCURRENCY: '99' })).toThrow(/COLLOQUY_ARCHIVE_UPLOAD_CONCURRENCY/);
  });
});
