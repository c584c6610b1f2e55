// Streams and force-mute by REST (reference §1.6, §1.7): list and get live streams, set their
// layout classes, mute one stream, mute all (with exclusions; later publishers start muted while
// it is active).

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

// OpenTok's class names are CSS class names; the token's initial list is at most 1024 characters.
const LayoutClassList = z.array(z.string().min(1).max(1024)).max(100);
const SetClassListsBody = z.object({
  items: z.array(z.object({ id: z.string().min(1).max(255), layoutClassList: LayoutClassList }).loose()).max(1000),
});
const UpdateStreamBody = z.object({ layoutClassList: LayoutClassList }).loose();

/** What OpenTok answers a successful mute (the PHP SDK's fixture). */
const MUTED = { code: 200, message: 'OK' } as const;

export async function streamRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get<{ Params: { sessionId: string } }>('/session/:sessionId/stream', async (request) => {
    const items = await ctx.sessions.listStreams(request.project, request.params.sessionId);
    return { count: items.length, items };
  });
  app.get<{ Params: { sessionId: string; streamId: string } }>('/session/:sessionId/stream/:streamId', async (request) => {
    return await ctx.sessions.getStream(request.project, request.params.sessionId, request.params.streamId);
  });
  app.post<{ Params: { sessionId: string; streamId: string } }>('/session/:sessionId/stream/:streamId/mute', async (request) => {
    ctx.sessions.forceMuteStream(await ctx.sessions.restActor(request.project, request.params.sessionId), request.params.streamId);
    return MUTED;
  });
  app.post<{ Params: { sessionId: string } }>('/session/:sessionId/mute', async (request) => {
    const body = parseWith(MuteAllBody, request.body);
    ctx.sessions.muteAll(await ctx.sessions.restActor(request.project, request.params.sessionId), body.active, body.excludedStreamIds ?? body.excludedStreams ?? []);
    return MUTED;
  });

  // Layout classes: PUT …/stream {items} (every SDK) and PUT …/stream/{id} {layoutClassList} (PHP).
  app.put<{ Params: { sessionId: string } }>('/session/:sessionId/stream', async (request, reply) => {
    const body = parseWith(SetClassListsBody, request.body);
    await ctx.sessions.setStreamClassLists(request.project, request.params.sessionId, body.items);
    return reply.status(200).send();
  });
  app.put<{ Params: { sessionId: string; streamId: string } }>('/session/:sessionId/stream/:streamId', async (request, reply) => {
    const body = parseWith(UpdateStreamBody, request.body);
    await ctx.sessions.setStreamClassLists(request.project, request.params.sessionId, [{ id: request.params.streamId, layoutClassList: body.layoutClassList }]);
    return reply.status(200).send();
  });
}
