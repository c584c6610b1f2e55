// The dashboard plugin: its JSON API under /dashboard/api and the built front end at `/`.

import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../rest/context.js';
import type { AdminAuth } from './admin-auth.js';
import { dashboardApiRoutes } from './api-routes.js';
import type { LoginLimiter } from './login-limiter.js';
import { findDashboardDist, registerStaticFiles } from './static-files.js';

export interface DashboardOptions {
  admin: AdminAuth;
  limiter?: LoginLimiter;
  /** Where the built front end is (default: @colloquy/dashboard's dist). */
  distDir?: string | null;
}

export async function dashboardPlugin(app: FastifyInstance, ctx: AppContext, options: DashboardOptions): Promise<void> {
  await app.register(async (scope) => dashboardApiRoutes(scope, ctx, options), { prefix: '/dashboard/api' });
  await registerStaticFiles(app, options.distDir === undefined ? findDashboardDist() : options.distDir);
}

export { AdminAuth } from './admin-auth.js';
export { LoginLimiter } from './login-limiter.js';
