// The dashboard's JSON API under /dashboard/api: the guard every route passes, then one Fastify
// plugin per concern in routes/ (sign-in, projects and applications, sessions and demo tokens,
// live sessions and the Inspector, archives, broadcasts), as rest/ does. Every route but login and
// me needs the session cookie (read with @fastify/cookie); every mutating one also the CSRF token
// in `X-CSRF-Token` and, when the browser sends an Origin, our own origin.

import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ColloquyError, forbidden } from '../errors.js';
import type { AppContext } from '../rest/context.js';
import { sameSecret, type AdminAuth, type AdminSession } from './admin-auth.js';
import { LoginLimiter } from './login-limiter.js';
import { archiveRoutes } from './routes/archives.js';
import { broadcastRoutes } from './routes/broadcasts.js';
import { inspectorRoutes } from './routes/inspector.js';
import { projectRoutes } from './routes/projects.js';
import { sessionRoutes } from './routes/sessions.js';
import { sessionToken, signInRoutes } from './routes/sign-in.js';

export { COOKIE_NAME } from './routes/sign-in.js';
export const CSRF_HEADER = 'x-csrf-token';

export interface DashboardApiOptions {
  admin: AdminAuth;
  limiter?: LoginLimiter;
}

declare module 'fastify' {
  interface FastifyRequest {
    adminSession: AdminSession | null;
  }
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export async function dashboardApiRoutes(app: FastifyInstance, ctx: AppContext, options: DashboardApiOptions): Promise<void> {
  const { admin } = options;
  const limiter = options.limiter ?? new LoginLimiter();

  // Parses the Cookie header before the guard below (its onRequest hook runs first).
  await app.register(fastifyCookie);
  app.decorateRequest('adminSession', null);
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
  });
  app.addHook('onRequest', async (request) => {
    const token = sessionToken(request);
    request.adminSession = token ? await admin.session(token) : null;
    const open = request.routeOptions.url === '/dashboard/api/login' || request.routeOptions.url === '/dashboard/api/me';
    if (!open && !request.adminSession) throw new ColloquyError('unauthenticated', 'Sign in first', 401);
    if (MUTATING.has(request.method)) {
      checkOrigin(request);
      if (request.adminSession) {
        const sent = request.headers[CSRF_HEADER];
        if (typeof sent !== 'string' || !sameSecret(sent, request.adminSession.csrfToken)) {
          throw forbidden('Missing or wrong CSRF token (X-CSRF-Token)', 403);
        }
      }
    }
  });

  await app.register(async (scope) => signInRoutes(scope, ctx, { admin, limiter }));
  await app.register(async (scope) => projectRoutes(scope, ctx));
  await app.register(async (scope) => sessionRoutes(scope, ctx));
  await app.register(async (scope) => inspectorRoutes(scope, ctx));
  await app.register(async (scope) => archiveRoutes(scope, ctx));
  await app.register(async (scope) => broadcastRoutes(scope, ctx));
}

/** Refuses a mutating request whose Origin is not this server (a second line behind SameSite and CSRF). */
function checkOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined || origin === 'null') {
    if (origin === 'null') throw forbidden('Cross-origin request refused', 403);
    return;
  }
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw forbidden('Cross-origin request refused', 403);
  }
  // request.host believes X-Forwarded-Host only from a trusted proxy (COLLOQUY_TRUST_PROXY, proxy-trust.ts).
  const expected = request.host;
  if (host !== expected) throw forbidden('Cross-origin request refused', 403);
}
