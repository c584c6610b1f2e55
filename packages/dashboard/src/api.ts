// The dashboard API client: JSON in and out, the CSRF token on every mutating call, and one error
// type that pages show to the person. A 401 sends the page back to the sign-in form.

import type { MeResponse } from '@colloquy/server/dashboard-api';

export type * from '@colloquy/server/dashboard-api';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;
let onSignedOut: () => void = () => {};

export function setSignedOutHandler(fn: () => void): void {
  onSignedOut = fn;
}

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function isSignedIn(): boolean {
  return csrfToken !== null;
}

export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(`/dashboard/api${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (res.status === 204) return undefined as T;
  const data = (await res.json().catch(() => null)) as { message?: string } | null;
  if (!res.ok) {
    if (res.status === 401 && path !== '/login') {
      csrfToken = null;
      onSignedOut();
    }
    throw new ApiError(res.status, data?.message ?? `${res.status} ${res.statusText}`);
  }
  return data as T;
}

export async function loadMe(): Promise<boolean> {
  const me = await api<MeResponse>('GET', '/me');
  csrfToken = me.signedIn ? me.csrfToken : null;
  return me.signedIn;
}

export const encode = encodeURIComponent;
