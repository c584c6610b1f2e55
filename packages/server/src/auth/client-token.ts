// Verification of client tokens, the credential a browser presents when it connects: all three
// kinds the SDKs generate (T1, HS256 JWT, RS256 JWT; formats in @colloquy/tokens and reference §3)
// turned into one shape. Refuses a wrong signature, another session or project, an expired token,
// an expiry more than 30 days after issue, an unknown role and connection data over 1000 chars.

import {
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_CONNECTION_DATA_LENGTH,
  MAX_LAYOUT_CLASS_LIST_LENGTH,
  MAX_TOKEN_TTL_SECONDS,
  decodeJwt,
  isRole,
  parseSessionId,
  parseT1Token,
  signT1Data,
  verifyJwtSignature,
  type DecodedJwt,
  type Role,
} from '@colloquy/tokens';
import { timingSafeEqual } from 'node:crypto';
import type { Project } from '../store/index.js';
import type { ProjectStore } from '../store/projects.js';

export type ClientTokenKind = 'T1' | 'jwt' | 'application';

export interface ClientTokenClaims {
  kind: ClientTokenKind;
  projectId: string;
  sessionId: string;
  role: Role;
  /** The token's connection data ('' when none): what other clients see as `connection.data`. */
  connectionData: string;
  /** Epoch seconds. */
  expireTime: number;
  initialLayoutClassList: string[];
}

export type TokenErrorReason =
  | 'malformed'
  | 'unknown-project'
  | 'bad-signature'
  | 'wrong-session'
  | 'wrong-project'
  | 'expired'
  | 'expiry-too-far'
  | 'bad-role'
  | 'data-too-long'
  | 'layout-too-long';

export class TokenError extends Error {
  override name = 'TokenError';
  readonly reason: TokenErrorReason;
  constructor(reason: TokenErrorReason, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface VerifyClientTokenOptions {
  projects: ProjectStore;
  /** The session the client asks to join; the token must be for it. */
  sessionId?: string;
  /** Epoch milliseconds; defaults to Date.now(). */
  now?: number;
  /** Allowed clock difference, seconds (default 60). */
  clockSkewSeconds?: number;
}

interface RawClaims {
  project: Project;
  kind: ClientTokenKind;
  sessionId: unknown;
  role: unknown;
  connectionData: unknown;
  expireTime: unknown;
  issuedAt: unknown;
  layout: unknown;
}

export function verifyClientToken(token: unknown, options: VerifyClientTokenOptions): ClientTokenClaims {
  if (typeof token !== 'string' || token.length === 0) throw new TokenError('malformed', 'token is missing');
  const raw = token.startsWith('T1==') ? readT1(token, options.projects) : readJwt(token, options.projects);
  return checkClaims(raw, options);
}

function readT1(token: string, projects: ProjectStore): RawClaims {
  const parsed = parseT1Token(token);
  if (!parsed) throw new TokenError('malformed', 'token is not a valid T1 token');
  const project = projects.get(parsed.partnerId);
  if (!project || project.kind !== 'project' || !project.secret) throw new TokenError('unknown-project', 'token is for an unknown API key');
  const expected = Buffer.from(signT1Data(parsed.dataString, project.secret), 'hex');
  const actual = Buffer.from(parsed.signature, 'hex');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new TokenError('bad-signature', 'token signature is invalid');
  }
  const f = parsed.fields;
  return {
    project,
    kind: 'T1',
    sessionId: f.get('session_id'),
    role: f.get('role') ?? undefined,
    connectionData: f.get('connection_data') ?? undefined,
    expireTime: numberOrString(f.get('expire_time')),
    issuedAt: numberOrString(f.get('create_time')),
    layout: f.get('initial_layout_class_list') ?? undefined,
  };
}

function numberOrString(value: string | null): unknown {
  if (value === null || value === '') return undefined;
  return /^\d+$/.test(value) ? Number(value) : value;
}

function readJwt(token: string, projects: ProjectStore): RawClaims {
  let jwt: DecodedJwt;
  try {
    jwt = decodeJwt(token);
  } catch (err) {
    throw new TokenError('malformed', `token is not a valid token: ${(err as Error).message}`);
  }
  const c = jwt.claims;
  let project: Project | null;
  let ok: boolean;
  if (jwt.header.alg === 'HS256') {
    const iss = c['iss'];
    project = typeof iss === 'string' || typeof iss === 'number' ? projects.get(String(iss)) : null;
    if (!project || project.kind !== 'project' || !project.secret) throw new TokenError('unknown-project', 'token is for an unknown API key');
    if (c['ist'] !== undefined && c['ist'] !== 'project') throw new TokenError('malformed', 'token claim "ist" must be "project"');
    ok = verifyJwtSignature(jwt, project.secret);
  } else {
    const appId = c['application_id'] ?? c['iss'];
    project = typeof appId === 'string' ? projects.get(appId.toLowerCase()) : null;
    const key = project ? projects.publicKeyOf(project) : null;
    if (!project || !key) throw new TokenError('unknown-project', 'token is for an unknown application');
    ok = verifyJwtSignature(jwt, key);
  }
  if (!ok) throw new TokenError('bad-signature', 'token signature is invalid');
  if (c['scope'] !== undefined && c['scope'] !== 'session.connect') {
    throw new TokenError('malformed', 'token scope must be "session.connect"');
  }
  return {
    project,
    kind: jwt.header.alg === 'HS256' ? 'jwt' : 'application',
    sessionId: c['session_id'],
    role: c['role'] ?? undefined,
    connectionData: c['connection_data'] ?? undefined,
    // PHP only sets exp when an expiry is given, and may leave expire_time null (reference §3b).
    expireTime: c['exp'] ?? c['expire_time'] ?? undefined,
    issuedAt: c['iat'] ?? c['create_time'] ?? undefined,
    layout: formDecodedLayout(c['initial_layout_class_list']),
  };
}

/**
 * The OpenTok PHP SDK url-encodes the space-joined class list inside its JWT ("focus+main");
 * class names never contain '+' or '%', so a value holding either is form-decoded.
 */
function formDecodedLayout(value: unknown): unknown {
  if (typeof value !== 'string' || !/[+%]/.test(value)) return value ?? undefined;
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return value;
  }
}

function checkClaims(raw: RawClaims, options: VerifyClientTokenOptions): ClientTokenClaims {
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  const skew = options.clockSkewSeconds ?? 60;
  if (typeof raw.sessionId !== 'string' || raw.sessionId === '') throw new TokenError('malformed', 'token has no session_id');
  if (options.sessionId !== undefined && raw.sessionId !== options.sessionId) {
    throw new TokenError('wrong-session', 'token is for another session');
  }
  const fields = parseSessionId(raw.sessionId);
  if (!fields) throw new TokenError('malformed', 'token session_id is not a session ID');
  if (fields.apiKey.toLowerCase() !== raw.project.id) throw new TokenError('wrong-project', 'token session belongs to another project');

  const role = raw.role ?? 'publisher';
  if (!isRole(role)) throw new TokenError('bad-role', `token role ${JSON.stringify(role)} is not one of subscriber, publisher, publisheronly, moderator`);

  if (raw.issuedAt !== undefined && (typeof raw.issuedAt !== 'number' || !Number.isFinite(raw.issuedAt))) {
    throw new TokenError('malformed', 'token creation time is not a number');
  }
  const issuedAt = typeof raw.issuedAt === 'number' ? raw.issuedAt : now;
  if (issuedAt > now + skew) throw new TokenError('malformed', 'token is issued in the future');
  let expireTime: number;
  if (raw.expireTime === undefined || raw.expireTime === null) {
    expireTime = issuedAt + DEFAULT_TOKEN_TTL_SECONDS;
  } else if (typeof raw.expireTime === 'number' && Number.isFinite(raw.expireTime)) {
    expireTime = Math.floor(raw.expireTime);
  } else {
    throw new TokenError('malformed', 'token expiry is not a number');
  }
  if (expireTime <= now - skew) throw new TokenError('expired', 'token has expired');
  if (expireTime > issuedAt + MAX_TOKEN_TTL_SECONDS + skew) throw new TokenError('expiry-too-far', 'token expiry is more than 30 days after its creation');

  const connectionData = raw.connectionData ?? '';
  if (typeof connectionData !== 'string') throw new TokenError('malformed', 'token connection_data must be a string');
  if (connectionData.length > MAX_CONNECTION_DATA_LENGTH) {
    throw new TokenError('data-too-long', `token connection_data is longer than ${MAX_CONNECTION_DATA_LENGTH} characters`);
  }
  const layout = raw.layout ?? '';
  if (typeof layout !== 'string') throw new TokenError('malformed', 'token initial_layout_class_list must be a string');
  if (layout.length > MAX_LAYOUT_CLASS_LIST_LENGTH) {
    throw new TokenError('layout-too-long', `token initial_layout_class_list is longer than ${MAX_LAYOUT_CLASS_LIST_LENGTH} characters`);
  }
  return {
    kind: raw.kind,
    projectId: raw.project.id,
    sessionId: raw.sessionId,
    role,
    connectionData,
    expireTime,
    initialLayoutClassList: layout.split(/\s+/).filter((c) => c !== ''),
  };
}
