// Client tokens, the credential a browser presents to join a session, in the three forms the
// OpenTok and Vonage server SDKs generate (reference §3):
//   T1     "T1==" + base64("partner_id=<key>&sig=<hex HMAC-SHA1 of the data>:" + <data querystring>)
//   HS256  JWT signed with the API secret: iss=<key>, ist=project, session_id, role, exp, ...
//   RS256  JWT signed with a Vonage application's private key: application_id, session_id, ...
// This module builds and parses them; checking a token against a project is the server's job.

import { createHmac, randomInt, randomUUID, type KeyObject } from 'node:crypto';
import { signJwt } from './jwt.js';

export const ROLES = ['subscriber', 'publisher', 'publisheronly', 'moderator'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Default token lifetime: 24 hours (every OpenTok SDK). */
export const DEFAULT_TOKEN_TTL_SECONDS = 86_400;
/** Longest allowed lifetime: 30 days after creation. */
export const MAX_TOKEN_TTL_SECONDS = 30 * 86_400;
/** Documented maximum for connection data. */
export const MAX_CONNECTION_DATA_LENGTH = 1000;
/** opentok-node's limit for the space-joined initial layout class list. */
export const MAX_LAYOUT_CLASS_LIST_LENGTH = 1024;

export interface ClientTokenOptions {
  sessionId: string;
  /** Default `publisher`. */
  role?: Role;
  /** Expiry in epoch seconds. Default: 24 hours from now. */
  expireTime?: number;
  /** Connection data the other clients see (`connection.data`), ≤ 1000 characters. */
  data?: string;
  /** Layout classes the streams of this connection start with. */
  initialLayoutClassList?: string[];
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function checkOptions(options: ClientTokenOptions): { role: Role; expireTime: number; createTime: number } {
  const createTime = nowSeconds();
  const role = options.role ?? 'publisher';
  if (!isRole(role)) throw new TypeError(`unknown role ${JSON.stringify(role)}`);
  const expireTime = options.expireTime ?? createTime + DEFAULT_TOKEN_TTL_SECONDS;
  if (!Number.isInteger(expireTime) || expireTime <= createTime) throw new TypeError('expireTime must be a future epoch time in seconds');
  if (expireTime > createTime + MAX_TOKEN_TTL_SECONDS) throw new TypeError('expireTime must be within 30 days');
  if (options.data !== undefined && options.data.length > MAX_CONNECTION_DATA_LENGTH) {
    throw new TypeError(`connection data must be at most ${MAX_CONNECTION_DATA_LENGTH} characters`);
  }
  if ((options.initialLayoutClassList ?? []).join(' ').length > MAX_LAYOUT_CLASS_LIST_LENGTH) {
    throw new TypeError(`initialLayoutClassList must join to at most ${MAX_LAYOUT_CLASS_LIST_LENGTH} characters`);
  }
  return { role, expireTime, createTime };
}

/** Legacy T1 token (HMAC-SHA1 over the data querystring), as `opentok-token` builds it. */
export function buildT1Token(apiKey: string, apiSecret: string, options: ClientTokenOptions): string {
  const { role, expireTime, createTime } = checkOptions(options);
  const fields = new URLSearchParams({
    session_id: options.sessionId,
    create_time: String(createTime),
    nonce: String(randomInt(0, 2 ** 31)),
    role,
    expire_time: String(expireTime),
  });
  if (options.data !== undefined) fields.set('connection_data', options.data);
  fields.set('initial_layout_class_list', (options.initialLayoutClassList ?? []).join(' '));
  const dataString = fields.toString();
  const sig = createHmac('sha1', apiSecret).update(dataString).digest('hex');
  return `T1==${Buffer.from(`partner_id=${apiKey}&sig=${sig}:${dataString}`).toString('base64')}`;
}

/** OpenTok JWT client token (HS256 with the API secret), the claim set of opentok-node 2.23. */
export function buildJwtToken(apiKey: string, apiSecret: string, options: ClientTokenOptions): string {
  const { role, expireTime, createTime } = checkOptions(options);
  const claims: Record<string, unknown> = {
    iss: apiKey,
    ist: 'project',
    iat: createTime,
    exp: expireTime,
    session_id: options.sessionId,
    create_time: createTime,
    nonce: Math.random(),
    role,
    expire_time: expireTime,
    initial_layout_class_list: (options.initialLayoutClassList ?? []).join(' '),
    scope: 'session.connect',
  };
  if (options.data !== undefined) claims['connection_data'] = options.data;
  return signJwt(claims, apiSecret, 'HS256');
}

/** Vonage application client token (RS256 with the application's private key), as @vonage/video builds it. */
export function buildApplicationToken(applicationId: string, privateKey: string | KeyObject, options: ClientTokenOptions): string {
  const { role, expireTime, createTime } = checkOptions(options);
  const claims: Record<string, unknown> = {
    scope: 'session.connect',
    session_id: options.sessionId,
    role,
    initial_layout_class_list: (options.initialLayoutClassList ?? []).join(' '),
    exp: expireTime,
    sub: 'video',
    acl: { paths: { '/session/**': {} } },
    jti: randomUUID(),
    iat: createTime,
    application_id: applicationId,
  };
  if (options.data !== undefined) claims['connection_data'] = options.data;
  return signJwt(claims, privateKey, 'RS256');
}

export interface ParsedT1Token {
  partnerId: string;
  /** Lower-case hex HMAC-SHA1 as found in the token. */
  signature: string;
  /** The exact bytes the signature covers (everything after the first ':'). */
  dataString: string;
  fields: URLSearchParams;
}

/** Splits a T1 token into its parts without checking the signature; null if it is not one. */
export function parseT1Token(token: string): ParsedT1Token | null {
  if (typeof token !== 'string' || !token.startsWith('T1==') || token.length > 16_384) return null;
  const body = token.slice(4);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return null;
  const decoded = Buffer.from(body, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  const head = new URLSearchParams(decoded.slice(0, colon));
  const partnerId = head.get('partner_id');
  const signature = head.get('sig');
  if (!partnerId || !signature || !/^[0-9a-fA-F]{40}$/.test(signature)) return null;
  const dataString = decoded.slice(colon + 1);
  return { partnerId, signature: signature.toLowerCase(), dataString, fields: new URLSearchParams(dataString) };
}

/** Lower-case hex HMAC-SHA1 of a T1 data string. */
export function signT1Data(dataString: string, apiSecret: string): string {
  return createHmac('sha1', apiSecret).update(dataString).digest('hex');
}
