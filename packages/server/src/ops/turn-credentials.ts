// Time-limited TURN credentials for clients (coturn's "TURN REST API" scheme, the one its
// `use-auth-secret` / `static-auth-secret` options check): the username is `<expiry>:<user>` with
// the expiry in Unix seconds, the credential is base64(HMAC-SHA1(secret, username)). coturn refuses
// the username once the expiry has passed, so a leaked credential stops working by itself.

import { createHmac } from 'node:crypto';

/** The TURN servers every client is given (`COLLOQUY_TURN_URLS`, `COLLOQUY_TURN_SECRET`, `COLLOQUY_TURN_TTL`). */
export interface TurnSettings {
  /** `turn:`/`turns:` URLs, e.g. `turn:turn.example.com:3478?transport=udp`. */
  urls: string[];
  /** coturn's static-auth-secret. */
  secret: string;
  /** How long a credential stays valid, in seconds. */
  ttlSeconds: number;
}

/** An RTCIceServer as the browser takes it. */
export interface TurnIceServer {
  urls: string[];
  username: string;
  credential: string;
}

/** Credentials for `user` (a connection id: it shows in coturn's logs) valid until now + ttl. */
export function turnCredentials(settings: TurnSettings, user: string, nowMs = Date.now()): TurnIceServer {
  const expiry = Math.floor(nowMs / 1000) + settings.ttlSeconds;
  // coturn splits on the first ':' to read the expiry; the rest is free text, kept short and plain.
  const username = `${expiry}:${user.replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 64)}`;
  const credential = createHmac('sha1', settings.secret).update(username).digest('base64');
  return { urls: settings.urls, username, credential };
}

const TURN_URL = /^turns?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=(udp|tcp))?$/;

/** Validates one `COLLOQUY_TURN_URLS` entry (RFC 7065 syntax); returns an error message or null. */
export function checkTurnUrl(url: string): string | null {
  const m = TURN_URL.exec(url);
  if (!m) return `not a turn:/turns: URL (turn:host[:port][?transport=udp|tcp]): ${JSON.stringify(url)}`;
  if (m[2] && Number(m[2].slice(1)) > 65535) return `port out of range in ${JSON.stringify(url)}`;
  if (url.startsWith('turns:') && m[4] === 'udp') return `turns: runs over TLS, so ?transport=udp is wrong in ${JSON.stringify(url)}`;
  return null;
}
