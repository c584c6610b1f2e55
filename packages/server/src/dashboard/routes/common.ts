// What several of the dashboard API's route plugins share: the project lookup (404), a session's
// list row (with the Inspector's counts), paging, and the dashboard's logger.

import { z } from 'zod';
import { notFound } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { AppContext } from '../../rest/context.js';
import type { Project, SessionRecord } from '../../store/index.js';
import type { SessionListItem } from '../api-types.js';

export const pagingSchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export function dashboardLog(ctx: AppContext): Logger {
  return ctx.logger.child({ module: 'dashboard' });
}

/** The project (or application) with this id, any case; 404 when there is none. */
export function projectLookup(ctx: AppContext): (id: string) => Project {
  return (id: string): Project => {
    const project = ctx.store.projects.get(id.toLowerCase());
    if (!project) throw notFound('No such project', 404);
    return project;
  };
}

/** A session as the session list shows it. */
export function sessionItemView(ctx: AppContext): (r: SessionRecord) => Promise<SessionListItem> {
  return async (r: SessionRecord): Promise<SessionListItem> => {
    const s = await ctx.inspector.getSession(r.id);
    // The first connection the Inspector saw in the session: who a row of the list is about.
    const first = s && s.connections > 0 ? await ctx.inspector.firstConnection(r.id) : null;
    return {
      sessionId: r.id,
      mediaMode: r.mediaMode,
      archiveMode: r.archiveMode,
      createdAt: r.createdAt,
      lastActivityAt: s?.lastActivityAt ?? null,
      connections: s?.connections ?? 0,
      liveConnections: s?.liveConnections ?? 0,
      errors: s?.errors ?? 0,
      firstParticipant: first ? { connectionId: first.connectionId, data: first.data ?? null } : null,
    };
  };
}
