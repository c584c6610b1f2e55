// Where a project wants its callbacks: an archive status URL and a session monitoring URL (OpenTok
// sets both per project in its account pages). Only http(s) URLs are accepted.

import type { Db } from '../store/database.js';

export type CallbackKind = 'archive' | 'session';

export interface ProjectCallbacks {
  archive: string | null;
  session: string | null;
}

export const MAX_CALLBACK_URL_LENGTH = 2048;

export class CallbackValidationError extends Error {
  override name = 'CallbackValidationError';
}

/** An http(s) URL (normalized), or null for '' / null: no callback. */
export function parseCallbackUrl(value: unknown): string | null {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value !== 'string' || value.length > MAX_CALLBACK_URL_LENGTH) {
    throw new CallbackValidationError(`a callback URL is an http or https URL of at most ${MAX_CALLBACK_URL_LENGTH} characters`);
  }
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new CallbackValidationError(`not a URL: ${value.slice(0, 100)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CallbackValidationError('a callback URL must be http or https');
  if (url.username || url.password) throw new CallbackValidationError('a callback URL must not carry credentials');
  return url.href;
}

export class CallbackStore {
  readonly #db: Db;
  /** Read on every connection and stream event of a live session: prepared once. */
  readonly #select;

  constructor(db: Db) {
    this.#db = db;
    this.#select = db.prepare('SELECT archive_url, session_url FROM project_callbacks WHERE project_id = ?');
  }

  get(projectId: string): ProjectCallbacks {
    const row = this.#select.get(projectId) as
      | { archive_url: string | null; session_url: string | null }
      | undefined;
    return { archive: row?.archive_url ?? null, session: row?.session_url ?? null };
  }

  /** Changes the URLs given (undefined leaves one as it is; null or '' removes it). */
  set(projectId: string, changes: { archive?: unknown; session?: unknown }): ProjectCallbacks {
    const current = this.get(projectId);
    const next: ProjectCallbacks = {
      archive: changes.archive === undefined ? current.archive : parseCallbackUrl(changes.archive),
      session: changes.session === undefined ? current.session : parseCallbackUrl(changes.session),
    };
    this.#db
      .prepare(
        `INSERT INTO project_callbacks (project_id, archive_url, session_url, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(project_id) DO UPDATE SET archive_url = excluded.archive_url, session_url = excluded.session_url, updated_at = excluded.updated_at`,
      )
      .run(projectId, next.archive, next.session, Date.now());
    return next;
  }
}
