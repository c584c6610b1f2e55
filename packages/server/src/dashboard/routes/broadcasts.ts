// The dashboard's broadcasts of a project, read-only (starting and stopping them is the REST API's
// job): the list and one broadcast, with the HLS path the player page plays.

import type { FastifyInstance } from 'fastify';
import { hlsUrl } from '../../broadcast/broadcast-json.js';
import type { BroadcastRecord } from '../../broadcast/broadcast-store.js';
import type { AppContext } from '../../rest/context.js';
import { parseWith } from '../../rest/validation.js';
import type { BroadcastItem, BroadcastList } from '../api-types.js';
import { pagingSchema, projectLookup } from './common.js';

export async function broadcastRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const requireProject = projectLookup(ctx);

  const broadcastItem = (r: BroadcastRecord): BroadcastItem => ({
    id: r.id,
    sessionId: r.sessionId,
    status: r.status,
    reason: r.reason || null,
    createdAt: r.createdAt,
    resolution: r.resolution,
    // A path, not the public URL: the dashboard and the HLS files are served by this same server,
    // and the page's Content-Security-Policy only lets it fetch its own origin.
    hls: hlsUrl('', r),
    hlsStatus: r.hls?.status ?? null,
    lowLatency: r.hls?.lowLatency ?? false,
    dvr: r.hls?.dvr ?? false,
    rtmp: r.rtmp.map((t) => ({ id: t.id, serverUrl: t.serverUrl, status: t.status })),
  });

  app.get<{ Params: { id: string } }>('/projects/:id/broadcasts', async (request) => {
    const project = requireProject(request.params.id);
    const { limit, offset } = parseWith(pagingSchema, request.query, 'Query');
    const page = await ctx.broadcasts.list(project.id, { offset, count: limit });
    return { count: page.count, items: page.items.map(broadcastItem) } satisfies BroadcastList;
  });

  app.get<{ Params: { id: string; broadcastId: string } }>('/projects/:id/broadcasts/:broadcastId', async (request) =>
    broadcastItem(await ctx.broadcasts.get(requireProject(request.params.id), request.params.broadcastId)),
  );
}
