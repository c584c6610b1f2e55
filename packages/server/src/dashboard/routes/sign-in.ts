// The dashboard's sign-in: POST /login (the password as JSON, rate-limited per address by
// LoginLimiter), GET /me (signed in or not, and the CSRF token the page echoes), POST /logout.
// The session cookie is set and read through @fastify/cookie (registered by api-routes.ts).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ColloquyError } from '../../errors.js';
import type { AppContext } from '../../rest/context.js';
import { parseWith } from '../../rest/validation.js';
import type { AdminAuth } from '../admin-auth.js';
import type { MeResponse } from '../api-types.js';
import type { LoginLimiter } from '../login-limiter.js';
import { dashboardLog } from './common.js';

export const COOKIE_NAME = 'colloquy_admin';

const loginSchema = z.object({ password: z.string().min(1).max(1024) });

export async function signInRoutes(app: FastifyInstance, ctx: AppContext, options: { admin: AdminAuth; limiter: LoginLimiter }): Promise<void> {
  const { admin, limiter } = options;
  const log = dashboardLog(ctx);

  app.post('/login', async (request, reply) => {
    // JSON only: a cross-site form cannot send it without a CORS preflight, so no login CSRF.
    if (!String(request.headers['content-type'] ?? '').startsWith('application/json')) {
      return reply.status(415).send({ code: 415, message: 'Send the password as JSON {"password": "..."}' });
    }
    const decision = limiter.attempt(request.ip);
    if (!decision.allowed) {
      reply.header('retry-after', String(decision.retryAfterSeconds));
      throw new ColloquyError('rate-limited', `Too many sign-in attempts; try again in ${decision.retryAfterSeconds} s`, 429);
    }
    const { password } = parseWith(loginSchema, request.body);
    if (!(await admin.verifyPassword(password))) {
      log.warn({ ip: request.ip }, 'dashboard sign-in refused');
      throw new ColloquyError('unauthenticated', 'Wrong password', 401);
    }
    limiter.succeeded(request.ip);
    if (request.adminSession) await admin.destroySession(sessionToken(request)!);
    const { token, session } = await admin.createSession(request.ip);
    setSessionCookie(request, reply, token, Math.floor((session.expiresAt - Date.now()) / 1000));
    log.info({ ip: request.ip }, 'dashboard sign-in');
    return { signedIn: true, csrfToken: session.csrfToken, expiresAt: session.expiresAt } satisfies MeResponse;
  });

  // 200 either way: the page asks at load, and a 401 there would be a console error in every browser.
  app.get('/me', async (request) => {
    if (!request.adminSession) return { signedIn: false } satisfies MeResponse;
    return { signedIn: true, csrfToken: request.adminSession.csrfToken, expiresAt: request.adminSession.expiresAt } satisfies MeResponse;
  });

  app.post('/logout', async (request, reply) => {
    const token = sessionToken(request);
    if (token) await admin.destroySession(token);
    setSessionCookie(request, reply, '', 0);
    return reply.status(204).send();
  });
}

/** The session cookie's value; null when absent or empty. */
export function sessionToken(request: FastifyRequest): string | null {
  return request.cookies[COOKIE_NAME] || null;
}

/** HttpOnly, SameSite=Strict, only under /dashboard, and Secure when the browser came over HTTPS. */
function setSessionCookie(request: FastifyRequest, reply: FastifyReply, value: string, maxAgeSeconds: number): void {
  reply.setCookie(COOKIE_NAME, value, { path: '/dashboard', httpOnly: true, sameSite: 'strict', maxAge: Math.max(0, maxAgeSeconds), secure: request.protocol === 'https' });
}
