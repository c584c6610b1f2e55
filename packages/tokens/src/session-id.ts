// OpenTok session IDs: "1_" + base64url("1~<apiKey>~<location>~<createdMs>~<random>~<flags>~").
// The API key must sit at field 1: opentok-node's generateToken refuses a session whose field 1 is
// not its key, and the PHP and Python SDKs look for the key among the fields (reference §2).

import { randomBytes } from 'node:crypto';
import { decodeBase64Url, encodeBase64Url } from './base64url.js';

export interface SessionIdFields {
  apiKey: string;
  location: string;
  createdAt: number;
}

const MAX_SESSION_ID_LENGTH = 255;

export function createSessionId(apiKey: string, location = '', createdAt = Date.now()): string {
  if (apiKey.includes('~') || location.includes('~')) throw new Error('session id fields cannot contain "~"');
  // 18 random bytes -> 24 base64 characters, the length real IDs carry. '~' never occurs in base64.
  const random = randomBytes(18).toString('base64');
  return `1_${encodeBase64Url(`1~${apiKey}~${location}~${createdAt}~${random}~~`)}`;
}

/** Decodes a session ID; null when it is not in the OpenTok format. */
export function parseSessionId(sessionId: unknown): SessionIdFields | null {
  if (typeof sessionId !== 'string' || sessionId.length < 8 || sessionId.length > MAX_SESSION_ID_LENGTH) return null;
  if (!/^[12]_/.test(sessionId)) return null;
  const bytes = decodeBase64Url(sessionId.slice(2));
  if (!bytes) return null;
  const fields = bytes.toString('latin1').split('~');
  if (fields.length < 5 || !fields[1]) return null;
  const createdAt = Number(fields[3]);
  return {
    apiKey: fields[1],
    location: fields[2] ?? '',
    createdAt: Number.isFinite(createdAt) ? createdAt : Date.parse(fields[3] ?? '') || 0,
  };
}
