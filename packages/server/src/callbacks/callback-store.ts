// Where a project wants its callbacks: an archive status URL and a session monitoring URL (OpenTok
// sets both per project in its account pages), plus any URLs registered through OpenTok's older
// registration API (`POST /v2/project/{key}/callback` with `{group, event, url}`, which opentok-node's
// registerCallback still calls). Only http(s) URLs are accepted.

import { randomUUID } from 'node:crypto';
import type { SqlDatabase } from '../store/database.js';

/** `captions`: a captions run's statusCallbackUrl (captions/); `render`: a render's own statusCallbackUrl (render/). */
export type CallbackKind = 'archive' | 'session' | 'captions' | 'render';

export interface ProjectCallbacks {
  archive: string | null;
  session: string | null;
}

export const MAX_CALLBACK_URL_LENGTH = 2048;

export class CallbackValidationError extends Error {
  override name = 'CallbackValidationError';
}

/** The registration API's groups and the events of each (OpenTok's names). */
export const CALLBACK_EVENTS = {
  connection: ['created', 'destroyed'],
  stream: ['created', 'destroyed'],
  archive: ['status'],
} as const satisfies Record<string, readonly string[]>;
export type CallbackGroup = keyof typeof CALLBACK_EVENTS;

/** A registration as the REST API shows it (OpenTok's fields). */
export interface RegisteredCallback {
  id: string;
  group: CallbackGroup;
  event: string;
  url: string;
  createdAt: number;
}

/** Bounds what one project can make the server POST to for each event. */
export const MAX_REGISTERED_CALLBACKS = 50;

interface RegistrationRow {
  id: string;
  grp: CallbackGroup;
  event: string;
  url: string;
  created_at: number;
}

const registrationJson = (row: RegistrationRow): RegisteredCallback => ({ id: row.id, group: row.grp, event: row.event, url: row.url, createdAt: row.created_at });

/** Checks a registration body `{group, event, url}`; throws CallbackValidationError. */
export function parseRegistration(body: unknown): { group: CallbackGroup; event: string; url: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new CallbackValidationError('the body must be a JSON object {group, event, url}');
  const { group, event, url } = body as Record<string, unknown>;
  if (typeof group !== 'string' || !Object.hasOwn(CALLBACK_EVENTS, group)) {
    throw new CallbackValidationError(`group must be one of ${Object.keys(CALLBACK_EVENTS).join(', ')}`);
  }
  const events: readonly string[] = CALLBACK_EVENTS[group as CallbackGroup];
  if (typeof event !== 'string' || !events.includes(event)) throw new CallbackValidationError(`event of group ${group} must be one of ${events.join(', ')}`);
  const parsed = parseCallbackUrl(url);
  if (parsed === null) throw new CallbackValidationError('url is required');
  return { group: group as CallbackGroup, event, url: parsed };
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
  readonly #db: SqlDatabase;

  constructor(db: SqlDatabase) {
    this.#db = db;
  }

  /**
   * Every URL one event goes to, each once: the project's URL of its kind (session monitoring for
   * connection and stream events, archive status for archives) and the URLs registered for it.
   */
  async urlsFor(projectId: string, group: CallbackGroup, event: string): Promise<string[]> {
    const own = (await this.get(projectId))[group === 'archive' ? 'archive' : 'session'];
    const registered = await this.#db.all<{ url: string }>('SELECT url FROM registered_callbacks WHERE project_id = ? AND grp = ? AND event = ?', [projectId, group, event]);
    const urls = registered.map((r) => r.url);
    return [...new Set(own ? [own, ...urls] : urls)];
  }

  async listRegistered(projectId: string): Promise<RegisteredCallback[]> {
    const rows = await this.#db.all<RegistrationRow>('SELECT id, grp, event, url, created_at FROM registered_callbacks WHERE project_id = ? ORDER BY created_at, id', [projectId]);
    return rows.map(registrationJson);
  }

  /** Registers a URL for a group's event; the same registration again answers the existing one. */
  async register(projectId: string, body: unknown): Promise<RegisteredCallback> {
    const { group, event, url } = parseRegistration(body);
    return this.#db.transaction(async (tx) => {
      const existing = await tx.get<RegistrationRow>('SELECT id, grp, event, url, created_at FROM registered_callbacks WHERE project_id = ? AND grp = ? AND event = ? AND url = ?', [
        projectId,
        group,
        event,
        url,
      ]);
      if (existing) return registrationJson(existing);
      const count = (await tx.value<number>('SELECT COUNT(*) FROM registered_callbacks WHERE project_id = ?', [projectId])) ?? 0;
      if (count >= MAX_REGISTERED_CALLBACKS) throw new CallbackValidationError(`a project can register at most ${MAX_REGISTERED_CALLBACKS} callbacks`);
      const row: RegistrationRow = { id: randomUUID(), grp: group, event, url, created_at: Date.now() };
      await tx.run('INSERT INTO registered_callbacks (id, project_id, grp, event, url, created_at) VALUES (?, ?, ?, ?, ?, ?)', [row.id, projectId, row.grp, row.event, row.url, row.created_at]);
      return registrationJson(row);
    });
  }

  /** False when the project has no such registration. */
  async unregister(projectId: string, id: string): Promise<boolean> {
    return (await this.#db.run('DELETE FROM registered_callbacks WHERE project_id = ? AND id = ?', [projectId, id])).changes > 0;
  }

  async get(projectId: string): Promise<ProjectCallbacks> {
    const row = await this.#db.get<{ archive_url: string | null; session_url: string | null }>('SELECT archive_url, session_url FROM project_callbacks WHERE project_id = ?', [projectId]);
    return { archive: row?.archive_url ?? null, session: row?.session_url ?? null };
  }

  /** Changes the URLs given (undefined leaves one as it is; null or '' removes it). */
  async set(projectId: string, changes: { archive?: unknown; session?: unknown }): Promise<ProjectCallbacks> {
    const current = await this.get(projectId);
    const next: ProjectCallbacks = {
      archive: changes.archive === undefined ? current.archive : parseCallbackUrl(changes.archive),
      session: changes.session === undefined ? current.session : parseCallbackUrl(changes.session),
    };
    await this.#db.run(
      `INSERT INTO project_callbacks (project_id, archive_url, session_url, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT(project_id) DO UPDATE SET archive_url = excluded.archive_url, session_url = excluded.session_url, updated_at = excluded.updated_at`,
      [projectId, next.archive, next.session, Date.now()],
    );
    return next;
  }
}
