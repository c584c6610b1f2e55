// The dashboard operator: one password (COLLOQUY_ADMIN_PASSWORD, or one generated at first start
// and kept only as an scrypt hash in the database) and signed-in browser sessions. A session is a
// random cookie value (only its SHA-256 is stored) with its own CSRF token that every mutating
// request must echo in a header.

import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { SqlDatabase } from '../store/database.js';

const scrypt = (password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));

/** scrypt cost: N=2^15 takes about 50-100 ms and 32 MiB, which makes guessing from a stolen hash slow. */
const SCRYPT = { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const KEY_LENGTH = 32;
const PASSWORD_SETTING = 'admin_password_hash';

export const SESSION_TTL_MS = 12 * 3600_000;

export interface AdminSession {
  csrfToken: string;
  expiresAt: number;
}

/** `scrypt$N$r$p$salt$hash`, base64url parts. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_LENGTH, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPasswordHash(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A password a person can type: 24 characters of base32 (120 bits). */
export function generatePassword(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  const bytes = randomBytes(24);
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    out += alphabet[bytes[i]! & 31];
    if (i % 6 === 5 && i < bytes.length - 1) out += '-';
  }
  return out;
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export class AdminAuth {
  readonly #db: SqlDatabase;
  readonly #now: () => number;
  #hash: string | null = null;

  constructor(db: SqlDatabase, options: { now?: () => number } = {}) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Makes the password usable: the configured one when given, else the stored hash, else a new
   * generated password whose hash is stored; that last case returns the password (shown once).
   */
  async init(configured: string | null): Promise<string | null> {
    if (configured !== null) {
      this.#hash = await hashPassword(configured);
      return null;
    }
    const stored = await this.#db.value<string>('SELECT value FROM dashboard_settings WHERE key = ?', [PASSWORD_SETTING]);
    if (stored) {
      this.#hash = stored;
      return null;
    }
    const password = generatePassword();
    await this.setStoredPassword(password);
    return password;
  }

  /** Replaces the stored password and signs every browser out (the CLI's reset-password). */
  async setStoredPassword(password: string): Promise<void> {
    const hash = await hashPassword(password);
    await this.#db.batch([
      { sql: 'INSERT INTO dashboard_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', params: [PASSWORD_SETTING, hash] },
      { sql: 'DELETE FROM dashboard_sessions', params: [] },
    ]);
    this.#hash = hash;
  }

  async verifyPassword(password: string): Promise<boolean> {
    if (this.#hash === null) return false;
    return verifyPasswordHash(password, this.#hash);
  }

  /** Starts a signed-in session; the token goes in the cookie, the CSRF token to the page. */
  async createSession(ip: string | null): Promise<{ token: string; session: AdminSession }> {
    const now = this.#now();
    await this.#db.run('DELETE FROM dashboard_sessions WHERE expires_at <= ?', [now]);
    const token = randomBytes(32).toString('base64url');
    const session = { csrfToken: randomBytes(24).toString('base64url'), expiresAt: now + SESSION_TTL_MS };
    await this.#db.run('INSERT INTO dashboard_sessions (token_hash, csrf_token, created_at, expires_at, ip) VALUES (?, ?, ?, ?, ?)', [
      sha256(token),
      session.csrfToken,
      now,
      session.expiresAt,
      ip,
    ]);
    return { token, session };
  }

  /** The session a cookie value belongs to, if it exists and has not expired. */
  async session(token: string): Promise<AdminSession | null> {
    const row = await this.#db.get<{ csrf_token: string; expires_at: number }>('SELECT csrf_token, expires_at FROM dashboard_sessions WHERE token_hash = ?', [sha256(token)]);
    if (!row || row.expires_at <= this.#now()) return null;
    return { csrfToken: row.csrf_token, expiresAt: row.expires_at };
  }

  async destroySession(token: string): Promise<void> {
    await this.#db.run('DELETE FROM dashboard_sessions WHERE token_hash = ?', [sha256(token)]);
  }
}

/** Constant-time comparison of two strings (CSRF tokens). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
