// Errors the domain raises, by kind. REST maps a kind to an HTTP status and OpenTok's JSON body,
// signaling maps it to a protocol error; neither layer's vocabulary leaks into the domain.

import { MediaError } from '@colloquy/sfu';

export type ErrorKind =
  | 'invalid' // 400: malformed or out-of-range input
  | 'unauthenticated' // 401: no usable credentials
  | 'forbidden' // 403: credentials do not grant this
  | 'not-found' // 404
  | 'not-allowed' // 405: not in this state/mode (e.g. stream changes on an auto archive)
  | 'conflict' // 409
  | 'too-large' // 413
  | 'rate-limited' // 429
  | 'unsupported' // 501: a feature this server does not provide
  | 'unavailable' // 503: cannot serve right now (saturated, disk full, stopping); try again later
  | 'internal'; // 500

export const STATUS_OF_KIND: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  'not-allowed': 405,
  conflict: 409,
  'too-large': 413,
  'rate-limited': 429,
  unsupported: 501,
  unavailable: 503,
  internal: 500,
};

export class ColloquyError extends Error {
  override name = 'ColloquyError';
  readonly kind: ErrorKind;
  /** OpenTok's numeric error code for the body, when it has a specific one; defaults to the HTTP status. */
  readonly code: number | undefined;
  /** OpenTok.js's error name when it is more precise than the code's usual one (e.g. OT_PERMISSION_DENIED for 1500). */
  readonly otName: string | undefined;

  constructor(kind: ErrorKind, message: string, code?: number, otName?: string) {
    super(message);
    this.kind = kind;
    this.code = code;
    this.otName = otName;
  }
}

/**
 * The domain error an error stands for: a ColloquyError as it is, or the SFU's MediaError (its
 * kinds are a subset of ours) as a ColloquyError of the same kind and message; null for anything
 * else (a bug, a library's error). Where REST, signaling and the session layer look at an error's
 * kind, they look through this.
 */
export function domainError(err: unknown): ColloquyError | null {
  if (err instanceof ColloquyError) return err;
  if (err instanceof MediaError) return new ColloquyError(err.kind, err.message);
  return null;
}

export const invalid = (message: string, code?: number, otName?: string): ColloquyError => new ColloquyError('invalid', message, code, otName);
export const notFound = (message: string, code?: number, otName?: string): ColloquyError => new ColloquyError('not-found', message, code, otName);
export const conflict = (message: string, code?: number): ColloquyError => new ColloquyError('conflict', message, code);
export const forbidden = (message: string, code?: number, otName?: string): ColloquyError => new ColloquyError('forbidden', message, code, otName);

/**
 * Whether an error means the disk (or the database's file system) is full: SQLite's SQLITE_FULL
 * ("database or disk is full") or a write's ENOSPC. Such a failure is the machine's state, not a
 * bug: callers answer 503 and carry on, and everything works again once space is freed.
 */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT';
}

export const DISK_FULL_MESSAGE = 'Service unavailable: the server is out of disk space; try again later';
