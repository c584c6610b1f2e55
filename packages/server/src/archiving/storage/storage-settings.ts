// A project's archive upload target, as OpenTok's `PUT /v2/project/{key}/archive/storage` takes it:
// `{type: "s3", config: {bucket, accessKey, secretKey, endpoint?, sse?}, fallback: "none" | "opentok"}`.
// Validated here for both the REST API and the dashboard; the view handed back never holds the
// secret key (only that one is set and its last characters, so an operator can tell keys apart).

import { z } from 'zod';
import { ColloquyError, invalid } from '../../errors.js';

/** What happens when an upload fails: `opentok` keeps the archive on this server (`available`); `none` fails it and keeps no copy. */
export type StorageFallback = 'none' | 'opentok';

export interface ArchiveStorageSettings {
  type: 's3';
  bucket: string;
  accessKey: string;
  secretKey: string;
  /** Base URL of an S3-compatible service (`https://host[:port]`); null = Amazon S3. */
  endpoint: string | null;
  /** Server-side encryption asked of S3: `s3` (SSE-S3, AES256) or none. */
  sse: 's3' | 'none' | null;
  fallback: StorageFallback;
  updatedAt: number;
}

/** The settings as responses show them: everything but the secret. */
export interface ArchiveStorageView {
  type: 's3';
  config: { bucket: string; accessKey: string; endpoint: string | null; sse: 's3' | 'none' | null; secretKeySet: true; secretKeyHint: string };
  fallback: StorageFallback;
  updatedAt: number;
}

// S3 rules are stricter (3–63 lower-case letters, digits, dots and hyphens), but S3-compatible
// services accept more (Google Cloud Storage: underscores, names up to 222): refuse only what can
// never be a bucket in a path-style URL.
const Bucket = z
  .string()
  .min(3)
  .max(255)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, dots, hyphens or underscores');
const Key = (max: number) => z.string().min(1).max(max).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

const StorageBody = z
  .object({
    type: z.string(),
    config: z
      .object({
        bucket: Bucket,
        accessKey: Key(256),
        secretKey: Key(1024),
        endpoint: z.string().max(2048).nullish(),
        sse: z.enum(['s3', 'none']).nullish(),
      })
      .loose(),
    fallback: z.enum(['none', 'opentok']).optional(),
  })
  .loose();

/** An endpoint as OpenTok documents it: the base URL with its protocol, http or https, nothing after the host. */
export function normalizeEndpoint(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid('config.endpoint must be a URL with its protocol, e.g. https://storage.example.com');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('config.endpoint must be an http or https URL');
  if (url.username || url.password) throw invalid('config.endpoint must not hold credentials: give accessKey and secretKey');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) throw invalid('config.endpoint is a base URL: no path, query or fragment');
  return `${url.protocol}//${url.host}`;
}

/**
 * Parses a storage body (REST or dashboard) into settings. 400 for a body OpenTok would refuse;
 * 501 for `azure`, which OpenTok has and this server does not upload to.
 */
export function parseStorageSettings(body: unknown, now = Date.now()): ArchiveStorageSettings {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('Send the storage settings as a JSON object {type, config, fallback}');
  const type = (body as { type?: unknown }).type;
  if (type === 'azure') throw new ColloquyError('unsupported', 'Azure storage is not supported by this Colloquy server: use type "s3" (any S3-compatible service)', 501);
  if (type !== 's3') throw invalid('type must be "s3"');
  const result = StorageBody.safeParse(body);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
    throw invalid(`Storage settings are invalid: ${issues.join('; ')}`);
  }
  const { config, fallback } = result.data;
  return {
    type: 's3',
    bucket: config.bucket,
    accessKey: config.accessKey,
    secretKey: config.secretKey,
    endpoint: config.endpoint ? normalizeEndpoint(config.endpoint) : null,
    sse: config.sse ?? null,
    // OpenTok keeps the archive when an upload fails unless told otherwise.
    fallback: fallback ?? 'opentok',
    updatedAt: now,
  };
}

export function storageView(settings: ArchiveStorageSettings): ArchiveStorageView {
  const hint = settings.secretKey.length >= 12 ? `…${settings.secretKey.slice(-4)}` : '…';
  return {
    type: settings.type,
    config: { bucket: settings.bucket, accessKey: settings.accessKey, endpoint: settings.endpoint, sse: settings.sse, secretKeySet: true, secretKeyHint: hint },
    fallback: settings.fallback,
    updatedAt: settings.updatedAt,
  };
}
