// Client token verification: the three kinds, the defaults the PHP SDK relies on, and every refusal.

import { buildApplicationToken, buildJwtToken, buildT1Token, createSessionId, signJwt } from '@colloquy/tokens';
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenError, verifyClientToken } from '../src/auth/client-token.js';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let sessionId: string;
let appSessionId: string;
beforeAll(async () => {
  t = await startTestServer();
  sessionId = createSessionId(t.apiKey);
  appSessionId = createSessionId(t.applicationId);
});
afterAll(async () => t.close());

const now = () => Math.floor(Date.now() / 1000);
const verify = (token: unknown, sid = sessionId) => verifyClientToken(token, { projects: t.server.store.projects, sessionId: sid });

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof TokenError) return err.reason;
    throw err;
  }
  return 'accepted';
}

/** A T1 token built by hand, with fields in the PHP SDK's order and no expire_time. */
function phpStyleT1(fields: string, secret = t.apiSecret): string {
  const sig = createHmac('sha1', secret).update(fields).digest('hex');
  return 'T1==' + Buffer.from(`partner_id=${t.apiKey}&sig=${sig}:${fields}`).toString('base64');
}

describe('accepted tokens', () => {
  it('T1 with every field', () => {
    const token = buildT1Token(t.apiKey, t.apiSecret, { sessionId, role: 'publisheronly', data: 'a=1&b=ü', initialLayoutClassList: ['x'] });
    expect(verify(token)).toMatchObject({ kind: 'T1', role: 'publisheronly', connectionData: 'a=1&b=ü', initialLayoutClassList: ['x'] });
  });

  it('T1 in the PHP order without expire_time gets the 24 h default', () => {
    const created = now();
    const token = phpStyleT1(`session_id=${sessionId}&create_time=${created}&role=subscriber&nonce=0.5`);
    expect(verify(token)).toMatchObject({ role: 'subscriber', expireTime: created + 86400, connectionData: '' });
  });

  it('HS256 JWT without exp (the PHP SDK only sets it when asked) and with null data', () => {
    const token = signJwt({ iss: t.apiKey, iat: now(), session_id: sessionId, role: 'moderator', ist: 'project', nonce: 1, scope: 'session.connect', data: null, expireTime: null }, t.apiSecret);
    expect(verify(token)).toMatchObject({ kind: 'jwt', role: 'moderator', expireTime: now() + 86400 });
  });

  it('a PHP-SDK JWT whose class list is url-encoded', () => {
    const token = signJwt({ iss: t.apiKey, ist: 'project', iat: now(), session_id: sessionId, role: 'publisher', initial_layout_class_list: 'focus+main%2Dx' }, t.apiSecret);
    expect(verify(token).initialLayoutClassList).toEqual(['focus', 'main-x']);
  });

  it('a token without a role is a publisher', () => {
    const token = signJwt({ iss: t.apiKey, ist: 'project', iat: now(), exp: now() + 60, session_id: sessionId }, t.apiSecret);
    expect(verify(token).role).toBe('publisher');
  });

  it('RS256 application token', () => {
    const token = buildApplicationToken(t.applicationId, t.privateKey, { sessionId: appSessionId, data: 'x' });
    expect(verify(token, appSessionId)).toMatchObject({ kind: 'application', projectId: t.applicationId, connectionData: 'x' });
  });

  it('connection data of exactly 1000 characters', () => {
    const token = buildJwtToken(t.apiKey, t.apiSecret, { sessionId, data: 'd'.repeat(1000) });
    expect(verify(token).connectionData).toHaveLength(1000);
  });
});

describe('refused tokens', () => {
  const jwt = (claims: Record<string, unknown>, secret = t.apiSecret) =>
    signJwt({ iss: t.apiKey, ist: 'project', iat: now(), exp: now() + 3600, session_id: sessionId, role: 'publisher', ...claims }, secret);

  const cases: Array<[string, () => unknown, string]> = [
    ['missing', () => undefined, 'malformed'],
    ['empty', () => '', 'malformed'],
    ['not a string', () => 42, 'malformed'],
    ['garbage', () => 'garbage', 'malformed'],
    ['T1 garbage', () => 'T1==!!!!', 'malformed'],
    ['T1 without a colon', () => 'T1==' + Buffer.from('partner_id=1&sig=abc').toString('base64'), 'malformed'],
    ['JWT with alg none', () => Buffer.from('{"alg":"none"}').toString('base64url') + '.' + Buffer.from('{}').toString('base64url') + '.', 'malformed'],
    ['T1 with a wrong signature', () => buildT1Token(t.apiKey, 'wrong-secret-xxxxxxxx', { sessionId }), 'bad-signature'],
    ['JWT with a wrong signature', () => jwt({}, 'wrong-secret-xxxxxxxx'), 'bad-signature'],
    ['JWT for an unknown key', () => jwt({ iss: '11111111' }), 'unknown-project'],
    ['T1 with tampered data', () => {
      const good = phpStyleT1(`session_id=${sessionId}&create_time=${now()}&role=subscriber&nonce=1`);
      const text = Buffer.from(good.slice(4), 'base64').toString().replace('role=subscriber', 'role=moderator');
      return 'T1==' + Buffer.from(text).toString('base64');
    }, 'bad-signature'],
    ['another session', () => jwt({ session_id: createSessionId(t.apiKey) }), 'wrong-session'],
    ['a session of another project', () => {
      const foreign = createSessionId('12345678');
      return { token: jwt({ session_id: foreign }), sid: foreign };
    }, 'wrong-project'],
    ['expired', () => jwt({ iat: now() - 7200, exp: now() - 3600 }), 'expired'],
    ['issued in the future', () => jwt({ iat: now() + 3600, exp: now() + 7200 }), 'malformed'],
    ['expiring beyond 30 days', () => jwt({ exp: now() + 31 * 86400 }), 'expiry-too-far'],
    ['an unknown role', () => jwt({ role: 'admin' }), 'bad-role'],
    ['connection data over 1000 characters', () => jwt({ connection_data: 'x'.repeat(1001) }), 'data-too-long'],
    ['connection data that is not a string', () => jwt({ connection_data: { a: 1 } }), 'malformed'],
    ['a layout class list over 1024 characters', () => jwt({ initial_layout_class_list: 'c'.repeat(1025) }), 'layout-too-long'],
    ['a scope other than session.connect', () => jwt({ scope: 'admin' }), 'malformed'],
  ];

  for (const [name, make, reason] of cases) {
    it(`refuses ${name} (${reason})`, () => {
      const made = make();
      const { token, sid } = typeof made === 'object' && made !== null && 'token' in made ? (made as { token: string; sid: string }) : { token: made, sid: sessionId };
      expect(reasonOf(() => verify(token, sid))).toBe(reason);
    });
  }

  it('refuses an RS256 token signed with another key', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const token = buildApplicationToken(t.applicationId, other.privateKey, { sessionId: appSessionId });
    expect(reasonOf(() => verify(token, appSessionId))).toBe('bad-signature');
  });

  it('refuses a legacy project token presented for an application session', () => {
    expect(reasonOf(() => verify(buildJwtToken(t.apiKey, t.apiSecret, { sessionId: appSessionId }), appSessionId))).toBe('wrong-project');
  });
});
