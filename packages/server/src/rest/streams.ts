// Streams and force-mute by REST (reference §1.6, §1.7).

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AppContext } from './context.js';
import { parseWith } from './validation.js';

const MuteAllBody = z
  .object({
    active: z.boolean(),
    // opentok-node and @vonage/video send excludedStreamIds, the Python SDK excludedStreams (reference §0.9).
    excludedStreamIds: z.array(z.string().max(255)).max(1000).optional(),
    excludedStreams: z.array(z.string().max(255)).max(1000).optional(),
  })
  .loose();

export async function streamRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get<{ Params: { sessionId: string } }>('/session/:sessionId/stream', async (request) => {
    const items = ctx.sessions.listStreams(request.project, request.params.sessionId);
    return { count: items.length, items };
  });
  app.get<{ Params: { sessionId: string; streamId: string } }>('/session/:sessionId/stream/:streamId', async (request) => {
    return ctx.sessions.getStream(request.project, request.params.sessionId, request.params.streamId);
  });
  app.post<{ Params: { sessionId: string; streamId: string } }>('/session/:sessionId/stream/:streamId/mute', async (request) => {
    ctx.sessions.getStream(request.project, request.params.sessionId, request.params.streamId);
    return { code: 200, message: 'OK' };
  });
  app.post<{ Params: { sessionId: string } }>('/session/:sessionId/mute', async (request) => {
    const body = parseWith(MuteAllBody, request.body);
    ctx.sessions.muteAll(request.project, request.params.sessionId, body.active, body.excludedStreamIds ?? body.excludedStreams ?? []);
    return { code: 200, message: 'OK' };
  });
}
