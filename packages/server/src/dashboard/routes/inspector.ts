// The dashboard's live sessions and Inspector views of a project: who is connected now, the
// Inspector's session list, and one session's summary, participants, events, quality and scores.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseEventQuery, parseQualityQuery } from '../../inspector/query-params.js';
import type { AppContext } from '../../rest/context.js';
import { parseWith } from '../../rest/validation.js';
import type { Project, SessionRecord } from '../../store/index.js';
import type { InspectorSessionDetail } from '../api-types.js';
import { pagingSchema, projectLookup, sessionItemView } from './common.js';

export async function inspectorRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const requireProject = projectLookup(ctx);
  const sessionItem = sessionItemView(ctx);

  const requireSession = async (request: FastifyRequest<{ Params: { id: string; sid: string } }>): Promise<{ project: Project; record: SessionRecord }> => {
    const project = requireProject(request.params.id);
    return { project, record: await ctx.sessions.require(project, request.params.sid) };
  };

  app.get<{ Params: { id: string } }>('/projects/:id/live', async (request) => ctx.inspector.liveSessions(requireProject(request.params.id).id));

  app.get<{ Params: { id: string } }>('/projects/:id/inspector-sessions', async (request) => {
    const project = requireProject(request.params.id);
    const { limit, offset } = parseWith(pagingSchema, request.query, 'Query');
    return await ctx.inspector.listSessions(project.id, { limit, offset });
  });

  app.get<{ Params: { id: string; sid: string } }>('/projects/:id/sessions/:sid', async (request) => {
    const { record } = await requireSession(request);
    return {
      session: await sessionItem(record),
      summary: await ctx.inspector.getSession(record.id),
      participants: await ctx.inspector.participants(record.id),
      live: ctx.inspector.liveSession(record.id),
    } satisfies InspectorSessionDetail;
  });

  app.get<{ Params: { id: string; sid: string } }>('/projects/:id/sessions/:sid/events', async (request) => {
    const query = parseEventQuery(request.query);
    const { record } = await requireSession(request);
    return await ctx.inspector.events(record.id, query);
  });

  app.get<{ Params: { id: string; sid: string } }>('/projects/:id/sessions/:sid/quality', async (request) => {
    const query = parseQualityQuery(request.query);
    const { record } = await requireSession(request);
    return { ...(await ctx.inspector.quality(record.id, query)), scores: await ctx.inspector.scores(record.id, { since: query.since, until: query.until }) };
  });

  app.get<{ Params: { id: string; sid: string } }>('/projects/:id/sessions/:sid/live', async (request) => {
    const { record } = await requireSession(request);
    return { live: ctx.inspector.liveSession(record.id) };
  });
}
