// Connections by REST (reference §1.6, §1.7): list, and force disconnect (204; 404 when that
// connection is not in the session).

import type { FastifyInstance } from 'fastify';
import type { AppContext } from './context.js';

export async function connectionRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get<{ Params: { sessionId: string } }>('/session/:sessionId/connection', async (request) => {
    const items = await ctx.sessions.listConnections(request.project, request.params.sessionId);
    return { count: items.length, projectId: request.project.id, sessionId: request.params.sessionId, items };
  });
  app.delete<{ Params: { sessionId: string; connectionId: string } }>(
    '/session/:sessionId/connection/:connectionId',
    async (request, reply) => {
      ctx.sessions.forceDisconnect(await ctx.sessions.restActor(request.project, request.params.sessionId), request.params.connectionId);
      return reply.status(204).send();
    },
  );
}
