import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildJwtToken,
  buildT1Token,
  createSessionId,
  decodeBase64Url,
  decodeJwt,
  JwtFormatError,
  parseSessionId,
  parseT1Token,
  signJwt,
  signT1Data,
  verifyJwtSignature,
} from '../src/index.js';

describe('session IDs', () => {
  it('round-trips key, location and time, with the key at field 1', () => {
    const id = createSessionId('47665971', '10.0.0.1', 1739538894959);
    expect(id).toMatch(/^1_[A-Za-z0-9_-]+$/);
    expect(parseSessionId(id)).toEqual({ apiKey: '47665971', location: '10.0.0.1', createdAt: 1739538894959 });
    expect(Buffer.from(id.slice(2), 'base64url').toString().split('~')[1]).toBe('47665971');
  });

  it('parses real OpenTok IDs from the SDK fixtures, old and new', () => {
    const real = '1_' + Buffer.from('1~46264952~~1622028079808~8NgtUtwtiUtmYb5ix5W4lL8c~~').toString('base64url');
    expect(parseSessionId(real)).toMatchObject({ apiKey: '46264952', createdAt: 1622028079808 });
    const old = '2_' + Buffer.from('1~854511~~Tue Nov 12 09:40:59 PST 2013~0.765478~').toString('base64url');
    expect(parseSessionId(old)?.apiKey).toBe('854511');
  });

  it('rejects things that are not session IDs', () => {
    for (const bad of [undefined, 42, '', 'abc', '3_MX4x', '1_!!!!!!!!', '1_' + 'A'.repeat(300), '1_' + Buffer.from('nothing').toString('base64url')]) {
      expect(parseSessionId(bad)).toBeNull();
    }
  });

  it('makes unique IDs', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => createSessionId('1')));
    expect(ids.size).toBe(1000);
  });
});

describe('JWT', () => {
  it('signs and verifies HS256 and RS256', () => {
    const hs = decodeJwt(signJwt({ a: 1 }, 'secret'));
    expect(hs.header.alg).toBe('HS256');
    expect(verifyJwtSignature(hs, 'secret')).toBe(true);
    expect(verifyJwtSignature(hs, 'other')).toBe(false);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const rs = decodeJwt(signJwt({ b: 2 }, privateKey, 'RS256'));
    expect(rs.claims).toEqual({ b: 2 });
    expect(verifyJwtSignature(rs, publicKey)).toBe(true);
    // An RS256 token never verifies with a string secret, and HS256 never with a public key.
    expect(verifyJwtSignature(rs, 'secret')).toBe(false);
    expect(verifyJwtSignature(hs, publicKey)).toBe(false);
  });

  it('refuses alg none, unknown algorithms, and malformed tokens', () => {
    const b = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    for (const bad of [
      `${b({ alg: 'none' })}.${b({})}.`,
      `${b({ alg: 'HS512' })}.${b({})}.c2ln`,
      `${b({ alg: 'HS256' })}.${b({})}.`,
      `${b({ alg: 'HS256' })}.${b([1])}.c2ln`,
      `${b({ alg: 'HS256' })}.bm90IGpzb24.c2ln`,
      'a.b',
      'a.b.c.d',
      '***.***.***',
      `${b({ alg: 'HS256' })}.${'a'.repeat(16_384)}.c2ln`, // over the 16 KiB cap before any parsing
    ]) {
      expect(() => decodeJwt(bad), bad).toThrow(JwtFormatError);
    }
  });

  it('decodes base64url strictly', () => {
    expect(decodeBase64Url('aGk')?.toString()).toBe('hi');
    expect(decodeBase64Url('aGk=')?.toString()).toBe('hi');
    expect(decodeBase64Url('a+b/')).toBeNull();
    expect(decodeBase64Url('a')).toBeNull();
  });
});

describe('client tokens', () => {
  it('builds T1 tokens whose signature covers the exact data bytes', () => {
    const token = buildT1Token('123', 'sekrit', { sessionId: createSessionId('123'), data: 'name=a b&c', role: 'moderator' });
    const parsed = parseT1Token(token)!;
    expect(parsed.partnerId).toBe('123');
    expect(parsed.signature).toBe(signT1Data(parsed.dataString, 'sekrit'));
    expect(parsed.fields.get('connection_data')).toBe('name=a b&c');
    expect(parsed.fields.get('role')).toBe('moderator');
  });

  it('refuses options OpenTok refuses', () => {
    const sessionId = createSessionId('1');
    const now = Math.floor(Date.now() / 1000);
    expect(() => buildJwtToken('1', 's', { sessionId, role: 'king' as never })).toThrow(/role/);
    expect(() => buildJwtToken('1', 's', { sessionId, expireTime: now - 1 })).toThrow(/future/);
    expect(() => buildJwtToken('1', 's', { sessionId, expireTime: now + 31 * 86400 })).toThrow(/30 days/);
    expect(() => buildJwtToken('1', 's', { sessionId, data: 'x'.repeat(1001) })).toThrow(/1000/);
  });
});
