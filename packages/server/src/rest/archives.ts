// Archives by REST (reference §1.3, §6): start, stop, get, list, delete, layout, manual streams.
// Each route validates, calls the ArchiveManager, and answers OpenTok's archive JSON (lower-case
// UUID ids, integer partnerId for numeric API keys, a signed absolute `url` once available).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ArchiveRecord } from '../archiving/archive-store.js';
import { archiveJson } from '../archiving/archive-json.js';
import { validateLayout } from '../archiving/layout.js';
import { ColloquyError, invalid } from '../errors.js';
import { MAX_ARCHIVE_NAME_LENGTH } from '../sessions/session-manager.js';
import type { AppContext } from './context.js';
import { parseWith } from './validation.js';

export const ListQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  count: z.coerce.number().int().min(1).max(1000).default(50),
  sessionId: z.string().min(1).max(255).optional(),
});

/** SDKs send absent options as null, and some as ''. */
const optionalString = (max: number) =>
  z.preprocess((v) => (v === '' || v === null ? undefined : v), z.string().max(max).optional());

export const LayoutBody = z
  .object({
    type: z.unknown(),
    stylesheet: z.unknown().optional(),
    screenshareType: z.unknown().optional(),
  })
  .loose();

const StartBody = z
  .object({
    sessionId: z.string().min(1).max(255),
    name: optionalString(MAX_ARCHIVE_NAME_LENGTH),
    hasAudio: z.boolean().optional(),
    hasVideo: z.boolean().optional(),
    outputMode: z.enum(['composed', 'individual']).optional(),
    streamMode: z.enum(['auto', 'manual']).optional(),
    resolution: optionalString(20),
    layout: LayoutBody.nullish(),
    multiArchiveTag: optionalString(256),
    maxBitrate: z.number().int().min(100_000).max(6_000_000).nullish(),
    quantizationParameter: z.number().int().min(15).max(40).nullish(),
    hasTranscription: z.boolean().optional(),
  })
  .loose();

/** PATCH …/streams of archives and broadcasts: add or remove one stream (manual stream mode). */
export const StreamsBody = z
  .object({
    addStream: z.string().min(1).max(255).optional(),
    removeStream: z.string().min(1).max(255).optional(),
    hasAudio: z.boolean().optional(),
    hasVideo: z.boolean().optional(),
  })
  .loose();

type ArchiveParams = { Params: { archiveId: string } };

export async function archiveRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const archives = ctx.archives;

  const toJson = (request: FastifyRequest, record: ArchiveRecord): Record<string, unknown> =>
    archiveJson(record, request.project, archives, ctx.config.publicUrl ?? `${request.protocol}://${request.host}`);

  app.get('/archive', async (request) => {
    const query = parseWith(ListQuery, request.query, 'Query');
    const { count, items } = await archives.list(request.project.id, query);
    return { count, items: items.map((record) => toJson(request, record)) };
  });

  app.post('/archive', async (request) => {
    const body = parseWith(StartBody, request.body ?? {});
    if (body.hasTranscription) throw new ColloquyError('unsupported', 'Archive transcription is not available on this server', 501);
    const session = await ctx.sessions.require(request.project, body.sessionId);
    const record = await archives.startArchive(request.project, session, {
      name: body.name ?? null,
      hasAudio: body.hasAudio,
      hasVideo: body.hasVideo,
      outputMode: body.outputMode,
      streamMode: body.streamMode,
      resolution: body.resolution ?? null,
      layout: body.layout ? validateLayout(body.layout) : null,
      multiArchiveTag: body.multiArchiveTag ?? null,
      maxBitrate: body.maxBitrate ?? null,
      quantizationParameter: body.quantizationParameter ?? null,
    });
    return toJson(request, record);
  });

  app.get<ArchiveParams>('/archive/:archiveId', async (request) => toJson(request, await archives.get(request.project, request.params.archiveId)));

  app.post<ArchiveParams>('/archive/:archiveId/stop', async (request) => toJson(request, await archives.stopArchive(request.project, request.params.archiveId)));

  app.delete<ArchiveParams>('/archive/:archiveId', async (request, reply) => {
    await archives.deleteArchive(request.project, request.params.archiveId);
    return reply.status(204).send();
  });

  app.put<ArchiveParams>('/archive/:archiveId/layout', async (request) => {
    const layout = validateLayout(parseWith(LayoutBody, request.body ?? {}));
    await archives.setLayout(request.project, request.params.archiveId, layout);
    return toJson(request, await archives.get(request.project, request.params.archiveId));
  });

  app.patch<ArchiveParams>('/archive/:archiveId/streams', async (request, reply) => {
    const body = parseWith(StreamsBody, request.body ?? {});
    if ((body.addStream === undefined) === (body.removeStream === undefined)) throw invalid('Give exactly one of addStream and removeStream');
    if (body.addStream !== undefined) {
      await archives.addStream(request.project, request.params.archiveId, body.addStream, body.hasAudio ?? true, body.hasVideo ?? true);
    } else {
      await archives.removeStream(request.project, request.params.archiveId, body.removeStream!);
    }
    return reply.status(204).send();
  });
}
