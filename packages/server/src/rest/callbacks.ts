// OpenTok's callback registration API (reference §1.12), which opentok-node's registerCallback,
// listCallbacks and unregisterCallback call: POST /callback `{group, event, url}` → 200 with the
// registration `{id, group, event, url, createdAt}`; GET /callback → a JSON array of them; DELETE
// /callback/{id} → 204 (404 when the project has no such registration). Groups: connection and stream
// (events created, destroyed), archive (event status). What is POSTed to a registered URL is the
// project callback of that event (callbacks/project-callbacks.ts).

import type { FastifyInstance } from 'fastify';
import { CallbackValidationError } from '../callbacks/callback-store.js';
import { invalid, notFound } from '../errors.js';
import type { AppContext } from './context.js';

export async function callbackRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const store = ctx.store.callbacks;
  app.get('/callback', async (request) => store.listRegistered(request.project.id));
  app.post('/callback', async (request) => {
    try {
      return await store.register(request.project.id, request.body);
    } catch (err) {
      if (err instanceof CallbackValidationError) throw invalid(err.message);
      throw err;
    }
  });
  app.delete<{ Params: { callbackId: string } }>('/callback/:callbackId', async (request, reply) => {
    if (!(await store.unregister(request.project.id, request.params.callbackId))) throw notFound(`No callback ${request.params.callbackId.slice(0, 100)}`);
    return reply.status(204).send();
  });
}
