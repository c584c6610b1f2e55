// Joins connections straight through SessionManager (no sockets), all in one turn of the event
// loop, as the connects of a join storm land: for the signaling tests of batching and lists.

import type { ClientTokenClaims } from '../src/auth/client-token.js';
import type { Connection, SessionManager } from '../src/sessions/session-manager.js';

/** Joins `count` publishers with `data` to the session: the record is read first, then every join in one turn. */
export async function joinInOneTurn(sessions: SessionManager, sessionId: string, count: number, data = ''): Promise<Connection[]> {
  const record = (await sessions.find(sessionId))!;
  const claims: ClientTokenClaims = {
    kind: 'jwt',
    projectId: record.projectId,
    sessionId,
    role: 'publisher',
    connectionData: data,
    expireTime: Math.floor(Date.now() / 1000) + 3600,
    initialLayoutClassList: [],
  };
  return Array.from({ length: count }, () => sessions.join(record, claims, { userAgent: 'test', ip: '127.0.0.1', sdk: null }).connection);
}
