// Our compact-JWS code (@colloquy/tokens) against jose, the maintained JOSE library, on the two
// algorithms OpenTok and Vonage use. Prints µs per sign and per verify (median of rounds), so the
// choice written in packages/tokens/README.md can be checked again. jose is async-only; ours is
// synchronous because the server SDKs' generateToken is (as the OpenTok SDKs' is).
//   ROUNDS=7 OPS=2000 npm run tokens:jwt -w @colloquy/bench

import { generateKeyPairSync, createSecretKey } from 'node:crypto';
import { decodeJwt, signJwt, verifyJwtSignature } from '@colloquy/tokens';
import { SignJWT, compactVerify } from 'jose';
import { envInt, fmt, medianMicros, table } from '../lib/stats.js';

const ROUNDS = envInt('ROUNDS', 7);
const OPS = envInt('OPS', 2000);

const secret = 'a'.repeat(40);
const secretKey = createSecretKey(Buffer.from(secret));
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const claims = { iss: '12345678', ist: 'project', iat: 1_700_000_000, exp: 4_000_000_000, scope: 'session.connect', role: 'publisher' };

const measure = (ops: number, fn: () => unknown): Promise<number> => medianMicros(ROUNDS, ops, fn);

const ourHs = signJwt(claims, secret, 'HS256');
const ourRs = signJwt(claims, privateKey, 'RS256');
const joseHs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(secretKey);
const joseRs = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).sign(privateKey);
// Each side must accept the other's tokens, or the comparison would not be of the same work.
if (!verifyJwtSignature(decodeJwt(joseHs), secret) || !verifyJwtSignature(decodeJwt(joseRs), publicKey)) throw new Error('ours rejects jose tokens');
await compactVerify(ourHs, secretKey);
await compactVerify(ourRs, publicKey);

const rsOps = Math.max(1, Math.floor(OPS / 10)); // RSA signing is ~100× HMAC; keep rounds short
const rows: (string | number)[][] = [['operation', 'ops/round', 'ours µs', 'jose µs', 'jose / ours']];
const add = (name: string, ops: number, ours: number, jose: number) => rows.push([name, ops, fmt(ours, 1), fmt(jose, 1), fmt(jose / ours, 2)]);

add('HS256 sign', OPS, await measure(OPS, () => signJwt(claims, secret, 'HS256')), await measure(OPS, () => new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(secretKey)));
add('HS256 verify', OPS, await measure(OPS, () => verifyJwtSignature(decodeJwt(ourHs), secret)), await measure(OPS, () => compactVerify(ourHs, secretKey)));
add('RS256 sign', rsOps, await measure(rsOps, () => signJwt(claims, privateKey, 'RS256')), await measure(rsOps, () => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT' }).sign(privateKey)));
add('RS256 verify', OPS, await measure(OPS, () => verifyJwtSignature(decodeJwt(ourRs), publicKey)), await measure(OPS, () => compactVerify(ourRs, publicKey)));

console.log(`JWT sign/verify, median of ${ROUNDS} rounds (node ${process.version})`);
console.log(table(rows));
