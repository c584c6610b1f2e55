// The Audio Connector tests' REST calls: a request on the test project's /v2/project/{key}/ tree
// with a project JWT, answering the status and the JSON body (null when there is none).

import { signJwt } from '@colloquy/tokens';
import type { TestServer } from '../helpers.js';

export function projectRest(t: TestServer) {
  return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> | null }> => {
    const now = Math.floor(Date.now() / 1000);
    const res = await fetch(`${t.url}/v2/project/${t.apiKey}/${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-opentok-auth': signJwt({ iss: t.apiKey, ist: 'project', iat: now, exp: now + 300 }, t.apiSecret) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> | null };
  };
}
