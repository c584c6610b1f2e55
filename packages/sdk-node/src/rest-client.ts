// The authenticated HTTP client under the SDK: signs every call (X-OPENTOK-AUTH HS256 for a
// project, Authorization: Bearer RS256 for an application), sends JSON, and turns error answers
// into ApiError subclasses with the server's message.

import { signJwt } from '@colloquy/tokens';
import { randomUUID, type KeyObject } from 'node:crypto';
import { errorFor, RequestError } from './errors.js';

export type Credentials =
  | { kind: 'project'; apiKey: string; apiSecret: string }
  | { kind: 'application'; applicationId: string; privateKey: string | KeyObject };

export interface RestClientOptions {
  /** Base URL of the Colloquy server, e.g. `http://127.0.0.1:3000`. */
  apiUrl: string;
  /** Per-request timeout in milliseconds (default 20000). */
  timeout?: number;
}

/** REST JWT lifetime, as every OpenTok SDK uses. */
const REST_JWT_TTL_SECONDS = 300;

/** A path segment or body field the caller must give: a non-empty string (a TypeError before any request). */
export function requireId(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${what} is required`);
  return value;
}

export class RestClient {
  readonly apiUrl: string;
  readonly #credentials: Credentials;
  readonly #timeout: number;

  constructor(credentials: Credentials, options: RestClientOptions) {
    this.#credentials = credentials;
    this.apiUrl = options.apiUrl.replace(/\/+$/, '');
    this.#timeout = options.timeout ?? 20_000;
  }

  /** The project key or application ID that appears in `/v2/project/{id}` paths. */
  get projectId(): string {
    return this.#credentials.kind === 'project' ? this.#credentials.apiKey : this.#credentials.applicationId;
  }

  authHeaders(): Record<string, string> {
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + REST_JWT_TTL_SECONDS;
    const c = this.#credentials;
    if (c.kind === 'project') {
      return { 'X-OPENTOK-AUTH': signJwt({ iss: c.apiKey, ist: 'project', iat, exp, jti: randomUUID() }, c.apiSecret, 'HS256') };
    }
    const jwt = signJwt({ application_id: c.applicationId, iat, exp, jti: randomUUID() }, c.privateKey, 'RS256');
    return { Authorization: `Bearer ${jwt}` };
  }

  /** Calls `path` (absolute, or relative to `/v2/project/{id}/` when it does not start with '/'). */
  async request<T>(method: string, path: string, body?: unknown, init: { form?: Record<string, string> } = {}): Promise<{ status: number; data: T }> {
    const url = this.apiUrl + (path.startsWith('/') ? path : `/v2/project/${encodeURIComponent(this.projectId)}/${path}`);
    const headers: Record<string, string> = { Accept: 'application/json', ...this.authHeaders() };
    let payload: string | undefined;
    if (init.form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      payload = new URLSearchParams(init.form).toString();
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    let response: Response;
    for (let attempt = 1; ; attempt++) {
      try {
        response = await fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(this.#timeout) });
        break;
      } catch (err) {
        // A read whose connection failed before any answer is sent once more: the usual cause is a
        // kept-alive socket the server closed just as it was reused (ECONNRESET, "other side
        // closed"), seen on loaded machines. Writes are never repeated (the server may have acted),
        // nor is a call that ran out of time.
        if (attempt === 1 && (method === 'GET' || method === 'HEAD') && isConnectionFailure(err)) continue;
        throw new RequestError(0, `${method} ${url} failed: ${describeFailure(err)}`);
      }
    }
    const text = await response.text();
    let data: unknown = undefined;
    if (text !== '' && (response.headers.get('content-type') ?? '').includes('json')) {
      try {
        data = JSON.parse(text);
      } catch {
        throw new RequestError(response.status, `server answered invalid JSON (${response.status})`);
      }
    }
    if (!response.ok) {
      const err = data as { code?: number; message?: string } | undefined;
      throw errorFor(response.status, err?.message ?? (text || `HTTP ${response.status}`), typeof err?.code === 'number' ? err.code : undefined);
    }
    return { status: response.status, data: data as T };
  }
}

/** fetch's own failure to reach the server or read its answer (a TypeError with a cause), not a timeout or an abort. */
function isConnectionFailure(err: unknown): boolean {
  return err instanceof TypeError && (err as { cause?: unknown }).cause !== undefined;
}

/** fetch says only "fetch failed": the cause (code and message) is what a user can act on. */
function describeFailure(err: unknown): string {
  const e = err as Error & { cause?: { code?: unknown; message?: unknown } };
  const cause = e.cause;
  if (cause === undefined || cause === null) return e.message;
  const code = typeof cause.code === 'string' ? `${cause.code}: ` : '';
  return `${e.message} (${code}${typeof cause.message === 'string' ? cause.message : String(cause)})`;
}
