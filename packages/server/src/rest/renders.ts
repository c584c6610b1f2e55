// Experience Composer by REST (OpenTok's /render): POST …/render {sessionId, token, url,
// maxDuration (60-36000 s, default 1800), resolution (default 1280x720), properties.name,
// statusCallbackUrl} answers 202 with the render as `starting`; GET …/render?offset&count lists
// (count 1-1000), GET …/render/{id} (and POST, the PHP SDK's get) reads one; DELETE …/render/{id}
// stops it and answers 200 with the render once its browser has closed.

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DEFAULT_RENDER_RESOLUTION, RENDER_MAX_DURATION, RENDER_RESOLUTIONS, renderJson, type RenderManager } from '../render/render-manager.js';
import { parseWith } from './validation.js';

/** SDKs send absent options as null, some as ''. */
const absent = (v: unknown) => (v === '' || v === null ? undefined : v);

const httpUrl = (what: string) =>
  z
    .string()
    .max(2048)
    .refine((value) => {
      try {
        const url = new URL(value);
        return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '';
      } catch {
        return false;
      }
    }, `${what} must be an http(s) URL without credentials`);

const StartBody = z
  .object({
    sessionId: z.string().min(1).max(255),
    token: z.string().min(1).max(8192),
    url: httpUrl('url'),
    maxDuration: z.preprocess(absent, z.number().int().min(RENDER_MAX_DURATION.min).max(RENDER_MAX_DURATION.max).default(RENDER_MAX_DURATION.default)),
    resolution: z.preprocess(absent, z.enum(RENDER_RESOLUTIONS).default(DEFAULT_RENDER_RESOLUTION)),
    properties: z.preprocess(absent, z.object({ name: z.preprocess(absent, z.string().max(1000).optional()) }).loose().optional()),
    statusCallbackUrl: z.preprocess(absent, httpUrl('statusCallbackUrl').optional()),
  })
  .loose();

const ListQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  count: z.coerce.number().int().min(1).max(1000).default(50),
});

type RenderParams = { Params: { renderId: string } };

export async function renderRoutes(app: FastifyInstance, renders: RenderManager): Promise<void> {
  app.post('/render', async (request, reply) => {
    const body = parseWith(StartBody, request.body ?? {});
    const record = await renders.start(request.project, {
      sessionId: body.sessionId,
      token: body.token,
      url: body.url,
      maxDuration: body.maxDuration,
      resolution: body.resolution,
      name: body.properties?.name ?? '',
      statusCallbackUrl: body.statusCallbackUrl ?? null,
    });
    return reply.status(202).send(renderJson(record));
  });

  app.get('/render', async (request) => {
    const query = parseWith(ListQuery, request.query, 'Query');
    const { count, items } = await renders.list(request.project, query.offset, query.count);
    return { count, items: items.map(renderJson) };
  });

  const getOne = async (request: { project: Parameters<RenderManager['get']>[0]; params: { renderId: string } }) => renderJson(await renders.get(request.project, request.params.renderId));
  app.get<RenderParams>('/render/:renderId', getOne);
  // The PHP SDK's getRender uses POST (reference §0.6).
  app.post<RenderParams>('/render/:renderId', getOne);

  app.delete<RenderParams>('/render/:renderId', async (request) => renderJson(await renders.stop(request.project, request.params.renderId)));
}
