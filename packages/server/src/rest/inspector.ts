// Colloquy's own REST extension (not in OpenTok): a session's Inspector data for tools.
//   GET …/session/{sid}/events   the event log, paged (docs/rest-api.md)
//   GET …/session/{sid}/quality  quality time series per track and a score per connection
// The session must be the caller's project's (404 otherwise, as for every session route).

import type { FastifyInstance } from 'fastify';
import { parseEventQuery, parseQualityQuery } from '../inspector/query-params.js';
import type { AppContext } from './context.js';

export async function inspectorRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  app.get<{ Params: { sessionId: string } }>('/session/:sessionId/events', async (request) => {
    const query = parseEventQuery(request.query);
    await ctx.sessions.require(request.project, request.params.sessionId);
    const page = await ctx.inspector.events(request.params.sessionId, query);
    return { count: page.items.length, sessionId: request.params.sessionId, projectId: request.project.id, next: page.next, items: page.items };
  });
  app.get<{ Params: { sessionId: string } }>('/session/:sessionId/quality', async (request) => {
    const query = parseQualityQuery(request.query);
    await ctx.sessions.require(request.project, request.params.sessionId);
    const series = await ctx.inspector.quality(request.params.sessionId, query);
    const scores = await ctx.inspector.scores(request.params.sessionId, { since: query.since, until: query.until });
    return { sessionId: series.sessionId, projectId: request.project.id, bucketMs: series.bucketMs, tracks: series.tracks, scores };
  });
}
