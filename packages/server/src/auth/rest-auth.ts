// Authentication of REST calls, as the OpenTok and Vonage server SDKs sign them (reference §1.1):
//   X-OPENTOK-AUTH: HS256 JWT with the project's API secret; iss = API key, ist = "project".
//   Authorization: Bearer RS256 JWT with an application's private key; the application is named by
//     `application_id` (@vonage/video, opentok-node in Vonage mode) or, failing that, `iss`.
// Any other algorithm, `alg: none` included, is refused. Unknown claims are ignored; `jti` is
// optional (opentok-node sends none).

import { decodeJwt, JwtFormatError, verifyJwtSignature, type DecodedJwt } from '@colloquy/tokens';
import { ColloquyError } from '../errors.js';
import type { Project } from '../store/index.js';
import type { ProjectStore } from '../store/projects.js';

export interface RestAuthOptions {
  projects: ProjectStore;
  /** Allowed clock difference for iat/exp, seconds. */
  clockSkewSeconds: number;
  now?: () => number;
}

const unauthenticated = (message: string) => new ColloquyError('unauthenticated', message, 401);
const forbidden = (message: string) => new ColloquyError('forbidden', message, 403);

/** Longest REST JWT lifetime accepted (SDKs use 5 to 15 minutes). */
const MAX_REST_JWT_LIFETIME_SECONDS = 24 * 3600;

/** Returns the project a REST request is signed for, or throws 401/403. */
export function authenticateRest(headers: Record<string, string | string[] | undefined>, options: RestAuthOptions): Project {
  const legacy = header(headers, 'x-opentok-auth');
  const authorization = header(headers, 'authorization');
  if (legacy !== undefined) return authenticateLegacy(legacy, options);
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw unauthenticated('Authorization header must be "Bearer <JWT>"');
    return authenticateApplication(match[1]!, options);
  }
  throw unauthenticated('Missing credentials: send an X-OPENTOK-AUTH or Authorization: Bearer JWT');
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function decode(token: string): DecodedJwt {
  try {
    return decodeJwt(token.trim());
  } catch (err) {
    if (err instanceof JwtFormatError) throw unauthenticated(`Invalid authentication token: ${err.message}`);
    throw err;
  }
}

function authenticateLegacy(token: string, options: RestAuthOptions): Project {
  const jwt = decode(token);
  if (jwt.header.alg !== 'HS256') throw unauthenticated('X-OPENTOK-AUTH tokens must be signed with HS256');
  const { iss, ist } = jwt.claims;
  if ((typeof iss !== 'string' && typeof iss !== 'number') || String(iss) === '') throw unauthenticated('JWT claim "iss" (the API key) is missing');
  if (ist !== 'project') throw forbidden('JWT claim "ist" must be "project"');
  const project = options.projects.get(String(iss));
  if (!project || project.kind !== 'project' || !project.secret) throw forbidden('Invalid credentials');
  if (!verifyJwtSignature(jwt, project.secret)) throw forbidden('Invalid credentials');
  checkTimes(jwt, options);
  return project;
}

function authenticateApplication(token: string, options: RestAuthOptions): Project {
  const jwt = decode(token);
  if (jwt.header.alg !== 'RS256') throw unauthenticated('Bearer tokens must be signed with RS256');
  const claimed = jwt.claims['application_id'] ?? jwt.claims['iss'];
  if (typeof claimed !== 'string' || claimed === '') throw unauthenticated('JWT claim "application_id" is missing');
  const project = options.projects.get(claimed.toLowerCase());
  const key = project ? options.projects.publicKeyOf(project) : null;
  if (!project || !key) throw forbidden('Invalid credentials');
  if (!verifyJwtSignature(jwt, key)) throw forbidden('Invalid credentials');
  checkTimes(jwt, options);
  return project;
}

function checkTimes(jwt: DecodedJwt, options: RestAuthOptions): void {
  const now = Math.floor((options.now?.() ?? Date.now()) / 1000);
  const skew = options.clockSkewSeconds;
  const { iat, exp } = jwt.claims;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw unauthenticated('JWT claim "iat" must be a number of seconds');
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw unauthenticated('JWT claim "exp" must be a number of seconds');
  if (iat > now + skew) throw unauthenticated('JWT is issued in the future (check the clock)');
  if (exp <= now - skew) throw unauthenticated('JWT has expired');
  if (exp - iat > MAX_REST_JWT_LIFETIME_SECONDS) throw unauthenticated('JWT lifetime is too long (exp - iat over 24 hours)');
}
