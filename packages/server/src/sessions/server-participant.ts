// The checks a server-side participant makes before it joins a session on a REST call (a SIP leg
// for `dial`, an Audio Connector WebSocket for `connect`): the session exists in the project and is
// routed (its media pass through the SFU the participant taps), and the token given for the
// participant's connection is valid for that session and project, with a role that allows what the
// participant will do. Errors are OpenTok's: 404 no such session, 409 relayed, 400 bad token.

import { TokenError, verifyClientToken, type ClientTokenClaims } from '../auth/client-token.js';
import { ColloquyError, conflict, invalid, notFound } from '../errors.js';
import type { Project, SessionRecord, Store } from '../store/index.js';
import { requireClearMedia } from './e2ee.js';
import type { SessionManager } from './session-manager.js';

/** The project's session, or 404 with OpenTok's message. */
export async function requireProjectSession(sessions: SessionManager, project: Project, sessionId: string): Promise<SessionRecord> {
  try {
    return await sessions.require(project, sessionId);
  } catch (err) {
    if (err instanceof ColloquyError && err.kind === 'not-found') throw notFound('Session not found: no session with this ID in the project', 404);
    throw err;
  }
}

/**
 * The routed session and the verified claims of the participant's token. `what` names the
 * participant in messages ("SIP calls"); `publishes` requires a publisher or moderator token.
 */
export async function admitServerParticipant(params: {
  sessions: SessionManager;
  store: Store;
  project: Project;
  sessionId: string;
  token: string;
  what: string;
  publishes: boolean;
}): Promise<{ record: SessionRecord; claims: ClientTokenClaims }> {
  const record = await requireProjectSession(params.sessions, params.project, params.sessionId);
  if (record.mediaMode !== 'routed') {
    throw conflict(`${params.what} are only possible in routed sessions (p2p.preference=disabled): this session is relayed`);
  }
  requireClearMedia(record, params.what);
  let claims: ClientTokenClaims;
  try {
    claims = verifyClientToken(params.token, { projects: params.store.projects, sessionId: record.id });
  } catch (err) {
    if (err instanceof TokenError) throw invalid(`The token is not valid for this session: ${err.message}`);
    throw err;
  }
  if (claims.projectId !== params.project.id) throw invalid('The token is not valid for this session: it belongs to another project');
  if (params.publishes && !['publisher', 'moderator'].includes(claims.role)) {
    throw invalid(`The token must allow publishing (role publisher or moderator): ${params.what.toLowerCase()} publish their audio`);
  }
  return { record, claims };
}
