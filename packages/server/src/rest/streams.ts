// Streams and force-mute by REST (reference §1.6, §1.7).

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ColloquyError } from '../errors.js';
import type { Project } from '../store/index.js';
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

const LayoutClassList = z.array(z.string().max(1024)).max(100);
const SetClassListsBody = z.object({
  items: z.array(z.object({ id: z.string().min(1).max(255), layoutClassList: LayoutClassList }).loose()).max(1000),
});
const UpdateStreamBody = z.object({ layoutClassList: LayoutClassList }).loose();

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

  // Layout classes: PUT …/stream {items} (every SDK) and PUT …/stream/{id} {layoutClassList} (PHP).
  const setClassLists = (project: Project, sessionId: string, streamIds: string[]) => {
    ctx.sessions.require(project, sessionId);
    for (const id of streamIds) ctx.sessions.getStream(project, sessionId, id);
    // Only reachable once streams exist: fail loudly until the domain can store the classes.
    if (streamIds.length > 0) throw new ColloquyError('unsupported', 'Changing the layout classes of a live stream is not available on this server yet', 501);
  };
  app.put<{ Params: { sessionId: string } }>('/session/:sessionId/stream', async (request, reply) => {
    const body = parseWith(SetClassListsBody, request.body);
    setClassLists(request.project, request.params.sessionId, body.items.map((item) => item.id));
    return reply.status(200).send();
  });
  app.put<{ Params: { sessionId: string; streamId: string } }>('/session/:sessionId/stream/:streamId', async (request, reply) => {
    parseWith(UpdateStreamBody, request.body);
    setClassLists(request.project, request.params.sessionId, [request.params.streamId]);
    return reply.status(200).send();
  });
}
