// REST authentication hooks. `request.project` is the project the request is signed for; under
// /v2/project/{key}/… the key in the path must be that project's (403 otherwise).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticateRest } from '../auth/rest-auth.js';
import { ColloquyError } from '../errors.js';
import type { Project } from '../store/index.js';
import type { AppContext } from './context.js';

declare module 'fastify' {
  interface FastifyRequest {
    project: Project;
  }
}

export function decorateProject(app: FastifyInstance): void {
  app.decorateRequest('project', null as unknown as Project);
}

/** Adds a hook to `scope` that authenticates every request in it. */
export function requireProject(scope: FastifyInstance, ctx: AppContext): void {
  scope.addHook('onRequest', async (request: FastifyRequest) => {
    request.project = authenticateRest(request.headers, {
      projects: ctx.store.projects,
      clockSkewSeconds: ctx.config.clockSkewSeconds,
    });
    const pathKey = (request.params as { projectKey?: string }).projectKey;
    if (pathKey !== undefined && pathKey.toLowerCase() !== request.project.id) {
      throw new ColloquyError('forbidden', 'The API key (or application ID) in the URL does not match the credentials', 403);
    }
  });
}
