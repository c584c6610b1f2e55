// Archives by REST (reference §1.3). Until recording exists, no archive can be started: a known,
// routed session with nobody connected answers 409 as OpenTok does, and lists are empty.

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { conflict, notFound } from '../errors.js';
import type { AppContext } from './context.js';
import { parseWith } from './validation.js';

const ListQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  count: z.coerce.number().int().min(1).max(1000).default(50),
  sessionId: z.string().max(255).optional(),
});

const StartBody = z.object({ sessionId: z.string().min(1).max(255) }).loose();

export async function archiveRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get('/archive', async (request) => {
    parseWith(ListQuery, request.query, 'Query');
    return { count: 0, items: [] };
  });
  app.post('/archive', async (request) => {
    const body = parseWith(StartBody, request.body);
    const session = ctx.sessions.require(request.project, body.sessionId);
    if (session.mediaMode !== 'routed') throw conflict('Recording already in progress or session not using OpenTok Media Router', 409);
    if (ctx.sessions.listConnections(request.project, body.sessionId).length === 0) {
      throw conflict('No clients are actively connected to the OpenTok session', 409);
    }
    throw conflict('Recording is not available on this server yet', 409);
  });
  const missing = async () => {
    throw notFound('Archive not found', 404);
  };
  app.get('/archive/:archiveId', missing);
  app.post('/archive/:archiveId/stop', missing);
  app.delete('/archive/:archiveId', missing);
  app.put('/archive/:archiveId/layout', missing);
  app.patch('/archive/:archiveId/streams', missing);
}
