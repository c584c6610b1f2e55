// The dashboard's archives of a project: the list (with upload state and signed links the page
// plays from its own origin) and delete.

import type { FastifyInstance } from 'fastify';
import type { ArchiveRecord } from '../../archiving/archive-store.js';
import type { AppContext } from '../../rest/context.js';
import { parseWith } from '../../rest/validation.js';
import type { ArchiveItem, ArchiveList } from '../api-types.js';
import { dashboardLog, pagingSchema, projectLookup } from './common.js';

export async function archiveRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const log = dashboardLog(ctx);
  const requireProject = projectLookup(ctx);

  // Download and play links are relative signed URLs (the same route and signature as the REST
  // API's `url`): the page plays them from its own origin.
  const archiveItem = async (r: ArchiveRecord): Promise<ArchiveItem> => {
    const recording = r.status === 'started' || r.status === 'paused';
    return {
      id: r.id,
      sessionId: r.sessionId,
      name: r.name,
      status: r.status,
      reason: r.reason || null,
      createdAt: r.createdAt,
      duration: recording ? Math.round(r.recordedMs / 1000) : r.duration,
      size: r.size,
      outputMode: r.outputMode,
      resolution: r.resolution,
      hasAudio: r.hasAudio,
      hasVideo: r.hasVideo,
      url: ctx.archives.urlOf(r, ''),
      upload: await uploadOf(r.id),
    };
  };
  const uploadOf = async (archiveId: string): Promise<ArchiveItem['upload']> => {
    const u = await ctx.archives.uploads.upload(archiveId);
    return u ? { state: u.state, bucket: u.bucket, error: u.error } : null;
  };

  app.get<{ Params: { id: string } }>('/projects/:id/archives', async (request) => {
    const project = requireProject(request.params.id);
    const { limit, offset } = parseWith(pagingSchema, request.query, 'Query');
    const page = await ctx.archives.list(project.id, { offset, count: limit });
    return { count: page.count, items: await Promise.all(page.items.map(archiveItem)) } satisfies ArchiveList;
  });

  app.delete<{ Params: { id: string; archiveId: string } }>('/projects/:id/archives/:archiveId', async (request, reply) => {
    const project = requireProject(request.params.id);
    await ctx.archives.deleteArchive(project, request.params.archiveId);
    log.info({ projectId: project.id, archiveId: request.params.archiveId }, 'archive deleted from the dashboard');
    return reply.status(204).send();
  });
}
